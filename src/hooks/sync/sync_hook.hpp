// SyncHook: bridges channels so that each sees the others' messages,
// replies, edits, deletes (and, when asked, joins, parts and renames) in
// native form. ForwardHook: the same, one way.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include "hooks/sync/naming.hpp"
#include "hooks/sync/sync_refs.hpp"
#include "immp/hook.hpp"
#include "immp/host.hpp"
#include "immp/plug.hpp"

namespace immp::hooks {

class SyncPlug;

// How copies for one target plug are made: the top-level keys, or a
// `plugs.<plug>` override (each key it leaves out keeps the top level's).
struct TargetRules {
  NamingRules naming;
  bool joins = false;
  bool renames = false;
};

// What relaying one message needs, shared by sync and forward.
class Relay : public Hook {
 public:
  explicit Relay(const Init& init);

 protected:
  Task<> on_load() override;
  // True for messages this relay must not touch: echoes of our own copies
  // (the host's record of who posted them, never their text), secondary
  // parts, and joins/renames when those are off.
  bool skip(const Received& r) const;
  // The copy of `sent` for `target`: author renamed, joins/renames as text.
  // Null when there is nothing to relay.
  Task<std::shared_ptr<Message>> copy_for(const SentPtr& sent, const Channel& target,
                                          const std::string& title);
  // The same, given the author's identity (copy_for asks the identity
  // provider for it).
  std::shared_ptr<Message> copy_with(const SentPtr& sent, const Channel& target,
                                     const std::string& title,
                                     const std::optional<IdentityGroup>& identity);
  const TargetRules& rules_for(const Plug* plug) const;
  // The `channel` (title) a name-format sees for a copy to `target`.
  virtual Task<std::string> title_for(const SentPtr& sent, const Channel& target) = 0;
  // Sends an edit or delete of the message `key` names to its copies: in
  // place where the target network can, else (edits) as a new copy. An
  // edit also reaches each of `targets` that has no recorded copy yet and
  // cannot edit in place (its copy may still await the network's
  // confirmation): there it is a new copy anyway.
  Task<> relay_change(const SentPtr& sent, const std::string& key,
                      const std::vector<Channel>& targets = {});
  // Sends a reaction to the copies of the message it is on, where the
  // target network has reactions; elsewhere it is dropped.
  Task<> relay_reaction(const SentPtr& sent);
  // Puts `copy` in the target's copy of `sent`'s thread, where the target
  // network has threads and the thread's first message was bridged.
  Task<> with_thread(Message& copy, const SentPtr& sent, const Channel& target);
  // Records the delivered copies of a post: the id map learns their ids.
  void listen_for_copies();
  // The schema of `plugs`: the naming keys, joins and renames, none with a
  // default of its own (a key left out keeps the top-level value).
  static Field plugs_field();

  TargetRules rules_;
  std::map<std::string, TargetRules, std::less<>> plug_rules_;
  bool any_joins_ = false;          // some target takes joins and parts
  bool any_renames_ = false;        // some target takes title changes
  bool any_name_format_ = false;    // some target's names come from a template
  std::unique_ptr<SyncRefs> refs_;  // made in start()
  Subscription delivered_;
  std::optional<std::string> identities_name_;
  IdentityProvider* identities_ = nullptr;
  std::string owner_;  // our name in the host's record of posts
};

class SyncHook final : public Relay {
 public:
  static constexpr std::string_view kPath = "immp.hook.sync.SyncHook";
  static constexpr std::string_view kDescription =
      "Bridges channels across networks, with replies, edits, deletes and a persistent id map";
  static SpecPtr schema();

  explicit SyncHook(const Init& init);
  ~SyncHook() override;

  Task<> start() override;
  Task<> stop() override;
  Task<> on_receive(const Received& r) override;
  // Only messages of bridged channels that are not our own copies.
  bool wants(const Received& r) const override;

  // For the virtual plug: posts `msg` to every channel of `label`; returns
  // the key of the new bridged message.
  std::string distribute(const std::string& label, MessagePtr msg);
  const std::vector<Channel>& members(const std::string& label) const;
  std::vector<std::string> labels() const;
  std::optional<std::string> title(const std::string& label) const;

 private:
  // A label a channel belongs to, as the message path needs it.
  struct Bridge {
    const std::string* label;
    const std::vector<Channel>* members;
    const std::string* title;  // title_of(label)
  };
  struct ChannelHash {
    using is_avalanching = std::true_type;  // hash_string mixes its result
    std::size_t operator()(const Channel& c) const;
  };
  // Relays a new message to the bridge's other channels, and to its
  // channel on the virtual plug.
  Task<> relay_new(const SentPtr& sent, const Bridge& bridge);
  // relay_new for a message that needs nothing awaited: no reply or thread
  // to map to the target's ids, no identity provider.
  void relay_plain(const SentPtr& sent, const Bridge& bridge);
  void queue_unified(const SentPtr& sent, const Bridge& bridge);
  Task<std::string> title_for(const SentPtr& sent, const Channel& target) override;
  Task<std::shared_ptr<Message>> with_reply(std::shared_ptr<Message> copy, const SentPtr& sent,
                                            const Channel& target);
  const std::string& title_of(const std::string& label) const;

  std::map<std::string, std::vector<Channel>, std::less<>> labels_;
  // Each bridged channel's labels, in config order; pointing into labels_
  // and titles_, which never change after the constructor.
  boost::unordered_flat_map<Channel, std::vector<Bridge>, ChannelHash> bridges_;
  std::map<std::string, std::string, std::less<>> titles_;
  bool edits_ = true;
  store::Database* db_ = nullptr;
  static constexpr std::size_t kMaxQueuedWrites = 20000;
  static constexpr std::size_t kThrottleEvery = 64;
  std::size_t since_throttle_ = 0;
  SyncPlug* plug_ = nullptr;
  std::uint64_t posted_ = 0;  // messages posted to the virtual plug
};

class ForwardHook final : public Relay {
 public:
  static constexpr std::string_view kPath = "immp.hook.sync.ForwardHook";
  static constexpr std::string_view kDescription =
      "Relays messages one way: from source channels or groups to targets";
  static SpecPtr schema();

  explicit ForwardHook(const Init& init);
  Task<> start() override;
  Task<> on_receive(const Received& r) override;
  // Not our own copies, and only from `users` when that is set.
  bool wants(const Received& r) const override;

  // Forwarded messages remembered for their edits and deletes.
  static constexpr std::size_t kRemembered = 10000;

 private:
  Task<std::string> title_for(const SentPtr& sent, const Channel& target) override;
  std::unordered_map<Channel, std::vector<Channel>> channels_;
  std::vector<std::pair<std::string, std::vector<Channel>>> groups_;
  std::optional<std::vector<std::string>> users_;  // nullopt: everyone
};

// The virtual plug a sync registers with `plug:`: one channel per label.
// Posting to it reaches every channel of the label; every bridged message
// appears on it once.
class SyncPlug final : public Plug {
 public:
  explicit SyncPlug(const Init& init);
  // The running sync behind it; null between a sync's stop and the start
  // of the one that takes over.
  SyncHook* hook() const { return hook_; }
  void bind(SyncHook* hook) { hook_ = hook; }
  std::string network_name() const override { return "Sync"; }
  std::string network_id() const override { return "sync:" + name(); }
  Task<PutResult> put(Posting& post) override;
  Task<std::vector<Channel>> public_channels() override;
  Task<std::optional<bool>> channel_is_private(const Channel& channel) override;
  Task<std::optional<std::string>> channel_title(const Channel& channel) override;
  Task<std::optional<std::vector<UserPtr>>> channel_members(const Channel& channel) override;

 private:
  SyncHook* hook_ = nullptr;
};

}  // namespace immp::hooks
