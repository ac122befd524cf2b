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
#include <string>
#include <string_view>
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
}

// Thrown by Host::resource() when no such resource is configured; what()
// says which hook needs what and how to add it.
class MissingResource : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct HostOptions {
  // Where relative paths of the config resolve (the config file's folder).
  std::filesystem::path base_dir = ".";
  std::chrono::milliseconds phase_timeout{std::chrono::seconds(10)};
  // Capacity of each hook's inbox; a full inbox holds back the plugs.
  std::size_t hook_inbox = 4096;
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
  Hook& add_hook(std::unique_ptr<Hook> hook, std::optional<int> priority = std::nullopt,
                 bool enabled = true);
  void add_channel(std::string name, Channel channel);
  void add_group(Group group);

  // ---- lookup ----
  Plug* plug(std::string_view name) const;
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
  // sentence naming T::kPath when there is none. T needs `kPath`.
  template <typename T>
  T& resource(const Openable& who) const {  // T::kKind: "database"
    for (Hook* h : hooks()) {
      if (auto* r = dynamic_cast<T*>(h)) return *r;
    }
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
  // before_send chain, then put() under the plug's send lock.
  Task<std::vector<Receipt>> send(const Channel& channel, MessagePtr msg);
  // Queues `msg` for `channel` and returns at once. Each channel has its own
  // outbox: delivered in order through send(), retried with backoff when the
  // plug throws, kept in the database resource (if any) while the plug is
  // down or failing, dropped (logged and counted) only past the plug's
  // OutboxPolicy. A deleted message (`deleted` set, a SentMessage naming
  // the id) is delivered as delete_message(). When delivered, the listener
  // registered for `owner` gets `tag` and the receipts; this survives a
  // restart, so owners that map ids (sync) register in their constructor.
  void post(const Channel& channel, MessagePtr msg, std::string owner = {}, std::string tag = {});
  using DeliveryListener =
      std::function<void(const std::string& tag, const Channel& channel,
                         const std::vector<Receipt>& receipts)>;
  void on_delivered(std::string owner, DeliveryListener listener);
  struct OutboxStats {
    std::uint64_t queued = 0;     // posted
    std::uint64_t delivered = 0;  // put() succeeded
    std::uint64_t retried = 0;    // failed attempts
    std::uint64_t expired = 0;    // dropped: older than the policy's expiry
    std::uint64_t overflowed = 0; // dropped: outbox over capacity
    std::uint64_t restored = 0;   // loaded from the database at start
    std::size_t pending = 0;      // waiting now, all channels
  };
  OutboxStats outbox_stats() const;

  // Runs the before_send chain only; nullopt if a hook dropped it.
  Task<std::optional<Outgoing>> prepare(Outgoing out);

  // ---- config ----
  // Called when a plug or hook changed its config at runtime.
  void config_changed(Openable& source);
  // The runner's write-back (for -w); may be empty.
  std::function<void(Openable&)> on_config_written;

  detail::HostCore& core() { return *core_; }

 private:
  std::unique_ptr<detail::HostCore> core_;
};

}  // namespace immp
