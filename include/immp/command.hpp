// Commands: how any hook offers chat commands, which CommandHook
// (immp.hook.command.CommandHook) finds, checks and runs.
//
// A hook declares all of its commands in one place, its constructor, by
// deriving from CommandProvider as a second base:
//
//   class NotesHook final : public immp::Hook, public immp::CommandProvider {
//    public:
//     explicit NotesHook(const immp::Init& init) : Hook(init) {
//       add_command({.name = "note-add", .usage = "<text>", .help = "Add a note.",
//                    .parser = immp::CommandParser::none,
//                    .run = [this](immp::CommandContext& ctx) { return add(ctx); }});
//       add_command({.name = "note-remove", .usage = "<num>", .help = "Remove a note.",
//                    .role = immp::CommandRole::admin,
//                    .run = [this](immp::CommandContext& ctx) { return remove(ctx); }});
//     }
//    private:
//     immp::Task<> add(immp::CommandContext& ctx) {
//       ...  // ctx.args[0] is the text; ctx.channel the room it is about
//       ctx.reply("Added #" + std::to_string(n));  // queued; returns at once
//       co_return;
//     }
//   };
//
// CommandHook offers a hook's commands where its `mapping` lists the hook
// (or a `sets` entry naming some of them), to the users and in the kinds
// of channel each command's role, scope and test allow. It parses the
// arguments, answers a wrong count with the usage line, and runs `run` on
// the host's executor. A handler that finds its arguments wrong throws
// BadUsage (or calls ctx.usage()): the caller gets the usage line.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "immp/asio.hpp"
#include "immp/channel.hpp"
#include "immp/message.hpp"

namespace immp {

class Host;
class Hook;

// How the text after a command's name becomes its arguments (IMMP's
// CommandParser).
enum class CommandParser {
  spaces,  // split on runs of whitespace
  shlex,   // split as a POSIX shell does: "quoted words" and 'single' ones, \ escapes
  none,    // one argument: the rest of the line as typed (absent when empty)
  hybrid,  // split on whitespace into at most as many arguments as `usage`
           // names; the last one keeps the rest of the line as typed
};

// The kinds of channel a command is offered in (IMMP's CommandScope).
enum class CommandScope {
  anywhere,  // every channel its mapping covers
  private_,  // only private channels (direct messages); `private` in IMMP
  shared,    // only non-private channels
};

// Who may run a command (IMMP's CommandRole).
enum class CommandRole {
  anyone,
  admin,  // only users listed under `admins` of the mapping that offers it
};

// Thrown by a handler whose arguments do not make sense: the caller is
// answered with the command's usage line, and nothing is logged.
class BadUsage : public std::runtime_error {
 public:
  BadUsage() : std::runtime_error("bad usage") {}
  explicit BadUsage(const std::string& why) : std::runtime_error(why) {}
};

// Who runs a command, and where: what a command's `test` sees.
struct CommandCaller {
  Host* host = nullptr;
  // The message that carries the command, as it arrived.
  SentPtr message{};
  // The channel the command acts on: where it was typed, or, in a room
  // bridged by a sync hook with a virtual plug, the synced channel (unless
  // the command is sync_aware).
  Channel channel{};
  // Where it was typed.
  Channel typed_in{};
  UserPtr user{};
  bool is_private = false;  // typed in a private channel
  bool admin = false;       // listed under `admins` of a mapping that offers it
};

class CommandContext;

// One command. Only `name` and `run` are required. Every member has a
// default, so designated initializers may leave any out (GCC's
// -Wmissing-field-initializers).
struct Command {
  // What follows the prefix; matched without regard to case.
  std::string name{};
  // The arguments, as help shows them: `<required>`, `[optional]`, and a
  // last `[many...]` or `<many...>` for any number (at least one with <>).
  // The counts CommandHook checks before `run` are read from it.
  std::string usage{};
  // One or more lines for `help <name>`.
  std::string help{};
  CommandParser parser = CommandParser::spaces;
  CommandScope scope = CommandScope::anywhere;
  CommandRole role = CommandRole::anyone;
  // True: `channel` is where the command was typed even in a bridged room.
  bool sync_aware = false;
  // Extra condition (an identified admin, a role, the hook's state);
  // null: none. A command whose test fails is neither run nor listed.
  std::function<Task<bool>(const CommandCaller&)> test{};
  // The handler. Runs on the host's executor; an exception other than
  // BadUsage is logged (and with `return-errors`, answered).
  std::function<Task<>(CommandContext&)> run{};
};

// The argument counts a usage string allows, and parsing by a parser.
struct CommandArity {
  std::size_t min = 0;
  std::size_t max = 0;  // SIZE_MAX: no limit
  static CommandArity of(std::string_view usage);
  bool accepts(std::size_t count) const { return count >= min && count <= max; }
};
// Splits `rest` (the text after the command's name, leading whitespace
// already gone) by `parser`; nullopt for text shlex cannot split (an
// unclosed quote). `max` is the hybrid parser's number of arguments.
std::optional<std::vector<std::string>> parse_command_args(CommandParser parser,
                                                           std::string_view rest,
                                                           std::size_t max = SIZE_MAX);

// Where a command's answers go; CommandHook implements it (tests may too).
class CommandReplies {
 public:
  virtual ~CommandReplies() = default;
  // Answers where the command acts (the channel, bridged in a synced
  // room): queues the answer and returns at once.
  virtual void reply(const CommandContext& ctx, MessagePtr msg) = 0;
  // Answers in the caller's private channel, wherever it was typed.
  virtual Task<> reply_private(const CommandContext& ctx, MessagePtr msg) = 0;
};

// One run of a command: the caller, the command and its parsed arguments.
class CommandContext : public CommandCaller {
 public:
  CommandContext(CommandCaller caller, const Command& command, std::vector<std::string> args,
                 CommandReplies& replies)
      : CommandCaller(std::move(caller)),
        command(command),
        args(std::move(args)),
        replies_(&replies) {}

  const Command& command;
  std::vector<std::string> args;

  // Answers in `channel` (for a private-scoped command that is the
  // private channel it was typed in): queued in the channel's outbox, in
  // order; returns at once, so no co_await (and no GCC 12 temporaries).
  void reply(std::string text) const;
  void reply(RichText text) const;
  void reply(MessagePtr msg) const;
  // Answers the caller privately, wherever the command was typed (the
  // network is asked for the private channel). Bind the argument to a
  // variable before co_await (GCC 12).
  Task<> reply_private(std::string text) const;
  Task<> reply_private(MessagePtr msg) const;
  // "note-add <text>": the command with its usage, as answered for bad usage.
  std::string usage_line() const;
  // Throws BadUsage.
  [[noreturn]] void usage() const { throw BadUsage(); }

 private:
  CommandReplies* replies_;
};

// Implemented by hooks alongside immp::Hook (see the top of this file).
// CommandHook discovers providers among the host's active hooks.
class CommandProvider {
 public:
  virtual ~CommandProvider() = default;
  // The commands offered now. Called on the host's executor when
  // CommandHook (re)builds its table: at start, when a hook starts or
  // stops, and after any hook's config changes (Host::config_changed) —
  // a provider whose commands change calls it (set_config() does).
  virtual std::span<const Command> commands() const { return commands_; }

 protected:
  CommandProvider() = default;
  CommandProvider(const CommandProvider&) = delete;
  CommandProvider& operator=(const CommandProvider&) = delete;
  // Declares a command; usually from the constructor.
  void add_command(Command command) { commands_.push_back(std::move(command)); }
  // Replaces every command (for commands made from the hook's config).
  void set_commands(std::vector<Command> commands) { commands_ = std::move(commands); }

 private:
  std::vector<Command> commands_;
};

}  // namespace immp
