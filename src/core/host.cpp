#include "immp/host.hpp"

#include <algorithm>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/host_core.hpp"
#include "core/plug_core.hpp"

namespace immp {

namespace detail {

HostCore::HostCore(Executor e, HostOptions opts)
    : ex(e),
      options(std::move(opts)),
      log(logger("immp.host")),
      readers(e, logger("immp.host")),
      workers(e, logger("immp.host")) {}

// Orders the pipeline: before_receive and before_send by priority (then
// config order); on_receive split into prioritised and concurrent hooks.
void HostCore::plan() {
  std::vector<HookSlot*> all;
  for (auto& s : hooks) all.push_back(&s);
  std::stable_sort(all.begin(), all.end(), [](HookSlot* a, HookSlot* b) {
    if (a->priority.has_value() != b->priority.has_value()) return a->priority.has_value();
    return a->priority.value_or(0) < b->priority.value_or(0);
  });
  before_receivers.clear();
  ordered.clear();
  unordered.clear();
  before_senders.clear();
  for (HookSlot* s : all) {
    if (s->hook->state() != State::active) continue;
    if (s->hook->overrides_before_receive()) before_receivers.push_back(s);
    if (s->hook->overrides_before_send()) before_senders.push_back(s->hook.get());
    if (!s->hook->overrides_on_receive()) continue;
    (s->priority ? ordered : unordered).push_back(s);
  }
}

// One reader per active plug: takes its messages in order, never while the
// plug is inside put() (the send lock), and resolves echoes of our posts.
Task<> HostCore::read(Plug& plug) {
  auto& c = plug.core();
  for (;;) {
    while (c.inbox.empty()) {
      c.reader_waiting = true;
      co_await c.arrived.wait();
    }
    while (c.putting > 0) co_await c.unlocked.wait();
    if (c.inbox.empty()) continue;
    Delivery d;
    d.sent = std::move(c.inbox.front());
    c.inbox.pop_front();
    if (c.producer_waiting && c.inbox.size() <= PlugCore::kLowWater) {
      c.producer_waiting = false;
      c.drained.notify();
    }
    if (!c.ours.empty()) {
      auto it = c.ours.find(PlugCore::key(d.sent->channel.source, d.sent->id));
      if (it != c.ours.end()) {
        d.source = it->second.source;
        d.primary = it->second.primary;
      }
    }
    if (!d.source) d.source = d.sent;
    co_await dispatch(std::move(d));
  }
}

Task<> HostCore::dispatch(Delivery d) {
  // Hooks may come and go (a failed hook leaves the plan); iterate copies.
  for (HookSlot* s : before_receivers) {
    if (!s->hook->overrides_before_receive()) continue;
    try {
      SentPtr replaced = co_await s->hook->before_receive(d.sent, d.source, d.primary);
      if (!replaced) co_return;  // dropped
      d.sent = std::move(replaced);
    } catch (const std::exception& e) {
      s->hook->log()->error("before_receive failed on {}: {}", d.sent->channel.repr(), e.what());
    }
  }
  for (HookSlot* s : ordered) {
    try {
      co_await s->hook->on_receive(d.sent, d.source, d.primary);
    } catch (const std::exception& e) {
      s->hook->log()->error("on_receive failed on {}: {}", d.sent->channel.repr(), e.what());
    }
  }
  for (HookSlot* s : unordered) {
    if (s->hook->overrides_on_receive()) co_await feed(*s, d);
  }
}

Task<> HostCore::feed(HookSlot& s, const Delivery& d) {
  s.inbox.push_back(d);
  if (s.worker_waiting) {
    s.worker_waiting = false;
    s.arrived.notify();
  }
  while (s.inbox.size() > options.hook_inbox) {
    s.feeder_waiting = true;
    co_await s.drained.wait();
  }
}

Task<> HostCore::work(HookSlot& s) {
  for (;;) {
    while (s.inbox.empty()) {
      s.worker_waiting = true;
      co_await s.arrived.wait();
    }
    Delivery d = std::move(s.inbox.front());
    s.inbox.pop_front();
    if (s.feeder_waiting && s.inbox.size() <= options.hook_inbox / 2) {
      s.feeder_waiting = false;
      s.drained.notify();
    }
    try {
      co_await s.hook->on_receive(std::move(d.sent), std::move(d.source), d.primary);
    } catch (const boost::system::system_error& e) {
      if (e.code() == asio::error::operation_aborted) throw;
      s.hook->log()->error("on_receive failed: {}", e.what());
    } catch (const std::exception& e) {
      s.hook->log()->error("on_receive failed: {}", e.what());
    }
  }
}

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
    item->state_ = starting ? State::starting : State::stopping;
    auto task = starting ? item->start() : item->stop();
    asio::co_spawn(ex, std::move(task),
                   asio::bind_cancellation_slot(
                       p.cancel.slot(), [&p, pending, left, finished, log = log, phase,
                                         starting](std::exception_ptr e) {
                         if (p.done) return;
                         p.done = true;
                         --*left;
                         if (e) {
                           try {
                             std::rethrow_exception(e);
                           } catch (const std::exception& err) {
                             log->error("{} {} failed: {}", phase, p.item->name(), err.what());
                           }
                           p.item->state_ = State::failed;
                         } else {
                           p.item->state_ = starting ? State::active : State::inactive;
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
    log->error("{} {} timed out after {} ms", phase, p.item->name(),
               options.phase_timeout.count());
    p.done = true;
    p.item->state_ = State::failed;
    p.cancel.emit(asio::cancellation_type::all);
  }
}

}  // namespace detail

Host::Host(Executor ex, HostOptions options)
    : core_(std::make_unique<detail::HostCore>(ex, std::move(options))) {
  core_->outboxes = std::make_unique<detail::Outboxes>(*this, logger("immp.outbox"));
}

Host::~Host() = default;

Executor Host::executor() const { return core_->ex; }
const HostOptions& Host::options() const { return core_->options; }

Plug& Host::add_plug(std::unique_ptr<Plug> plug, bool enabled) {
  if (this->plug(plug->name())) throw std::invalid_argument("duplicate plug " + plug->name());
  if (!enabled) plug->state_ = State::disabled;
  core_->plugs.push_back(std::move(plug));
  return *core_->plugs.back();
}

Hook& Host::add_hook(std::unique_ptr<Hook> hook, std::optional<int> priority, bool enabled) {
  if (this->hook(hook->name())) throw std::invalid_argument("duplicate hook " + hook->name());
  if (!enabled) hook->state_ = State::disabled;
  auto& slot = core_->hooks.emplace_back(core_->ex, std::move(hook), priority);
  slot.resource = dynamic_cast<ResourceHook*>(slot.hook.get()) != nullptr;
  if (core_->open) core_->plan();
  return *slot.hook;
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

Hook* Host::hook(std::string_view name) const {
  for (auto& s : core_->hooks) {
    if (s.hook->name() == name) return s.hook.get();
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
  for (auto& s : core_->hooks) out.push_back(s.hook.get());
  return out;
}

std::optional<int> Host::priority(const Hook& hook) const {
  for (auto& s : core_->hooks) {
    if (s.hook.get() == &hook) return s.priority;
  }
  return std::nullopt;
}

bool Host::is_open() const { return core_->open; }

Task<> Host::open() {
  auto& c = *core_;
  std::vector<Openable*> resources, plugs, hooks;
  for (auto& s : c.hooks) {
    if (s.hook->state() == State::disabled) continue;
    (s.resource ? resources : hooks).push_back(s.hook.get());
  }
  for (auto& p : c.plugs) {
    if (p->state() != State::disabled) plugs.push_back(p.get());
  }
  for (auto& s : c.hooks) {
    if (s.hook->state() == State::disabled) continue;
    try {
      co_await s.hook->on_load();
    } catch (const std::exception& e) {
      s.hook->log()->error("on_load failed: {}", e.what());
    }
  }
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
  // Probe each hook's stages once so plan() can skip the unused ones.
  c.plan();
  for (detail::HookSlot* s : c.unordered) c.workers.spawn("hook " + s->hook->name(), c.work(*s));
  for (auto& p : c.plugs) {
    if (p->state() == State::active) c.readers.spawn("plug " + p->name(), c.read(*p));
  }
  for (auto& s : c.hooks) {
    if (s.hook->state() != State::active) continue;
    try {
      co_await s.hook->on_ready();
    } catch (const std::exception& e) {
      s.hook->log()->error("on_ready failed: {}", e.what());
    }
  }
}

Task<> Host::close() {
  auto& c = *core_;
  if (!c.open) co_return;
  c.open = false;
  co_await c.readers.stop(c.options.phase_timeout);
  // Let each hook finish what it already received, within the phase timeout.
  auto deadline = std::chrono::steady_clock::now() + c.options.phase_timeout;
  asio::steady_timer poll(c.ex);
  for (;;) {
    bool busy = std::any_of(c.unordered.begin(), c.unordered.end(),
                            [](detail::HookSlot* s) { return !s->inbox.empty(); });
    if (!busy || std::chrono::steady_clock::now() >= deadline) break;
    poll.expires_after(std::chrono::milliseconds(5));
    co_await poll.async_wait(asio::use_awaitable);
  }
  co_await c.workers.stop(c.options.phase_timeout);
  std::vector<Openable*> resources, plugs, hooks;
  for (auto& s : c.hooks) {
    if (s.hook->state() != State::active) continue;
    (s.resource ? resources : hooks).push_back(s.hook.get());
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
  for (Hook* h : core_->before_senders) {
    if (!h->overrides_before_send()) continue;
    try {
      auto next = co_await h->before_send(out);
      if (!next) co_return std::nullopt;
      out = std::move(*next);
    } catch (const std::exception& e) {
      h->log()->error("before_send failed on {}: {}", out.channel.repr(), e.what());
    }
  }
  co_return out;
}

Task<std::vector<Receipt>> Host::send(const Channel& target, MessagePtr msg) {
  Outgoing out{target, std::move(msg)};
  if (!core_->before_senders.empty()) {
    auto prepared = co_await prepare(std::move(out));
    if (!prepared) co_return std::vector<Receipt>{};
    out = std::move(*prepared);
  }
  Plug& plug = *out.channel.plug;
  auto& c = plug.core();
  std::vector<std::string> ids;
  ++c.putting;
  try {
    ids = co_await plug.put(out.channel, out.message);
  } catch (...) {
    if (--c.putting == 0) c.unlocked.notify();
    throw;
  }
  // Remember our posts before the lock opens, so the reader recognises
  // the echoes it is about to yield.
  std::vector<Receipt> receipts;
  receipts.reserve(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (plug.features().echo) c.remember(out.channel.source, ids[i], out.message, i == 0);
    receipts.push_back(Receipt{ids[i], out.channel, Clock::now(), {}, false});
  }
  if (--c.putting == 0) c.unlocked.notify();
  co_return receipts;
}

void Host::post(const Channel& channel, MessagePtr msg, std::string owner, std::string tag) {
  core_->outboxes->post(channel, std::move(msg), std::move(owner), std::move(tag));
}

void Host::on_delivered(std::string owner, DeliveryListener listener) {
  core_->outboxes->listen(std::move(owner), std::move(listener));
}

Host::OutboxStats Host::outbox_stats() const { return core_->outboxes->stats(); }

void Host::config_changed(Openable& source) {
  for (auto& s : core_->hooks) {
    if (s.hook.get() == &source || s.hook->state() != State::active) continue;
    core_->workers.spawn("config change " + s.hook->name(), s.hook->on_config_change(source));
  }
  if (on_config_written) on_config_written(source);
}

}  // namespace immp
