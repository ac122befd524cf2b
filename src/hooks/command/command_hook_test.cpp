#include "hooks/command/command_hook.hpp"

#include <gtest/gtest.h>

#include "hooks/identity/identity.hpp"
#include "hooks/sync/sync_hook.hpp"
#include "support/async.hpp"
#include "support/hooks.hpp"
#include "support/memory.hpp"

namespace immp::hooks {
namespace {

using namespace std::chrono_literals;
using plugs::MemoryPlug;

// A hook with commands of every kind, declared in one place.
class Bot final : public Hook, public CommandProvider {
 public:
  explicit Bot(const Init& init) : Hook(init) {
    add_command({.name = "ping", .help = "Answers pong.", .run = [](CommandContext& ctx) -> Task<> {
                   ctx.reply("pong");
                   co_return;
                 }});
    add_command({.name = "echo",
                 .usage = "<text>",
                 .help = "Says the text back.",
                 .parser = CommandParser::none,
                 .run = [](CommandContext& ctx) -> Task<> {
                   ctx.reply("echo: " + ctx.args[0]);
                   co_return;
                 }});
    add_command({.name = "pair",
                 .usage = "<first> <second>",
                 .parser = CommandParser::shlex,
                 .run = [](CommandContext& ctx) -> Task<> {
                   ctx.reply(ctx.args[0] + "|" + ctx.args[1]);
                   co_return;
                 }});
    add_command({.name = "even",
                 .usage = "<number>",
                 .help = "Takes an even number.",
                 .run = [](CommandContext& ctx) -> Task<> {
                   if (std::stoi(ctx.args[0]) % 2 != 0) ctx.usage();
                   ctx.reply("even");
                   co_return;
                 }});
    add_command({.name = "boom", .run = [](CommandContext&) -> Task<> {
                   throw std::runtime_error("it broke");
                   co_return;
                 }});
    add_command({.name = "secret",
                 .scope = CommandScope::private_,
                 .run = [](CommandContext& ctx) -> Task<> {
                   ctx.reply("psst");
                   co_return;
                 }});
    add_command(
        {.name = "public", .scope = CommandScope::shared, .run = [](CommandContext& ctx) -> Task<> {
           ctx.reply("everyone");
           co_return;
         }});
    add_command(
        {.name = "shutdown", .role = CommandRole::admin, .run = [](CommandContext& ctx) -> Task<> {
           ctx.reply("bye");
           co_return;
         }});
    add_command({.name = "gated",
                 .test = [this](const CommandCaller&) -> Task<bool> { co_return open; },
                 .run = [](CommandContext& ctx) -> Task<> {
                   ctx.reply("through");
                   co_return;
                 }});
    add_command({.name = "where", .run = [](CommandContext& ctx) -> Task<> {
                   ctx.reply(ctx.channel.repr());
                   co_return;
                 }});
    add_command({.name = "sentinel", .run = [](CommandContext& ctx) -> Task<> {
                   ctx.reply("--sentinel--");
                   co_return;
                 }});
    add_command({.name = "loop", .run = [](CommandContext& ctx) -> Task<> {
                   ctx.reply("?loop");
                   co_return;
                 }});
  }
  bool open = false;
};

// An identity provider: user id -> roles, changed by the test as it goes.
class Directory final : public Hook, public IdentityDirectory {
 public:
  explicit Directory(const Init& init) : Hook(init) {}
  std::string provider_name() const override { return "Test"; }
  Task<std::optional<IdentityGroup>> identity_from_user(const User& user) override {
    auto it = roles.find(user.id);
    if (it == roles.end()) co_return std::nullopt;
    co_return IdentityGroup{user.id, {}};
  }
  Task<std::optional<Identity>> identity_from_name(std::string) override {
    co_return std::nullopt;
  }
  Task<std::optional<Identity>> identity_of(const User&) override { co_return std::nullopt; }
  Task<std::optional<std::vector<std::string>>> roles_of(const User& user) override {
    ++asked;
    auto it = roles.find(user.id);
    if (it == roles.end()) co_return std::nullopt;
    co_return it->second;
  }
  std::map<std::string, std::vector<std::string>> roles;
  int asked = 0;
};

// A provider that knows identities but no roles (the SDK interface only).
class PlainProvider final : public Hook, public IdentityProvider {
 public:
  explicit PlainProvider(const Init& init) : Hook(init) {}
  Task<std::optional<IdentityGroup>> identity_from_user(const User&) override {
    co_return std::nullopt;
  }
};

std::vector<std::string> texts(const MemoryPlug& plug) {
  std::vector<std::string> out;
  for (const auto& m : plug.posted()) out.push_back(m->plain());
  return out;
}

struct CommandTest : ::testing::Test {
  asio::io_context io;
  std::unique_ptr<Host> host;
  MemoryPlug* a = nullptr;
  MemoryPlug* b = nullptr;
  Bot* bot = nullptr;
  Directory* directory = nullptr;
  CommandHook* commands = nullptr;

  // Plug `a` (room "room", private channel "dm-alice") is in group "bots";
  // plug `b` is in no group.
  void build(const std::string& config =
                 "prefix: ['?', '!bot ']\n"
                 "mapping: {main: {groups: [bots], hooks: [bot, commands],"
                 " admins: {a: [root]}}}",
             NodeMap a_extra = {}, bool open = true) {
    host = std::make_unique<Host>(io.get_executor(), HostOptions{.phase_timeout = 2s});
    NodeMap a_cfg{{"private", NodeList{Node("dm-alice"), Node("dm-root")}}};
    for (auto& kv : a_extra) a_cfg.push_back(kv);
    a = &test::add_memory_plug(*host, "a", a_cfg);
    b = &test::add_memory_plug(*host, "b");
    host->add_channel("a-room", a->channel("room"));
    host->add_channel("b-room", b->channel("room"));
    Group bots;
    bots.name = "bots";
    bots.anywhere.push_back(&host->plug_handle("a"));
    host->add_group(bots);
    bot = &host->add_hook(std::make_unique<Bot>(Init{"bot", Node::map(), *host}));
    directory = &host->add_hook(std::make_unique<Directory>(Init{"dir", Node::map(), *host}));
    host->add_hook(std::make_unique<PlainProvider>(Init{"plain", Node::map(), *host}));
    commands = &test::add_hook<CommandHook>(*host, "commands", config);
    if (open) test::run(io, host->open());
  }
  ~CommandTest() override {
    if (host && host->is_open()) test::run(io, host->close());
  }
  bool wait(std::function<bool()> done) { return test::run_until(io, std::move(done), 5s); }
  // Types `text` in a's `source` as `user`, and returns what the bot
  // answered on `a` (in any channel) before the answer to a sentinel
  // "?sentinel" typed after it: everything, since answers keep their order.
  std::vector<std::string> say(const std::string& text, std::string source = "room",
                               std::string user = "alice") {
    std::size_t before = a->posted_count();
    a->inject(source, text, user);
    a->inject("room", "?sentinel", "alice");
    EXPECT_TRUE(wait([&] {
      return a->posted_count() > before && a->posted().back()->plain() == "--sentinel--";
    }));
    std::vector<std::string> out;
    auto all = texts(*a);
    for (std::size_t i = all.size() - (a->posted_count() - before); i + 1 < all.size(); ++i) {
      out.push_back(all[i]);
    }
    return out;
  }
};

TEST_F(CommandTest, ACommandIsAnsweredInTheChannelItWasTypedIn) {
  build();
  a->inject("room", "?ping", "alice");
  ASSERT_TRUE(wait([&] { return a->posted_count() == 1; }));
  EXPECT_EQ(a->posted().back()->plain(), "pong");
  EXPECT_EQ(a->posted().back()->channel, a->channel("room"));
  EXPECT_EQ(b->posted_count(), 0u);
}

TEST_F(CommandTest, EveryPrefixWorksAndNamesIgnoreCase) {
  build();
  EXPECT_EQ(say("!bot echo  hello   world "), std::vector<std::string>{"echo: hello   world"});
  EXPECT_EQ(say("?ECHO hi"), std::vector<std::string>{"echo: hi"});
  EXPECT_EQ(say("!BOT ping"), std::vector<std::string>{"pong"});
  EXPECT_EQ(say("? ping"), std::vector<std::string>{"pong"}) << "space after the prefix";
}

TEST_F(CommandTest, TextThatIsNotACommandOrAnUnknownCommandGetsNoAnswer) {
  build();
  EXPECT_EQ(say("hello ?ping"), std::vector<std::string>{});
  EXPECT_EQ(say("?nosuch thing"), std::vector<std::string>{});
  EXPECT_EQ(say("?"), std::vector<std::string>{});
}

TEST_F(CommandTest, CommandsWorkOnlyWhereTheMappingSays) {
  build();
  b->inject("room", "?ping", "alice");
  a->inject("room", "?ping", "alice");
  ASSERT_TRUE(wait([&] { return a->posted_count() == 1; }));
  EXPECT_EQ(b->posted_count(), 0u) << "b is in no mapped group";
}

TEST_F(CommandTest, AWrongNumberOfArgumentsIsAnsweredWithTheUsageLine) {
  build();
  EXPECT_EQ(say("?echo"), std::vector<std::string>{"echo <text>:\nSays the text back."});
  EXPECT_EQ(say("?pair one"), std::vector<std::string>{"pair <first> <second>"});
  EXPECT_EQ(say("?pair one two three"), std::vector<std::string>{"pair <first> <second>"});
  EXPECT_EQ(say("?ping extra"), std::vector<std::string>{"ping:\nAnswers pong."});
  EXPECT_EQ(say("?pair \"unclosed"), std::vector<std::string>{"pair <first> <second>"});
}

TEST_F(CommandTest, ShlexQuotingKeepsWordsTogether) {
  build();
  EXPECT_EQ(say("?pair \"hello there\" 'and you'"),
            std::vector<std::string>{"hello there|and you"});
}

TEST_F(CommandTest, AHandlerThatRefusesItsArgumentsGetsTheUsageLine) {
  build();
  EXPECT_EQ(say("?even 3"), std::vector<std::string>{"even <number>:\nTakes an even number."});
  EXPECT_EQ(say("?even 4"), std::vector<std::string>{"even"});
}

TEST_F(CommandTest, ErrorsAreAnsweredOnlyWithReturnErrors) {
  build();
  EXPECT_EQ(say("?boom"), std::vector<std::string>{});
  EXPECT_EQ(say("?ping"), std::vector<std::string>{"pong"}) << "the bot keeps running";
}

TEST_F(CommandTest, ReturnErrorsAnswersTheError) {
  build("prefix: '?'\nreturn-errors: true\nmapping: {main: {groups: [bots], hooks: [bot]}}");
  EXPECT_EQ(say("?boom"), std::vector<std::string>{"\xE2\x9A\xA0 it broke"});
}

TEST_F(CommandTest, ScopesSplitPrivateFromSharedChannels) {
  build();
  EXPECT_EQ(say("?secret"), std::vector<std::string>{}) << "private only";
  EXPECT_EQ(say("?public"), std::vector<std::string>{"everyone"});
  EXPECT_EQ(say("?secret", "dm-alice"), std::vector<std::string>{"psst"});
  EXPECT_EQ(a->posted()[a->posted().size() - 2]->channel.source, "dm-alice")
      << "answered privately where it was asked";
  EXPECT_EQ(say("?public", "dm-alice"), std::vector<std::string>{});
}

TEST_F(CommandTest, AdminCommandsAreForTheMappingsAdminsOnly) {
  build();
  EXPECT_EQ(say("?shutdown", "room", "alice"), std::vector<std::string>{});
  EXPECT_EQ(say("?shutdown", "room", "root"), std::vector<std::string>{"bye"});
}

TEST_F(CommandTest, ATestPredicateDecidesAtEachUse) {
  build();
  EXPECT_EQ(say("?gated"), std::vector<std::string>{});
  bot->open = true;
  EXPECT_EQ(say("?gated"), std::vector<std::string>{"through"});
}

TEST_F(CommandTest, HelpListsOnlyWhatTheCallerMayRunHere) {
  build();
  auto answer = say("?help");
  ASSERT_EQ(answer.size(), 1u);
  EXPECT_EQ(answer[0],
            "Available commands:\n- boom\n- echo <text>\n- even <number>\n- help [command]\n"
            "- loop\n- pair <first> <second>\n- ping\n- public\n- sentinel\n- where");
  auto as_admin = say("?help", "dm-root", "root");
  ASSERT_EQ(as_admin.size(), 1u);
  EXPECT_NE(as_admin[0].find("- shutdown"), std::string::npos);
  EXPECT_NE(as_admin[0].find("- secret"), std::string::npos);
  EXPECT_EQ(as_admin[0].find("- public"), std::string::npos);
}

TEST_F(CommandTest, HelpForOneCommand) {
  build();
  EXPECT_EQ(say("?help echo"), std::vector<std::string>{"echo <text>:\nSays the text back."});
  EXPECT_EQ(say("?help shutdown"), std::vector<std::string>{"\xE2\x9D\x8C No such command"})
      << "not for alice";
  EXPECT_EQ(say("?help a b"), std::vector<std::string>{"help [command]:\n"
                                                       "List the commands you can run here, or "
                                                       "show help for one of them."});
}

TEST_F(CommandTest, SetsOfferOnlyTheNamedCommands) {
  build(
      "prefix: '?'\n"
      "sets: {basic: {bot: [ping, echo, sentinel]}}\n"
      "mapping: {main: {groups: [bots], sets: [basic]}}");
  EXPECT_EQ(say("?echo x"), std::vector<std::string>{"echo: x"});
  EXPECT_EQ(say("?pair x y"), std::vector<std::string>{});
}

TEST_F(CommandTest, TheBotNeverObeysItsOwnAnswers) {
  build("prefix: '?'\nmapping: {main: {groups: [bots], hooks: [bot]}}", {{"echo", true}});
  // "?loop" answers "?loop"; its echo comes back on `a` and is ignored.
  EXPECT_EQ(say("?loop"), std::vector<std::string>{"?loop"});
}

TEST_F(CommandTest, AMappingNamingAnUnknownGroupIsAConfigError) {
  host = std::make_unique<Host>(io.get_executor());
  try {
    test::add_hook<CommandHook>(*host, "commands",
                                "prefix: '?'\nmapping: {main: {groups: [nope]}}");
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "test.yaml:2:27: hooks.commands.config.mapping.main.groups[0]: no group named "
              "'nope' (see `groups`)");
  }
}

// IMMP's `identify`: a mapping only for users an identity provider knows.
TEST_F(CommandTest, IdentifyOffersAMappingOnlyToIdentifiedUsers) {
  build(
      "prefix: '?'\n"
      "sets: {basic: {bot: [sentinel]}}\n"
      "mapping:\n"
      "  everyone: {groups: [bots], hooks: [commands], sets: [basic]}\n"
      "  known: {groups: [bots], hooks: [bot], identify: {dir: []}}\n");
  EXPECT_EQ(say("?ping"), std::vector<std::string>{}) << "alice is not identified";
  EXPECT_EQ(say("?help ping"), std::vector<std::string>{"\xE2\x9D\x8C No such command"});
  directory->roles["alice"] = {};
  EXPECT_EQ(say("?ping"), std::vector<std::string>{"pong"}) << "asked again at each command";
  EXPECT_EQ(say("?help ping"), std::vector<std::string>{"ping:\nAnswers pong."});
  EXPECT_EQ(say("?ping", "room", "bob"), std::vector<std::string>{}) << "only alice is known";
  directory->roles.erase("alice");
  EXPECT_EQ(say("?ping"), std::vector<std::string>{}) << "forgotten at once";
}

TEST_F(CommandTest, IdentifyWithRolesNeedsOneOfThem) {
  build(
      "prefix: '?'\n"
      "sets: {basic: {bot: [sentinel]}}\n"
      "mapping:\n"
      "  everyone: {groups: [bots], sets: [basic]}\n"
      "  staff: {groups: [bots], hooks: [bot], identify: {dir: [ops, admin]}}\n");
  directory->roles["alice"] = {"member"};
  EXPECT_EQ(say("?ping"), std::vector<std::string>{}) << "identified, but not staff";
  directory->roles["alice"] = {"member", "admin"};
  EXPECT_EQ(say("?ping"), std::vector<std::string>{"pong"});
}

TEST_F(CommandTest, MappingsWithoutIdentifyNeverAskForIdentities) {
  build("prefix: '?'\nmapping: {main: {groups: [bots], hooks: [bot]}}");
  EXPECT_EQ(say("?ping"), std::vector<std::string>{"pong"});
  EXPECT_EQ(directory->asked, 0);
}

// Checked once every hook exists (on_load); until fixed, nobody is
// identified by it.
TEST_F(CommandTest, IdentifyNamingNoIdentityProviderIsAConfigError) {
  build(
      "prefix: '?'\n"
      "sets: {basic: {bot: [sentinel]}}\n"
      "mapping:\n"
      "  everyone: {groups: [bots], sets: [basic]}\n"
      "  main: {groups: [bots], hooks: [bot], identify: {bot: []}}\n",
      {}, false);
  // Found as the hooks load: the start stops there, before anything runs.
  try {
    test::run(io, host->open());
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("mapping.main.identify.bot: 'bot' is not an identity "
                                         "provider hook"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(CommandTest, IdentifyRolesNeedAProviderThatHasRoles) {
  build("prefix: '?'\nmapping: {main: {groups: [bots], hooks: [bot], identify: {plain: [x]}}}", {},
        false);
  try {
    test::run(io, host->open());
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'plain' has no roles"), std::string::npos) << e.what();
  }
}

// In a bridged room, a command acts on the synced channel and its answer
// reaches every side, like any message.
TEST_F(CommandTest, InABridgedRoomTheAnswerIsBridged) {
  host = std::make_unique<Host>(io.get_executor(), HostOptions{.phase_timeout = 2s});
  a = &test::add_memory_plug(*host, "a");
  b = &test::add_memory_plug(*host, "b");
  host->add_channel("a-room", a->channel("room"));
  host->add_channel("b-room", b->channel("room"));
  Group bots;
  bots.name = "bots";
  bots.anywhere.push_back(&host->plug_handle("a"));
  bots.anywhere.push_back(&host->plug_handle("b"));
  host->add_group(bots);
  test::add_hook<SyncHook>(*host, "sync", "plug: synced\nchannels: {room: [a-room, b-room]}");
  bot = &host->add_hook(std::make_unique<Bot>(Init{"bot", Node::map(), *host}));
  test::add_hook<CommandHook>(*host, "commands",
                              "prefix: '?'\nmapping: {main: {groups: [bots], hooks: [bot]}}");
  test::run(io, host->open());
  a->inject("room", "?where", "alice");
  ASSERT_TRUE(wait([&] { return a->posted_count() == 1 && b->posted_count() == 2; }));
  EXPECT_EQ(b->posted()[0]->plain(), "?where") << "the command itself is bridged";
  EXPECT_EQ(b->posted()[1]->plain(), "synced:room") << "the answer is bridged";
  EXPECT_EQ(a->posted()[0]->plain(), "synced:room") << "acts on the synced channel";
}

}  // namespace
}  // namespace immp::hooks
