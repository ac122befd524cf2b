// TaskGroup: owns background coroutines so that they are cancelled and
// awaited before their owner goes away.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>
#include <list>
#include <memory>
#include <string>

#include <boost/asio/post.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include "immp/asio.hpp"
#include "immp/log.hpp"

namespace immp {

// A wake-up for one or more coroutines on a single executor.
// notify() wakes every current waiter; a later wait() sleeps again. Costs a
// post per wake-up and no timer or system call (it sits on the hot path of
// every queue in the host). Must outlive its waiters.
class Signal {
 public:
  explicit Signal(Executor ex) : ex_(std::move(ex)) {}
  Signal(const Signal&) = delete;
  Signal& operator=(const Signal&) = delete;

  // Completes when notified; throws operation_aborted when the waiting
  // task is cancelled.
  Task<> wait();
  void notify();

 private:
  // A waiting coroutine's completion handler, type-erased. (Not
  // asio::any_completion_handler: Boost 1.81's frees recycled memory wrongly.)
  struct Handler {
    virtual ~Handler() = default;
    virtual void complete(boost::system::error_code ec) = 0;
  };
  template <typename H>
  struct HandlerOf;
  struct Waiter {
    std::uint64_t id;
    std::unique_ptr<Handler> handler;
  };
  void add(std::unique_ptr<Handler> handler, asio::cancellation_slot slot);
  void cancel(std::uint64_t id);

  Executor ex_;
  std::vector<Waiter> waiters_;
  std::uint64_t next_id_ = 0;
};

template <typename H>
struct Signal::HandlerOf final : Signal::Handler {
  explicit HandlerOf(H h) : handler(std::move(h)) {}
  void complete(boost::system::error_code ec) override {
    // The slot would otherwise keep pointing at the Signal after the wait.
    auto slot = asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected()) slot.clear();
    // Posted, never run inline: the notifier may be mid-bookkeeping.
    auto ex = asio::get_associated_executor(handler);
    asio::post(ex, [h = std::move(handler), ec]() mutable { std::move(h)(ec); });
  }
  H handler;
};

// Background tasks of one owner, all on its executor. Not thread-safe: use
// from the owner's executor only.
class TaskGroup {
 public:
  // `log` receives exceptions that escape a task, with its name.
  TaskGroup(Executor ex, LoggerPtr log);
  ~TaskGroup();
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  // Starts `task`. Exceptions escaping it are logged and swallowed;
  // cancellation ends it quietly. Returns the task's own cancellation
  // signal, valid until the task ends, for cancelling it alone.
  asio::cancellation_signal& spawn(std::string name, Task<> task);
  // Waits for every task to end on its own, up to `timeout`; true if they
  // all did.
  Task<bool> join(std::chrono::milliseconds timeout);
  // Asks every task to stop (total cancellation), then waits for them to
  // end; after `timeout` they are abandoned with a warning.
  Task<> stop(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  std::size_t size() const { return tasks_.size(); }

 private:
  struct Entry {
    std::string name;
    asio::cancellation_signal cancel;
  };
  // Shared with the task's completion handler: the signal its slot points
  // into must live as long as the task, which can outlive the group (when
  // abandoned by stop(), or running when the group is destroyed).
  using EntryPtr = std::shared_ptr<Entry>;
  Executor ex_;
  LoggerPtr log_;
  std::list<EntryPtr> tasks_;
  Signal ended_;
  std::shared_ptr<bool> alive_;
};

}  // namespace immp
