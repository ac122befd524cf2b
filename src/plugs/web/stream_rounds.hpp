// StreamRounds: how the web plug writes the host's stream to its
// WebSocket clients.
//
// One event goes to every client that may see it; with a thousand clients
// that is a thousand writes per event. Instead of a coroutine per client
// waking for each event and writing it alone, events are written in
// rounds: the first event to arrive after the last round opens a window
// for more to gather; then every client with something in its queue gets
// ONE write carrying all of it, each event encoded as a frame once per
// round and shared by all.
//
// The window is a quarter of the time the last round took to write, but at
// least `min_window` and at most `max_window`: with few clients rounds
// follow each other closely; with many, writing takes about four fifths
// of the writing threads' time (a write to a socket costs microseconds,
// so a thousand clients cannot each get a write per event at a thousand
// events a second), the rest is left to the networks and the clients, and
// each write carries several events. A client waits for its next write
// about a round and a window, so the window is short beside the round.
//
// A round goes through the clients a slice at a time and lets the
// executor run between slices: with a thousand clients a round takes
// milliseconds (each write to a socket costs microseconds, mostly in the
// kernel: about 10 us over loopback on a small VM), which posts and the
// networks do not wait for, and an event that arrives meanwhile goes out
// in the same round to the clients not yet written.
//
// The system calls of a slice are shared between the host's thread and
// `writers` helper threads (ForkJoin): the host's thread takes each
// client's events and encodes the frames, then all of them write, each
// client's whole batch by one thread, while the host's thread waits for
// the slice to be written. Only plain TCP connections with nothing else
// queued are written so; the others queue on their own connection.
//
// A client whose previous write has not gone out yet is skipped: its
// events stay in its own bounded queue (bus::Subscriber), which closes
// when full, and the client is then told it lagged. Nothing here waits for
// a client, so no client slows the others or the networks.
//
// Runs on the host's executor; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "bus/bus.hpp"
#include "hooks/web/web_hook.hpp"
#include "immp/tasks.hpp"
#include "plugs/web/fork_join.hpp"

namespace immp::plugs {

class StreamRounds {
 public:
  // One WebSocket client while it is registered (see Member).
  struct Client {
    Client(bus::Subscriber& sub, web::WebSocketSession& session, std::uint64_t cursor,
           Executor ex)
        : sub(sub), session(session), cursor(cursor), ended(std::move(ex)) {}
    bus::Subscriber& sub;
    web::WebSocketSession& session;
    std::uint64_t cursor;  // the seq of the last event handed to the connection
    // Set, and `ended` notified, when the rounds are done with the client:
    // its queue closed (it lagged) or its connection is gone.
    bool done = false;
    Signal ended;
    std::size_t index = 0;  // in clients_
  };

  // `web` must outlive this; the window is how long the first event of a
  // round waits for others (see above); `writers` threads besides the
  // host's make the rounds' system calls (see above).
  StreamRounds(web::WebHook& web, std::chrono::microseconds min_window,
               std::chrono::microseconds max_window, std::size_t writers);
  StreamRounds(const StreamRounds&) = delete;
  StreamRounds& operator=(const StreamRounds&) = delete;

  // Writes rounds until cancelled.
  Task<> run();

  // Registers a client for as long as it lives; what is already in its
  // queue goes out in the next round.
  class Member {
   public:
    Member(StreamRounds& rounds, Client& client);
    Member(const Member&) = delete;
    Member& operator=(const Member&) = delete;
    ~Member();

   private:
    StreamRounds& rounds_;
    Client& client_;
  };

  std::size_t clients() const { return clients_.size(); }
  // The window the next round will wait.
  std::chrono::microseconds window() const { return window_; }

 private:
  void add(Client& client);
  void remove(Client& client);
  // Asks for a round without a new event (a client was added, or a slow
  // client's write finished with events waiting).
  void kick();
  // Takes what `client` has queued into this slice's writes, unless its
  // last write is still going.
  void prepare(Client& client);
  void end(Client& client);
  const web::FramePtr& frame_of(const bus::Event& event);

  // Clients written between two turns of the executor in a round, per
  // writing thread.
  static constexpr std::size_t kSlice = 64;
  // The window is the last round's writing time divided by this.
  static constexpr int kWindowShare = 4;

  // One client's write in a slice: its frames are pool_[first, first + count).
  struct Job {
    Client* client;
    std::size_t first;
    std::size_t count;
    web::WebSocketSession::Written written;
  };

  bus::SubscriberPtr wake_;
  std::chrono::microseconds min_window_;
  std::chrono::microseconds max_window_;
  std::chrono::microseconds window_;
  std::vector<Client*> clients_;
  std::unordered_map<std::uint64_t, web::FramePtr> frames_;  // this round's, by seq
  std::vector<web::FramePtr> pool_;                          // this slice's writes' frames
  std::vector<Job> jobs_;                                    // this slice's writes
  ForkJoin writers_;
  std::function<void(std::size_t)> write_job_;  // writes jobs_[i]
};

}  // namespace immp::plugs
