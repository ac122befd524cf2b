// Host: owns plugs, hooks, channels and groups; routes every message.
// Everything here runs on the host's executor; nothing is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "immp/asio.hpp"
#include "immp/channel.hpp"
#include "immp/group.hpp"
#include "immp/hook.hpp"
#include "immp/message.hpp"
#include "immp/plug.hpp"

namespace immp {

namespace detail {
struct HostCore;
struct HostAccess;
}

// Thrown by Host::resource() when no such resource is configured; what()
// says which hook needs what and how to add it.
class MissingResource : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A registration that ends when this object goes: keep it as a member of
// whatever it calls back. Movable; harmless after the host is gone.
class Subscription {
 public:
  Subscription() = default;
  explicit Subscription(std::function<void()> cancel) : cancel_(std::move(cancel)) {}
  Subscription(Subscription&& other) noexcept : cancel_(std::exchange(other.cancel_, {})) {}
  Subscription& operator=(Subscription&& other) noexcept {
    if (this != &other) {
      reset();
      cancel_ = std::exchange(other.cancel_, {});
    }
    return *this;
  }
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription() { reset(); }
  void reset() {
    if (cancel_) std::exchange(cancel_, {})();
  }

 private:
  std::function<void()> cancel_;
};

struct HostOptions {
  // Where relative paths of the config resolve (the config file's folder).
  std::filesystem::path base_dir = ".";
  std::chrono::milliseconds phase_timeout{std::chrono::seconds(10)};
  // Capacity of each unprioritised hook's queue (see Hook::inbox_capacity).
  // A hook that falls this far behind loses its oldest messages, counted
  // and logged: a slow hook never holds back the networks.
  std::size_t hook_inbox = 4096;
  // The longest a hook's before_receive or prioritised on_receive may take
  // for one message. Past it the stage is cancelled, logged and counted,
  // and the message carries on to the next hook.
  std::chrono::milliseconds hook_timeout{std::chrono::seconds(5)};
  // Outbox retries back off from the first delay, doubling to the longest.
  std::chrono::milliseconds retry_first{std::chrono::seconds(1)};
  std::chrono::milliseconds retry_max{std::chrono::minutes(1)};
  // A plug that failed to start is started again, backing off the same way.
  std::chrono::milliseconds restart_first{std::chrono::seconds(2)};
  std::chrono::milliseconds restart_max{std::chrono::minutes(5)};
  // The wall clock that outbox expiry reads (Clock::now when empty); tests
  // inject their own to age messages without waiting.
  std::function<Clock::time_point()> clock{};
};

// A change of state of a plug or hook: started, failed, went offline, ...
struct StateEvent {
  enum class Kind { plug, hook };
  Kind kind = Kind::plug;
  std::string name;
  State state = State::inactive;
  bool online = true;  // plugs: whether the network link is up
  std::string reason;  // why, for failures and lost links; may be empty
};

class Host {
 public:
  explicit Host(Executor ex, HostOptions options = {});
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  Executor executor() const;
  const HostOptions& options() const;

  // ---- building (before open) ----
  // A disabled plug or hook is kept (and written back) but never started.
  Plug& add_plug(std::unique_ptr<Plug> plug, bool enabled = true);
  // A resource hook is detected by type. `priority` orders on_receive.
  // The stages the host calls are read from T (see Hook::stages_of).
  template <typename T>
    requires(!std::is_same_v<T, Hook>)
  T& add_hook(std::unique_ptr<T> hook, std::optional<int> priority = std::nullopt,
              bool enabled = true) {
    hook->set_stages(Hook::stages_of<T>());
    return static_cast<T&>(add_hook(std::unique_ptr<Hook>(std::move(hook)), priority, enabled));
  }
  // The same for a hook whose stages were set already (the registry does).
  Hook& add_hook(std::unique_ptr<Hook> hook, std::optional<int> priority = std::nullopt,
                 bool enabled = true);
  void add_channel(std::string name, Channel channel);
  void add_group(Group group);

  // ---- changing while open ----
  // Each of these may run while messages flow: a dispatch in progress keeps
  // the plan it started with, and channels name plugs through handles that
  // never dangle. Plugs and hooks added while open start only when asked.
  //
  // Starts a plug or hook that is not running (inactive, failed, disabled):
  // a hook gets on_load(), start() and on_ready() and joins the plan; a
  // plug is read from and its outboxes deliver. A plug that fails to start
  // is retried with backoff, as at open().
  Task<> start(std::string_view name);
  // Stops a running plug or hook; `disable` leaves it disabled. A plug's
  // outboxes keep (and save) what waits for it.
  Task<> stop(std::string_view name, bool disable = false);
  Task<> restart(std::string_view name);
  // Stops and removes a plug or hook. Messages waiting for a removed plug's
  // channels stay queued for a plug of that name, until they expire.
  Task<> remove(std::string_view name);
  // Puts a new instance (same name, new config) in the place of a running
  // or stopped one, and starts it unless disabled; channels, outboxes and
  // priority carry over.
  Task<> replace(std::unique_ptr<Plug> plug, bool enabled = true);
  Task<> replace(std::unique_ptr<Hook> hook, std::optional<int> priority, bool enabled = true);
  void remove_channel(std::string_view name);
  void remove_group(std::string_view name);

  // ---- lookup ----
  Plug* plug(std::string_view name) const;
  // The handle of a plug name, made on first use: valid for the host's
  // whole life, whether or not such a plug exists (now).
  const PlugHandle& plug_handle(std::string_view name) const;
  Hook* hook(std::string_view name) const;
  std::optional<Channel> channel(std::string_view name) const;
  // The config name of a channel, if it was declared under `channels`.
  std::optional<std::string> channel_name(const Channel& channel) const;
  const Group* group(std::string_view name) const;
  const std::map<std::string, Channel, std::less<>>& channels() const;
  std::vector<Plug*> plugs() const;
  std::vector<Hook*> hooks() const;
  std::optional<int> priority(const Hook& hook) const;

  // The resource hook of type T, for `who`; throws MissingResource with a
  // sentence naming T::kPath when there is none. T needs `kPath`. Of
  // several hooks of type T, the first marked PreferredResource, else the
  // first in config order.
  template <typename T>
  T& resource(const Openable& who) const {  // T::kKind: "database"
    T* found = nullptr;
    for (Hook* h : hooks()) {
      auto* r = dynamic_cast<T*>(h);
      if (!r) continue;
      if (dynamic_cast<const PreferredResource*>(h)) return *r;
      if (!found) found = r;
    }
    if (found) return *found;
    throw MissingResource("the " + who.name() + " hook needs a " + std::string(T::kKind) +
                          " resource: add " + std::string(T::kPath) + " under hooks");
  }

  // ---- lifecycle ----
  // Starts resources, then plugs, then hooks (each phase bounded by the
  // phase timeout); a plug or hook that fails is logged and marked failed.
  Task<> open();
  // Stops hooks, then plugs, then resources; each phase bounded.
  Task<> close();
  bool is_open() const;

  // ---- messages ----
  // Delivers at once, outside the outbox: the before_send chain, then
  // put(). Returns a receipt per part; throws std::runtime_error with the
  // reason when put() did not deliver. Prefer post().
  Task<std::vector<Receipt>> send(const Channel& channel, MessagePtr msg);
  // Queues `msg` for `channel` and returns at once. Each channel has its own
  // outbox: delivered in order (before_send, then put()), retried with
  // backoff or after the network's "retry after", kept in the database
  // resource (if any) while the plug is down or failing, dropped (logged
  // and counted) when put() says it can never go out or past the plug's
  // OutboxPolicy. A deleted message (`deleted` set, a SentMessage naming
  // the id) is delivered as delete_message().
  //
  // `origin` (optional) says who posted it. The host keeps it with the
  // outbox entry (across restarts too) and with the ids the post produced:
  // the echo of the post arrives with it (Received::origin), and once
  // delivered the listener registered for `origin->owner` gets it with the
  // receipts. Deliveries while an owner that has listened (or whose saved
  // entries were restored) is not listening — before it starts, while it
  // restarts — are kept for it, up to 10000, and handed over when it
  // registers; owners may register in start().
  void post(const Channel& channel, MessagePtr msg, OriginPtr origin = nullptr);
  using DeliveryListener = std::function<void(const Origin& origin, const Channel& channel,
                                              std::span<const Receipt> receipts)>;
  // Registers the listener for `owner` (replacing any other) until the
  // returned Subscription goes.
  [[nodiscard]] Subscription on_delivered(std::string owner, DeliveryListener listener);
  struct OutboxStats {
    std::uint64_t queued = 0;      // posted
    std::uint64_t delivered = 0;   // every part went out
    std::uint64_t retried = 0;     // attempts that will be tried again
    std::uint64_t partial = 0;     // attempts that delivered some parts (not sent again)
    std::uint64_t failed = 0;      // dropped: put() said it can never go out
    std::uint64_t expired = 0;     // dropped: older than the policy's expiry
    std::uint64_t overflowed = 0;  // dropped: outbox over capacity
    std::uint64_t restored = 0;    // loaded from the database at start
    std::size_t pending = 0;       // waiting now, all channels
  };
  OutboxStats outbox_stats() const;
  struct HookStats {
    std::uint64_t timed_out = 0;  // stages cancelled past HostOptions::hook_timeout
    std::uint64_t dropped = 0;    // messages lost by hooks that fell behind
  };
  HookStats hook_stats() const;

  // ---- observing ----
  // Called on the host's executor for every state change of a plug or hook
  // (and every change of a plug's link). Returns an id for unsubscribe().
  using StateListener = std::function<void(const StateEvent& event)>;
  std::uint64_t subscribe(StateListener listener);
  void unsubscribe(std::uint64_t id);

  // Runs the before_send chain only; nullopt if a hook dropped it.
  Task<std::optional<Outgoing>> prepare(Outgoing out);

  // ---- config ----
  // Called by Openable::set_config() when a plug or hook changed its own
  // config at runtime: every other active hook's on_config_change() runs,
  // then every config listener.
  void config_changed(Openable& source);
  // Calls `listener` after each such change (the runner writes the file
  // back with -w; an admin UI may show it) until the Subscription goes.
  [[nodiscard]] Subscription on_config_changed(std::function<void(Openable&)> listener);

 private:
  friend struct detail::HostAccess;
  // Subscriptions check it before reaching into a host that is gone.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::unique_ptr<detail::HostCore> core_;
};

}  // namespace immp
