// SeqWaiters: coroutines waiting for a counter to reach their own number
// (lines a server confirmed, messages an API acknowledged), each woken
// once, when the counter reaches it. A plug that pipelines its sends has
// many such waiters at once; a Signal would wake all of them at every step
// (each then checks and waits again), this wakes only the ones that are
// done: with N waiting, a step costs the waiters it completes, not N.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/recycling_allocator.hpp>

#include "immp/asio.hpp"
#include "immp/ring.hpp"

namespace immp::net {

// On one executor; not thread-safe. Must outlive its waiters.
class SeqWaiters {
 public:
  SeqWaiters() = default;
  ~SeqWaiters();
  SeqWaiters(const SeqWaiters&) = delete;
  SeqWaiters& operator=(const SeqWaiters&) = delete;

  // Completes once reach() was called with `target` or more, or
  // release_all(); at once if the counter is there already. Throws
  // operation_aborted when the waiting task is cancelled.
  Task<> wait(std::uint64_t target);
  // The counter is at `reached`: every waiter for that or less is woken
  // (its completion posted, never run inside this call).
  void reach(std::uint64_t reached);
  // Wakes every waiter (the link closed: nothing more will come).
  void release_all();
  std::uint64_t reached() const { return reached_; }
  std::size_t size() const { return waiting_.size(); }

 private:
  // A waiting coroutine's completion handler, type-erased, in memory from
  // Asio's thread-local recycling cache (no malloc once warm).
  struct Handler {
    virtual void complete(boost::system::error_code ec) = 0;
    virtual void destroy() = 0;

   protected:
    ~Handler() = default;
  };
  template <typename H>
  struct HandlerOf;
  struct Waiter {
    std::uint64_t target;
    std::uint64_t id;
    Handler* handler;
  };
  void add(std::uint64_t target, Handler* handler, asio::cancellation_slot slot);
  void cancel(std::uint64_t id);

  Ring<Waiter> waiting_;  // lowest target first
  std::uint64_t reached_ = 0;
  std::uint64_t next_id_ = 0;
};

template <typename H>
struct SeqWaiters::HandlerOf final : SeqWaiters::Handler {
  using Alloc = asio::recycling_allocator<HandlerOf>;
  explicit HandlerOf(H h) : handler(std::move(h)) {}
  static HandlerOf* make(H h) {
    Alloc alloc;
    HandlerOf* p = alloc.allocate(1);
    try {
      return new (p) HandlerOf(std::move(h));
    } catch (...) {
      alloc.deallocate(p, 1);
      throw;
    }
  }
  void destroy() override {
    Alloc alloc;
    this->~HandlerOf();
    alloc.deallocate(this, 1);
  }
  void complete(boost::system::error_code ec) override {
    // The slot would otherwise keep pointing at this waiter after the wait.
    auto slot = asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected()) slot.clear();
    auto ex = asio::get_associated_executor(handler);
    H h = std::move(handler);
    destroy();
    // Posted, never run inline: the caller may be mid-bookkeeping.
    asio::post(ex, [h = std::move(h), ec]() mutable { std::move(h)(ec); });
  }
  H handler;
};

}  // namespace immp::net
