// Bus: the host's message stream fanned out to subscribers (operators on
// the local socket now; the web API's stream and NATS later), each behind
// its own bounded queue, so that a slow subscriber never slows the
// networks or the other subscribers.
//
// Runs on the host's executor; not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <string>

#include "bus/event.hpp"
#include "bus/filter.hpp"
#include "immp/host.hpp"
#include "immp/queue.hpp"

namespace immp::bus {

struct SubscriberOptions {
  std::string name;  // who, for logs: "operator dice"
  Filter filter;
  // The queue between the stream and this subscriber, and what happens
  // when it is full: drop the oldest (counted, told to the subscriber) or
  // disconnect it.
  std::size_t capacity = 10000;
  Overflow overflow = Overflow::drop_oldest;
  // Whether events this subscriber emitted itself come back to it.
  bool own_events = false;
  // A resume cursor: replay the kept events after this seq (see Bus::keep).
  std::optional<std::uint64_t> since;
};

// One subscriber's end: its queue and filter. Owned by whoever consumes it
// (a connection); the bus holds it weakly and forgets it when it goes.
class Subscriber {
 public:
  Subscriber(Executor ex, SubscriberOptions options)
      : options_(std::move(options)), queue_(std::move(ex), options_.capacity, options_.overflow) {}
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  const std::string& name() const { return options_.name; }
  const Filter& filter() const { return options_.filter; }
  const SubscriberOptions& options() const { return options_; }
  ConsumerQueue<EventPtr>& queue() { return queue_; }
  // Events the subscriber missed before it subscribed with a cursor the
  // bus no longer kept; counted with the queue's own drops.
  std::uint64_t take_missed() { return std::exchange(missed_, 0) + queue_.take_unreported(); }
  // Events delivered to this subscriber's queue so far.
  std::uint64_t accepted() const { return accepted_; }
  // A signal the bus notifies after each push (and when a push closes the
  // queue), so that a consumer that waits on other things too (control
  // frames) waits on one signal rather than racing two waits. Must outlive
  // the subscriber's use by the bus, or be cleared.
  void set_waker(Signal* waker) { waker_ = waker; }

 private:
  friend class Bus;
  void pushed() {
    if (waker_) waker_->notify();
  }

  SubscriberOptions options_;
  ConsumerQueue<EventPtr> queue_;
  Signal* waker_ = nullptr;
  std::uint64_t missed_ = 0;
  std::uint64_t accepted_ = 0;
};
using SubscriberPtr = std::shared_ptr<Subscriber>;

class Bus {
 public:
  // `keep`: how many recent events are kept for subscribers that resume
  // from a cursor. `host` must outlive the bus.
  explicit Bus(Host& host, std::size_t keep = 1024);
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  // A new subscriber, fed from now on (after the kept events past
  // options.since, if given). Dropping the returned pointer unsubscribes.
  SubscriberPtr subscribe(SubscriberOptions options);

  // Feeds one message of the host's stream to every subscriber that wants
  // it. The envelope is made only when somebody wants the message. Never
  // waits for a subscriber (only, for filters naming groups, for a plug
  // saying whether a channel is private).
  Task<> publish(const SentPtr& sent);
  // Feeds an event an operator emitted (`from`) into the stream. Returns
  // the seq it got.
  Task<std::uint64_t> emit(const Incoming& event, const std::string& from);

  std::uint64_t last_seq() const { return seq_; }
  std::size_t subscribers();
  // Every subscriber's queue depth, for logs: "dice=0 logger=12".
  std::string depths();

 private:
  Task<> fan_out(const EventPtr& event);
  EventPtr make_event(const SentPtr& sent);

  Host& host_;
  std::size_t keep_;
  std::deque<EventPtr> kept_;
  std::list<std::weak_ptr<Subscriber>> subscribers_;
  std::uint64_t seq_ = 0;
};

}  // namespace immp::bus
