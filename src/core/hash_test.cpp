#include "immp/hash.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace immp {
namespace {

// The tables on the message path find ids by this hash: ids that differ in
// any byte, at any length (the eight-byte words and the tail), must not
// collide, or lookups degrade into probing.
TEST(HashString, IdsThatDifferInOneByteGetDifferentHashes) {
  std::set<std::uint64_t> seen;
  std::size_t made = 0;
  for (std::size_t len = 0; len <= 40; ++len) {
    std::string base(len, 'a');
    seen.insert(hash_string(base));
    ++made;
    for (std::size_t i = 0; i < len; ++i) {
      std::string s = base;
      s[i] = 'b';
      seen.insert(hash_string(s));
      ++made;
    }
  }
  EXPECT_EQ(seen.size(), made);
}

TEST(HashString, SequentialIdsSpreadOverTheLowBits) {
  // Table slots come from the low bits: ids that count up must fill them.
  std::set<std::uint64_t> slots;
  for (int i = 0; i < 4096; ++i) slots.insert(hash_string("17f2a9c." + std::to_string(i)) & 4095);
  EXPECT_GT(slots.size(), 2400u);  // a uniform hash fills about 63 %
}

TEST(HashString, TheSeedSeparatesChannels) {
  EXPECT_NE(hash_string("42", 1), hash_string("42", 2));
  EXPECT_EQ(hash_string("42", 7), hash_string(std::string("42"), 7));
}

}  // namespace
}  // namespace immp
