// ConsumerQueue: order, the two overflow policies, closing, and a consumer
// that sleeps until there is something to take.
#include "immp/queue.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>

#include <numeric>
#include <vector>

#include "support/async.hpp"

namespace immp {
namespace {

using Queue = ConsumerQueue<int>;

// A consumer as the host writes one: wait, take everything, stop once the
// queue is closed and empty.
Task<> consume(Queue& q, std::vector<int>& got, bool& ended) {
  for (;;) {
    co_await q.wait();
    while (auto item = q.try_pop()) got.push_back(*item);
    if (q.closed()) break;
  }
  ended = true;
}

std::vector<int> drain(Queue& q) {
  std::vector<int> out;
  while (auto item = q.try_pop()) out.push_back(*item);
  return out;
}

struct QueueTest : ::testing::Test {
  asio::io_context io;
  std::vector<int> got;
  bool ended = false;
  void start_consumer(Queue& q) {
    asio::co_spawn(io, consume(q, got, ended), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  }
};

TEST_F(QueueTest, ItemsComeOutInTheOrderTheyWentIn) {
  Queue q(io.get_executor(), 100, Overflow::drop_oldest);
  start_consumer(q);
  for (int i = 0; i < 10; ++i) q.push(i);
  test::poll(io);
  for (int i = 10; i < 50; ++i) q.push(i);
  q.close();
  test::poll(io);
  ASSERT_TRUE(ended);
  std::vector<int> want(50);
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(got, want);
}

TEST_F(QueueTest, AWaitingConsumerSleepsUntilAnItemArrives) {
  Queue q(io.get_executor(), 4, Overflow::drop_oldest);
  start_consumer(q);
  test::poll(io);
  EXPECT_TRUE(got.empty());
  EXPECT_FALSE(ended) << "wait() returned on an empty, open queue";
  EXPECT_TRUE(q.push(7));
  test::poll(io);
  EXPECT_EQ(got, std::vector<int>{7});
  EXPECT_TRUE(q.push(8));
  test::poll(io);
  EXPECT_EQ(got, (std::vector<int>{7, 8})) << "a second wait was not woken";
  EXPECT_FALSE(ended);
  q.close();
  test::poll(io);
  EXPECT_TRUE(ended);
}

TEST_F(QueueTest, DropOldestKeepsTheNewestAndCountsWhatItDropped) {
  Queue q(io.get_executor(), 3, Overflow::drop_oldest);
  for (int i = 1; i <= 5; ++i) EXPECT_TRUE(q.push(i)) << "drop_oldest never refuses";
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.dropped(), 2u);
  EXPECT_EQ(q.take_unreported(), 2u);
  EXPECT_EQ(q.take_unreported(), 0u) << "a loss is reported once";
  EXPECT_TRUE(q.push(6));
  EXPECT_EQ(q.dropped(), 3u) << "dropped() counts since the queue was made";
  EXPECT_EQ(q.take_unreported(), 1u) << "take_unreported() counts since the last call";
  EXPECT_FALSE(q.closed());
  EXPECT_EQ(drain(q), (std::vector<int>{4, 5, 6}));
}

TEST_F(QueueTest, DisconnectClosesAFullQueueAndKeepsWhatItHeld) {
  Queue q(io.get_executor(), 2, Overflow::disconnect);
  EXPECT_TRUE(q.push(1));
  EXPECT_TRUE(q.push(2));
  EXPECT_FALSE(q.push(3)) << "the item that overflowed is refused";
  EXPECT_TRUE(q.closed());
  EXPECT_FALSE(q.push(4)) << "a disconnected queue takes nothing more";
  EXPECT_EQ(q.dropped(), 0u) << "nothing queued was dropped";
  // The consumer is told by the close: it takes what was queued and ends.
  start_consumer(q);
  test::poll(io);
  EXPECT_EQ(got, (std::vector<int>{1, 2}));
  EXPECT_TRUE(ended);
}

TEST_F(QueueTest, CloseWakesAWaitingConsumer) {
  Queue q(io.get_executor(), 4, Overflow::drop_oldest);
  start_consumer(q);
  test::poll(io);
  ASSERT_FALSE(ended);
  q.close();
  test::poll(io);
  EXPECT_TRUE(ended);
  EXPECT_TRUE(got.empty());
  EXPECT_FALSE(q.push(1));
  EXPECT_TRUE(q.empty());
}

TEST_F(QueueTest, ItemsQueuedBeforeCloseCanStillBeTaken) {
  Queue q(io.get_executor(), 4, Overflow::drop_oldest);
  q.push(1);
  q.push(2);
  q.push(3);
  q.close();
  EXPECT_FALSE(q.push(4));
  EXPECT_EQ(q.size(), 3u);
  test::run(io, q.wait(), std::chrono::seconds(1));  // returns at once: closed
  EXPECT_EQ(drain(q), (std::vector<int>{1, 2, 3}));
}

TEST_F(QueueTest, ACancelledConsumerLeavesTheQueueUsableForTheNext) {
  Queue q(io.get_executor(), 4, Overflow::drop_oldest);
  asio::cancellation_signal cancel;
  bool aborted = false;
  asio::co_spawn(io, q.wait(),
                 asio::bind_cancellation_slot(
                     cancel.slot(), [&](std::exception_ptr e) { aborted = e != nullptr; }));
  test::poll(io);
  cancel.emit(asio::cancellation_type::all);
  test::poll(io);
  EXPECT_TRUE(aborted);
  start_consumer(q);
  test::poll(io);
  q.push(5);
  test::poll(io);
  EXPECT_EQ(got, std::vector<int>{5});
  q.close();
  test::poll(io);
  EXPECT_TRUE(ended);
}

TEST_F(QueueTest, ACapacityOfZeroHoldsOne) {
  Queue q(io.get_executor(), 0, Overflow::drop_oldest);
  EXPECT_EQ(q.capacity(), 1u);
  q.push(1);
  q.push(2);
  EXPECT_EQ(drain(q), std::vector<int>{2});
  EXPECT_EQ(q.dropped(), 1u);
}

}  // namespace
}  // namespace immp
