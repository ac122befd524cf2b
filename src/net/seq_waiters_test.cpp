// SeqWaiters: each waiter wakes once, when the counter reaches its number
// (in any order of targets), or when everything is released; a cancelled
// waiter leaves the others waiting.
#include "net/seq_waiters.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>

#include "support/async.hpp"

namespace immp::net {
namespace {

struct SeqWaitersTest : ::testing::Test {
  asio::io_context io;
  SeqWaiters waiters;
  std::vector<std::uint64_t> woken;  // targets, in the order they woke
  int aborted = 0;

  void wait_for(std::uint64_t target, asio::cancellation_slot slot = {}) {
    auto task = [](SeqWaitersTest& t, std::uint64_t target) -> Task<> {
      try {
        co_await t.waiters.wait(target);
        t.woken.push_back(target);
      } catch (const boost::system::system_error& e) {
        if (e.code() == asio::error::operation_aborted) ++t.aborted;
      }
    };
    asio::co_spawn(io, task(*this, target),
                   asio::bind_cancellation_slot(slot, [](std::exception_ptr) {}));
    test::poll(io);
  }
};

TEST_F(SeqWaitersTest, EachWakesOnceWhenTheCounterReachesIt) {
  for (std::uint64_t t : {1, 2, 3, 5}) wait_for(t);
  EXPECT_EQ(waiters.size(), 4u);
  waiters.reach(2);
  test::poll(io);
  EXPECT_EQ(woken, (std::vector<std::uint64_t>{1, 2}));
  waiters.reach(4);
  test::poll(io);
  EXPECT_EQ(woken, (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(waiters.size(), 1u) << "5 still waits";
  waiters.reach(9);
  test::poll(io);
  EXPECT_EQ(woken, (std::vector<std::uint64_t>{1, 2, 3, 5}));
  EXPECT_EQ(waiters.size(), 0u);
}

TEST_F(SeqWaitersTest, ATargetAlreadyReachedDoesNotWait) {
  waiters.reach(7);
  wait_for(7);
  EXPECT_EQ(woken, (std::vector<std::uint64_t>{7}));
  EXPECT_EQ(waiters.size(), 0u);
  waiters.reach(3);  // never goes back
  EXPECT_EQ(waiters.reached(), 7u);
}

TEST_F(SeqWaitersTest, TargetsOutOfOrderWakeInTheirOwnOrder) {
  for (std::uint64_t t : {5, 2, 8, 3}) wait_for(t);
  waiters.reach(5);
  test::poll(io);
  EXPECT_EQ(woken, (std::vector<std::uint64_t>{2, 3, 5}));
}

TEST_F(SeqWaitersTest, ReleaseAllWakesEveryone) {
  for (std::uint64_t t : {4, 6}) wait_for(t);
  waiters.release_all();
  test::poll(io);
  EXPECT_EQ(woken, (std::vector<std::uint64_t>{4, 6}));
  EXPECT_EQ(aborted, 0);
}

TEST_F(SeqWaitersTest, ACancelledWaiterLeavesTheOthersWaiting) {
  asio::cancellation_signal cancel;
  wait_for(1);
  wait_for(2, cancel.slot());
  wait_for(3);
  cancel.emit(asio::cancellation_type::all);
  test::poll(io);
  EXPECT_EQ(aborted, 1);
  EXPECT_TRUE(woken.empty());
  EXPECT_EQ(waiters.size(), 2u);
  waiters.reach(3);
  test::poll(io);
  EXPECT_EQ(woken, (std::vector<std::uint64_t>{1, 3}));
}

}  // namespace
}  // namespace immp::net
