// A fast 64-bit hash of short strings (message ids, channel sources, keys),
// for in-memory tables on the message path. Not for anything stored or
// compared across processes: the value may change between versions.
//
// std::hash<std::string_view> (MurmurHash2 in libstdc++) is a call into the
// library and a byte loop for the tail; ids are 10-40 bytes, so this reads
// them eight bytes at a time, inline, and mixes once at the end.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace immp {

// Spreads every input bit over the whole result (the finaliser of
// MurmurHash3's 64-bit variant).
constexpr std::uint64_t hash_mix(std::uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

inline std::uint64_t hash_string(std::string_view s, std::uint64_t seed = 0) {
  constexpr std::uint64_t k = 0x9e3779b97f4a7c15ULL;
  std::uint64_t h = seed ^ (s.size() * k);
  const char* p = s.data();
  std::size_t n = s.size();
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * k;
    h ^= h >> 29;
  }
  if (n > 0) {
    // The last 1-7 bytes in at most two loads (overlapping when n is not 4
    // or 8), not a byte loop: the length, mixed in above, tells apart the
    // tails that overlap differently.
    std::uint64_t w;
    if (n >= 4) {
      std::uint32_t lo, hi;
      std::memcpy(&lo, p, 4);
      std::memcpy(&hi, p + n - 4, 4);
      w = (static_cast<std::uint64_t>(hi) << 32) | lo;
    } else {
      auto at = [p](std::size_t i) {
        return static_cast<std::uint64_t>(static_cast<unsigned char>(p[i]));
      };
      w = (at(0) << 16) | (at(n / 2) << 8) | at(n - 1);
    }
    h = (h ^ w) * k;
  }
  return hash_mix(h);
}

}  // namespace immp
