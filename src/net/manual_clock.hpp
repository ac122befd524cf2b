// A clock that moves only when the test says so. Header-only, for tests:
// nothing of it is linked into the layer.
#pragma once

#include "immp/tasks.hpp"
#include "net/clock.hpp"

namespace immp::net {

// Everything on one executor; not thread-safe. sleep() returns once
// advance() has moved the time past its end, never by itself.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Executor ex) : advanced_(std::move(ex)) {}

  TimePoint now() override { return now_; }
  Task<> sleep(Duration d) override {
    const TimePoint until = now_ + d;
    ++sleepers_;
    struct Leave {
      int& n;
      ~Leave() { --n; }
    } leave{sleepers_};
    while (now_ < until) co_await advanced_.wait();
  }
  void advance(Duration d) {
    now_ += d;
    advanced_.notify();
  }
  // Tasks inside sleep() now: lets a test wait until a task is waiting.
  int sleepers() const { return sleepers_; }

 private:
  // Far from zero, so that "a minute ago" is a valid time point.
  TimePoint now_ = TimePoint{} + std::chrono::hours(24);
  Signal advanced_;
  int sleepers_ = 0;
};

}  // namespace immp::net
