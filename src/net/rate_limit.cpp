#include "net/rate_limit.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <ctime>
#include <iomanip>
#include <sstream>
#include <string>

namespace immp::net {

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
  Clock::duration paused = std::max(Clock::duration::zero(), paused_until_ - now);
  if (interval_.count() <= 0 || tokens_ >= 1.0) return paused;
  std::chrono::duration<double, std::milli> missing((1.0 - tokens_) *
                                                    static_cast<double>(interval_.count()));
  // Round up so that waiting exactly this long always yields a token.
  Clock::duration refill_wait =
      std::chrono::ceil<std::chrono::microseconds>(missing) + std::chrono::microseconds(1);
  return std::max(paused, refill_wait);
}

void TokenBucket::take(Clock::time_point now) {
  refill(now);
  if (interval_.count() > 0) tokens_ -= 1.0;
}

void TokenBucket::overdue(Clock::time_point now) {
  refill(now);
  // One token is what the waiting request was owed; more would be the
  // schedule's, minted while it waited.
  tokens_ = std::min(tokens_, 1.0);
}

void TokenBucket::pause_until(Clock::time_point until) {
  paused_until_ = std::max(paused_until_, until);
}

RateLimiter::RateLimiter(std::shared_ptr<Clock> clock, std::chrono::milliseconds interval,
                         std::size_t burst)
    : clock_(std::move(clock)), bucket_(interval, burst, clock_->now()) {}

Task<> RateLimiter::acquire() {
  // Checked again after each sleep: another task may have taken the token,
  // or a retry-after may have come in meanwhile.
  for (;;) {
    Clock::Duration d = bucket_.wait(clock_->now());
    if (d <= Clock::Duration::zero()) break;
    co_await clock_->sleep(d);
  }
  bucket_.take(clock_->now());
}

bool RateLimiter::try_acquire() {
  auto now = clock_->now();
  if (bucket_.wait(now) > Clock::Duration::zero()) return false;
  bucket_.take(now);
  return true;
}

Clock::Duration RateLimiter::wait() { return bucket_.wait(clock_->now()); }

void RateLimiter::retry_after(Clock::Duration d) { bucket_.pause_until(clock_->now() + d); }

std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now) {
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front())))
    value.remove_prefix(1);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back())))
    value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::isdigit(static_cast<unsigned char>(value.front()))) {
    double seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || end != value.data() + value.size() || !std::isfinite(seconds) ||
        seconds < 0 || seconds > 1e9)
      return std::nullopt;
    return std::chrono::milliseconds(static_cast<long long>(std::ceil(seconds * 1000)));
  }
  // IMF-fixdate, the only date form a server may send (RFC 9110 5.6.7).
  std::tm tm{};
  std::istringstream in{std::string(value)};
  in.imbue(std::locale::classic());
  in >> std::get_time(&tm, "%a, %d %b %Y %H:%M:%S GMT");
  if (in.fail()) return std::nullopt;
  std::time_t t = ::timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  auto when = std::chrono::system_clock::from_time_t(t);
  if (when <= now) return std::chrono::milliseconds(0);
  return std::chrono::ceil<std::chrono::milliseconds>(when - now);
}

}  // namespace immp::net
