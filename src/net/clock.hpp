// Time as the network layer keeps it: rate limits, retry-after pauses,
// reconnect delays. An interface so that tests move time by hand
// (manual_clock.hpp) instead of sleeping.
#pragma once

#include <chrono>
#include <memory>

#include "immp/asio.hpp"

namespace immp::net {

// Used from one executor; shared by everything given it.
class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;
  virtual TimePoint now() = 0;
  // Completes once `d` has passed on this clock; throws operation_aborted
  // when the waiting task is cancelled.
  virtual Task<> sleep(Duration d) = 0;
};

// The steady clock with real timers (one shared instance).
std::shared_ptr<Clock> steady_clock();

}  // namespace immp::net
