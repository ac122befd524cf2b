#include "immp/tasks.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>

namespace immp {

Signal::Signal(Executor ex) : timer_(std::move(ex), asio::steady_timer::time_point::max()) {}

Task<> Signal::wait() {
  // A cancelled wait is how notify() wakes us; both outcomes just return.
  co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  // ...but a cancelled *task* must not mistake its cancellation for a wake-up.
  auto state = co_await asio::this_coro::cancellation_state;
  if (state.cancelled() != asio::cancellation_type::none) {
    throw boost::system::system_error(asio::error::operation_aborted);
  }
}

void Signal::notify() { timer_.cancel(); }

TaskGroup::TaskGroup(Executor ex, LoggerPtr log)
    : ex_(ex), log_(std::move(log)), ended_(ex), alive_(std::make_shared<bool>(true)) {}

TaskGroup::~TaskGroup() {
  // Tasks still running hold no reference to us: the completion handler
  // checks `alive_` first. Cancelling lets them unwind on their own.
  *alive_ = false;
  for (auto& e : tasks_) e.cancel.emit(asio::cancellation_type::all);
}

void TaskGroup::spawn(std::string name, Task<> task) {
  tasks_.emplace_back();
  auto it = std::prev(tasks_.end());
  it->name = std::move(name);
  auto alive = alive_;
  asio::co_spawn(ex_, std::move(task),
                 asio::bind_cancellation_slot(
                     it->cancel.slot(), [this, it, alive](std::exception_ptr e) {
                       if (!*alive) return;
                       if (e) {
                         try {
                           std::rethrow_exception(e);
                         } catch (const boost::system::system_error& err) {
                           if (err.code() != asio::error::operation_aborted) {
                             log_->error("task {} failed: {}", it->name, err.what());
                           }
                         } catch (const std::exception& err) {
                           log_->error("task {} failed: {}", it->name, err.what());
                         }
                       }
                       tasks_.erase(it);
                       ended_.notify();
                     }));
}

Task<> TaskGroup::stop(std::chrono::milliseconds timeout) {
  for (auto& e : tasks_) e.cancel.emit(asio::cancellation_type::all);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  asio::steady_timer guard(ex_);
  while (!tasks_.empty()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      for (auto& e : tasks_) log_->warn("task {} did not stop in time; abandoned", e.name);
      co_return;
    }
    // Wake on the next task end, or poll the deadline every 50 ms.
    guard.expires_after(std::chrono::milliseconds(50));
    guard.async_wait([this](boost::system::error_code ec) {
      if (!ec) ended_.notify();
    });
    co_await ended_.wait();
    guard.cancel();
  }
}

}  // namespace immp
