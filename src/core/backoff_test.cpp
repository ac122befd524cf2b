// Backoff: doubling steps up to a cap, each delay jittered within the upper
// half of its step, and back to the first step after a reset.
#include "immp/backoff.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace immp {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

// The step of each attempt, without jitter: 100, 200, 400, 800, 1000, ...
milliseconds step_of(unsigned attempt, milliseconds first, milliseconds max) {
  milliseconds step = first;
  for (unsigned i = 0; i < attempt && step < max; ++i) step *= 2;
  return std::min(step, max);
}

TEST(BackoffTest, EachDelayLiesInTheUpperHalfOfADoublingStepUpToTheCap) {
  const milliseconds first = 100ms, max = 1000ms;
  const std::vector<milliseconds> steps = {100ms, 200ms, 400ms, 800ms, 1000ms, 1000ms, 1000ms};
  for (unsigned i = 0; i < steps.size(); ++i) ASSERT_EQ(step_of(i, first, max), steps[i]);
  // Many runs: every delay within [step/2, step], and between them the whole
  // range is used, which a delay that stopped doubling could not do.
  std::vector<milliseconds> low(steps.size(), 1h), high(steps.size(), 0ms);
  Backoff backoff(first, max);
  for (int run = 0; run < 400; ++run) {
    backoff.reset();
    for (unsigned i = 0; i < steps.size(); ++i) {
      milliseconds d = backoff.next();
      ASSERT_GE(d, steps[i] / 2) << "attempt " << i;
      ASSERT_LE(d, steps[i]) << "attempt " << i;
      low[i] = std::min(low[i], d);
      high[i] = std::max(high[i], d);
    }
  }
  for (unsigned i = 0; i < steps.size(); ++i) {
    EXPECT_LT(low[i], steps[i] * 6 / 10) << "no jitter at attempt " << i;
    EXPECT_GT(high[i], steps[i] * 9 / 10) << "the step did not grow to " << steps[i].count();
  }
}

TEST(BackoffTest, TheCapHoldsHoweverManyAttemptsFailed) {
  Backoff backoff(1ms, 30s);
  milliseconds last{0};
  for (int i = 0; i < 10000; ++i) last = backoff.next();
  EXPECT_EQ(backoff.attempts(), 10000u);
  EXPECT_GE(last, 15s) << "the step overflowed instead of staying at the cap";
  EXPECT_LE(last, 30s);
}

TEST(BackoffTest, ResetStartsAgainFromTheFirstStep) {
  Backoff backoff(100ms, 60s);
  for (int i = 0; i < 10; ++i) backoff.next();
  EXPECT_EQ(backoff.attempts(), 10u);
  backoff.reset();
  EXPECT_EQ(backoff.attempts(), 0u);
  milliseconds d = backoff.next();
  EXPECT_GE(d, 50ms);
  EXPECT_LE(d, 100ms);
  EXPECT_EQ(backoff.attempts(), 1u);
}

TEST(BackoffTest, NonsenseBoundsAreMadeUsable) {
  Backoff zero(0ms, 0ms);
  EXPECT_EQ(zero.first(), 1ms) << "a zero first step would never grow";
  EXPECT_EQ(zero.max(), 1ms);
  Backoff inverted(500ms, 100ms);
  EXPECT_EQ(inverted.max(), 500ms) << "the cap is at least the first step";
  for (int i = 0; i < 5; ++i) {
    milliseconds d = inverted.next();
    EXPECT_GE(d, 250ms);
    EXPECT_LE(d, 500ms);
  }
}

TEST(BackoffTest, TwoBackoffsDoNotReturnInLockstep) {
  // The point of jitter: clients of one recovering server spread out.
  std::vector<milliseconds> a, b;
  Backoff one(1s, 60s), two(1s, 60s);
  for (int i = 0; i < 8; ++i) {
    a.push_back(one.next());
    b.push_back(two.next());
  }
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace immp
