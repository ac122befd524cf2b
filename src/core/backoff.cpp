#include "immp/backoff.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <random>

namespace immp {

namespace {

// A different seed for every backoff, without asking the system each time
// (std::random_device costs a system call per construction, and a database
// makes one backoff per batch of writes): one random base per process,
// stepped by a Weyl sequence and mixed.
std::uint64_t next_seed() {
  static const std::uint64_t base = (std::uint64_t{std::random_device{}()} << 32) |
                                    std::random_device{}();
  static std::atomic<std::uint64_t> step{0};
  std::uint64_t z = base + step.fetch_add(0x9e3779b97f4a7c15ULL, std::memory_order_relaxed);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return (z ^ (z >> 31)) | 1u;
}

}  // namespace

Backoff::Backoff(std::chrono::milliseconds first, std::chrono::milliseconds max)
    : first_(std::max(first, std::chrono::milliseconds(1))),
      max_(std::max(max, first_)),
      state_(next_seed()) {}

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
