#include "hooks/identity/local_identity_hook.hpp"

#include <gtest/gtest.h>

#include "hooks/access/access_hook.hpp"
#include "hooks/identity/password.hpp"
#include "hooks/identity/whois_hook.hpp"
#include "hooks/sync/sync_hook.hpp"
#include "hooks/textcommand/textcommand_hook.hpp"
#include "store/database_hook.hpp"
#include "support/async.hpp"
#include "support/hooks.hpp"
#include "support/process.hpp"
#include "support/roster.hpp"
#include "support/commands.hpp"

namespace immp::hooks {
namespace {

using namespace std::chrono_literals;

const std::string kTick = "\u2705";
const std::string kCross = "\u274C";

// Two networks, `irc` and `chat`; alice is "alice" on irc and "alice2" on
// chat; root is an admin on irc.
struct IdentityTest : ::testing::Test {
  asio::io_context io;
  test::TempDir dir{"immp-ids"};
  std::unique_ptr<Host> host;
  test::RosterPlug* irc = nullptr;
  test::RosterPlug* chat = nullptr;
  LocalIdentityHook* ids = nullptr;
  std::string ids_config = "plugs: [irc, chat]\nadmins: {irc: [root]}";
  std::string extra_hooks;  // "access", "sync", "text"
  std::string commands_config;  // empty: the people group gets ids' and who's commands
  std::function<void()> before_open;

  void build() {
    HostOptions o;
    o.phase_timeout = 10s;
    host = std::make_unique<Host>(io.get_executor(), o);
    irc = &test::add_roster_plug(*host, "irc");
    chat = &test::add_roster_plug(*host, "chat");
    Group people;
    people.name = "people";
    people.anywhere.push_back(&host->plug_handle("irc"));
    people.anywhere.push_back(&host->plug_handle("chat"));
    host->add_group(std::move(people));
    host->add_channel("vip", irc->channel("#vip"));
    host->add_channel("irc-room", irc->channel("#room"));
    host->add_channel("chat-room", chat->channel("room"));
    test::add_hook<store::DatabaseHook>(*host, "db",
                                        "url: \"sqlite:///" + (dir / "immp.db").string() + "\"");
    ids = &test::add_hook<LocalIdentityHook>(*host, "ids", ids_config);
    test::add_hook<WhoIsHook>(*host, "who", "identities: [ids]");
    if (extra_hooks == "text") {
      test::add_hook<TextCommandHook>(*host, "text", "commands: {secret: hush}");
    }
    if (commands_config.empty()) {
      test::add_command_hook(*host, "people", "[ids, who]");
    } else {
      test::add_hook<CommandHook>(*host, "commands", commands_config);
    }
    if (extra_hooks == "access") {
      test::add_hook<ChannelAccessHook>(*host, "access", "hooks: {ids: [vip]}\ndefault: false");
    }
    if (extra_hooks == "sync") {
      test::add_hook<SyncHook>(*host, "sync",
                               "channels: {room: [irc-room, chat-room]}\nidentities: ids");
    }
    irc->user("alice", "Alice Liddell");
    chat->user("alice2", "Alice L");
    if (before_open) before_open();
    test::run(io, host->open());
  }
  ~IdentityTest() override { close(); }
  void close() {
    if (host && host->is_open()) test::run(io, host->close());
  }
  bool wait(std::function<bool()> done) { return test::run_until(io, std::move(done), 10s); }
  std::string ask(test::RosterPlug& net, const std::string& who, const std::string& text,
                  std::string where = {}) {
    if (where.empty()) where = "dm:" + who;
    std::size_t before = net.said(where).size();
    net.say(where, who, text);
    EXPECT_TRUE(wait([&] { return net.said(where).size() > before; })) << "no answer to " << text;
    auto said = net.said(where);
    return said.size() > before ? said[before] : std::string();
  }
  void link_alice() {
    ASSERT_EQ(ask(*irc, "alice", "!id-add Alice s3cret"), kTick + " Claimed");
    ASSERT_EQ(ask(*chat, "alice2", "!id-add Alice s3cret"), kTick + " Added");
  }
};

TEST_F(IdentityTest, AccountsAreLinkedWithTheIdentitysPassword) {
  build();
  EXPECT_EQ(ask(*irc, "alice", "!id-add Alice s3cret"), kTick + " Claimed");
  EXPECT_EQ(ask(*chat, "alice2", "!id-add Alice wrong"), kCross + " Password incorrect");
  EXPECT_EQ(ask(*chat, "alice2", "!id-add Alice s3cret"), kTick + " Added");
  EXPECT_EQ(ask(*chat, "alice2", "!id-add Alice s3cret"), kCross + " Already identified");
  auto found = test::run(io, ids->identity_from_user(*chat->user("alice2")));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->name, "Alice");
  EXPECT_EQ(found->links.size(), 2u);
  EXPECT_FALSE(test::run(io, ids->identity_from_user(*irc->user("bob"))));
}

TEST_F(IdentityTest, WhoShowsTheLinkedAccountsToIdentifiedUsers) {
  build();
  EXPECT_EQ(ask(*irc, "bob", "!who Alice"), kCross + " Not identified");
  link_alice();
  EXPECT_EQ(ask(*irc, "alice", "!who Alice"),
            "Info for Alice\nMatching providers:\n1.\tLocal\nIdentity links:\n"
            "(Roster) Alice Liddell [alice]\n(Roster) Alice L [alice2]");
  EXPECT_EQ(ask(*irc, "alice", "!who Nobody"), kCross + " Name not in use");
  std::string usage = ask(*irc, "alice", "!who");
  EXPECT_NE(usage.find("who <name>"), std::string::npos) << usage;
}

TEST_F(IdentityTest, RenamePasswordAndReset) {
  build();
  link_alice();
  ASSERT_EQ(ask(*irc, "bob", "!id-add Bob pw"), kTick + " Claimed");
  EXPECT_EQ(ask(*irc, "alice", "!id-rename Alice"), kTick + " No change");
  EXPECT_EQ(ask(*irc, "alice", "!id-rename Bob"), kCross + " Name already in use");
  EXPECT_EQ(ask(*irc, "alice", "!id-rename Ally"), kTick + " Claimed");
  EXPECT_EQ(test::run(io, ids->identity_from_user(*chat->user("alice2")))->name, "Ally");
  EXPECT_EQ(ask(*irc, "alice", "!id-password n3w"), kTick + " Changed");
  EXPECT_EQ(ask(*irc, "carol", "!id-add Ally s3cret"), kCross + " Password incorrect");
  EXPECT_EQ(ask(*irc, "carol", "!id-add Ally n3w"), kTick + " Added");
  EXPECT_EQ(ask(*chat, "alice2", "!id-reset"), kTick + " Reset");
  EXPECT_FALSE(test::run(io, ids->identity_from_user(*irc->user("alice"))));
  EXPECT_EQ(ask(*irc, "alice", "!id-reset"), kCross + " Not identified");
  EXPECT_EQ(ask(*irc, "alice", "!id-password x"), kCross + " Not identified");
  // The rest survives a restart; nothing of Ally does.
  close();
  build();
  EXPECT_EQ(test::run(io, ids->identity_from_user(*irc->user("bob")))->name, "Bob");
  EXPECT_FALSE(test::run(io, ids->identity_from_user(*irc->user("carol"))));
}

TEST_F(IdentityTest, PasswordsAreStoredAsArgon2idNeverInTheClear) {
  build();
  link_alice();
  auto& database = host->resource<Database>(*ids);
  std::vector<sql::Value> none;
  sql::Rows rows = test::run(io, database.query("SELECT pwd FROM identitygroup", std::move(none)));
  ASSERT_EQ(rows.size(), 1u);
  std::string pwd = sql::as_text(rows[0][0]);
  EXPECT_TRUE(pwd.starts_with("$argon2id$")) << pwd;
  EXPECT_EQ(pwd.find("s3cret"), std::string::npos);
}

TEST_F(IdentityTest, AnImmpSha256PasswordWorksOnceAndIsReplacedByArgon2id) {
  // IMMP's tables, with one identity whose password is IMMP's hash.
  build();
  auto& database = host->resource<Database>(*ids);
  // sha256("legacy-pw") as IMMP stored it (lower-case hex).
  std::string sha = "07ceeca57584ec1e404e96878838f2c9d58f6d060d3006c5534f5e2a054cd9d3";
  std::vector<sql::Value> p1{ids->instance(), std::string("Old"), sha};
  test::run(io, database.execute("INSERT INTO identitygroup (instance, name, pwd) VALUES (?, ?, ?)",
                                 std::move(p1)));
  close();
  build();
  EXPECT_EQ(ask(*irc, "alice", "!id-add Old wrong"), kCross + " Password incorrect");
  EXPECT_EQ(ask(*irc, "alice", "!id-add Old legacy-pw"), kTick + " Added");
  auto& db2 = host->resource<Database>(*ids);
  std::vector<sql::Value> none;
  sql::Rows rows =
      test::run(io, db2.query("SELECT pwd FROM identitygroup WHERE name = 'Old'", std::move(none)));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_TRUE(sql::as_text(rows[0][0]).starts_with("$argon2id$"));
  EXPECT_EQ(ask(*chat, "alice2", "!id-add Old legacy-pw"), kTick + " Added");
}

TEST_F(IdentityTest, RolesAreForAdmins) {
  build();
  link_alice();
  EXPECT_EQ(ask(*irc, "root", "!id-role Alice staff"), kTick + " Added");
  EXPECT_EQ(ask(*irc, "root", "!id-role Alice"), "Roles for Alice: staff");
  EXPECT_EQ(ask(*irc, "root", "!id-role Alice staff"), kTick + " Removed");
  EXPECT_EQ(ask(*irc, "root", "!id-role Alice"), "No roles for Alice.");
  EXPECT_EQ(ask(*irc, "root", "!id-role Nobody"), kCross + " Name not registered");
  // Not an admin: the command is not theirs to run.
  irc->say("dm:alice", "alice", "!id-role Alice staff");
  EXPECT_EQ(ask(*irc, "root", "!id-role Alice"), "No roles for Alice.");
}

// The command hook's `identify` (IMMP's key) with this provider: a
// mapping for holders of a role, given and taken by id-role.
TEST_F(IdentityTest, ACommandMappingCanBeForHoldersOfARole) {
  extra_hooks = "text";
  commands_config =
      "prefix: \"!\"\n"
      "mapping:\n"
      "  all: {groups: [people], hooks: [ids, who]}\n"
      "  staff: {groups: [people], hooks: [text], identify: {ids: [staff]}}\n";
  build();
  // Commands run in order: the answer to the next one comes first when
  // !secret is not offered.
  irc->say("dm:alice", "alice", "!secret");
  ASSERT_EQ(ask(*irc, "alice", "!id-add Alice s3cret"), kTick + " Claimed");
  irc->say("dm:alice", "alice", "!secret");
  ASSERT_EQ(ask(*irc, "alice", "!id-rename Alice"), kTick + " No change")
      << "identified, but without the role";
  ASSERT_EQ(ask(*irc, "root", "!id-role Alice staff"), kTick + " Added");
  EXPECT_EQ(ask(*irc, "alice", "!secret"), "hush");
  EXPECT_EQ(ask(*chat, "alice2", "!id-add Alice s3cret"), kTick + " Added");
  EXPECT_EQ(ask(*chat, "alice2", "!secret"), "hush") << "from any linked account";
  ASSERT_EQ(ask(*irc, "root", "!id-role Alice staff"), kTick + " Removed");
  irc->say("dm:alice", "alice", "!secret");
  EXPECT_EQ(ask(*irc, "alice", "!id-rename Alice"), kTick + " No change");
}

TEST_F(IdentityTest, OneAccountPerNetworkWhenMultipleIsOff) {
  ids_config = "plugs: [irc, chat]\nmultiple: false";
  build();
  ASSERT_EQ(ask(*irc, "alice", "!id-add Alice s3cret"), kTick + " Claimed");
  EXPECT_EQ(ask(*irc, "alice-alt", "!id-add Alice s3cret"), kCross + " Already identified on Roster");
  EXPECT_EQ(ask(*chat, "alice2", "!id-add Alice s3cret"), kTick + " Added");
}

TEST_F(IdentityTest, AnInstanceCodeIsAssignedAndWrittenIntoTheConfig) {
  build();
  EXPECT_EQ(ids->instance(), 1);
  ASSERT_NE(ids->config().find("instance"), nullptr);
  EXPECT_EQ(ids->config().at("instance").as_int(), 1);
}

TEST_F(IdentityTest, TheSyncHookNamesIdentifiedUsersByTheirIdentity) {
  extra_hooks = "sync";
  build();
  link_alice();
  irc->say("#room", "alice", "hello");
  ASSERT_TRUE(wait([&] { return !chat->posted("room").empty(); }));
  EXPECT_EQ(chat->posted("room")[0]->user->display_name(), "Alice Liddell (Alice)");
  irc->say("#room", "bob", "hi");
  ASSERT_TRUE(wait([&] { return chat->posted("room").size() == 2; }));
  EXPECT_EQ(chat->posted("room")[1]->user->display_name(), "bob") << "bob has no identity";
}

TEST_F(IdentityTest, OnlyIdentifiedUsersMayStayWhereItGuardsAccess) {
  extra_hooks = "access";
  build();
  ASSERT_EQ(ask(*irc, "alice", "!id-add Alice s3cret"), kTick + " Claimed");
  irc->join("#vip", "alice");
  irc->join("#vip", "mallory");
  ASSERT_TRUE(wait([&] { return !irc->removed().empty(); }));
  irc->join("#vip", "mallory2");
  ASSERT_TRUE(wait([&] { return irc->removed().size() == 2; }));
  EXPECT_EQ(irc->removed(), (std::vector<std::string>{"#vip mallory", "#vip mallory2"}));
  EXPECT_TRUE(irc->is_member("#vip", "alice"));
}

TEST(Passwords, Argon2idAndImmpsSha256) {
  std::string h = hash_password("pw");
  EXPECT_TRUE(h.starts_with("$argon2id$"));
  EXPECT_NE(hash_password("pw"), h) << "salted";
  EXPECT_EQ(check_password("pw", h), PasswordCheck::right);
  EXPECT_EQ(check_password("px", h), PasswordCheck::wrong);
  // sha256("pw"), as IMMP stored it.
  std::string legacy = "30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4";
  EXPECT_TRUE(is_legacy_hash(legacy));
  EXPECT_EQ(check_password("pw", legacy), PasswordCheck::right_legacy);
  EXPECT_EQ(check_password("px", legacy), PasswordCheck::wrong);
}

}  // namespace
}  // namespace immp::hooks
