// Rate limits: a token bucket for what we send, which also obeys a server
// that says "retry after" (HTTP 429, Discord's and Slack's rate-limit
// answers, IRC's throttling notices).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>

#include "immp/asio.hpp"
#include "net/clock.hpp"

namespace immp::net {

// Holds up to `burst` tokens; one token comes back every `interval`. Each
// request costs one token. With interval 0 nothing is delayed by the
// bucket (a pause still holds). Pure: the caller passes the time, so it
// runs on any clock.
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBucket(std::chrono::milliseconds interval, std::size_t burst, Clock::time_point now);

  // How long to wait at `now` before a request may go (zero: now).
  Clock::duration wait(Clock::time_point now);
  // Spends one token at `now`. Call it when the request goes; allowed even
  // when wait() was not zero (something that must go anyway, e.g. a PONG),
  // in which case later requests wait longer.
  void take(Clock::time_point now);
  // A request that had to wait goes at `now`, maybe later than wait() said
  // (a timer that fired late): the tokens that came in while it was
  // overdue are dropped, so that the requests after it are spaced from
  // this one by a whole interval instead of catching up with the schedule
  // in a burst. Call it before that request's take(). For links that
  // punish requests close together (IRC servers); an API's quota per
  // window does not, and RateLimiter lets such requests catch up.
  void overdue(Clock::time_point now);
  // Tokens available at `now` (negative after forced takes).
  double tokens(Clock::time_point now);
  // Nothing may go before `until` (the server's "retry after"). A later
  // pause extends, an earlier one never shortens it.
  void pause_until(Clock::time_point until);
  Clock::time_point paused_until() const { return paused_until_; }

 private:
  void refill(Clock::time_point now);

  std::chrono::milliseconds interval_;
  double burst_;
  double tokens_;
  Clock::time_point last_;
  Clock::time_point paused_until_{};
};

// A TokenBucket on a Clock, for coroutines: acquire() waits its turn.
// Used from one executor; the clock must be that executor's.
class RateLimiter {
 public:
  RateLimiter(std::shared_ptr<Clock> clock, std::chrono::milliseconds interval, std::size_t burst);

  // Waits until a request may go, then spends its token. Throws
  // operation_aborted when cancelled (no token spent).
  Task<> acquire();
  // Spends a token if one is there and no pause holds; never waits.
  bool try_acquire();
  // How long acquire() would wait now.
  Clock::Duration wait();
  // The server asked for a pause: nothing goes for `d` from now.
  void retry_after(Clock::Duration d);
  Clock& clock() { return *clock_; }

 private:
  std::shared_ptr<Clock> clock_;
  TokenBucket bucket_;
};

// The value of an HTTP Retry-After header: delay-seconds ("120", also
// fractional "1.5" as some APIs send) or an HTTP-date, relative to `now`.
// A date in the past is zero; nonsense is nullopt.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace immp::net
