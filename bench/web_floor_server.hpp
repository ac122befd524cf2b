// FloorServer: the web benchmark's floor, a server with no immp code.
//
// It answers what the bench's clients send the API plug, as cheaply as a
// server can on this machine: plain sockets, one epoll thread for the
// listening socket and the HTTP connections, no routing, no JSON. A POST
// is answered 201 with a receipt of the plug's size, and, when stream
// clients are connected, its event (an envelope of the plug's size, with
// the same "plain":"b<index>:<ns>" the clients read) is appended as a
// WebSocket frame to one shared log of frames. A WebSocket upgrade gets
// the 101 and the "ready" frame, then belongs to a writer thread.
//
// `writers` threads write the log to the stream clients: each goes over
// its clients (client i is writer i % writers's) as fast as it can, and a
// client gets everything it has not had yet in ONE write straight from
// the log, as the plug's rounds coalesce events per client (no copy, no
// encoding per client). A client whose socket is full is left for the
// next pass. A writer sleeps only when all its clients are up to date.
//
// What the bench's clients measure against it is the floor of the fan-out
// on this machine: a write's kernel cost, the reader's core, the
// scheduler.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace immp::bench {

class FloorServer {
 public:
  // Listens on 127.0.0.1, on a port of the system's choosing; starts the
  // writer threads (at least one).
  explicit FloorServer(std::size_t writers);
  ~FloorServer();
  FloorServer(const FloorServer&) = delete;
  FloorServer& operator=(const FloorServer&) = delete;

  int port() const { return port_; }
  // Serves on the calling thread until stop().
  void run();
  // From any thread.
  void stop();

 private:
  struct Http;
  struct Writer;
  void on_readable(Http& c);
  // Handles the whole requests at the start of c.in; false: close it.
  bool serve(Http& c);
  void append_event(std::string_view text);

  int listen_ = -1;
  int epoll_ = -1;
  int stop_fd_ = -1;  // an eventfd: run() returns when it is readable
  int port_ = 0;
  std::uint64_t seq_ = 0;
  std::vector<std::unique_ptr<Http>> http_;  // by fd
  std::vector<std::unique_ptr<Writer>> writers_;
  std::size_t next_writer_ = 0;
  std::atomic<std::size_t> ws_clients_{0};

  // The frames of every event so far, written only by run()'s thread:
  // [0, end_) is published to the writers.
  std::unique_ptr<char[]> log_;
  std::size_t capacity_ = 0;
  std::atomic<std::size_t> end_{0};
  std::mutex wake_lock_;
  std::condition_variable wake_;
  std::atomic<bool> stopping_{false};
};

}  // namespace immp::bench
