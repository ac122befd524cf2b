#include "immp/tasks.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/post.hpp>

namespace immp {

Task<> Signal::wait() {
  auto token = asio::as_tuple(asio::use_awaitable);
  auto [ec] = co_await asio::async_initiate<decltype(token), void(boost::system::error_code)>(
      [this](auto handler) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        using H = decltype(handler);
        add(std::make_unique<HandlerOf<H>>(std::move(handler)), slot);
      },
      token);
  if (ec) throw boost::system::system_error(ec);
}

void Signal::add(std::unique_ptr<Handler> handler, asio::cancellation_slot slot) {
  std::uint64_t id = ++next_id_;
  if (slot.is_connected()) {
    slot.assign([this, id](asio::cancellation_type) { cancel(id); });
  }
  waiters_.push_back(Waiter{id, std::move(handler)});
}

void Signal::cancel(std::uint64_t id) {
  for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
    if (it->id == id) {
      std::unique_ptr<Handler> h = std::move(it->handler);
      waiters_.erase(it);
      h->complete(asio::error::operation_aborted);
      return;
    }
  }
}

void Signal::notify() {
  if (waiters_.empty()) return;
  std::vector<Waiter> woken;
  woken.swap(waiters_);
  for (auto& w : woken) w.handler->complete({});
}

TaskGroup::TaskGroup(Executor ex, LoggerPtr log)
    : ex_(ex), log_(std::move(log)), ended_(ex), alive_(std::make_shared<bool>(true)) {}

TaskGroup::~TaskGroup() {
  // Tasks still running hold no reference to us: the completion handler
  // checks `alive_` first, and each keeps its own entry. Cancelling lets
  // them unwind on their own.
  *alive_ = false;
  if (tasks_.empty()) return;
  // Emitted from a handler on the executor, not from here: co_spawn passes
  // a cancellation on with dispatch(), which outside the executor would be
  // deferred into a handler pointing at the co_spawn state inside an entry
  // that may be gone by the time it runs (a task that ends meanwhile).
  // This handler keeps the entries until it has run.
  asio::post(ex_, [running = std::move(tasks_)] {
    for (const auto& e : running) e->cancel.emit(asio::cancellation_type::all);
  });
}

asio::cancellation_signal& TaskGroup::spawn(std::string name, Task<> task) {
  auto entry = std::make_shared<Entry>();
  entry->name = std::move(name);
  tasks_.push_back(entry);
  auto it = std::prev(tasks_.end());
  auto alive = alive_;
  asio::co_spawn(ex_, std::move(task),
                 asio::bind_cancellation_slot(
                     entry->cancel.slot(), [this, it, entry, alive](std::exception_ptr e) {
                       if (!*alive) return;
                       if (e) {
                         try {
                           std::rethrow_exception(e);
                         } catch (const boost::system::system_error& err) {
                           if (err.code() != asio::error::operation_aborted) {
                             log_->error("task {} failed: {}", entry->name, err.what());
                           }
                         } catch (const std::exception& err) {
                           log_->error("task {} failed: {}", entry->name, err.what());
                         } catch (...) {
                           // Escaping here would leave the io_context's run()
                           // and the task in the group forever.
                           log_->error("task {} failed: an exception of unknown type", entry->name);
                         }
                       }
                       tasks_.erase(it);
                       ended_.notify();
                     }));
  return entry->cancel;
}

Task<bool> TaskGroup::join(std::chrono::milliseconds timeout) {
  asio::steady_timer deadline(ex_, timeout);
  bool expired = false;
  deadline.async_wait([this, &expired](boost::system::error_code ec) {
    if (ec) return;
    expired = true;
    ended_.notify();
  });
  while (!tasks_.empty() && !expired) co_await ended_.wait();
  deadline.cancel();
  co_return tasks_.empty();
}

Task<> TaskGroup::stop(std::chrono::milliseconds timeout) {
  for (auto& e : tasks_) e->cancel.emit(asio::cancellation_type::all);
  if (co_await join(timeout)) co_return;
  for (auto& e : tasks_) log_->warn("task {} did not stop in time; abandoned", e->name);
}

}  // namespace immp
