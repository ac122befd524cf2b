// CommandHook (immp.hook.command.CommandHook): finds the commands that
// hooks declare (immp/command.hpp), offers them where its `mapping` says,
// to whom their role, scope and test allow, and runs them.
//
// A mapping with `identify` (IMMP's key: identity provider hook -> roles)
// applies only to users identified by one of those providers, holding one
// of its roles when roles are listed; it is asked at every command, so a
// new identity or role counts at once.
//
// A message is a command when its plain text starts with one of `prefix`
// (compared with the text in lower case, as IMMP does); the next word is
// the command's name. In a channel bridged by a sync hook that has a
// virtual plug (`plug:`), commands act on the synced channel and their
// answers go to it, so they are bridged like any message.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "immp/command.hpp"
#include "immp/hook.hpp"
#include "immp/host.hpp"

namespace immp::hooks {

class CommandHook final : public Hook, public CommandProvider, public CommandReplies {
 public:
  static constexpr std::string_view kPath = "immp.hook.command.CommandHook";
  static constexpr std::string_view kDescription =
      "Runs the commands other hooks offer, where and for whom its mapping says";
  static SpecPtr schema();

  explicit CommandHook(const Init& init);
  ~CommandHook() override;

  // Checks that every `identify` provider is an identity provider hook.
  Task<> on_load() override;
  Task<> start() override;
  Task<> stop() override;
  // Quick: only a primary message from a user that starts with a prefix,
  // and is not the echo of a post of this host.
  bool wants(const Received& r) const override;
  Task<> on_receive(const Received& r) override;
  Task<> on_config_change(Openable& source) override;

  // CommandReplies.
  void reply(const CommandContext& ctx, MessagePtr msg) override;
  Task<> reply_private(const CommandContext& ctx, MessagePtr msg) override;

  // The commands `user` may run in `channel`, by name (what `help` lists).
  Task<std::vector<std::string>> available(const Channel& channel, const UserPtr& user);

 private:
  struct Mapping {
    std::string name;
    std::vector<const Group*> groups;
    std::vector<std::string> hooks;
    std::vector<std::string> sets;
    std::map<std::string, std::vector<std::string>, std::less<>> admins;  // plug -> user ids
    // Identity provider hook -> roles (empty: any identified user). Empty:
    // no identity asked.
    std::vector<std::pair<std::string, std::vector<std::string>>> identify;
  };
  // One command of one hook, and the mappings that offer it.
  struct Entry {
    Command command;
    std::string hook;
    CommandArity arity;
    std::vector<std::size_t> mappings;
  };
  // Every offered command, by lower-case name; rebuilt when a hook starts
  // or stops or a config changes. Shared with the runs in progress.
  struct Table {
    std::unordered_map<std::string, std::vector<Entry>> by_name;
  };
  // What a channel is, as far as commands care; remembered per channel.
  struct Place {
    bool is_private = false;
    std::vector<bool> in_mapping;   // per mapping: a group of it has the channel
    std::optional<Channel> synced;  // the sync's virtual channel for it
  };

  std::shared_ptr<const Table> table();
  // Shared: a run keeps its Place while the table is cleared meanwhile.
  Task<std::shared_ptr<const Place>> place(const Channel& channel);
  bool is_admin(const Mapping& m, const User& user) const;
  // Per mapping, whether `user` passes its `identify` (true for mappings
  // without one, and for those that do not cover `where`).
  Task<std::vector<bool>> identified(const Place& where, const UserPtr& user);
  // The roles `user` has with identity provider hook `provider`; nullopt
  // when not identified there (or the provider is missing or failed).
  Task<std::optional<std::vector<std::string>>> roles_with(const std::string& provider,
                                                           const User& user);
  // Whether `caller` may run `e` in `where` (mapping, identity, scope,
  // role; not its test); when so, sets caller.admin and caller.channel for
  // it. `passes`: identified()'s answer, or null when no mapping has
  // `identify`.
  bool allowed(const Entry& e, const Place& where, const std::vector<bool>* passes,
               CommandCaller& caller) const;
  // The entries of `name` that `caller` may run, tests included.
  Task<std::vector<const Entry*>> applicable(const std::vector<Entry>& entries, const Place& where,
                                             const std::vector<bool>* passes,
                                             CommandCaller& caller);
  Task<std::map<std::string, const Command*>> available(const Table& table, const Channel& channel,
                                                        const UserPtr& user);
  Task<> help(CommandContext& ctx);
  // `help <name>`'s text: usage line, then the command's help.
  static RichText describe(const Command& cmd);
  void answer(const Channel& channel, std::string text);
  // The usage line and help of `cmd`, for a wrong use.
  void answer_usage(const Channel& channel, const Command& cmd);

  std::vector<std::string> prefixes_;
  bool return_errors_ = false;
  std::map<std::string, std::map<std::string, std::vector<std::string>>, std::less<>> sets_;
  std::vector<Mapping> mappings_;
  bool any_identify_ = false;  // some mapping has `identify`
  std::shared_ptr<const Table> table_;  // null: rebuild before use
  std::unordered_map<Channel, std::shared_ptr<const Place>> places_;
  std::uint64_t state_listener_ = 0;
  bool listening_ = false;
  OriginPtr origin_;  // on every answer: our echoes are never taken for commands
};

}  // namespace immp::hooks
