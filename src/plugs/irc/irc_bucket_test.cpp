#include "plugs/irc/irc_bucket.hpp"

#include <gtest/gtest.h>

namespace immp::irc {
namespace {

using namespace std::chrono_literals;
using Clock = TokenBucket::Clock;

// Sends `count` lines as fast as the bucket allows, on a fake clock; returns
// the time the last one went out, relative to the start.
Clock::duration drain(TokenBucket& bucket, Clock::time_point& now, int count) {
  Clock::time_point start = now;
  for (int i = 0; i < count; ++i) {
    now += bucket.wait(now);
    EXPECT_EQ(bucket.wait(now), Clock::duration::zero());
    bucket.take(now);
  }
  return now - start;
}

TEST(IrcBucket, BurstGoesAtOnceThenOneLinePerInterval) {
  Clock::time_point now{};
  TokenBucket bucket(500ms, 4, now);
  EXPECT_EQ(drain(bucket, now, 4), Clock::duration::zero());
  // The fifth line waits one interval, the sixth another.
  Clock::duration fifth = bucket.wait(now);
  EXPECT_GE(fifth, 500ms);
  EXPECT_LT(fifth, 501ms);
  auto rest = drain(bucket, now, 2);
  EXPECT_GE(rest, 1000ms);
  EXPECT_LT(rest, 1001ms);
}

TEST(IrcBucket, SustainedRateNeverExceedsOneLinePerInterval) {
  Clock::time_point now{};
  TokenBucket bucket(100ms, 5, now);
  auto took = drain(bucket, now, 105);
  // 5 free, then 100 lines at 100 ms each.
  EXPECT_GE(took, 10s);
  EXPECT_LT(took, 10s + 5ms);
}

TEST(IrcBucket, IdleTimeRefillsOnlyUpToTheBurst) {
  Clock::time_point now{};
  TokenBucket bucket(1s, 3, now);
  drain(bucket, now, 3);
  now += 1h;
  EXPECT_DOUBLE_EQ(bucket.tokens(now), 3.0);
  EXPECT_EQ(drain(bucket, now, 3), Clock::duration::zero());
  EXPECT_GT(bucket.wait(now), Clock::duration::zero());
}

TEST(IrcBucket, ForcedLinesAreChargedToLaterOnes) {
  Clock::time_point now{};
  TokenBucket bucket(1s, 1, now);
  bucket.take(now);
  bucket.take(now);  // a PONG that could not wait
  EXPECT_GE(bucket.wait(now), 2s);
}

TEST(IrcBucket, ZeroIntervalMeansNoFloodControl) {
  Clock::time_point now{};
  TokenBucket bucket(0ms, 1, now);
  EXPECT_EQ(drain(bucket, now, 1000), Clock::duration::zero());
}

TEST(IrcBucket, ClockGoingBackwardsDoesNotMintTokens) {
  Clock::time_point now = Clock::time_point{} + 10s;
  TokenBucket bucket(1s, 1, now);
  bucket.take(now);
  EXPECT_LE(bucket.tokens(now - 5s), 0.0);
}

}  // namespace
}  // namespace immp::irc
