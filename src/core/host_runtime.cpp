// The host changing while it runs: plugs and hooks started, stopped,
// replaced and removed while messages flow (see Host::start and friends).
#include <algorithm>

#include <boost/asio/steady_timer.hpp>

#include "core/host_core.hpp"
#include "immp/host.hpp"

namespace immp {

namespace detail {

// ---- changes while open ---------------------------------------------------------

HookSlotPtr HostCore::slot_of(const Hook& hook) const {
  for (const auto& s : hooks) {
    if (s->hook.get() == &hook) return s;
  }
  return nullptr;
}

Task<> HostCore::stop_plug(Plug& plug, State final_state) {
  // Nothing more is read from it: its reader ends first.
  for (Reader& r : readers_) {
    if (r.plug == &plug) r.cancel->emit(asio::cancellation_type::all);
  }
  asio::steady_timer deadline(ex, options.phase_timeout);
  bool expired = false;
  deadline.async_wait([this, &expired](boost::system::error_code ec) {
    if (ec) return;
    expired = true;
    reader_ended.notify();
  });
  auto reading = [&] {
    return std::any_of(readers_.begin(), readers_.end(), [&](const Reader& r) { return r.plug == &plug; });
  };
  while (reading() && !expired) co_await reader_ended.wait();
  if (plug.state() == State::active || plug.state() == State::starting) {
    std::vector<Openable*> items{&plug};
    co_await run_phase("plug", std::move(items), false);
  }
  // Outboxes stop sending to it; one still inside put() is waited for.
  PlugCore& c = core_of(plug);
  deadline.expires_after(options.phase_timeout);
  expired = false;
  deadline.async_wait([&c, &expired](boost::system::error_code ec) {
    if (ec) return;
    expired = true;
    c.idle.notify();
  });
  while (c.putting > 0 && !expired) co_await c.idle.wait();
  deadline.cancel();
  if (c.putting > 0) log->warn("plug {}: a put() did not end after stop", plug.name());
  if (plug.state() != State::failed || final_state == State::disabled) set_state(plug, final_state);
}

Task<> HostCore::start_plug(Plug& plug) {
  std::vector<Openable*> items{&plug};
  co_await run_phase("plug", std::move(items), true);
  if (plug.state() == State::active) {
    start_reader(plug);
  } else if (plug.state() == State::failed) {
    restarts.spawn("restart " + plug.name(), restart_plug(plug));
  }
}

Task<> HostCore::erase_plug(Plug& plug) {
  if (core_of(plug).putting > 0) log->warn("plug {} removed while a put() is in flight", plug.name());
  for (auto it = plugs.begin(); it != plugs.end(); ++it) {
    if (it->get() != &plug) continue;
    std::unique_ptr<Plug> gone = std::move(*it);
    plugs.erase(it);
    if (gone->handle_->plug_ == gone.get()) gone->handle_->plug_ = nullptr;
    // Outboxes of its channels notice it is gone (and save what waits).
    if (outboxes) outboxes->wake(*gone);
    break;
  }
  co_return;
}

Task<> HostCore::stop_hook(HookSlot& slot, State final_state) {
  Hook& hook = *slot.hook;
  if (hook.state() == State::active || hook.state() == State::starting) {
    set_state(hook, State::stopping);
    plan();  // no new messages for it from here
    std::vector<Openable*> items{&hook};
    co_await run_phase(slot.resource ? "resource" : "hook", std::move(items), false);
  }
  if (hook.state() != State::failed || final_state == State::disabled) set_state(hook, final_state);
  plan();
}

Task<> HostCore::start_hook(HookSlot& slot) {
  Hook& hook = *slot.hook;
  try {
    co_await hook.on_load();
  } catch (const std::exception& e) {
    hook.log()->error("on_load failed: {}", e.what());
    set_state(hook, State::failed, e.what());
    co_return;
  }
  std::vector<Openable*> items{&hook};
  co_await run_phase(slot.resource ? "resource" : "hook", std::move(items), true);
  plan();
  if (hook.state() != State::active) co_return;
  try {
    co_await hook.on_ready();
  } catch (const std::exception& e) {
    hook.log()->error("on_ready failed: {}", e.what());
  }
}

}  // namespace detail

Task<> Host::start(std::string_view name) {
  auto& c = *core_;
  if (Plug* p = plug(name)) {
    if (p->state() == State::active || p->state() == State::starting) co_return;
    if (p->state() == State::disabled) c.set_state(*p, State::inactive);
    if (c.open) co_await c.start_plug(*p);
    co_return;
  }
  if (Hook* h = hook(name)) {
    if (h->state() == State::active || h->state() == State::starting) co_return;
    if (h->state() == State::disabled) c.set_state(*h, State::inactive);
    if (c.open) co_await c.start_hook(*c.slot_of(*h));
    co_return;
  }
  throw std::invalid_argument("no plug or hook named '" + std::string(name) + "'");
}

Task<> Host::stop(std::string_view name, bool disable) {
  auto& c = *core_;
  State final_state = disable ? State::disabled : State::inactive;
  if (Plug* p = plug(name)) {
    co_await c.stop_plug(*p, final_state);
    co_return;
  }
  if (Hook* h = hook(name)) {
    co_await c.stop_hook(*c.slot_of(*h), final_state);
    co_return;
  }
  throw std::invalid_argument("no plug or hook named '" + std::string(name) + "'");
}

Task<> Host::restart(std::string_view name) {
  std::string n(name);  // `name` may live in the instance being restarted
  co_await stop(n);
  co_await start(n);
}

Task<> Host::remove(std::string_view name) {
  auto& c = *core_;
  std::string n(name);
  if (Plug* p = plug(n)) {
    co_await c.stop_plug(*p, State::inactive);
    co_await c.erase_plug(*p);
    c.log->info("plug {} removed", n);
    co_return;
  }
  if (Hook* h = hook(n)) {
    detail::HookSlotPtr slot = c.slot_of(*h);
    co_await c.stop_hook(*slot, State::inactive);
    slot->removed = true;
    slot->inbox.close();  // its worker ends once idle; the slot lives until then
    c.hooks.remove(slot);
    c.plan();
    c.log->info("hook {} removed", n);
    co_return;
  }
  throw std::invalid_argument("no plug or hook named '" + n + "'");
}

Task<> Host::replace(std::unique_ptr<Plug> next, bool enabled) {
  auto& c = *core_;
  std::string n = next->name();
  if (Plug* old = plug(n)) {
    co_await c.stop_plug(*old, State::inactive);
    co_await c.erase_plug(*old);
  }
  Plug& p = add_plug(std::move(next), enabled);
  if (enabled && c.open) co_await c.start_plug(p);
}

Task<> Host::replace(std::unique_ptr<Hook> next, std::optional<int> priority, bool enabled) {
  auto& c = *core_;
  std::string n = next->name();
  if (hook(n)) co_await remove(n);
  Hook& h = add_hook(std::move(next), priority, enabled);
  if (enabled && c.open) co_await c.start_hook(*c.slot_of(h));
}

void Host::remove_channel(std::string_view name) {
  auto it = core_->channels.find(name);
  if (it != core_->channels.end()) core_->channels.erase(it);
}

void Host::remove_group(std::string_view name) {
  auto it = core_->groups.find(name);
  if (it != core_->groups.end()) core_->groups.erase(it);
}

}  // namespace immp
