#include "core/outbox.hpp"

#include <random>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

namespace immp::detail {

namespace {

// Retry delays: 1 s doubling to 60 s, with up to 25 % jitter so that many
// outboxes of one recovering network do not retry in lockstep.
std::chrono::milliseconds backoff(int attempt) {
  static thread_local std::minstd_rand rng(std::random_device{}());
  long base = 1000L << std::min(attempt, 6);
  base = std::min(base, 60'000L);
  std::uniform_int_distribution<long> jitter(0, base / 4);
  return std::chrono::milliseconds(base + jitter(rng));
}

}  // namespace

Outboxes::Outboxes(Host& host, LoggerPtr log)
    : host_(host),
      log_(log),
      workers_(host.executor(), log),
      // Sequence numbers start at the current time in microseconds so that
      // entries of this run sort after those saved by earlier runs.
      seq_(std::chrono::duration_cast<std::chrono::microseconds>(
               Clock::now().time_since_epoch())
               .count()),
      run_id_(fmt::format("{:x}", seq_)) {}

std::string Outboxes::next_id() { return fmt::format("{}-{}", run_id_, ++counter_); }

Outboxes::Box& Outboxes::box(const Channel& channel) {
  auto it = boxes_.find(channel);
  if (it == boxes_.end()) {
    it = boxes_.emplace(channel, std::make_unique<Box>(host_.executor(), channel)).first;
  }
  Box& b = *it->second;
  if (!b.running && !closing_) {
    b.running = true;
    workers_.spawn("outbox " + channel.repr(), run(b));
  }
  return b;
}

void Outboxes::post(Channel channel, MessagePtr message, std::string owner, std::string tag) {
  OutboxEntry entry;
  entry.seq = ++seq_;  // the id is made only if it is ever saved
  entry.channel = std::move(channel);
  entry.message = std::move(message);
  entry.owner = std::move(owner);
  entry.tag = std::move(tag);
  ++stats_.queued;
  Box& b = box(entry.channel);
  enqueue(b, std::move(entry));
}

void Outboxes::enqueue(Box& b, OutboxEntry entry) {
  Plug* plug = b.channel.plug;
  // Save at once when it cannot go out soon; otherwise only memory is used.
  if (store_ && !entry.persisted && (b.failing || closing_ || plug->state() != State::active)) {
    persist(entry);
  }
  b.entries.push_back(std::move(entry));
  while (b.entries.size() > plug->outbox_policy().capacity) {
    OutboxEntry& old = b.entries.front();
    log_->warn("outbox {} full ({} messages): dropped the oldest, queued {}", b.channel.repr(),
               plug->outbox_policy().capacity, fmt::format("{:%F %T}", old.queued_at));
    if (old.persisted && store_) store_->remove(old.id);
    b.entries.pop_front();
    ++stats_.overflowed;
  }
  ++stats_.pending;
  if (b.waiting) {
    b.waiting = false;
    b.arrived.notify();
  }
}

void Outboxes::save_all(Box& b) {
  if (!store_) return;
  for (auto& e : b.entries) {
    if (!e.persisted) persist(e);
  }
}

void Outboxes::persist(OutboxEntry& e) {
  if (e.id.empty()) e.id = next_id();
  store_->save(e);
  e.persisted = true;
}

void Outboxes::listen(std::string owner, Host::DeliveryListener listener) {
  listeners_.insert_or_assign(std::move(owner), std::move(listener));
}

Task<> Outboxes::restore(OutboxStore& store) {
  store_ = &store;
  std::vector<OutboxEntry> entries = co_await store.load(host_);
  for (auto& e : entries) {
    if (!e.channel.plug) {
      log_->warn("outbox: dropped saved message {} for a plug that no longer exists", e.id);
      store.remove(e.id);
      continue;
    }
    e.persisted = true;
    ++stats_.restored;
    Box& b = box(e.channel);
    enqueue(b, std::move(e));
  }
  if (!entries.empty()) log_->info("outbox: restored {} undelivered messages", stats_.restored);
}

Task<bool> Outboxes::deliver(Box& b, OutboxEntry& e) {
  Plug& plug = *b.channel.plug;
  std::vector<Receipt> receipts;
  if (e.message->deleted) {
    auto* sent = dynamic_cast<const SentMessage*>(e.message.get());
    if (sent && plug.features().remove) {
      Receipt target{sent->id, b.channel, sent->at, sent->revision, true};
      co_await plug.delete_message(target);
    }
  } else {
    receipts = co_await host_.send(b.channel, e.message);
  }
  if (!e.owner.empty()) {
    auto it = listeners_.find(e.owner);
    if (it != listeners_.end()) it->second(e.tag, b.channel, receipts);
  }
  co_return true;
}

Task<> Outboxes::run(Box& b) {
  asio::steady_timer timer(host_.executor());
  int attempt = 0;
  for (;;) {
    while (b.entries.empty()) {
      b.waiting = true;
      co_await b.arrived.wait();
    }
    OutboxEntry& e = b.entries.front();
    Plug& plug = *b.channel.plug;
    if (Clock::now() - e.queued_at > plug.outbox_policy().expiry) {
      log_->warn("outbox {}: dropped a message queued at {:%F %T}: older than the expiry of {} s",
                 b.channel.repr(), e.queued_at, plug.outbox_policy().expiry.count());
      if (e.persisted && store_) store_->remove(e.id);
      b.entries.pop_front();
      --stats_.pending;
      ++stats_.expired;
      continue;
    }
    if (plug.state() != State::active) {
      // Down: keep everything safe and look again in a second.
      save_all(b);
      timer.expires_after(std::chrono::seconds(1));
      co_await timer.async_wait(asio::use_awaitable);
      continue;
    }
    // Taken out while in flight, so an overflow never drops it mid-delivery.
    OutboxEntry entry = std::move(e);
    b.entries.pop_front();
    bool ok = false;
    try {
      ok = co_await deliver(b, entry);
    } catch (const boost::system::system_error& err) {
      if (err.code() == asio::error::operation_aborted) {
        b.entries.push_front(std::move(entry));  // stopped: keep it for later
        throw;
      }
      if (attempt == 0) log_->warn("outbox {}: delivery failed, will retry: {}", b.channel.repr(), err.what());
    } catch (const std::exception& err) {
      if (attempt == 0) log_->warn("outbox {}: delivery failed, will retry: {}", b.channel.repr(), err.what());
    }
    if (!ok) {
      b.entries.push_front(std::move(entry));
      ++stats_.retried;
      b.failing = true;
      save_all(b);
      timer.expires_after(backoff(attempt++));
      co_await timer.async_wait(asio::use_awaitable);
      continue;
    }
    if (b.failing) log_->info("outbox {}: delivering again", b.channel.repr());
    b.failing = false;
    attempt = 0;
    if (entry.persisted && store_) store_->remove(entry.id);
    --stats_.pending;
    ++stats_.delivered;
  }
}

Task<> Outboxes::close(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  asio::steady_timer poll(host_.executor());
  // Give healthy outboxes a moment to finish; failing ones wait for next run.
  for (;;) {
    bool busy = false;
    for (auto& [c, b] : boxes_) busy = busy || (!b->entries.empty() && !b->failing &&
                                                c.plug->state() == State::active);
    if (!busy || std::chrono::steady_clock::now() >= deadline) break;
    poll.expires_after(std::chrono::milliseconds(5));
    co_await poll.async_wait(asio::use_awaitable);
  }
  closing_ = true;
  co_await workers_.stop(timeout);
  std::size_t kept = 0;
  for (auto& [c, b] : boxes_) {
    b->running = false;
    kept += b->entries.size();
    save_all(*b);
  }
  if (kept > 0) {
    if (store_) {
      log_->info("outbox: {} undelivered messages saved for the next start", kept);
    } else {
      log_->warn("outbox: {} undelivered messages lost at shutdown: configure "
                 "immp.hook.database.DatabaseHook to keep them", kept);
    }
  }
}

Host::OutboxStats Outboxes::stats() const { return stats_; }

}  // namespace immp::detail
