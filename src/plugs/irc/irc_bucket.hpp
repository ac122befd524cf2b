// Flood control for one IRC connection: a token bucket. Pure: the caller
// passes the time, so tests drive it with a fake clock.
#pragma once

#include <chrono>
#include <cstddef>

namespace immp::irc {

// Holds up to `burst` tokens; one token comes back every `interval`. Sending
// a line costs one token. With interval 0 nothing is ever delayed.
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBucket(std::chrono::milliseconds interval, std::size_t burst, Clock::time_point now);

  // How long to wait at `now` before a line may go (zero: send now).
  Clock::duration wait(Clock::time_point now);
  // Spends one token at `now`. Call it when the line goes out; allowed even
  // when wait() was not zero (a line that must go anyway, e.g. PONG), in
  // which case later lines wait longer.
  void take(Clock::time_point now);
  // Tokens available at `now` (may be negative after forced takes).
  double tokens(Clock::time_point now);

 private:
  void refill(Clock::time_point now);

  std::chrono::milliseconds interval_;
  double burst_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace immp::irc
