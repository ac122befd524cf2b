// The record of our own posts that tells their echoes apart: a part is
// known for exactly the last kCapacity parts, by (source, id), with what
// was posted and by whom.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

#include "core/plug_core.hpp"

namespace immp::detail {
namespace {

constexpr std::size_t kCap = EchoRecord::kCapacity;

OriginPtr origin(std::string owner) { return std::make_shared<const Origin>(Origin{owner, {}}); }

TEST(EchoRecordTest, KnowsExactlyTheLastPartsPosted) {
  EchoRecord r;
  EXPECT_EQ(r.find("#a", "1"), nullptr);
  const std::size_t total = 3 * kCap + 17;
  auto sync = origin("sync");
  for (std::size_t i = 0; i < total; ++i) {
    r.add("#a", "id-" + std::to_string(i), nullptr, sync, i % 2 == 0);
  }
  for (std::size_t i = 0; i < total; ++i) {
    const auto* e = r.find("#a", "id-" + std::to_string(i));
    if (i + kCap < total) {
      EXPECT_EQ(e, nullptr) << "part " << i << " is older than the record";
    } else {
      ASSERT_NE(e, nullptr) << "part " << i << " is lost";
      EXPECT_EQ(e->id, "id-" + std::to_string(i));
      EXPECT_EQ(e->origin, sync);
      EXPECT_EQ(e->primary, i % 2 == 0);
    }
  }
}

TEST(EchoRecordTest, TheSameIdOnAnotherChannelIsAnotherPart) {
  EchoRecord r;
  auto a = origin("a"), b = origin("b");
  r.add("#a", "42", nullptr, a, true);
  r.add("#b", "42", nullptr, b, true);
  ASSERT_NE(r.find("#a", "42"), nullptr);
  EXPECT_EQ(r.find("#a", "42")->origin, a);
  ASSERT_NE(r.find("#b", "42"), nullptr);
  EXPECT_EQ(r.find("#b", "42")->origin, b);
  EXPECT_EQ(r.find("#c", "42"), nullptr);
}

// An edit that keeps its id is posted again under it: the newest post
// answers, and stays known when the ring forgets the older one.
TEST(EchoRecordTest, APartPostedAgainUnderItsIdOutlivesTheOlderPost) {
  EchoRecord r;
  auto first = origin("first"), edit = origin("edit"), other = origin("other");
  r.add("#a", "kept", nullptr, first, true);
  for (std::size_t i = 0; i < kCap / 2; ++i)
    r.add("#a", "x" + std::to_string(i), nullptr, other, true);
  r.add("#a", "kept", nullptr, edit, false);
  ASSERT_NE(r.find("#a", "kept"), nullptr);
  EXPECT_EQ(r.find("#a", "kept")->origin, edit);
  // The first post leaves the ring; the edit is still there.
  for (std::size_t i = 0; i < kCap / 2 + 10; ++i) {
    r.add("#a", "y" + std::to_string(i), nullptr, other, true);
  }
  ASSERT_NE(r.find("#a", "kept"), nullptr);
  EXPECT_EQ(r.find("#a", "kept")->origin, edit);
  EXPECT_FALSE(r.find("#a", "kept")->primary);
}

// Against a plain model, with ids drawn from a small pool (so parts are
// posted again and collide in the index) and from a large one.
TEST(EchoRecordTest, AgreesWithAModelOverManyPartsPostedAndPostedAgain) {
  EchoRecord r;
  std::mt19937_64 rng(7);
  std::map<std::string, std::uint64_t> newest;  // id -> number of its newest post
  std::vector<std::string> posts;               // every post's id, in order
  std::vector<OriginPtr> origins;
  for (std::size_t step = 0; step < 6 * kCap; ++step) {
    std::string id =
        rng() % 4 == 0 ? "pool-" + std::to_string(rng() % 3000) : "fresh-" + std::to_string(step);
    auto o = origin(std::to_string(step));
    r.add("#a", id, nullptr, o, true);
    posts.push_back(id);
    origins.push_back(o);
    newest[id] = step;
    if (step % 997 != 0 && step + 1 != 6 * kCap) continue;
    // Check every id seen: known iff its newest post is among the last kCap.
    for (const auto& [seen, at] : newest) {
      const auto* e = r.find("#a", seen);
      if (at + kCap <= step) {
        EXPECT_EQ(e, nullptr) << seen << " at step " << step;
      } else {
        ASSERT_NE(e, nullptr) << seen << " at step " << step;
        EXPECT_EQ(e->origin, origins[at]) << seen << " at step " << step;
      }
    }
  }
}

}  // namespace
}  // namespace immp::detail
