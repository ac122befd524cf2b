// The people hooks of issue 10 (mentions, subscriptions, notes, identities,
// channel access) on a real ngircd: raw IRC clients type, and the test sees
// exactly what the bot answers and where. One server for the whole suite;
// each test uses its own channel and nicks.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "hooks/access/access_hook.hpp"
#include "hooks/alerts/mentions_hook.hpp"
#include "hooks/alerts/subscriptions_hook.hpp"
#include "hooks/identity/local_identity_hook.hpp"
#include "hooks/identity/whois_hook.hpp"
#include "hooks/notes/notes_hook.hpp"
#include "immp/host.hpp"
#include "plugs/irc/irc_plug.hpp"
#include "store/database_hook.hpp"
#include "support/async.hpp"
#include "support/hooks.hpp"
#include "support/irc_client.hpp"
#include "support/irc_server.hpp"
#include "support/process.hpp"
#include "support/commands.hpp"

namespace immp {
namespace {

using namespace std::chrono_literals;
using plugs::IRCPlug;
using test::IrcClient;
using test::NgircdServer;

const std::string kTick = "\u2705";
const std::string kCross = "\u274C";

class BotsPeople : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (NgircdServer::available()) server_ = new NgircdServer();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    if (!server_) GTEST_SKIP() << "ngircd is not installed";
  }
  void TearDown() override {
    if (host && host->is_open()) test::run(io, host->close());
  }

  // A bot `nick` in `channel`, with the people hooks behind "!".
  void build(const std::string& nick, const std::string& channel,
             const std::string& access = "") {
    HostOptions o;
    o.phase_timeout = 10s;
    host = std::make_unique<Host>(io.get_executor(), o);
    irc = &test::add_plug<IRCPlug>(*host, "irc",
                                   "server: {host: 127.0.0.1, port: " +
                                       std::to_string(server_->port()) + "}\nuser: {nick: " +
                                       nick + "}\n");
    host->add_channel("room", irc->channel(channel));
    Group people;
    people.name = "people";
    people.anywhere.push_back(&host->plug_handle("irc"));
    host->add_group(std::move(people));
    test::add_hook<store::DatabaseHook>(*host, "db",
                                        "url: \"sqlite:///" + (dir / "immp.db").string() + "\"");
    test::add_hook<hooks::MentionsHook>(*host, "mentions", "groups: [people]");
    test::add_hook<hooks::SubscriptionsHook>(*host, "subs", "groups: [people]");
    test::add_hook<hooks::NotesHook>(*host, "notes", "");
    test::add_hook<hooks::LocalIdentityHook>(*host, "ids", "plugs: [irc]");
    test::add_hook<hooks::WhoIsHook>(*host, "who", "identities: [ids]");
    if (!access.empty()) test::add_hook<hooks::ChannelAccessHook>(*host, "access", access);
    test::add_command_hook(*host, "people", "[subs, notes, ids, who]");
    test::run(io, host->open());
    ASSERT_TRUE(until([&] { return irc->joined(channel); })) << server_->log();
  }

  bool until(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    return test::run_until(
        io,
        [&] {
          for (auto* c : clients) c->pump();
          return done();
        },
        limit);
  }
  std::unique_ptr<IrcClient> client(const std::string& nick, const std::string& channel) {
    auto c = std::make_unique<IrcClient>(server_->port(), nick);
    if (!channel.empty()) c->join(channel);
    clients.push_back(c.get());
    return c;
  }
  // The texts of PRIVMSGs `c` got from `from` in `target` (a channel, or
  // c's own nick for private messages).
  static std::vector<std::string> from(const IrcClient& c, const std::string& target,
                                       const std::string& sender) {
    std::vector<std::string> out;
    for (const auto& l : c.privmsgs(target)) {
      if (l.nick == sender) out.push_back(l.param(1));
    }
    return out;
  }
  // Waits until the bot has said `text` to `target` as `c` sees it.
  bool heard(IrcClient& c, const std::string& target, const std::string& sender,
             const std::string& text) {
    return until([&] {
      auto got = from(c, target, sender);
      return std::find(got.begin(), got.end(), text) != got.end();
    });
  }
  // Whether `c` saw `nick` kicked from `channel`.
  static bool kicked(const IrcClient& c, const std::string& channel, const std::string& nick) {
    for (const auto& l : c.lines()) {
      if (l.command == "KICK" && l.param(0) == channel && l.param(1) == nick) return true;
    }
    return false;
  }
  bool members(const std::string& channel, std::size_t n) {
    return until([&] {
      auto m = test::run(io, irc->channel_members(irc->channel(channel)));
      return m && m->size() == n;
    });
  }

  static NgircdServer* server_;
  asio::io_context io;
  test::TempDir dir{"immp-bots-people"};
  std::unique_ptr<Host> host;
  IRCPlug* irc = nullptr;
  std::vector<IrcClient*> clients;
};

NgircdServer* BotsPeople::server_ = nullptr;

TEST_F(BotsPeople, AMentionOnIrcIsToldToTheMentionedPrivately) {
  build("bot1", "#m1");
  auto alice = client("alice1", "#m1");
  auto bob = client("bob1", "#m1");
  ASSERT_TRUE(members("#m1", 3));
  alice->say("#m1", "lunch @bob1?");
  ASSERT_TRUE(heard(*bob, "bob1", "bot1", "lunch @bob1?")) << server_->log();
  auto lines = from(*bob, "bob1", "bot1");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "\x02" "alice1\x02 mentioned you:");
  EXPECT_TRUE(from(*alice, "alice1", "bot1").empty()) << "the author is not alerted";
  EXPECT_TRUE(from(*alice, "#m1", "bot1").empty()) << "nothing is said in the channel";
}

TEST_F(BotsPeople, NotesAreAnsweredInTheChannel) {
  build("bot2", "#n2");
  auto alice = client("alice2", "#n2");
  alice->say("#n2", "!note-add water the plants");
  ASSERT_TRUE(heard(*alice, "#n2", "bot2", kTick + " Added #1"));
  alice->say("#n2", "!note 1");
  ASSERT_TRUE(until([&] { return from(*alice, "#n2", "bot2").size() == 2; }));
  EXPECT_TRUE(from(*alice, "#n2", "bot2")[1].starts_with("\x02" "1.\x02\twater the plants\t"))
      << from(*alice, "#n2", "bot2")[1];
  alice->say("#n2", "!note-edit one two");
  ASSERT_TRUE(until([&] { return from(*alice, "#n2", "bot2").size() == 3; }));
  // The usage line (formatting codes between its parts on IRC).
  std::string usage = from(*alice, "#n2", "bot2")[2];
  EXPECT_NE(usage.find("note-edit"), std::string::npos) << usage;
  EXPECT_NE(usage.find("<num> <text>"), std::string::npos) << usage;
}

TEST_F(BotsPeople, IdentitiesAreClaimedInPrivateAndShownByWho) {
  build("bot3", "#i3");
  auto alice = client("alice3", "#i3");
  alice->say("bot3", "!id-add Alice s3cret");
  ASSERT_TRUE(heard(*alice, "alice3", "bot3", kTick + " Claimed")) << server_->log();
  alice->say("bot3", "!who Alice");
  ASSERT_TRUE(heard(*alice, "alice3", "bot3", "\x02Info for Alice"))
      << ::testing::PrintToString(from(*alice, "alice3", "bot3"));
  ASSERT_TRUE(heard(*alice, "alice3", "bot3", "Matching providers:"));
}

TEST_F(BotsPeople, SubscribedWordsAreToldPrivately) {
  build("bot4", "#s4");
  auto alice = client("alice4", "#s4");
  auto bob = client("bob4", "#s4");
  ASSERT_TRUE(members("#s4", 3));
  bob->say("bot4", "!sub-add pizza");
  ASSERT_TRUE(heard(*bob, "bob4", "bot4", kTick + " Subscribed"));
  alice->say("#s4", "pizza tonight?");
  ASSERT_TRUE(heard(*bob, "bob4", "bot4", "pizza tonight?"));
  EXPECT_TRUE(heard(*bob, "bob4", "bot4", "\x02" "alice4\x02 mentioned \x1Dpizza\x1D:"))
      << "got: " << from(*bob, "bob4", "bot4").back();
}

TEST_F(BotsPeople, TheUnidentifiedAreKickedFromAGuardedChannel) {
  build("bot5", "#vip5", "hooks: {ids: [room]}\ndefault: false");
  auto alice = client("alice5", "");
  alice->say("bot5", "!id-add Alice5 pw");
  ASSERT_TRUE(heard(*alice, "alice5", "bot5", kTick + " Claimed"));
  auto mallory = client("mallory5", "#vip5");
  ASSERT_TRUE(until([&] { return kicked(*mallory, "#vip5", "mallory5"); })) << server_->log();
  alice->join("#vip5");
  auto sentinel = client("eve5", "#vip5");
  ASSERT_TRUE(until([&] { return kicked(*sentinel, "#vip5", "eve5"); }));
  EXPECT_FALSE(kicked(*alice, "#vip5", "alice5")) << "the identified user stays";
}

}  // namespace
}  // namespace immp
