#include "plugs/irc/irc_bucket.hpp"

#include <algorithm>

namespace immp::irc {

TokenBucket::TokenBucket(std::chrono::milliseconds interval, std::size_t burst,
                         Clock::time_point now)
    : interval_(interval),
      burst_(static_cast<double>(std::max<std::size_t>(burst, 1))),
      tokens_(burst_),
      last_(now) {}

void TokenBucket::refill(Clock::time_point now) {
  if (now <= last_) return;
  if (interval_.count() <= 0) {
    tokens_ = burst_;
  } else {
    std::chrono::duration<double, std::milli> elapsed = now - last_;
    tokens_ = std::min(burst_, tokens_ + elapsed.count() / static_cast<double>(interval_.count()));
  }
  last_ = now;
}

double TokenBucket::tokens(Clock::time_point now) {
  refill(now);
  return tokens_;
}

TokenBucket::Clock::duration TokenBucket::wait(Clock::time_point now) {
  refill(now);
  if (interval_.count() <= 0 || tokens_ >= 1.0) return Clock::duration::zero();
  std::chrono::duration<double, std::milli> missing((1.0 - tokens_) *
                                                    static_cast<double>(interval_.count()));
  // Round up so that waiting exactly this long always yields a token.
  return std::chrono::ceil<std::chrono::microseconds>(missing) + std::chrono::microseconds(1);
}

void TokenBucket::take(Clock::time_point now) {
  refill(now);
  if (interval_.count() > 0) tokens_ -= 1.0;
}

}  // namespace immp::irc
