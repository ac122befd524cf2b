#include "core/outbox.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/host_core.hpp"

namespace immp::detail {

namespace {

bool deliverable(const Plug* plug) {
  return plug && plug->state() == State::active && plug->online();
}

// A channel's plug may be gone for a moment (removed, or being replaced by
// a new instance): its messages then wait under the default policy.
const OutboxPolicy& policy_of(const Channel& channel) {
  static OutboxPolicy fallback;
  Plug* plug = channel.plug();
  return plug ? plug->outbox_policy() : fallback;
}

}  // namespace

template <typename H>
struct Outboxes::Parking::HandlerOf final : Outboxes::Parking::Handler {
  using Alloc = asio::recycling_allocator<HandlerOf>;
  explicit HandlerOf(H h) : handler(std::move(h)) {}
  static HandlerOf* make(H h) {
    Alloc alloc;
    HandlerOf* p = alloc.allocate(1);
    try {
      return new (p) HandlerOf(std::move(h));
    } catch (...) {
      alloc.deallocate(p, 1);
      throw;
    }
  }
  void destroy() override {
    Alloc alloc;
    this->~HandlerOf();
    alloc.deallocate(this, 1);
  }
  void complete(boost::system::error_code ec, bool inline_call) override {
    auto slot = asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected()) slot.clear();
    H h = std::move(handler);
    destroy();
    if (inline_call) {
      std::move(h)(ec);
    } else {
      auto ex = asio::get_associated_executor(h);
      asio::post(ex, [h = std::move(h), ec]() mutable { std::move(h)(ec); });
    }
  }
  H handler;
};

Outboxes::Parking::~Parking() {
  // Parked coroutines are cancelled before their box goes (close()); one
  // left is freed without being resumed, as a destroyed io_context does.
  if (parked_) parked_->destroy();
}

Task<> Outboxes::Parking::park() {
  auto token = asio::as_tuple(asio::use_awaitable);
  auto [ec] = co_await asio::async_initiate<decltype(token), void(boost::system::error_code)>(
      [this](auto handler) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        using H = decltype(handler);
        parked_ = HandlerOf<H>::make(std::move(handler));
        if (slot.is_connected()) {
          slot.assign([this](asio::cancellation_type) {
            // Posted: the canceller may be mid-bookkeeping.
            if (Handler* h = std::exchange(parked_, nullptr)) {
              h->complete(asio::error::operation_aborted, false);
            }
          });
        }
      },
      token);
  if (ec) throw boost::system::system_error(ec);
}

bool Outboxes::Parking::resume() {
  Handler* h = std::exchange(parked_, nullptr);
  if (!h) return false;
  h->complete({}, true);
  return true;
}

Outboxes::Outboxes(HostCore& core, LoggerPtr log)
    : core_(core),
      log_(log),
      workers_(core.ex, log),
      settled_(core.ex),
      // Sequence numbers start at the current time in microseconds so that
      // entries of this run sort after those saved by earlier runs.
      seq_(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
               .count()),
      run_id_(fmt::format("{:x}", seq_)) {}

std::string Outboxes::next_id() { return fmt::format("{}-{}", run_id_, ++counter_); }

Outboxes::Box& Outboxes::box(const Channel& channel) {
  // A hook posts to the same channel many times in a row: the last box is
  // checked before the table (boxes are never removed).
  if (!last_box_ || !(last_box_->channel == channel)) {
    auto it = boxes_.find(channel);
    if (it == boxes_.end()) {
      auto b = std::make_unique<Box>(core_.ex, channel,
                                     Backoff(core_.options.retry_first, core_.options.retry_max));
      it = boxes_.emplace(channel, std::move(b)).first;
    }
    last_box_ = it->second.get();
  }
  Box& b = *last_box_;
  if (!b.running && !closing_) {
    b.running = true;
    workers_.spawn(b.task_name, run(b));
  }
  return b;
}

void Outboxes::post(const Channel& channel, MessagePtr message, OriginPtr origin) {
  ++stats_.queued;
  Box& b = box(channel);
  // Made in place: an entry is moved once, into its flight.
  OutboxEntry& entry = b.entries.emplace_back();
  entry.seq = ++seq_;  // the id and the channel are set only if it is ever saved
  entry.message = std::move(message);
  entry.origin = std::move(origin);
  entry.queued_at = core_.now();
  admit(b);
}

void Outboxes::admit(Box& b) {
  // Saved at once when it cannot go out soon; otherwise only memory is used.
  OutboxEntry& entry = b.entries.back();
  if (store_ && !entry.persisted && (b.failing || closing_ || !deliverable(b.channel.plug()))) {
    persist(b, entry);
  }
  launch(b);
  const OutboxPolicy& policy = policy_of(b.channel);
  while (b.entries.size() > policy.capacity) {
    OutboxEntry& old = b.entries.front();
    log_->warn("outbox {} full ({} messages): dropped the oldest, queued {:%F %T}",
               b.channel.repr(), policy.capacity, old.queued_at);
    if (old.persisted && store_) store_->remove(old.id);
    b.entries.pop_front();
    --stats_.pending;
    ++stats_.overflowed;
    ++b.dropped;
  }
  ++stats_.pending;
  if (b.waiting) {
    b.waiting = false;
    b.wake.notify();
  }
}

void Outboxes::save_all(Box& b) {
  if (!store_) return;
  for (auto& e : b.entries) {
    if (!e.persisted) persist(b, e);
  }
}

void Outboxes::persist(Box& b, OutboxEntry& e) {
  if (e.id.empty()) e.id = next_id();
  e.channel = b.channel;
  store_->save(e);
  e.persisted = true;
}

std::uint64_t Outboxes::listen(std::string owner, Host::DeliveryListener listener) {
  std::uint64_t id = ++next_listener_;
  known_owners_.insert(owner);
  auto waiting = unclaimed_.find(owner);
  std::deque<Report> reports;
  if (waiting != unclaimed_.end()) {
    reports = std::move(waiting->second);
    unclaimed_.erase(waiting);
  }
  last_listener_ = nullptr;  // the table changes
  auto& l = listeners_.insert_or_assign(std::move(owner), Listener{id, std::move(listener)})
                .first->second;
  Host::DeliveryListener call = l.call;  // the listener may replace itself meanwhile
  for (const auto& r : reports) call(r.origin, r.channel, r.receipts);
  return id;
}

void Outboxes::unlisten(const std::string& owner, std::uint64_t id) {
  auto it = listeners_.find(owner);
  if (it != listeners_.end() && it->second.id == id) {
    last_listener_ = nullptr;
    listeners_.erase(it);
  }
}

void Outboxes::wake(const Plug& plug) {
  for (auto& [channel, b] : boxes_) {
    if (channel.handle != plug.handle() || b->rate_limited) continue;
    // A plug that came back makes the next attempt the first again.
    if (deliverable(&plug)) b->backoff.reset();
    b->wake.notify();
  }
}

Task<> Outboxes::restore(OutboxStore& store) {
  store_ = &store;
  std::vector<OutboxEntry> entries = co_await store.load(core_.host);
  for (auto& e : entries) {
    if (!e.channel.valid()) {
      log_->warn("outbox: dropped saved message {} for a plug that no longer exists", e.id);
      store.remove(e.id);
      continue;
    }
    e.persisted = true;
    ++stats_.restored;
    // Its poster asked to hear of it, in an earlier run: kept for it until
    // it listens again.
    if (e.origin) known_owners_.insert(e.origin->owner);
    Box& b = box(e.channel);
    b.entries.push_back(std::move(e));
    admit(b);
  }
  if (!entries.empty()) log_->info("outbox: restored {} undelivered messages", stats_.restored);
}

// Hands the delivered parts' ids to the origin's owner; the entry is done
// with them, so they are moved, not copied.
void Outboxes::report(const Channel& channel, OutboxEntry& e) {
  if (!e.origin || e.parts.empty()) return;
  // One owner usually posts many in a row: its listener is looked up once.
  if (!last_listener_ || last_listener_->first != e.origin->owner) {
    auto found = listeners_.find(e.origin->owner);
    last_listener_ = found == listeners_.end() ? nullptr : &*found;
  }
  // Owners that never listened (a forward hook) have nothing to be told.
  if (!last_listener_ && !known_owners_.count(e.origin->owner)) return;
  auto at = core_.now();  // the outbox's clock: coarse, or the injected one
  if (!last_listener_) {
    // Its owner is restarting: kept for it.
    std::vector<Receipt> receipts;
    for (auto& id : e.parts) receipts.push_back(Receipt{std::move(id), channel, at, {}, false});
    auto& waiting = unclaimed_[e.origin->owner];
    waiting.push_back(Report{*e.origin, channel, std::move(receipts)});
    if (waiting.size() > kUnclaimed) {
      waiting.pop_front();
      if (waiting.size() == kUnclaimed) {
        log_->warn("outbox: {} has not listened again for {} deliveries; forgetting the oldest",
                   e.origin->owner, kUnclaimed);
      }
    }
    return;
  }
  // The common case allocates nothing: one list reused for every report,
  // its receipts filled in place (their strings keep their buffers).
  std::vector<Receipt> receipts = std::move(report_scratch_);
  receipts.resize(e.parts.size());
  for (std::size_t i = 0; i < e.parts.size(); ++i) {
    Receipt& r = receipts[i];
    r.id = std::move(e.parts[i]);
    r.channel = channel;
    r.at = at;
    r.revision.clear();
    r.deleted = false;
  }
  last_listener_->second.call(*e.origin, channel, receipts);
  report_scratch_ = std::move(receipts);
}

// The entry left the box for good (delivered or dropped).
void Outboxes::finish(Box& b, OutboxEntry& e) {
  if (e.persisted && store_) store_->remove(e.id);
  --stats_.pending;
  if (b.entries.empty()) settled_.notify();
}

bool Outboxes::drop_expired(Box& b) {
  OutboxEntry& front = b.entries.front();
  auto expiry = policy_of(b.channel).expiry;
  if (core_.now() - front.queued_at <= expiry) return false;
  log_->warn("outbox {}: dropped a message queued at {:%F %T}: older than the expiry of {} s",
             b.channel.repr(), front.queued_at, expiry.count());
  OutboxEntry gone = std::move(front);
  b.entries.pop_front();
  ++stats_.expired;
  ++b.dropped;
  finish(b, gone);
  return true;
}

void Outboxes::board(Flight& f, PostingState& state) {
  Box& b = *f.box;
  OutboxEntry& e = f.entry;
  state.channel = &b.channel;
  state.message = &e.message;
  state.origin = &e.origin;
  state.parts = &e.parts;
  state.resume = e.parts.size();
  if (policy_of(b.channel).pipeline > 1) {
    state.on_ordered = &Outboxes::on_ordered;
    state.ordered_context = &f;
  }
}

PutResult Outboxes::outcome_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const boost::system::system_error& err) {
    // Stopped: the entry stays with the flight, and close() takes it back.
    if (err.code() == asio::error::operation_aborted) throw;
    return PutResult::retry(err.what());
  } catch (const std::exception& err) {
    return PutResult::retry(err.what());
  }
}

bool Outboxes::direct(const Flight& f) const {
  return !f.entry.message->deleted && core_.plan_->before_senders.empty();
}

// One coroutine for the whole attempt (not one to deliver and one to catch):
// every coroutine frame on this path costs each message its set-up. run()
// does the direct case itself, without this frame.
Task<> Outboxes::fly(Flight& f) {
  Box& b = *f.box;
  OutboxEntry& e = f.entry;
  PutResult result = PutResult::delivered();  // set below; this one costs no string
  std::exception_ptr error;
  try {
    if (e.message->deleted) {
      result = co_await core_.remove_message(b.channel, e.message);
    } else {
      PostingState state;
      board(f, state);
      bool go = true;
      if (!core_.plan_->before_senders.empty()) go = co_await core_.prepare(state);
      if (!go) {
        result = PutResult::delivered();  // dropped by a hook: nothing to send
      } else {
        PutScope scope(core_, state);
        if (!scope.plug()) {
          result = scope.removed();
        } else {
          PutResult done = co_await scope.plug()->put(scope.posting());
          result = scope.finish(std::move(done));
        }
      }
    }
  } catch (...) {
    error = std::current_exception();
  }
  if (error) result = outcome_of(error);
  f.result = std::move(result);
  b.landed.notify();
}

Outboxes::Flight& Outboxes::take_off(Box& b) {
  Flight& f = b.flights.emplace_back();
  f.outboxes = this;
  f.box = &b;
  // Field by field (keep in step with OutboxEntry): a new entry has no id
  // and no delivered parts yet, so the flight's own, kept from its last
  // entry, are cleared rather than replaced, and keep their buffers.
  OutboxEntry& from = b.entries.front();
  OutboxEntry& to = f.entry;
  if (from.id.empty()) {
    to.id.clear();
  } else {
    to.id = std::move(from.id);
  }
  to.seq = from.seq;
  to.message = std::move(from.message);
  to.origin = std::move(from.origin);
  if (from.parts.empty()) {
    to.parts.clear();
  } else {
    to.parts = std::move(from.parts);
  }
  to.queued_at = from.queued_at;
  to.persisted = from.persisted;
  b.entries.pop_front();
  return f;
}

void Outboxes::on_ordered(void* flight) {
  auto& f = *static_cast<Flight*>(flight);
  f.ordered = true;
  f.outboxes->launch(*f.box);
}

void Outboxes::launch(Box& b) {
  if (b.flights.empty()) return;  // the run loop starts the next one
  const std::size_t limit = policy_of(b.channel).pipeline;
  while (!closing_ && !b.failing && !b.flights.empty() && b.flights.size() < limit) {
    const Flight& last = b.flights.back();
    if (!last.ordered || last.result) return;  // not yet, or the run loop takes over
    if (b.entries.empty() || !deliverable(b.channel.plug())) return;
    if (drop_expired(b)) continue;
    Flight& next = take_off(b);
    // Its put() starts now, inside this call, on a parked lane or a new one.
    if (!b.idle_lanes.empty()) {
      Lane& l = *b.idle_lanes.back();
      b.idle_lanes.pop_back();
      l.flight = &next;
      l.parking.resume();
    } else {
      Lane& l = b.lanes.emplace_back();
      workers_.spawn(b.task_name, lane(b, l, &next));
    }
  }
}

Task<> Outboxes::lane(Box& b, Lane& l, Flight* first) {
  Flight* flight = first;
  for (;;) {
    co_await fly(*flight);
    // Parked until launch() hands it the next flight; close() cancels it.
    b.idle_lanes.push_back(&l);
    try {
      co_await l.parking.park();
    } catch (...) {
      std::erase(b.idle_lanes, &l);
      throw;
    }
    flight = std::exchange(l.flight, nullptr);
  }
}

bool Outboxes::land(Box& b, Flight& f) {
  const PutResult& result = *f.result;
  switch (result.kind()) {
    case PutResult::Kind::delivered:
      if (b.failing) log_->info("outbox {}: delivering again", b.channel.repr());
      b.failing = false;
      b.backoff.reset();
      ++stats_.delivered;
      report(b.channel, f.entry);
      finish(b, f.entry);
      return true;
    case PutResult::Kind::failed:
      log_->error("outbox {}: dropped a message that cannot be delivered: {}", b.channel.repr(),
                  result.reason());
      ++stats_.failed;
      ++b.dropped;
      report(b.channel, f.entry);  // the parts that did go out are still copies
      finish(b, f.entry);
      return true;
    case PutResult::Kind::retry:
    case PutResult::Kind::partial: break;
  }
  return false;
}

Task<> Outboxes::ground(Box& b) {
  // The flights behind the failed one went out, or failed too (a dropped
  // link fails them all): wait until every one has ended.
  auto pending = [&b] {
    for (const auto& f : b.flights) {
      if (!f.result) return true;
    }
    return false;
  };
  while (pending()) co_await b.landed.wait();
  // What went out is done; the rest goes back in its order, the failed one
  // first.
  PutResult result = std::move(*b.flights.front().result);
  std::vector<OutboxEntry> again;
  again.push_back(std::move(b.flights.front().entry));
  b.flights.pop_front();
  for (; !b.flights.empty(); b.flights.pop_front()) {
    if (!land(b, b.flights.front())) again.push_back(std::move(b.flights.front().entry));
  }
  for (auto it = again.rbegin(); it != again.rend(); ++it) {
    if (!it->parts.empty()) ++stats_.partial;
    ++stats_.retried;
    bool persisted_before = it->persisted;
    b.entries.push_front(std::move(*it));
    if (persisted_before && store_) persist(b, b.entries.front());  // keep its delivered parts
  }
  auto delay = b.backoff.next();
  b.rate_limited = result.after().count() > 0;
  if (b.rate_limited) delay = result.after();
  if (!b.failing) {
    log_->warn("outbox {}: not delivered ({}), retrying in {} ms", b.channel.repr(),
               result.reason().empty() ? "no reason given" : result.reason(), delay.count());
  }
  b.failing = true;
  save_all(b);
  settled_.notify();
  co_await pause(b, delay);
  b.rate_limited = false;
}

void Outboxes::reclaim(Box& b) {
  // A task that outlived stop() still refers to its flight: then the
  // entries are copied, and the flights stay until the host goes.
  bool abandoned = workers_.size() > 0;
  for (auto it = b.flights.rbegin(); it != b.flights.rend(); ++it) {
    if (it->result && land(b, *it)) continue;
    if (abandoned) {
      b.entries.push_front(it->entry);
    } else {
      b.entries.push_front(std::move(it->entry));
    }
  }
  if (!abandoned) b.flights.clear();
}

// Sleeps for `delay`, or until the plug comes back (Outboxes::wake), or an
// entry arrives while the box was empty.
Task<> Outboxes::pause(Box& b, std::chrono::milliseconds delay) {
  asio::steady_timer timer(core_.ex, delay);
  timer.async_wait([&b](boost::system::error_code ec) {
    if (!ec) b.wake.notify();
  });
  try {
    co_await b.wake.wait();
  } catch (...) {
    timer.cancel();
    throw;
  }
  timer.cancel();
}

Task<> Outboxes::run(Box& b) {
  for (;;) {
    if (b.flights.empty()) {
      while (b.entries.empty()) {
        b.waiting = true;
        co_await b.wake.wait();
      }
      if (drop_expired(b)) continue;
      if (!deliverable(b.channel.plug())) {
        // Down: keep everything safe and sleep until the plug says it is
        // back (at most the expiry of what waits, to drop it in time).
        save_all(b);
        settled_.notify();
        auto expiry = policy_of(b.channel).expiry;
        co_await pause(b, std::chrono::duration_cast<std::chrono::milliseconds>(expiry));
        continue;
      }
      // Taken out while in flight, so an overflow never drops it
      // mid-delivery.
      Flight& f = take_off(b);
      // Run here: the usual lone put() costs no task of its own, and with
      // no delete or before_send to await first, no coroutine frame either
      // (as fly() would). Those it lets start (Posting::ordered) run on lanes.
      // The put below is fly()'s twin on purpose: awaiting fly() instead
      // costs 5 % more instructions per relayed message (callgrind, relay).
      if (!direct(f)) {
        co_await fly(f);
      } else {
        PutResult result = PutResult::delivered();  // set below; this one costs no string
        std::exception_ptr error;
        try {
          PostingState state;
          board(f, state);
          PutScope scope(core_, state);
          if (!scope.plug()) {
            result = scope.removed();
          } else {
            PutResult done = co_await scope.plug()->put(scope.posting());
            result = scope.finish(std::move(done));
          }
        } catch (...) {
          error = std::current_exception();
        }
        if (error) result = outcome_of(error);
        f.result = std::move(result);  // nobody else waits for this one: run() takes it next
      }
    }
    // Results are taken in order, however the flights ended.
    while (!b.flights.front().result) co_await b.landed.wait();
    if (land(b, b.flights.front())) {
      b.flights.pop_front();
      launch(b);
      continue;
    }
    co_await ground(b);
  }
}

Task<> Outboxes::close(std::chrono::milliseconds timeout) {
  // Give healthy outboxes until the deadline to finish; failing ones and
  // those of plugs that are down wait for the next run.
  asio::steady_timer deadline(core_.ex, timeout);
  deadline.async_wait([this](boost::system::error_code ec) {
    if (!ec) settled_.notify();
  });
  auto busy = [this] {
    for (auto& [c, b] : boxes_) {
      if ((!b->entries.empty() || !b->flights.empty()) && !b->failing && deliverable(c.plug())) {
        return true;
      }
    }
    return false;
  };
  while (busy() && deadline.expiry() > std::chrono::steady_clock::now()) co_await settled_.wait();
  deadline.cancel();
  closing_ = true;
  co_await workers_.stop(timeout);
  std::size_t kept = 0;
  for (auto& [c, b] : boxes_) {
    b->running = false;
    reclaim(*b);
    kept += b->entries.size();
    save_all(*b);
  }
  if (kept > 0) {
    if (store_) {
      log_->info("outbox: {} undelivered messages saved for the next start", kept);
    } else {
      log_->warn(
          "outbox: {} undelivered messages lost at shutdown: configure "
          "immp.hook.database.DatabaseHook to keep them",
          kept);
    }
  }
}

Host::OutboxStats Outboxes::stats() const { return stats_; }

std::size_t Outboxes::depth(const Channel& channel) const {
  auto it = boxes_.find(channel);
  return it == boxes_.end() ? 0 : it->second->entries.size() + it->second->flights.size();
}

std::uint64_t Outboxes::dropped(const Channel& channel) const {
  auto it = boxes_.find(channel);
  return it == boxes_.end() ? 0 : it->second->dropped;
}

}  // namespace immp::detail
