#include "plugs/web/stream_rounds.hpp"

#include <algorithm>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "hooks/web/ws_frame.hpp"

namespace immp::plugs {

StreamRounds::StreamRounds(web::WebHook& web, std::chrono::microseconds min_window,
                           std::chrono::microseconds max_window)
    : wake_(web.stream_wake()),
      min_window_(min_window),
      max_window_(std::max(min_window, max_window)),
      window_(min_window) {}

StreamRounds::Member::Member(StreamRounds& rounds, Client& client)
    : rounds_(rounds), client_(client) {
  rounds_.add(client_);
}

StreamRounds::Member::~Member() { rounds_.remove(client_); }

void StreamRounds::add(Client& client) {
  client.index = clients_.size();
  clients_.push_back(&client);
  client.session.on_drained([this, &client] {
    if (!client.sub.queue().empty() || client.sub.queue().closed()) kick();
  });
  if (!client.sub.queue().empty() || client.sub.queue().closed()) kick();
}

void StreamRounds::remove(Client& client) {
  client.session.on_drained({});
  std::size_t i = client.index;
  clients_[i] = clients_.back();
  clients_[i]->index = i;
  clients_.pop_back();
}

void StreamRounds::kick() {
  // The wake-up queue holds events only to say that some came; a null one
  // says the same.
  wake_->queue().push(nullptr);
}

Task<> StreamRounds::run() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    co_await wake_->queue().wait();
    if (window_.count() > 0) {
      timer.expires_after(window_);
      co_await timer.async_wait(asio::use_awaitable);
    }
    while (wake_->queue().try_pop()) {
    }
    auto started = std::chrono::steady_clock::now();
    round();
    auto took = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started);
    window_ = std::clamp(took, min_window_, max_window_);
  }
}

void StreamRounds::round() {
  for (std::size_t i = 0; i < clients_.size(); ++i) {
    Client& c = *clients_[i];
    if (c.done) continue;
    auto& queue = c.sub.queue();
    if (queue.closed()) {
      // It lagged: what is still queued is not sent; it resumes from
      // `cursor`, the last event it was given.
      end(c);
      continue;
    }
    if (queue.empty() || c.session.backlog() > 0) continue;
    batch_.clear();
    while (auto e = queue.try_pop()) {
      batch_.push_back(frame_of(**e));
      c.cursor = (*e)->seq;
    }
    if (!c.session.send_frames(batch_)) end(c);
  }
  batch_.clear();
  frames_.clear();
}

void StreamRounds::end(Client& client) {
  client.done = true;
  client.ended.notify();
}

const web::FramePtr& StreamRounds::frame_of(const bus::Event& event) {
  auto [it, fresh] = frames_.try_emplace(event.seq);
  if (fresh) {
    it->second = std::make_shared<const std::string>(
        web::ws::encode(web::ws::Opcode::text, bus::envelope_line(event)));
  }
  return it->second;
}

}  // namespace immp::plugs
