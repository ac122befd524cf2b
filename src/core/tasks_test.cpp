// Signal and TaskGroup: the wake-ups and task ownership every queue, reader
// and outbox of the host stands on.
#include "immp/tasks.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>

#include <sstream>
#include <stdexcept>
#include <string>

#include "support/async.hpp"

namespace immp {
namespace {

using namespace std::chrono_literals;

// How a coroutine spawned by a test ended; empty while it runs.
using Ending = std::string;

void record(Ending& ending, std::exception_ptr e) {
  if (!e) {
    ending = "done";
    return;
  }
  try {
    std::rethrow_exception(e);
  } catch (const boost::system::system_error& err) {
    ending = err.code() == asio::error::operation_aborted ? "aborted" : "error";
  } catch (...) {
    ending = "error";
  }
}

// Starts `task` on `io`, recording how it ends; `slot` (if connected)
// cancels it.
void spawn(asio::io_context& io, Task<> task, Ending& ending, asio::cancellation_slot slot = {}) {
  asio::co_spawn(
      io, std::move(task),
      asio::bind_cancellation_slot(slot, [&ending](std::exception_ptr e) { record(ending, e); }));
}

Task<> wait_then_count(Signal& signal, int& count, int times = 1) {
  for (int i = 0; i < times; ++i) {
    co_await signal.wait();
    ++count;
  }
}

// Waits on `gate`, noting in `how` whether it was woken or cancelled.
Task<> park(Signal& gate, std::string& how) {
  try {
    co_await gate.wait();
    how = "woken";
  } catch (const boost::system::system_error& e) {
    how = e.code() == asio::error::operation_aborted ? "cancelled" : "error";
    throw;
  }
}

// ---- Signal ----

TEST(SignalTest, NotifyWakesEveryCurrentWaiterLater) {
  asio::io_context io;
  Signal signal(io.get_executor());
  int woken = 0;
  Ending e1, e2, e3;
  spawn(io, wait_then_count(signal, woken), e1);
  spawn(io, wait_then_count(signal, woken), e2);
  spawn(io, wait_then_count(signal, woken), e3);
  test::poll(io);
  EXPECT_EQ(woken, 0) << "woke without a notify";
  signal.notify();
  EXPECT_EQ(woken, 0) << "the notifier ran a waiter inline";
  test::poll(io);
  EXPECT_EQ(woken, 3);
  EXPECT_EQ(e1 + e2 + e3, "donedonedone");
}

TEST(SignalTest, ANotifyIsNotRememberedAndALaterWaitSleepsAgain) {
  asio::io_context io;
  Signal signal(io.get_executor());
  signal.notify();  // nobody waits: lost, by contract
  int woken = 0;
  Ending ending;
  spawn(io, wait_then_count(signal, woken, 2), ending);
  test::poll(io);
  EXPECT_EQ(woken, 0) << "an earlier notify woke a later waiter";
  signal.notify();
  test::poll(io);
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(ending, "") << "the second wait did not sleep";
  signal.notify();
  test::poll(io);
  EXPECT_EQ(woken, 2);
  EXPECT_EQ(ending, "done");
}

TEST(SignalTest, ACancelledWaiterEndsAloneWithOperationAborted) {
  asio::io_context io;
  Signal signal(io.get_executor());
  asio::cancellation_signal cancel;
  std::string how_a, how_b;
  Ending a, b;
  spawn(io, park(signal, how_a), a, cancel.slot());
  spawn(io, park(signal, how_b), b);
  test::poll(io);
  cancel.emit(asio::cancellation_type::all);
  test::poll(io);
  EXPECT_EQ(how_a, "cancelled");
  EXPECT_EQ(a, "aborted");
  EXPECT_EQ(b, "") << "cancelling one waiter ended another";
  signal.notify();
  test::poll(io);
  EXPECT_EQ(how_b, "woken");
  EXPECT_EQ(b, "done");
  EXPECT_EQ(how_a, "cancelled") << "a cancelled waiter was resumed again";
}

// ---- TaskGroup ----

struct TaskGroupTest : ::testing::Test {
  asio::io_context io;
  std::ostringstream out;
  LoggerPtr log = [this] {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(out);
    sink->set_pattern("%l|%v");
    return std::make_shared<spdlog::logger>("test.tasks", sink);
  }();
  // Declared before the group: a task still parked on it when a test fails
  // is cancelled by the group's destructor first.
  Signal gate{io.get_executor()};
  TaskGroup group{io.get_executor(), log};

  std::string logged() {
    log->flush();
    return out.str();
  }
};

Task<> throw_runtime_error(std::string what) {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  throw std::runtime_error(what);
}

Task<> throw_system_error(boost::system::error_code ec) {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  throw boost::system::system_error(ec);
}

Task<> throw_int() {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  throw 42;
}

// Swallows cancellation and keeps waiting until `release` is notified.
Task<> stubborn(Signal& release, int& cancels, bool& finished) {
  for (;;) {
    try {
      co_await release.wait();
      break;
    } catch (const boost::system::system_error& e) {
      if (e.code() != asio::error::operation_aborted) throw;
      ++cancels;
    }
    // Forgets it was cancelled, so the next wait does not throw at once.
    co_await asio::this_coro::reset_cancellation_state();
  }
  finished = true;
}

TEST_F(TaskGroupTest, JoinWaitsForTasksToEndOnTheirOwnWithoutCancellingThem) {
  EXPECT_TRUE(test::run(io, group.join(10s), 1s)) << "an empty group is joined at once";
  std::string how_a, how_b;
  group.spawn("a", park(gate, how_a));
  group.spawn("b", park(gate, how_b));
  EXPECT_EQ(group.size(), 2u);
  EXPECT_FALSE(test::run(io, group.join(20ms))) << "joined while the tasks still ran";
  EXPECT_EQ(group.size(), 2u);
  EXPECT_EQ(how_a + how_b, "") << "join cancelled a task";
  gate.notify();
  EXPECT_TRUE(test::run(io, group.join(10s), 2s));
  EXPECT_EQ(how_a + how_b, "wokenwoken");
  EXPECT_EQ(group.size(), 0u);
}

TEST_F(TaskGroupTest, StopCancelsEveryTaskAndReturnsOnceTheyEnded) {
  std::string how[3];
  for (auto& h : how) group.spawn("parked", park(gate, h));
  // The timeout is far beyond the run limit: stop must return because the
  // tasks ended, not because it gave up on them.
  test::run(io, group.stop(60s), 5s);
  for (auto& h : how) EXPECT_EQ(h, "cancelled");
  EXPECT_EQ(group.size(), 0u);
  EXPECT_EQ(logged(), "") << "cancellation ends a task quietly";
}

TEST_F(TaskGroupTest, ATaskThatIgnoresCancellationIsAbandonedAfterTheTimeoutWithAWarning) {
  int cancels = 0;
  bool finished = false;
  std::string how;
  group.spawn("stubborn", stubborn(gate, cancels, finished));
  group.spawn("polite", park(gate, how));
  test::run(io, group.stop(50ms), 5s);
  EXPECT_EQ(how, "cancelled");
  EXPECT_EQ(cancels, 1);
  EXPECT_FALSE(finished);
  EXPECT_EQ(logged(), "warning|task stubborn did not stop in time; abandoned\n");
  EXPECT_EQ(group.size(), 1u) << "an abandoned task is still accounted for until it ends";
  gate.notify();
  ASSERT_TRUE(test::run_until(io, [&] { return group.size() == 0; }));
  EXPECT_TRUE(finished);
}

TEST_F(TaskGroupTest, ExceptionsAreLoggedWithTheTasksNameAndGoNoFurther) {
  std::string bystander;
  group.spawn("bystander", park(gate, bystander));
  group.spawn("thrower", throw_runtime_error("boom"));
  group.spawn("refused", throw_system_error(asio::error::connection_refused));
  group.spawn("aborted", throw_system_error(asio::error::operation_aborted));
  group.spawn("odd", throw_int());
  // Anything that escaped a task would come out of the io_context here.
  bool ended = false;
  EXPECT_NO_THROW(ended = test::run_until(io, [&] { return group.size() == 1; }));
  ASSERT_TRUE(ended);
  std::string log_text = logged();
  EXPECT_NE(log_text.find("error|task thrower failed: boom\n"), std::string::npos) << log_text;
  EXPECT_NE(log_text.find("error|task refused failed: Connection refused"), std::string::npos)
      << log_text;
  EXPECT_NE(log_text.find("error|task odd failed"), std::string::npos) << log_text;
  EXPECT_EQ(log_text.find("aborted"), std::string::npos) << "an abort is not an error";
  EXPECT_EQ(bystander, "") << "another task was disturbed";
  gate.notify();
  EXPECT_TRUE(test::run(io, group.join(10s), 2s));
  EXPECT_EQ(bystander, "woken");
}

TEST_F(TaskGroupTest, TheSignalSpawnReturnsCancelsThatTaskAlone) {
  std::string how_a, how_b;
  asio::cancellation_signal& cancel_a = group.spawn("a", park(gate, how_a));
  group.spawn("b", park(gate, how_b));
  test::poll(io);
  cancel_a.emit(asio::cancellation_type::all);
  ASSERT_TRUE(test::run_until(io, [&] { return group.size() == 1; }));
  EXPECT_EQ(how_a, "cancelled");
  EXPECT_EQ(how_b, "");
  gate.notify();
  EXPECT_TRUE(test::run(io, group.join(10s), 2s));
  EXPECT_EQ(how_b, "woken");
  EXPECT_EQ(logged(), "");
}

TEST_F(TaskGroupTest, AGroupDestroyedFirstCancelsItsTasksWhichEndWithoutIt) {
  std::string how;
  {
    TaskGroup doomed(io.get_executor(), log);
    doomed.spawn("orphan", park(gate, how));
    test::poll(io);
  }
  // The task unwinds after its group is gone; under ASan this proves it
  // touches nothing of the group's.
  test::poll(io);
  EXPECT_EQ(how, "cancelled");
  EXPECT_EQ(logged(), "");
}

TEST_F(TaskGroupTest, AnAbandonedTaskMayEndAfterItsGroupIsGone) {
  int cancels = 0;
  bool finished = false;
  {
    TaskGroup doomed(io.get_executor(), log);
    doomed.spawn("stubborn", stubborn(gate, cancels, finished));
    test::run(io, doomed.stop(20ms), 5s);
    EXPECT_EQ(doomed.size(), 1u);
  }
  test::poll(io);  // the destructor's second cancellation, ignored as well
  EXPECT_EQ(cancels, 2);
  gate.notify();
  test::poll(io);
  EXPECT_TRUE(finished);
}

}  // namespace
}  // namespace immp
