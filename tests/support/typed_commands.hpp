// TypedCommands: a stand-in for immp.hook.command.CommandHook in tests of
// hooks that offer commands, until that hook is on main. It runs what a
// user types after "!" with the core's own parsing (parse_command_args,
// CommandArity), scope and test checks, and answers as CommandHook does:
// reply() in the channel where it was typed, reply_private() in the
// caller's private channel, BadUsage with the usage line. It offers every
// command of every CommandProvider hook, everywhere; no mapping, no sync
// translation, no roles.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "immp/command.hpp"
#include "immp/host.hpp"
#include "immp/plug.hpp"
#include "support/hooks.hpp"
#if __has_include("hooks/command/command_hook.hpp")
#include "hooks/command/command_hook.hpp"
#define IMMP_TEST_HAS_COMMAND_HOOK 1
#endif

namespace immp::test {

class TypedCommands final : public Hook, public CommandReplies {
 public:
  static SpecPtr schema() { return object({}, true); }
  explicit TypedCommands(const Init& init) : Hook(init) {}

  bool wants(const Received& r) const override {
    return r.primary && !r.origin && r.sent->text && r.sent->plain().starts_with("!");
  }

  Task<> on_receive(const Received& r) override {
    std::string text = r.sent->plain().substr(1);
    std::string name = text.substr(0, text.find(' '));
    std::string rest = name.size() < text.size() ? text.substr(name.size() + 1) : "";
    rest.erase(0, rest.find_first_not_of(' '));
    Plug* plug = r.sent->channel.plug();
    if (!plug) co_return;
    CommandCaller caller;
    caller.host = &host();
    caller.message = r.sent;
    caller.channel = r.sent->channel;
    caller.typed_in = r.sent->channel;
    caller.user = r.sent->user;
    caller.is_private = (co_await plug->channel_is_private(r.sent->channel)).value_or(false);
    for (Hook* h : host().hooks()) {
      auto* provider = dynamic_cast<CommandProvider*>(h);
      if (!provider) continue;
      for (const Command& command : provider->commands()) {
        if (command.name != name) continue;
        if (command.scope == CommandScope::private_ && !caller.is_private) continue;
        if (command.scope == CommandScope::shared && caller.is_private) continue;
        if (command.test && !co_await command.test(caller)) continue;
        CommandArity arity = CommandArity::of(command.usage);
        auto args = parse_command_args(command.parser, rest, arity.max);
        std::vector<std::string> none;
        CommandContext ctx(caller, command, args ? std::move(*args) : std::move(none), *this);
        bool bad = !args || !arity.accepts(ctx.args.size());
        if (!bad) {
          try {
            co_await command.run(ctx);
          } catch (const BadUsage&) {
            bad = true;
          }
        }
        if (bad) ctx.reply(ctx.usage_line());
        co_return;
      }
    }
  }

  void reply(const CommandContext& ctx, MessagePtr msg) override { host().post(ctx.channel, msg); }
  Task<> reply_private(const CommandContext& ctx, MessagePtr msg) override {
    Plug* plug = ctx.user ? ctx.user->plug() : nullptr;
    if (!plug) co_return;
    std::optional<Channel> dm = co_await plug->channel_for_user(*ctx.user);
    if (dm) host().post(*dm, msg);
  }
};

// Commands behind "!" for the hooks named in `hooks` ("[notes, ids]") on
// the channels of `group`: the real CommandHook where it is built, else
// TypedCommands.
inline void add_command_hook(Host& host, const std::string& group, const std::string& hooks) {
#ifdef IMMP_TEST_HAS_COMMAND_HOOK
  add_hook<hooks::CommandHook>(host, "commands",
                               "prefix: \"!\"\nmapping: {all: {groups: [" + group +
                                   "], hooks: " + hooks + "}}");
#else
  (void)group;
  (void)hooks;
  add_hook<TypedCommands>(host, "commands", "");
#endif
}

}  // namespace immp::test
