#include "net/seq_waiters.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

namespace immp::net {

SeqWaiters::~SeqWaiters() {
  // Waiters must be gone by now (documented); any left are freed without
  // resuming them, as a destroyed io_context frees its pending handlers.
  while (!waiting_.empty()) {
    waiting_.front().handler->destroy();
    waiting_.pop_front();
  }
}

Task<> SeqWaiters::wait(std::uint64_t target) {
  if (target <= reached_) co_return;
  auto token = asio::as_tuple(asio::use_awaitable);
  auto [ec] = co_await asio::async_initiate<decltype(token), void(boost::system::error_code)>(
      [this, target](auto handler) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        using H = decltype(handler);
        add(target, HandlerOf<H>::make(std::move(handler)), slot);
      },
      token);
  if (ec) throw boost::system::system_error(ec);
}

void SeqWaiters::add(std::uint64_t target, Handler* handler, asio::cancellation_slot slot) {
  std::uint64_t id = ++next_id_;
  if (slot.is_connected()) {
    slot.assign([this, id](asio::cancellation_type) { cancel(id); });
  }
  // Targets almost always come in rising order: then this is a push_back.
  waiting_.push_back(Waiter{target, id, handler});
  for (std::size_t i = waiting_.size() - 1; i > 0 && waiting_[i - 1].target > target; --i) {
    std::swap(waiting_[i - 1], waiting_[i]);
  }
}

void SeqWaiters::cancel(std::uint64_t id) {
  std::size_t n = waiting_.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (waiting_[i].id != id) continue;
    Handler* h = waiting_[i].handler;
    // Keep the order of the rest: shift the later ones down by one.
    for (std::size_t j = i; j + 1 < n; ++j) waiting_[j] = waiting_[j + 1];
    waiting_.pop_back();
    h->complete(asio::error::operation_aborted);
    return;
  }
}

void SeqWaiters::reach(std::uint64_t reached) {
  if (reached > reached_) reached_ = reached;
  while (!waiting_.empty() && waiting_.front().target <= reached_) {
    Handler* h = waiting_.front().handler;
    waiting_.pop_front();
    h->complete({});
  }
}

void SeqWaiters::release_all() {
  while (!waiting_.empty()) {
    Handler* h = waiting_.front().handler;
    waiting_.pop_front();
    h->complete({});
  }
}

}  // namespace immp::net
