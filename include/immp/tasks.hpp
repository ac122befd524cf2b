// TaskGroup: owns background coroutines so that they are cancelled and
// awaited before their owner goes away.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <string>

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include "immp/asio.hpp"
#include "immp/log.hpp"

namespace immp {

// A wake-up for one or more coroutines on a single executor.
// notify() wakes every current waiter; a later wait() sleeps again.
class Signal {
 public:
  explicit Signal(Executor ex);
  Task<> wait();
  void notify();

 private:
  asio::steady_timer timer_;
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
  // cancellation ends it quietly.
  void spawn(std::string name, Task<> task);
  // Asks every task to stop (total cancellation), then waits for them to
  // end; after `timeout` they are abandoned with a warning.
  Task<> stop(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  std::size_t size() const { return tasks_.size(); }

 private:
  struct Entry {
    std::string name;
    asio::cancellation_signal cancel;
  };
  Executor ex_;
  LoggerPtr log_;
  std::list<Entry> tasks_;
  Signal ended_;
  std::shared_ptr<bool> alive_;
};

}  // namespace immp
