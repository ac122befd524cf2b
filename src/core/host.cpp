#include "immp/host.hpp"

#include <algorithm>
#include <utility>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/host_core.hpp"
#include "core/plug_core.hpp"
#include "immp/config.hpp"

namespace immp {

namespace detail {

HostCore::HostCore(Host& h, Executor e, HostOptions opts)
    : host(h),
      ex(e),
      options(std::move(opts)),
      log(logger("immp.host")),
      plan_(std::make_shared<const Plan>()),
      reader_ended(e),
      readers(e, logger("immp.host")),
      workers(e, logger("immp.host")),
      restarts(e, logger("immp.host")) {}

// Orders the pipeline: before_receive and before_send by priority (then
// config order); on_receive split into prioritised and concurrent hooks.
// Only active hooks take part, and only in the stages their type overrides.
void HostCore::plan() {
  std::vector<HookSlotPtr> all(hooks.begin(), hooks.end());
  std::stable_sort(all.begin(), all.end(), [](const HookSlotPtr& a, const HookSlotPtr& b) {
    if (a->priority.has_value() != b->priority.has_value()) return a->priority.has_value();
    return a->priority.value_or(0) < b->priority.value_or(0);
  });
  auto next = std::make_shared<Plan>();
  for (const HookSlotPtr& s : all) {
    if (s->removed || s->hook->state() != State::active) continue;
    const Hook::Stages& stages = s->hook->stages();
    if (stages.before_receive) next->before_receivers.push_back(s);
    if (stages.before_send) next->before_senders.push_back(s);
    if (!stages.on_receive) continue;
    (s->priority ? next->ordered : next->unordered).push_back(s);
  }
  plan_ = std::move(next);
  if (open) {
    for (const HookSlotPtr& s : plan_->unordered) start_worker(s);
  }
}

PlugHandle& HostCore::handle(std::string_view name) {
  auto it = handles.find(name);
  if (it == handles.end()) {
    it = handles.emplace(std::string(name), std::make_unique<PlugHandle>(std::string(name))).first;
  }
  return *it->second;
}

void HostCore::emit(const StateEvent& event) {
  // Listeners may subscribe or unsubscribe from inside: iterate a copy.
  if (listeners.empty()) return;
  auto current = listeners;
  for (auto& [id, listener] : current) {
    try {
      listener(event);
    } catch (const std::exception& e) {
      log->error("state listener failed on {}: {}", event.name, e.what());
    }
  }
}

void HostCore::set_state(Openable& item, State state, std::string reason) {
  item.state_ = state;
  StateEvent event;
  auto* plug = dynamic_cast<Plug*>(&item);
  event.kind = plug ? StateEvent::Kind::plug : StateEvent::Kind::hook;
  event.name = item.name();
  event.state = state;
  event.online = plug ? plug->online() : true;
  event.reason = std::move(reason);
  emit(event);
  if (plug && outboxes) outboxes->wake(*plug);
}

// ---- delivery --------------------------------------------------------------

PutScope::PutScope(HostCore& host, PostingState& state) : host_(host), state_(state) {
  plug_ = state.channel->plug();
  if (!plug_) return;
  PlugCore& c = HostCore::core_of(*plug_);
  state.core = &c;
  state.plug = plug_;
  state.announced.clear();
  state.next = 0;
  posting_.emplace(*state.channel, *state.message, state);
  ++c.putting;
}

PutScope::~PutScope() {
  if (plug_) host_.put_done(*state_.core);
}

PutResult PutScope::removed() const {
  return PutResult::failed("plug " + state_.channel->repr() + " was removed");
}

PutResult PutScope::finish(PutResult result) const {
  if (result.kind() == PutResult::Kind::partial && state_.parts->size() == state_.resume) {
    // Nothing went out in this attempt after all: an ordinary retry.
    return PutResult::retry(result.reason(), result.after());
  }
  return result;
}

Task<bool> HostCore::prepare(PostingState& state) {
  Outgoing out{*state.channel, *state.message};  // named: GCC 12 co_await temporaries
  auto prepared = co_await host.prepare(std::move(out));
  if (!prepared) co_return false;
  state.prepared = std::move(prepared);
  state.channel = &state.prepared->channel;
  state.message = &state.prepared->message;
  co_return true;
}

Task<PutResult> HostCore::attempt(PostingState& state) {
  if (!plan_->before_senders.empty()) {
    bool go = co_await prepare(state);
    if (!go) co_return PutResult::delivered();  // dropped by a hook: nothing to send
  }
  PutScope scope(*this, state);
  if (!scope.plug()) co_return scope.removed();
  PutResult result = co_await scope.plug()->put(scope.posting());
  co_return scope.finish(std::move(result));
}

Task<PutResult> HostCore::remove_message(const Channel& channel, MessagePtr message) {
  Plug* plug = channel.plug();
  auto* sent = dynamic_cast<const SentMessage*>(message.get());
  if (!plug || !sent || !plug->features().remove) co_return PutResult::delivered();
  PlugCore& c = core_of(*plug);
  Receipt target{sent->id, channel, sent->at, sent->revision, true};
  ++c.putting;
  try {
    co_await plug->delete_message(target);
  } catch (...) {
    put_done(c);
    throw;
  }
  put_done(c);
  co_return PutResult::delivered();
}

void HostCore::put_done(PlugCore& c) {
  if (--c.putting > 0) return;
  if (!c.held.empty()) c.arrived.notify();
  c.idle.notify();
}

// ---- receiving -------------------------------------------------------------

void HostCore::start_reader(Plug& plug) {
  auto& r = readers_.emplace_back();
  r.plug = &plug;
  r.core = this;
  auto it = std::prev(readers_.end());
  auto body = [](HostCore& self, std::list<Reader>::iterator it) -> Task<> {
    struct Erase {
      HostCore& self;
      std::list<Reader>::iterator it;
      ~Erase() {
        self.readers_.erase(it);
        self.reader_ended.notify();
      }
    } erase{self, it};
    co_await self.read(*it);
  };
  r.cancel = &readers.spawn("plug " + plug.name(), body(*this, it));
}

// One reader per active plug: takes its messages in order and resolves the
// echoes of our own posts. Nothing waits for what is being sent to the plug:
// only messages the plug says may be our own echoes (Plug::may_be_echo) are
// held back while a put() is in flight, and they follow once it returns.
Task<> HostCore::read(Reader& reader) {
  Plug& plug = *reader.plug;
  PlugCore& c = core_of(plug);
  for (;;) {
    SentPtr sent;
    if (c.putting == 0 && !c.held.empty()) {
      sent = std::move(c.held.front());
      c.held.pop_front();
    } else if (!c.inbox.empty()) {
      sent = std::move(c.inbox.front());
      c.inbox.pop_front();
      if (c.producer_waiting && c.inbox.size() <= PlugCore::kLowWater) {
        c.producer_waiting = false;
        c.drained.notify();
      }
      if (c.putting > 0 && plug.may_be_echo(*sent)) {
        c.held.push_back(std::move(sent));
        continue;
      }
    } else {
      c.reader_waiting = true;
      co_await c.arrived.wait();
      continue;
    }
    Received r;
    if (EchoRecord::Entry* ours = c.ours.find(sent->channel.source, sent->id)) {
      // The first echo takes our message along (it is needed no longer, and
      // is freed with this Received rather than 16k messages later); a
      // repeated echo is still ours, by its origin.
      r.source = ours->message ? std::move(ours->message) : sent;
      r.primary = ours->primary;
      r.origin = ours->origin;
    } else {
      r.source = sent;
    }
    r.sent = std::move(sent);
    const Plan& plan = *plan_;
    if (plan.before_receivers.empty() && plan.ordered.empty()) {
      // Only queued hooks: handed over here, with no coroutine per message
      // unless a queue is full.
      if (std::size_t i = fan_out(plan, r, 0); i < plan.unordered.size()) {
        co_await fan_out_in_turn(plan_, std::move(r), i);
      }
      continue;
    }
    co_await dispatch(std::move(r), &reader);
  }
}

// Hook stages under the watchdog: the reader names the stage while it
// runs; when it overruns the hook timeout the watchdog cancels it (see
// tick_watchdog), and the exception that raises ends in dispatch().
namespace {

void stage_begin(Reader* reader, const HookSlot& slot, const char* name) {
  if (!reader) return;
  reader->stage = &slot;
  reader->stage_name = name;
  ++reader->stage_seq;
  reader->core->arm_watchdog();
}

bool is_abort(const std::exception& e) {
  auto* se = dynamic_cast<const boost::system::system_error*>(&e);
  return se && se->code() == asio::error::operation_aborted;
}

// Ends a stage. True when the watchdog cancelled it: the caller must reset
// the reader's cancellation state before it awaits anything else.
bool stage_end(Reader* reader) {
  if (!reader) return false;
  reader->stage = nullptr;
  return std::exchange(reader->timed_out, false);
}

}  // namespace

Task<> HostCore::dispatch(Received r, Reader* reader) {
  std::shared_ptr<const Plan> plan = plan_;
  for (const HookSlotPtr& s : plan->before_receivers) {
    if (s->removed || !s->hook->wants(r)) continue;
    SentPtr replaced = r.sent;
    stage_begin(reader, *s, "before_receive");
    try {
      replaced = co_await s->hook->before_receive(r);
    } catch (const std::exception& e) {
      // A stop of the reader goes on up; a timeout or a hook's error does not.
      if (is_abort(e) && !(reader && reader->timed_out)) throw;
      if (!is_abort(e)) {
        s->hook->log()->error("before_receive failed on {}: {}", r.sent->channel.repr(), e.what());
      }
      replaced = r.sent;
    }
    if (stage_end(reader)) {
      // Cleared here, not in a child coroutine: awaiting one would throw
      // again while the state says "cancelled".
      co_await asio::this_coro::reset_cancellation_state();
      replaced = r.sent;
    }
    if (!replaced) co_return;  // dropped
    r.sent = std::move(replaced);
  }
  for (const HookSlotPtr& s : plan->ordered) {
    if (s->removed || !s->hook->wants(r)) continue;
    stage_begin(reader, *s, "on_receive");
    try {
      co_await s->hook->on_receive(r);
    } catch (const std::exception& e) {
      if (is_abort(e) && !(reader && reader->timed_out)) throw;
      if (!is_abort(e)) {
        s->hook->log()->error("on_receive failed on {}: {}", r.sent->channel.repr(), e.what());
      }
    }
    if (stage_end(reader)) co_await asio::this_coro::reset_cancellation_state();
  }
  if (std::size_t i = fan_out(*plan, r, 0); i < plan->unordered.size()) {
    co_await fan_out_in_turn(std::move(plan), std::move(r), i);
  }
}

std::size_t HostCore::fan_out(const Plan& plan, Received& r, std::size_t i) {
  const std::size_t n = plan.unordered.size();
  for (; i < n; ++i) {
    HookSlot& s = *plan.unordered[i];
    if (s.removed || !s.hook->wants(r)) continue;
    if (!s.lagging && (!s.tickets.empty() || s.inbox.size() >= s.inbox.capacity())) return i;
    if (i + 1 == n) {
      s.inbox.push(std::move(r));  // the last one: nobody needs `r` after it
    } else {
      s.inbox.push(r);
    }
  }
  return i;
}

Task<> HostCore::fan_out_in_turn(std::shared_ptr<const Plan> plan, Received r, std::size_t i) {
  while (i < plan->unordered.size()) {
    co_await feed(*plan->unordered[i], r);
    i = fan_out(*plan, r, i + 1);
  }
}

// Waits for room in a full hook queue, in turn with the other readers.
Task<> HostCore::feed(HookSlot& s, const Received& r) {
  std::uint64_t ticket = ++s.next_ticket;
  s.tickets.push_back(ticket);
  if (!s.stall) {
    s.stall = std::make_unique<asio::steady_timer>(ex);
    s.stalled = false;
    watch_stall(s, s.taken);
  }
  while (!s.stalled && !s.removed && !s.lagging &&
         !(s.tickets.front() == ticket && s.inbox.size() < s.inbox.capacity())) {
    s.feeder_waiting = true;
    co_await s.drained.wait();
  }
  s.tickets.erase(std::find(s.tickets.begin(), s.tickets.end(), ticket));
  if (s.stalled && !s.lagging) {
    s.lagging = true;
    s.hook->log()->warn(
        "not keeping up: took nothing off its queue of {} for {} ms; dropping its oldest "
        "messages until it catches up",
        s.inbox.capacity(), options.hook_timeout.count());
  }
  s.inbox.push(r);
  if (s.tickets.empty()) {
    s.stall.reset();  // cancels the watch: the episode is over
  } else if (s.lagging || s.inbox.size() < s.inbox.capacity()) {
    s.drained.notify();  // the next reader in line
  }
}

// While readers wait for a hook's queue: every hook timeout, has the hook
// taken anything since the last look? If not, it has stalled.
void HostCore::watch_stall(HookSlot& s, std::uint64_t taken) {
  s.stall->expires_after(options.hook_timeout);
  s.stall->async_wait([this, &s, taken](boost::system::error_code ec) {
    if (ec || !s.stall) return;
    if (s.taken == taken) {
      s.stalled = true;
      s.drained.notify();
      return;
    }
    watch_stall(s, s.taken);
  });
}

void HostCore::start_worker(const HookSlotPtr& slot) {
  if (slot->worker) return;
  slot->worker = true;
  workers.spawn("hook " + slot->hook->name(), work(slot));
}

Task<> HostCore::work(HookSlotPtr s) {
  struct Done {
    HookSlot& s;
    ~Done() { s.worker = false; }
  } done{*s};
  for (;;) {
    // Awaited only when there is nothing to take: a ready message costs no
    // coroutine frame.
    if (s->inbox.empty() && !s->inbox.closed()) co_await s->inbox.wait();
    if (std::uint64_t lost = s->inbox.take_unreported(); lost > 0) {
      hook_stats.dropped += lost;
      s->hook->log()->warn("fell behind: lost the oldest {} messages (queue of {})", lost,
                           s->inbox.capacity());
    }
    auto next = s->inbox.try_pop();
    if (next) ++s->taken;
    // Readers waiting for room are woken when half of it is free, not at
    // every message: they then fill it in one go (in turn).
    if (s->feeder_waiting && s->inbox.size() <= s->inbox.capacity() / 2) {
      s->feeder_waiting = false;
      s->drained.notify();
    }
    if (s->lagging && s->inbox.empty()) {
      s->lagging = false;
      s->hook->log()->info("caught up");
    }
    if (!next) {
      if (s->inbox.closed() || s->removed) co_return;
      continue;
    }
    if (s->removed || s->hook->state() != State::active) continue;
    try {
      co_await s->hook->on_receive(*next);
    } catch (const boost::system::system_error& e) {
      if (e.code() == asio::error::operation_aborted) throw;
      s->hook->log()->error("on_receive failed on {}: {}", next->sent->channel.repr(), e.what());
    } catch (const std::exception& e) {
      s->hook->log()->error("on_receive failed on {}: {}", next->sent->channel.repr(), e.what());
    }
  }
}

// Runs only while stages run: an idle host has no timer to wake it.
void HostCore::arm_watchdog() {
  if (watchdog_armed || !open || !watchdog) return;
  watchdog_armed = true;
  watchdog->expires_after(std::max(options.hook_timeout / 4, std::chrono::milliseconds(5)));
  watchdog->async_wait([this](boost::system::error_code ec) {
    watchdog_armed = false;
    if (!ec) tick_watchdog();
  });
}

// Looks at every reader a few times per hook timeout; a stage seen running
// for longer than the timeout is cancelled.
void HostCore::tick_watchdog() {
  auto period = std::max(options.hook_timeout / 4, std::chrono::milliseconds(5));
  bool busy = false;
  for (Reader& r : readers_) {
    if (r.stage || r.stage_seq != r.seen_seq) busy = true;
    if (!r.stage || r.stage_seq != r.seen_seq) {
      r.seen_seq = r.stage_seq;
      r.seen_ticks = 0;
      continue;
    }
    if (++r.seen_ticks * period < options.hook_timeout || r.timed_out) continue;
    r.timed_out = true;
    ++hook_stats.timed_out;
    r.stage->hook->log()->error(
        "{} took longer than {} ms on a message from {}: cancelled, the message goes on",
        r.stage_name, options.hook_timeout.count(), r.plug->name());
    r.cancel->emit(asio::cancellation_type::terminal);
  }
  if (busy) arm_watchdog();
}

// ---- lifecycle -------------------------------------------------------------

// Starts or stops every item of a phase concurrently; the phase ends when
// all are done or the timeout passes, whichever is first. Items that fail
// or overrun are marked failed and the rest carry on.
Task<> HostCore::run_phase(std::string_view phase, std::vector<Openable*> items, bool starting) {
  if (items.empty()) co_return;
  struct Pending {
    Openable* item;
    bool done = false;
    asio::cancellation_signal cancel;
  };
  auto pending = std::make_shared<std::list<Pending>>();
  auto left = std::make_shared<std::size_t>(items.size());
  // Shared: completions of overrunning items arrive after this frame is gone.
  auto finished = std::make_shared<Signal>(ex);
  for (Openable* item : items) {
    auto& p = pending->emplace_back();
    p.item = item;
    State now = starting ? State::starting : State::stopping;
    if (item->state() != now) set_state(*item, now);
    auto task = starting ? item->start() : item->stop();
    asio::co_spawn(
        ex, std::move(task),
        asio::bind_cancellation_slot(p.cancel.slot(), [this, &p, pending, left, finished, phase,
                                                       starting](std::exception_ptr e) {
          if (p.done) return;
          p.done = true;
          --*left;
          if (e) {
            std::string reason;
            try {
              std::rethrow_exception(e);
            } catch (const std::exception& err) {
              reason = err.what();
            }
            log->error("{} {} failed: {}", phase, p.item->name(), reason);
            set_state(*p.item, State::failed, reason);
          } else {
            set_state(*p.item, starting ? State::active : State::inactive);
          }
          if (*left == 0) finished->notify();
        }));
  }
  asio::steady_timer deadline(ex);
  deadline.expires_after(options.phase_timeout);
  deadline.async_wait([finished](boost::system::error_code ec) {
    if (!ec) finished->notify();
  });
  while (*left > 0 && deadline.expiry() > std::chrono::steady_clock::now()) {
    co_await finished->wait();
  }
  deadline.cancel();
  for (auto& p : *pending) {
    if (p.done) continue;
    std::string reason = fmt::format("{} timed out after {} ms", starting ? "start" : "stop",
                                     options.phase_timeout.count());
    log->error("{} {}: {}", phase, p.item->name(), reason);
    p.done = true;
    set_state(*p.item, State::failed, reason);
    p.cancel.emit(asio::cancellation_type::all);
  }
}

// A plug that failed to start is started again, backing off, until it
// starts or the host closes; then it reads and delivers like the others.
Task<> HostCore::restart_plug(Plug& plug) {
  Backoff backoff(options.restart_first, options.restart_max);
  while (open && plug.state() == State::failed) {
    auto delay = backoff.next();
    log->info("plug {} failed; starting it again in {} ms", plug.name(), delay.count());
    asio::steady_timer wait(ex, delay);
    co_await wait.async_wait(asio::use_awaitable);
    if (!open || plug.state() != State::failed) co_return;
    std::vector<Openable*> items{&plug};  // named: GCC 12 co_await temporaries
    co_await run_phase("plug", std::move(items), true);
    if (plug.state() == State::active) {
      log->info("plug {} started after {} attempts", plug.name(), backoff.attempts());
      start_reader(plug);
    }
  }
}

std::size_t outbox_depth(Host& host, const Channel& channel) {
  return HostAccess::core(host).outboxes->depth(channel);
}

std::uint64_t outbox_drops(Host& host, const Channel& channel) {
  return HostAccess::core(host).outboxes->dropped(channel);
}

void set_outbox_store(Host& host, OutboxStore* store) {
  HostCore& c = HostAccess::core(host);
  c.outbox_store = store;
  if (!store) c.outboxes->set_store(nullptr);  // nothing may save there any more
}

}  // namespace detail

// ---- Posting -----------------------------------------------------------------

Posting::Posting(const Channel& channel, const MessagePtr& message, detail::PostingState& state)
    : channel_(channel), message_(message), state_(state) {}

std::size_t Posting::resume() const { return state_.resume; }
std::size_t Posting::done() const { return state_.parts->size(); }

void Posting::announce(std::string id) {
  if (state_.plug->features().echo) {
    bool primary = state_.parts->empty() && state_.next == state_.announced.size();
    state_.core->ours.add(channel_.source, id, message_, *state_.origin, primary);
  }
  state_.announced.push_back(std::move(id));
}

void Posting::ordered() {
  if (!state_.on_ordered) return;
  auto call = std::exchange(state_.on_ordered, nullptr);
  call(state_.ordered_context);
}

void Posting::sent(std::string id) {
  if (state_.next < state_.announced.size() &&
      (id.empty() || id == state_.announced[state_.next])) {
    state_.parts->push_back(std::move(state_.announced[state_.next++]));
    return;
  }
  if (id.empty()) return;  // nothing announced and no id: nothing to record
  if (state_.plug->features().echo) {
    state_.core->ours.add(channel_.source, id, message_, *state_.origin, state_.parts->empty());
  }
  state_.parts->push_back(std::move(id));
}

// ---- Plug pieces that need the host --------------------------------------------

void Plug::set_online(bool online, std::string reason) {
  if (online_ == online) return;
  online_ = online;
  auto& c = detail::HostAccess::core(host());
  if (online) {
    log()->info("online");
  } else {
    log()->warn("offline{}{}", reason.empty() ? "" : ": ", reason);
  }
  // Same state, new link: observers and outboxes hear of it.
  c.set_state(*this, state(), std::move(reason));
}

// ---- Host ------------------------------------------------------------------------

Host::Host(Executor ex, HostOptions options)
    : core_(std::make_unique<detail::HostCore>(*this, ex, std::move(options))) {
  core_->outboxes = std::make_unique<detail::Outboxes>(*core_, logger("immp.outbox"));
}

Host::~Host() {
  // Subscriptions held by the plugs and hooks destroyed below must not
  // reach back into a host that is going.
  *alive_ = false;
}

Executor Host::executor() const { return core_->ex; }
const HostOptions& Host::options() const { return core_->options; }

Plug& Host::add_plug(std::unique_ptr<Plug> plug, bool enabled) {
  if (this->plug(plug->name())) throw std::invalid_argument("duplicate plug " + plug->name());
  if (!enabled) plug->state_ = State::disabled;
  core_->handle(plug->name()).plug_ = plug.get();
  core_->plugs.push_back(std::move(plug));
  return *core_->plugs.back();
}

Hook& Host::add_hook(std::unique_ptr<Hook> hook, std::optional<int> priority, bool enabled) {
  if (this->hook(hook->name())) throw std::invalid_argument("duplicate hook " + hook->name());
  if (!enabled) hook->state_ = State::disabled;
  auto slot = std::make_shared<detail::HookSlot>(core_->ex, std::move(hook), priority,
                                                 core_->options.hook_inbox);
  slot->resource = dynamic_cast<ResourceHook*>(slot->hook.get()) != nullptr;
  core_->hooks.push_back(slot);
  if (core_->open) core_->plan();
  return *slot->hook;
}

void Host::add_channel(std::string name, Channel channel) {
  core_->channels.insert_or_assign(std::move(name), std::move(channel));
}

void Host::add_group(Group group) {
  auto name = group.name;
  core_->groups.insert_or_assign(std::move(name), std::move(group));
}

Plug* Host::plug(std::string_view name) const {
  for (auto& p : core_->plugs) {
    if (p->name() == name) return p.get();
  }
  return nullptr;
}

const PlugHandle& Host::plug_handle(std::string_view name) const { return core_->handle(name); }

Hook* Host::hook(std::string_view name) const {
  for (auto& s : core_->hooks) {
    if (s->hook->name() == name) return s->hook.get();
  }
  return nullptr;
}

std::optional<Channel> Host::channel(std::string_view name) const {
  auto it = core_->channels.find(name);
  if (it == core_->channels.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Host::channel_name(const Channel& channel) const {
  for (const auto& [name, c] : core_->channels) {
    if (c == channel) return name;
  }
  return std::nullopt;
}

const Group* Host::group(std::string_view name) const {
  auto it = core_->groups.find(name);
  return it == core_->groups.end() ? nullptr : &it->second;
}

const std::map<std::string, Channel, std::less<>>& Host::channels() const {
  return core_->channels;
}

std::vector<Plug*> Host::plugs() const {
  std::vector<Plug*> out;
  for (auto& p : core_->plugs) out.push_back(p.get());
  return out;
}

std::vector<Hook*> Host::hooks() const {
  std::vector<Hook*> out;
  for (auto& s : core_->hooks) out.push_back(s->hook.get());
  return out;
}

std::optional<int> Host::priority(const Hook& hook) const {
  for (auto& s : core_->hooks) {
    if (s->hook.get() == &hook) return s->priority;
  }
  return std::nullopt;
}

bool Host::is_open() const { return core_->open; }

Task<> Host::open() {
  auto& c = *core_;
  std::vector<Openable*> resources, plugs, hooks;
  for (auto& s : c.hooks) {
    if (s->hook->state() == State::disabled) continue;
    (s->resource ? resources : hooks).push_back(s->hook.get());
  }
  for (auto& p : c.plugs) {
    if (p->state() != State::disabled) plugs.push_back(p.get());
  }
  // A hook checks its references to other hooks here. A wrong one is a
  // config error like any other: nothing starts, and open() throws the
  // first (each is logged).
  std::exception_ptr config_error;
  for (auto& s : c.hooks) {
    if (s->hook->state() == State::disabled) continue;
    try {
      co_await s->hook->on_load();
    } catch (const ConfigError& e) {
      s->hook->log()->error("config error: {}", e.what());
      if (!config_error) config_error = std::current_exception();
    } catch (const std::exception& e) {
      s->hook->log()->error("on_load failed: {}", e.what());
    }
  }
  if (config_error) std::rethrow_exception(config_error);
  co_await c.run_phase("resource", resources, true);
  if (c.outbox_store) {
    try {
      co_await c.outboxes->restore(*c.outbox_store);
    } catch (const std::exception& e) {
      c.log->error("could not restore saved outboxes: {}", e.what());
    }
  }
  co_await c.run_phase("plug", plugs, true);
  co_await c.run_phase("hook", hooks, true);
  c.open = true;
  c.plan();
  for (auto& p : c.plugs) {
    if (p->state() == State::active) c.start_reader(*p);
    if (p->state() == State::failed) c.restarts.spawn("restart " + p->name(), c.restart_plug(*p));
  }
  c.watchdog = std::make_unique<asio::steady_timer>(c.ex);
  for (auto& s : c.hooks) {
    if (s->hook->state() != State::active) continue;
    try {
      co_await s->hook->on_ready();
    } catch (const std::exception& e) {
      s->hook->log()->error("on_ready failed: {}", e.what());
    }
  }
}

Task<> Host::close() {
  auto& c = *core_;
  if (!c.open) co_return;
  c.open = false;
  if (c.watchdog) c.watchdog->cancel();
  co_await c.restarts.stop(c.options.phase_timeout);
  co_await c.readers.stop(c.options.phase_timeout);
  // Let each hook finish what it already received, within the phase timeout.
  for (auto& s : c.hooks) s->inbox.close();
  co_await c.workers.join(c.options.phase_timeout);
  co_await c.workers.stop(c.options.phase_timeout);
  std::vector<Openable*> resources, plugs, hooks;
  for (auto& s : c.hooks) {
    if (s->hook->state() != State::active) continue;
    (s->resource ? resources : hooks).push_back(s->hook.get());
  }
  for (auto& p : c.plugs) {
    if (p->state() == State::active) plugs.push_back(p.get());
  }
  co_await c.run_phase("hook", hooks, false);
  co_await c.outboxes->close(c.options.phase_timeout);
  co_await c.run_phase("plug", plugs, false);
  co_await c.run_phase("resource", resources, false);
}

Task<std::optional<Outgoing>> Host::prepare(Outgoing out) {
  std::shared_ptr<const detail::Plan> plan = core_->plan_;
  for (const auto& s : plan->before_senders) {
    if (s->removed) continue;
    try {
      auto next = co_await s->hook->before_send(out);
      if (!next) co_return std::nullopt;
      out = std::move(*next);
    } catch (const std::exception& e) {
      s->hook->log()->error("before_send failed on {}: {}", out.channel.repr(), e.what());
    }
  }
  co_return out;
}

Task<std::vector<Receipt>> Host::send(const Channel& target, MessagePtr msg) {
  const Channel channel = target;  // the caller's may not outlive the first suspension
  const OriginPtr origin;          // nobody to tell
  detail::PartIds parts;
  detail::PostingState state;
  state.channel = &channel;
  state.message = &msg;
  state.origin = &origin;
  state.parts = &parts;
  PutResult result = co_await core_->attempt(state);
  if (result.kind() != PutResult::Kind::delivered) {
    throw std::runtime_error("not delivered to " + state.channel->repr() + ": " +
                             (result.reason().empty() ? "no reason given" : result.reason()));
  }
  std::vector<Receipt> receipts;
  receipts.reserve(parts.size());
  auto at = Clock::now();
  for (auto& id : parts) receipts.push_back(Receipt{std::move(id), *state.channel, at, {}, false});
  co_return receipts;
}

void Host::post(const Channel& channel, MessagePtr msg, OriginPtr origin) {
  core_->outboxes->post(channel, std::move(msg), std::move(origin));
}

Subscription Host::on_delivered(std::string owner, DeliveryListener listener) {
  std::uint64_t id = core_->outboxes->listen(owner, std::move(listener));
  return Subscription([this, owner = std::move(owner), id, alive = std::weak_ptr<bool>(alive_)] {
    if (auto a = alive.lock(); a && *a) core_->outboxes->unlisten(owner, id);
  });
}

Host::OutboxStats Host::outbox_stats() const { return core_->outboxes->stats(); }
Host::HookStats Host::hook_stats() const { return core_->hook_stats; }

std::uint64_t Host::subscribe(StateListener listener) {
  auto id = ++core_->next_listener;
  core_->listeners.emplace(id, std::move(listener));
  return id;
}

void Host::unsubscribe(std::uint64_t id) { core_->listeners.erase(id); }

void Host::config_changed(Openable& source) {
  for (auto& s : core_->hooks) {
    if (s->hook.get() == &source || s->hook->state() != State::active) continue;
    core_->workers.spawn("config change " + s->hook->name(), s->hook->on_config_change(source));
  }
  auto listeners = core_->config_listeners;  // may change while we call them
  for (auto& [id, listener] : listeners) listener(source);
}

Subscription Host::on_config_changed(std::function<void(Openable&)> listener) {
  auto id = ++core_->next_listener;
  core_->config_listeners.emplace(id, std::move(listener));
  return Subscription([this, id, alive = std::weak_ptr<bool>(alive_)] {
    if (auto a = alive.lock(); a && *a) core_->config_listeners.erase(id);
  });
}

}  // namespace immp
