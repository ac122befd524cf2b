// Backoff: the delays between attempts at something that keeps failing (a
// reconnect, a delivery, a start), doubling from `first` up to `max`, with
// "equal jitter" (between half and all of each step) so that many clients
// of one recovering server do not return in lockstep.
#pragma once

#include <chrono>
#include <cstdint>

namespace immp {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds first, std::chrono::milliseconds max);

  // The delay before the next attempt; each call doubles the step.
  std::chrono::milliseconds next();
  // After a success: the next delay is `first` again.
  void reset() { attempt_ = 0; }
  unsigned attempts() const { return attempt_; }
  std::chrono::milliseconds first() const { return first_; }
  std::chrono::milliseconds max() const { return max_; }

 private:
  std::chrono::milliseconds first_;
  std::chrono::milliseconds max_;
  unsigned attempt_ = 0;
  std::uint64_t state_;
};

}  // namespace immp
