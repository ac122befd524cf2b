#include "plugs/web/stream_rounds.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "hooks/web/ws_frame.hpp"

namespace immp::plugs {

StreamRounds::StreamRounds(web::WebHook& web, std::chrono::microseconds min_window,
                           std::chrono::microseconds max_window, std::size_t writers)
    : wake_(web.stream_wake()),
      min_window_(min_window),
      max_window_(std::max(min_window, max_window)),
      window_(min_window),
      writers_(writers) {
  // On the writers' threads, while the host's waits in writers_.run().
  write_job_ = [this](std::size_t i) {
    Job& job = jobs_[i];
    job.written = job.client->session.write_direct(
        std::span<const web::FramePtr>(pool_).subspan(job.first, job.count));
  };
}

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
  // The client moved may land in a slot the round in progress has passed:
  // another round gets to it.
  if (i < clients_.size() && !clients_[i]->sub.queue().empty()) kick();
}

void StreamRounds::kick() {
  // The wake-up queue holds events only to say that some came; a null one
  // says the same.
  wake_->queue().push(nullptr);
}

Task<> StreamRounds::run() {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  for (;;) {
    co_await wake_->queue().wait();
    if (window_.count() > 0) {
      timer.expires_after(window_);
      co_await timer.async_wait(asio::use_awaitable);
    }
    while (wake_->queue().try_pop()) {
    }
    // A slice at a time (see the header). Clients come and go between
    // slices: the index is read afresh (and remove() asks for another
    // round for a client moved into a slot already passed).
    // The window follows the time spent writing, not the time the others
    // took between slices.
    std::chrono::steady_clock::duration busy{};
    const std::size_t per_slice = kSlice * (1 + writers_.helpers());
    for (std::size_t i = 0; i < clients_.size();) {
      auto started = std::chrono::steady_clock::now();
      pool_.clear();
      jobs_.clear();
      for (std::size_t end = std::min(clients_.size(), i + per_slice); i < end; ++i) {
        prepare(*clients_[i]);
      }
      // The system calls, shared with the writers; nothing else runs on
      // this thread meanwhile, so no connection changes under them.
      writers_.run(jobs_.size(), write_job_);
      for (Job& job : jobs_) {
        auto frames = std::span<const web::FramePtr>(pool_).subspan(job.first, job.count);
        if (!job.client->session.finish_direct(frames, job.written)) end(*job.client);
      }
      busy += std::chrono::steady_clock::now() - started;
      if (i < clients_.size()) co_await asio::post(ex, asio::use_awaitable);
    }
    pool_.clear();
    jobs_.clear();
    frames_.clear();
    window_ = std::clamp(std::chrono::duration_cast<std::chrono::microseconds>(busy) / kWindowShare,
                         min_window_, max_window_);
  }
}

void StreamRounds::prepare(Client& c) {
  if (c.done) return;
  auto& queue = c.sub.queue();
  if (queue.closed()) {
    // It lagged: what is still queued is not sent; it resumes from
    // `cursor`, the last event it was given.
    end(c);
    return;
  }
  if (queue.empty() || c.session.backlog() > 0) return;
  std::size_t first = pool_.size();
  while (auto e = queue.try_pop()) {
    pool_.push_back(frame_of(**e));
    c.cursor = (*e)->seq;
  }
  if (c.session.direct()) {
    jobs_.push_back(Job{&c, first, pool_.size() - first, {}});
    return;
  }
  // TLS, or a close on its way: the connection's own writer.
  if (!c.session.send_frames(std::span<const web::FramePtr>(pool_).subspan(first))) end(c);
  pool_.resize(first);
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
