// Ring: the queue under every outbox, hook inbox and plug inbox. What
// matters to users is order (messages go out as they came) and that
// nothing is leaked or freed twice when items wrap, grow or are dropped.
#include "immp/ring.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace immp {
namespace {

std::vector<std::string> items(const Ring<std::string>& r) {
  return std::vector<std::string>(r.begin(), r.end());
}

TEST(Ring, KeepsOrderWhileItemsPassThroughAndWrapAround) {
  Ring<std::string> r;
  int next_in = 0, next_out = 0;
  // Three in, two out, many times: the items wrap around the block and it
  // grows while wrapped.
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 3; ++i) r.push_back("m" + std::to_string(next_in++));
    for (int i = 0; i < 2; ++i) {
      ASSERT_EQ(r.front(), "m" + std::to_string(next_out++));
      r.pop_front();
    }
  }
  EXPECT_EQ(r.size(), 200u);
  EXPECT_EQ(r.back(), "m" + std::to_string(next_in - 1));
  std::vector<std::string> rest = items(r);
  for (std::size_t i = 0; i < rest.size(); ++i) {
    EXPECT_EQ(rest[i], "m" + std::to_string(next_out + static_cast<int>(i)));
  }
}

TEST(Ring, PushFrontPutsItemsBackAheadOfTheRest) {
  // As an outbox puts back what failed to go out, ahead of what waits.
  Ring<std::string> r;
  r.push_back("c");
  r.push_back("d");
  r.push_front("b");
  r.push_front("a");
  EXPECT_EQ(items(r), (std::vector<std::string>{"a", "b", "c", "d"}));
  for (int i = 0; i < 20; ++i) r.push_front("x" + std::to_string(i));  // grows at the front
  EXPECT_EQ(r.front(), "x19");
  EXPECT_EQ(r.back(), "d");
  EXPECT_EQ(r.size(), 24u);
}

TEST(Ring, DestroysEveryItemExactlyOnce) {
  auto token = std::make_shared<int>(0);
  {
    Ring<std::shared_ptr<int>> r;
    for (int i = 0; i < 100; ++i) r.push_back(token);
    for (int i = 0; i < 40; ++i) r.pop_front();
    EXPECT_EQ(token.use_count(), 61);
    r.pop_back();
    EXPECT_EQ(token.use_count(), 60);
    Ring<std::shared_ptr<int>> moved = std::move(r);
    EXPECT_TRUE(r.empty());
    EXPECT_EQ(token.use_count(), 60);
    moved.clear();
    EXPECT_EQ(token.use_count(), 1);
    for (int i = 0; i < 5; ++i) moved.emplace_back(token);
  }
  EXPECT_EQ(token.use_count(), 1);  // the ring's destructor let go of the rest
}

}  // namespace
}  // namespace immp
