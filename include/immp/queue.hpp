// ConsumerQueue: the bounded queue in front of one consumer that may fall
// behind (a hook, a stream subscriber, an operator, an archive), with a
// stated policy for when it does. Producers never wait on it, so no
// consumer can slow the networks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include "immp/asio.hpp"
#include "immp/ring.hpp"
#include "immp/tasks.hpp"

namespace immp {

// What a full queue does with one more item.
enum class Overflow {
  drop_oldest,  // make room by dropping the oldest item; counted, the consumer can ask
  disconnect,   // close the queue: the consumer is told and must resubscribe
};

// Single consumer, any number of producers, one executor. Not thread-safe.
template <typename T>
class ConsumerQueue {
 public:
  ConsumerQueue(Executor ex, std::size_t capacity, Overflow overflow)
      : capacity_(capacity == 0 ? 1 : capacity), overflow_(overflow), arrived_(std::move(ex)) {}
  ConsumerQueue(const ConsumerQueue&) = delete;
  ConsumerQueue& operator=(const ConsumerQueue&) = delete;

  // Adds an item; never waits. Returns false when the queue is closed (the
  // item is discarded), which a disconnect policy causes when full.
  bool push(T item) {
    if (closed_) return false;
    if (items_.size() >= capacity_) {
      if (overflow_ == Overflow::disconnect) {
        close();
        return false;
      }
      items_.pop_front();
      ++dropped_;
      ++unreported_;
    }
    items_.push_back(std::move(item));
    if (waiting_) {
      waiting_ = false;
      arrived_.notify();
    }
    return true;
  }

  // Waits until an item is ready or the queue is closed. Throws
  // operation_aborted when the waiting task is cancelled.
  Task<> wait() {
    while (items_.empty() && !closed_) {
      waiting_ = true;
      co_await arrived_.wait();
    }
  }
  // The next item without waiting, if any.
  std::optional<T> try_pop() {
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }

  // Stops taking items and wakes the consumer; items already queued can
  // still be taken.
  void close() {
    closed_ = true;
    if (waiting_) {
      waiting_ = false;
      arrived_.notify();
    }
  }
  bool closed() const { return closed_; }
  bool empty() const { return items_.empty(); }
  std::size_t size() const { return items_.size(); }
  std::size_t capacity() const { return capacity_; }
  // Items dropped since the queue was made.
  std::uint64_t dropped() const { return dropped_; }
  // Items dropped since the last call: what to tell the consumer.
  std::uint64_t take_unreported() { return std::exchange(unreported_, 0); }

 private:
  std::size_t capacity_;
  Overflow overflow_;
  Ring<T> items_;  // no allocation per item once warm
  Signal arrived_;
  bool waiting_ = false;
  bool closed_ = false;
  std::uint64_t dropped_ = 0;
  std::uint64_t unreported_ = 0;
};

}  // namespace immp
