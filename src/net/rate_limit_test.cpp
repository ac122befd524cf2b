// The token bucket and the rate limiter, on a manual clock: a burst goes at
// once, then one request per interval; a server's "retry after" holds
// everything until it passes. No sleeps: time moves when the test says.
#include "net/rate_limit.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "net/manual_clock.hpp"
#include "support/async.hpp"

namespace immp::net {
namespace {

using namespace std::chrono_literals;
using Time = std::chrono::steady_clock::time_point;

TEST(TokenBucketTest, ABurstGoesAtOnceThenOnePerInterval) {
  Time t0 = Time{} + 1h;
  TokenBucket bucket(100ms, 3, t0);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(bucket.wait(t0), Time::duration::zero()) << "request " << i;
    bucket.take(t0);
  }
  auto d = bucket.wait(t0);
  EXPECT_GT(d, 99ms);
  EXPECT_LE(d, 101ms);
  EXPECT_EQ(bucket.wait(t0 + d), Time::duration::zero()) << "waiting what it said is enough";
  // Idle time refills up to the burst, never beyond.
  EXPECT_DOUBLE_EQ(bucket.tokens(t0 + 1h), 3.0);
}

// A request whose timer fired late (a loaded machine) goes at once, but the
// next one still waits a whole interval after it: the time it was late for
// mints no tokens, so two requests never go closer than the interval.
TEST(TokenBucketTest, AnOverdueRequestIsSpacedFromItsActualSendNotTheSchedule) {
  Time t0 = Time{} + 1h;
  TokenBucket bucket(350ms, 8, t0);
  for (int i = 0; i < 8; ++i) bucket.take(t0);
  auto due = bucket.wait(t0);
  ASSERT_GT(due, 349ms);
  Time late = t0 + due + 300ms;  // the timer fired 300 ms late
  ASSERT_EQ(bucket.wait(late), Time::duration::zero());
  bucket.overdue(late);
  bucket.take(late);
  auto next = bucket.wait(late);
  EXPECT_GT(next, 349ms) << "caught up with the schedule";
  EXPECT_LE(next, 351ms);
  // Without a wait, idle time still fills the burst.
  EXPECT_DOUBLE_EQ(bucket.tokens(late + 1h), 8.0);
}

TEST(TokenBucketTest, ARetryAfterHoldsEvenAFullBucket) {
  Time t0 = Time{} + 1h;
  TokenBucket bucket(100ms, 5, t0);
  bucket.pause_until(t0 + 2s);
  EXPECT_EQ(bucket.wait(t0), 2s);
  EXPECT_EQ(bucket.wait(t0 + 1500ms), 500ms);
  bucket.pause_until(t0 + 1s);  // an earlier end never shortens the pause
  EXPECT_EQ(bucket.wait(t0 + 1500ms), 500ms);
  EXPECT_EQ(bucket.wait(t0 + 2s), Time::duration::zero());
}

TEST(TokenBucketTest, IntervalZeroNeverDelaysButAPauseStillHolds) {
  Time t0 = Time{} + 1h;
  TokenBucket bucket(0ms, 1, t0);
  for (int i = 0; i < 100; ++i) bucket.take(t0);
  EXPECT_EQ(bucket.wait(t0), Time::duration::zero());
  bucket.pause_until(t0 + 1s);
  EXPECT_EQ(bucket.wait(t0), 1s);
}

struct RateLimiterTest : ::testing::Test {
  asio::io_context io;
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>(io.get_executor());
  int sent = 0;

  // Spawns a task that sends `n` requests through `limiter`, counting them.
  void send(RateLimiter& limiter, int n) {
    asio::co_spawn(
        io,
        [](RateLimiter& l, int n, int& sent) -> Task<> {
          for (int i = 0; i < n; ++i) {
            co_await l.acquire();
            ++sent;
          }
        }(limiter, n, sent),
        asio::detached);
    test::poll(io);
  }
};

TEST_F(RateLimiterTest, AcquireWaitsForTheClockNotForRealTime) {
  RateLimiter limiter(clock, 1s, 2);
  send(limiter, 5);
  EXPECT_EQ(sent, 2) << "the burst goes at once";
  clock->advance(999ms);
  test::poll(io);
  EXPECT_EQ(sent, 2) << "not before the interval";
  clock->advance(2ms);
  test::poll(io);
  EXPECT_EQ(sent, 3);
  clock->advance(2s);
  test::poll(io);
  EXPECT_EQ(sent, 5);
}

TEST_F(RateLimiterTest, RetryAfterPausesAWaitingSenderAndThenItGoesOn) {
  RateLimiter limiter(clock, 100ms, 1);
  send(limiter, 3);
  EXPECT_EQ(sent, 1);
  // The server answered 429 with Retry-After: 5 while the sender waited.
  limiter.retry_after(5s);
  clock->advance(4900ms);
  test::poll(io);
  EXPECT_EQ(sent, 1) << "the pause holds although tokens came back";
  clock->advance(100ms);
  test::poll(io);
  EXPECT_EQ(sent, 2) << "after the pause, the refilled bucket lets one go";
  clock->advance(101ms);  // the bucket rounds its waits up
  test::poll(io);
  EXPECT_EQ(sent, 3);
}

TEST_F(RateLimiterTest, TryAcquireNeverWaits) {
  RateLimiter limiter(clock, 1s, 1);
  EXPECT_TRUE(limiter.try_acquire());
  EXPECT_FALSE(limiter.try_acquire());
  clock->advance(1s);
  EXPECT_TRUE(limiter.try_acquire());
  limiter.retry_after(10s);
  clock->advance(5s);
  EXPECT_FALSE(limiter.try_acquire());
  EXPECT_EQ(limiter.wait(), 5s);
}

TEST(RetryAfterTest, SecondsAndDatesAreUnderstood) {
  auto now = std::chrono::system_clock::from_time_t(1445412480);  // Wed, 21 Oct 2015 07:28:00
  EXPECT_EQ(parse_retry_after("120", now), 120s);
  EXPECT_EQ(parse_retry_after(" 1.5 ", now), 1500ms);
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), 30s);
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), 0ms) << "in the past";
  EXPECT_EQ(parse_retry_after("", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("-3", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("soon", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("12 apples", now), std::nullopt);
}

}  // namespace
}  // namespace immp::net
