#include "immp/backoff.hpp"

#include <algorithm>
#include <random>

namespace immp {

Backoff::Backoff(std::chrono::milliseconds first, std::chrono::milliseconds max)
    : first_(std::max(first, std::chrono::milliseconds(1))),
      max_(std::max(max, first_)),
      state_(std::random_device{}() | 1u) {}

std::chrono::milliseconds Backoff::next() {
  // Doubling in integers: no overflow however many attempts there were.
  auto step = first_;
  for (unsigned i = 0; i < attempt_ && step < max_; ++i) step *= 2;
  step = std::min(step, max_);
  ++attempt_;
  // xorshift64: cheap, and good enough to spread retries.
  state_ ^= state_ << 13;
  state_ ^= state_ >> 7;
  state_ ^= state_ << 17;
  auto half = step.count() / 2;
  auto spread = step.count() - half;
  return std::chrono::milliseconds(half + static_cast<long>(state_ % static_cast<std::uint64_t>(spread + 1)));
}

}  // namespace immp
