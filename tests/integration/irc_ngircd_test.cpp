// The IRC plug against a real ngircd that each test starts itself: a host
// with IRCPlug + MemoryPlug bridged by the sync hook, and raw IRC clients
// as the people in the channel.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <optional>
#include <memory>
#include <sstream>
#include <string>

#include "hooks/sync/sync_hook.hpp"
#include "immp/host.hpp"
#include "text/markup_irc.hpp"
#include "plugs/irc/irc_plug.hpp"
#include "support/async.hpp"
#include "support/hooks.hpp"
#include "support/irc_client.hpp"
#include "support/irc_server.hpp"
#include "support/memory.hpp"

namespace immp {
namespace {

using namespace std::chrono_literals;

HostOptions test_options() {
  HostOptions o;
  o.phase_timeout = 5s;
  return o;
}
using hooks::SyncHook;
using plugs::IRCPlug;
using plugs::MemoryPlug;
using test::IrcClient;
using test::NgircdServer;

struct IrcBridgeTest : ::testing::Test {
  asio::io_context io;
  std::unique_ptr<NgircdServer> server;
  std::unique_ptr<Host> host;
  IRCPlug* irc = nullptr;
  MemoryPlug* mem = nullptr;
  std::vector<IrcClient*> clients;
  std::string server_extra;  // more keys of `server`, e.g. ", password: x"
  HostOptions options = test_options();

  void SetUp() override {
    if (!NgircdServer::available()) GTEST_SKIP() << "ngircd is not installed";
    server = std::make_unique<NgircdServer>();
  }

  std::string plug_yaml(const std::string& extra = "") const {
    return "server: {host: 127.0.0.1, port: " + std::to_string(server->port()) + server_extra +
           "}\nuser: {nick: bridge}\nreconnect-min: 0.2\nreconnect-max: 1\n" + extra;
  }

  // Joins and parts are IMMP's default, but most tests count the lines
  // that cross: they turn them off unless they test them.
  void build(const std::string& extra = "", const std::string& sync_extra = "joins: false\n") {
    host = std::make_unique<Host>(io.get_executor(), options);
    mem = &test::add_memory_plug(*host, "mem");
    irc = &test::add_plug<IRCPlug>(*host, "irc", plug_yaml(extra));
    host->add_channel("irc", irc->channel("#a"));
    host->add_channel("mem", mem->channel("room"));
    host->add_channel("irc-pm", irc->channel("alice"));
    host->add_channel("mem-pm", mem->channel("dm"));
    test::add_hook<SyncHook>(*host, "sync",
                             "channels: {bridge: [irc, mem], pm: [irc-pm, mem-pm]}\n" + sync_extra);
    test::run(io, host->open());
    ASSERT_TRUE(until([&] { return irc->joined("#a"); }, 5s)) << server->log();
  }

  void TearDown() override {
    if (host && host->is_open()) test::run(io, host->close());
  }

  // Runs the host until `done`, reading the clients' sockets meanwhile.
  bool until(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    return test::run_until(
        io,
        [&] {
          for (auto* c : clients) c->pump();
          return done();
        },
        limit);
  }

  std::unique_ptr<IrcClient> client(const std::string& nick, const std::string& channel = "#a") {
    auto c = std::make_unique<IrcClient>(server->port(), nick);
    if (!channel.empty()) c->join(channel);
    clients.push_back(c.get());
    return c;
  }

  std::size_t count(IrcClient& c, const std::string& target, const std::string& text) {
    std::size_t n = 0;
    for (const auto& l : c.privmsgs(target)) n += l.param(1) == text;
    return n;
  }

  // The texts of the PRIVMSGs to `target` that `c` received, in order.
  static std::vector<std::string> texts(const IrcClient& c, const std::string& target) {
    std::vector<std::string> out;
    for (const auto& l : c.privmsgs(target)) out.push_back(l.param(1));
    return out;
  }

  std::vector<std::string> posted_texts() const {
    std::vector<std::string> out;
    for (const auto& m : mem->posted()) out.push_back(m->plain());
    return out;
  }
};

TEST_F(IrcBridgeTest, ConnectsAndJoinsTheChannelsDeclaredForIt) {
  build();
  EXPECT_TRUE(irc->connected());
  EXPECT_EQ(irc->nick(), "bridge");
  auto alice = client("alice");
  // alice sees the bridge among the channel's members.
  bool listed = false;
  for (const auto& l : alice->lines()) {
    if (l.command == "353" && l.param(2) == "#a" &&
        l.param(3).find("bridge") != std::string::npos) {
      listed = true;
    }
  }
  EXPECT_TRUE(listed);
  ASSERT_TRUE(until([&] {
    auto members = test::run(io, irc->channel_members(irc->channel("#a")));
    return members && members->size() == 2;
  }, 3s));
}

TEST_F(IrcBridgeTest, MessagesTravelBothWays) {
  build();
  auto alice = client("alice");
  alice->say("#a", "hi from irc");
  ASSERT_TRUE(until([&] { return mem->posted_count() == 1; })) << server->log();
  auto got = mem->posted().back();
  EXPECT_EQ(got->plain(), "hi from irc");
  ASSERT_TRUE(got->user);
  EXPECT_EQ(got->user->display_name(), "alice");

  mem->inject("room", "hi from memory", "carol");
  ASSERT_TRUE(until([&] { return count(*alice, "#a", "<carol> hi from memory") == 1; }));
  auto line = alice->privmsgs("#a").back();
  EXPECT_EQ(line.nick, "bridge");
}

// Replies and edits look as IMMP's IRC plug draws them: the parent quoted
// in brackets unless it is the line right above, the reply under an arrow,
// "[edit]" before an edit.
TEST_F(IrcBridgeTest, RepliesAndEditsLookAsInIMMP) {
  build();
  auto alice = client("alice");
  auto all = [&] {
    std::string out;
    for (const auto& t : texts(*alice, "#a")) out += t + "\n";
    return out;
  };
  alice->say("#a", "tea?");
  ASSERT_TRUE(until([&] { return mem->posted_count() == 1; })) << server->log();
  SentPtr tea = mem->posted().back();

  Message yes;
  yes.text = RichText("yes");
  yes.user = mem->user("carol");
  yes.reply_to = tea;
  mem->inject("room", yes);
  // "tea?" is right above: no quote.
  ASSERT_TRUE(until([&] { return count(*alice, "#a", "└─> <carol> yes") == 1; })) << all();

  alice->say("#a", "and coffee?");
  ASSERT_TRUE(until([&] { return mem->posted_count() == 2; }));
  Message no = yes;
  no.text = RichText("no, tea");
  SentPtr sent_no = mem->inject("room", no);
  ASSERT_TRUE(until([&] { return count(*alice, "#a", "└─> <carol> no, tea") == 1; })) << all();
  auto seen = texts(*alice, "#a");
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen[seen.size() - 2], "[<alice> tea?]") << all();

  // carol edits her answer; IRC cannot edit, so the new text goes out
  // marked. (Sync passes an edit on without its reply_to: no arrow.)
  Message fixed = no;
  fixed.text = RichText("no thanks");
  fixed.edited = true;
  mem->inject_as("room", sent_no->id, fixed);
  ASSERT_TRUE(until([&] { return count(*alice, "#a", "[edit] <carol> no thanks") >= 1; }))
      << all();
}

TEST_F(IrcBridgeTest, PrivateMessagesArePrivateChannels) {
  build();
  auto alice = client("alice", "");
  alice->say("bridge", "psst");
  ASSERT_TRUE(until([&] { return mem->posted_count() == 1; }));
  EXPECT_EQ(mem->posted().back()->channel.source, "dm");
  EXPECT_TRUE(*test::run(io, irc->channel_is_private(irc->channel("alice"))));
  mem->inject("dm", "psst back", "carol");
  ASSERT_TRUE(until([&] { return count(*alice, "alice", "<carol> psst back") == 1; }));
}

TEST_F(IrcBridgeTest, ActionsTravelBothWays) {
  build();
  auto alice = client("alice");
  alice->say("#a", "\x01" "ACTION waves\x01");
  ASSERT_TRUE(until([&] { return mem->posted_count() == 1; }));
  EXPECT_TRUE(mem->posted().back()->action);
  EXPECT_EQ(mem->posted().back()->text->plain(), "waves");
  Message m;
  m.text = RichText("dances");
  m.action = true;
  m.user = mem->user("carol");
  mem->inject("room", m);
  ASSERT_TRUE(until([&] { return count(*alice, "#a", "* carol dances") == 1; }));
}

TEST_F(IrcBridgeTest, FormattingTravelsBothWays) {
  build();
  auto alice = client("alice");
  alice->say("#a", "plain \x02" "bold\x02 \x1Ditalic\x1D");
  ASSERT_TRUE(until([&] { return mem->posted_count() == 1; }));
  const auto& segs = mem->posted().back()->text->segments();
  ASSERT_EQ(segs.size(), 4u);
  EXPECT_EQ(segs[1].text, "bold");
  EXPECT_TRUE(segs[1].bold);
  EXPECT_EQ(segs[3].text, "italic");
  EXPECT_TRUE(segs[3].italic);

  Message m;
  Segment a;
  a.text = "see ";
  Segment b;
  b.text = "this";
  b.underline = true;
  m.text = RichText({a, b});
  m.user = mem->user("carol");
  mem->inject("room", m);
  ASSERT_TRUE(until([&] { return alice->privmsgs("#a").size() == 1; }));
  auto text = alice->privmsgs("#a").back().param(1);
  EXPECT_EQ(markup::strip_irc(text), "<carol> see this");
  auto rich = markup::from_irc(text);
  EXPECT_TRUE(rich.segments().back().underline) << text;
}

TEST_F(IrcBridgeTest, LongMessagesAreSplitUnderTheLineLimitWithNothingLost) {
  build("send-delay: 0.1\nburst: 10\n");
  auto alice = client("alice");
  std::string words;
  for (int i = 0; i < 300; ++i) words += "wörd" + std::to_string(i) + " ";
  words.pop_back();
  mem->inject("room", words, "carol");
  std::string rebuilt;
  ASSERT_TRUE(until([&] {
    rebuilt.clear();
    for (const auto& l : alice->privmsgs("#a")) {
      if (!rebuilt.empty()) rebuilt += ' ';
      rebuilt += l.param(1).substr(std::string("<carol> ").size());
    }
    return rebuilt.size() >= words.size();
  }, 15s)) << rebuilt;
  EXPECT_EQ(rebuilt, words);
  auto lines = alice->privmsgs("#a");
  EXPECT_GT(lines.size(), 4u);
  for (const auto& l : lines) {
    // As relayed to alice, with the bridge's full prefix: within 512 bytes.
    EXPECT_LE(l.str().size(), 512u) << l.str();
    EXPECT_EQ(l.param(1).rfind("<carol> ", 0), 0u);
  }
}

TEST_F(IrcBridgeTest, LineBreaksInTextCannotInjectCommands) {
  build();
  auto alice = client("alice");
  mem->inject("room", "hi\r\nQUIT :bye\nPRIVMSG #a :forged\rJOIN #evil", "eve");
  ASSERT_TRUE(until([&] { return alice->privmsgs("#a").size() == 4; }));
  std::vector<std::string> texts;
  for (const auto& l : alice->privmsgs("#a")) texts.push_back(l.param(1));
  EXPECT_EQ(texts, (std::vector<std::string>{"<eve> hi", "<eve> QUIT :bye",
                                             "<eve> PRIVMSG #a :forged", "<eve> JOIN #evil"}));
  // A sentinel behind them: a forged command would have reached the server
  // before it.
  mem->inject("room", "sentinel", "eve");
  ASSERT_TRUE(until([&] { return count(*alice, "#a", "<eve> sentinel") == 1; }));
  for (const auto& l : alice->lines()) {
    EXPECT_FALSE(l.nick == "bridge" && (l.command == "QUIT" || l.command == "PART"));
  }
  EXPECT_TRUE(irc->connected());
  EXPECT_FALSE(irc->joined("#evil"));
  EXPECT_EQ(irc->connections(), 1u);
}

TEST_F(IrcBridgeTest, JoinsAndPartsBecomeMessages) {
  build("", "joins: true\n");
  auto alice = client("alice");
  ASSERT_TRUE(until([&] { return mem->posted_count() >= 1; }));
  EXPECT_EQ(mem->posted().back()->plain(), "alice joined");
  alice->send("PART #a :bye");
  ASSERT_TRUE(until([&] { return mem->posted_count() >= 2; }));
  EXPECT_EQ(mem->posted().back()->plain(), "alice left");
}

TEST_F(IrcBridgeTest, TopicIsTheChannelTitle) {
  build("", "joins: false\nrenames: true\n");  // only the topic crosses
  auto alice = client("alice");
  alice->send("TOPIC #a :Tea and biscuits");
  ASSERT_TRUE(until([&] { return mem->posted_count() >= 1; }));
  EXPECT_NE(mem->posted().back()->plain().find("Tea and biscuits"), std::string::npos);
  auto title = test::run(io, irc->channel_title(irc->channel("#a")));
  EXPECT_EQ(title.value_or(""), "Tea and biscuits");
}

TEST_F(IrcBridgeTest, NickCollisionAppendsAnUnderscore) {
  auto squatter = std::make_unique<IrcClient>(server->port(), "bridge");
  build();
  EXPECT_EQ(irc->nick(), "bridge_");
  auto alice = client("alice");
  mem->inject("room", "still here", "carol");
  ASSERT_TRUE(until([&] { return count(*alice, "#a", "<carol> still here") == 1; }));
  EXPECT_EQ(alice->privmsgs("#a").back().nick, "bridge_");
}

// ngircd's default rules take a burst of 10 lines, then about 3 a second;
// what a client sends faster waits in the server, and so does its PONG: a
// client that floods misses the server's PING deadline and is dropped.
TEST_F(IrcBridgeTest, FloodControlKeepsUsConnected) {
  server.reset();
  test::NgircdOptions options;
  options.ping_timeout = 2;
  options.pong_timeout = 2;
  server = std::make_unique<NgircdServer>(options);
  build("send-delay: 0.35\nburst: 8\n");
  auto started = std::chrono::steady_clock::now();
  auto alice = client("alice");
  constexpr int kLines = 40;
  for (int i = 0; i < kLines; ++i) mem->inject("room", "line " + std::to_string(i), "carol");
  // About 14 s when the machine is idle. 0.35 s a line is close to
  // ngircd's own limit: under a loaded CI machine a late timer puts two
  // lines close together and ngircd stops reading us for its penalty
  // (seen: 38 of 40 lines in 25 s, nothing lost, still connected), so the
  // bound is generous; what must hold is every line, in order, on one
  // connection.
  ASSERT_TRUE(until([&] { return alice->privmsgs("#a").size() == kLines; }, 60s))
      << alice->privmsgs("#a").size() << " lines arrived";
  auto lines = alice->privmsgs("#a");
  for (int i = 0; i < kLines; ++i) EXPECT_EQ(lines[i].param(1), "<carol> line " + std::to_string(i));
  EXPECT_EQ(irc->connections(), 1u);
  EXPECT_TRUE(irc->connected());
  // The bucket paced us: 8 at once (the JOIN spent one of them), then one
  // per 350 ms.
  EXPECT_GE(std::chrono::steady_clock::now() - started, (kLines - 8) * 350ms * 9 / 10);
}

// With puppets, each bridged user speaks through a connection of their own
// (puppet-prefix + name, no "<name>" before the text); at most max-puppets
// exist, and the least recently used one quits to make room.
TEST_F(IrcBridgeTest, PuppetsSpeakForEachUserAndTheLeastRecentlyUsedQuits) {
  build("puppet: true\npuppet-prefix: m-\nmax-puppets: 2\n");
  auto alice = client("alice");
  auto said = [&](const std::string& nick, const std::string& text) {
    std::size_t n = 0;
    for (const auto& l : alice->privmsgs("#a")) n += l.nick == nick && l.param(1) == text;
    return n;
  };
  mem->inject("room", "hello from carol", "carol");
  ASSERT_TRUE(until([&] { return said("m-carol", "hello from carol") == 1; })) << server->log();
  mem->inject("room", "hello from dave", "dave");
  ASSERT_TRUE(until([&] { return said("m-dave", "hello from dave") == 1; }));
  EXPECT_TRUE(irc->is_puppet("m-carol"));
  EXPECT_TRUE(irc->is_puppet("m-dave"));
  // Nothing came from the bridge's own nick, and the puppets' lines were
  // not relayed back.
  for (const auto& l : alice->privmsgs("#a")) EXPECT_NE(l.nick, "bridge") << l.str();
  // alice speaks after the puppets did, so the bridge read their lines
  // before hers: once hers is bridged, theirs would have been too.
  alice->say("#a", "sentinel");
  ASSERT_TRUE(until([&] { return mem->posted_count() >= 1; }));
  EXPECT_EQ(posted_texts(), std::vector<std::string>{"sentinel"});

  // A third user: carol's puppet spoke least recently, so it quits.
  mem->inject("room", "hello from erin", "erin");
  ASSERT_TRUE(until([&] { return said("m-erin", "hello from erin") == 1; }));
  ASSERT_TRUE(until([&] {
    for (const auto& l : alice->lines()) {
      if (l.command == "QUIT" && l.nick == "m-carol") return true;
    }
    return false;
  }));
  EXPECT_FALSE(irc->is_puppet("m-carol"));
  EXPECT_TRUE(irc->is_puppet("m-dave"));
  EXPECT_TRUE(irc->is_puppet("m-erin"));
  // The server agrees: two puppets in the channel.
  alice->send("NAMES #a");
  auto names = alice->wait_for([](const irc::Line& l) { return l.command == "353"; });
  ASSERT_TRUE(names);
  std::string list = " " + names->param(3) + " ";
  EXPECT_EQ(list.find(" m-carol "), std::string::npos) << list;
  EXPECT_NE(list.find(" m-dave "), std::string::npos) << list;
  EXPECT_NE(list.find(" m-erin "), std::string::npos) << list;

  // carol speaks again: a new puppet for her, dave's (now the least
  // recently used) quits.
  mem->inject("room", "back again", "carol");
  ASSERT_TRUE(until([&] { return said("m-carol", "back again") == 1; }));
  EXPECT_FALSE(irc->is_puppet("m-dave"));
  EXPECT_TRUE(irc->is_puppet("m-erin"));
}

TEST_F(IrcBridgeTest, ServerRestartLosesNothingMeantForIrc) {
  build();
  {
    auto alice = client("alice");
    mem->inject("room", "before", "carol");
    ASSERT_TRUE(until([&] { return count(*alice, "#a", "<carol> before") == 1; }));
    clients.clear();
  }
  server->stop();
  ASSERT_TRUE(until([&] { return !irc->connected(); }, 5s));
  EXPECT_EQ(irc->state(), State::active);
  for (int i = 0; i < 3; ++i) mem->inject("room", "during " + std::to_string(i), "carol");
  ASSERT_TRUE(until([&] { return host->outbox_stats().pending == 3; }, 5s));
  server->start();
  auto bob = std::make_unique<IrcClient>(server->port(), "bob");
  bob->join("#a");
  clients.push_back(bob.get());
  ASSERT_TRUE(until([&] { return irc->connections() == 2 && irc->joined("#a"); }, 10s));
  ASSERT_TRUE(until([&] { return bob->privmsgs("#a").size() >= 3; }, 10s));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(count(*bob, "#a", "<carol> during " + std::to_string(i)), 1u) << i;
  }
  // And messages from IRC flow again.
  bob->say("#a", "back");
  ASSERT_TRUE(until([&] {
    auto t = posted_texts();
    return std::find(t.begin(), t.end(), "back") != t.end();
  }));
}

// ---- delivery confirmation (issue 8) -------------------------------------------

// Bytes written to 127.0.0.1:port that the server has not read yet, over all
// its connections (/proc/net/tcp: the rx_queue of its accepted sockets).
std::size_t unread_by_server(int port) {
  std::ifstream tcp("/proc/net/tcp");
  std::string line;
  std::getline(tcp, line);  // the header
  std::size_t total = 0;
  while (std::getline(tcp, line)) {
    std::istringstream f(line);
    std::string sl, local, remote, state, queues;
    if (!(f >> sl >> local >> remote >> state >> queues)) continue;
    auto colon = local.find(':');
    if (colon == std::string::npos || state != "01") continue;
    if (std::stoi(local.substr(colon + 1), nullptr, 16) != port) continue;
    total += std::stoul(queues.substr(queues.find(':') + 1), nullptr, 16);
  }
  return total;
}

// The bridge writes a line to a server that then dies before it read it:
// the socket took the line, nothing confirmed it (ngircd has no
// echo-message, so the PING written after it goes unanswered). It is not
// counted as sent, and goes out again once the server is back: nothing is
// lost.
TEST_F(IrcBridgeTest, ALineTheServerDiedBeforeConfirmingIsSentAgainAfterItComesBack) {
  build();
  {
    auto alice = client("alice");
    mem->inject("room", "before", "carol");
    ASSERT_TRUE(until([&] { return count(*alice, "#a", "<carol> before") == 1; }));
    clients.clear();
  }
  auto delivered = host->outbox_stats().delivered;
  server->freeze();
  mem->inject("room", "in flight", "carol");
  // Written: the line (and its PING) wait in the frozen server's socket.
  ASSERT_TRUE(until([&] { return unread_by_server(server->port()) > 0; }, 5s));
  EXPECT_EQ(host->outbox_stats().delivered, delivered) << "written is not delivered";
  server->stop();
  ASSERT_TRUE(until([&] { return !irc->connected(); }, 5s));
  EXPECT_EQ(host->outbox_stats().delivered, delivered) << "a dead link confirmed nothing";
  server->start();
  auto bob = std::make_unique<IrcClient>(server->port(), "bob");
  bob->join("#a");
  clients.push_back(bob.get());
  ASSERT_TRUE(until([&] { return count(*bob, "#a", "<carol> in flight") == 1; }, 10s))
      << server->log();
  ASSERT_TRUE(until([&] { return host->outbox_stats().delivered == delivered + 1; }));
  EXPECT_EQ(host->outbox_stats().pending, 0u);
}

// ---- delivery faults (issue 7) -----------------------------------------------

// Two ngircd servers bridged with the IRC plug's default flood control
// (IMMP's: each line 500 ms after the one before). alice floods #a with 30
// lines: the bridge paces them out to #b over about 15 s. Meanwhile bob says one line
// in #b: it is read by the very plug that is draining the backlog, and must
// reach #a at once, not once the backlog has drained.
//
// alice's server relays her flood at once (no penalty), so that the backlog
// waits in the bridge's outbox, not in her server; bob's server keeps
// ngircd's default rules.
TEST_F(IrcBridgeTest, ARepliesWhileABacklogDrainsToItsNetworkArrivesWithinASecond) {
  server.reset();
  test::NgircdOptions rules;
  rules.no_penalty = true;
  server = std::make_unique<NgircdServer>(rules);
  NgircdServer other;
  host = std::make_unique<Host>(io.get_executor(), options);
  auto yaml = [](int port) {
    return "server: {host: 127.0.0.1, port: " + std::to_string(port) + "}\nuser: {nick: bridge}\n";
  };
  auto& one = test::add_plug<IRCPlug>(*host, "one", yaml(server->port()));
  auto& two = test::add_plug<IRCPlug>(*host, "two", yaml(other.port()));
  host->add_channel("a", one.channel("#a"));
  host->add_channel("b", two.channel("#b"));
  test::add_hook<SyncHook>(*host, "sync", "{channels: {bridge: [a, b]}, joins: false}\n");
  test::run(io, host->open());
  ASSERT_TRUE(until([&] { return one.joined("#a") && two.joined("#b"); }, 5s))
      << server->log() << other.log();
  auto alice = client("alice");
  auto bob = std::make_unique<IrcClient>(other.port(), "bob");
  bob->join("#b");
  clients.push_back(bob.get());

  constexpr std::size_t kLines = 30;
  for (std::size_t i = 0; i < kLines; ++i) alice->say("#a", "flood " + std::to_string(i));
  auto relayed = [&] { return bob->privmsgs("#b").size(); };
  // The bridge paces every line: most of them wait.
  ASSERT_TRUE(until([&] { return relayed() >= 8; }, 20s)) << relayed() << " lines relayed";

  bob->say("#b", "reply");
  auto said = std::chrono::steady_clock::now();
  ASSERT_TRUE(until([&] { return count(*alice, "#a", "<bob> reply") == 1; }, 15s));
  auto latency = std::chrono::steady_clock::now() - said;
  auto relayed_then = relayed();
  auto pending_then = host->outbox_stats().pending;
  EXPECT_LT(latency, 1s) << "the reply took "
                         << std::chrono::duration_cast<std::chrono::milliseconds>(latency).count()
                         << " ms";
  EXPECT_LT(relayed_then, kLines) << "the backlog had drained before the reply arrived";
  EXPECT_GT(pending_then, 0u) << "no backlog in the outbox when the reply arrived";

  // The backlog still arrives whole, in order, once each.
  ASSERT_TRUE(until([&] { return relayed() >= kLines; }, 30s)) << relayed() << " lines relayed";
  std::vector<std::string> expected;
  for (std::size_t i = 0; i < kLines; ++i) expected.push_back("<alice> flood " + std::to_string(i));
  EXPECT_EQ(texts(*bob, "#b"), expected);
  EXPECT_EQ(texts(*alice, "#a"), std::vector<std::string>{"<bob> reply"});
  EXPECT_EQ(one.connections(), 1u);
  EXPECT_EQ(two.connections(), 1u);
  clients.clear();
}

// A message of six lines goes out paced, a line every 500 ms; after the
// fourth line the server kills the bridge's connection (an operator's
// KILL). The outbox is told that 4 lines went out (partial), and after the
// reconnect only the last two are sent: alice sees each line once, in order.
//
// The cut falls between two lines, never on one in flight: the server
// relays at once (no penalty of its own), and the host does not run while
// this thread sends the KILL and waits for the server to carry it out.
// Registration is not paced, and with the default burst (1) every line is.
TEST_F(IrcBridgeTest, AMultiLineMessageCutByADroppedLinkIsNotRepeated) {
  server.reset();
  test::NgircdOptions rules;
  rules.no_penalty = true;
  server = std::make_unique<NgircdServer>(rules);
  build("send-delay: 0.5\n");
  auto op = client("op", "");
  op->send("OPER oper operpass");
  ASSERT_TRUE(op->wait_for([](const irc::Line& l) { return l.command == "381"; }, 5s))
      << "not an operator";
  auto alice = client("alice");
  constexpr std::size_t kParts = 6;
  std::string text;
  for (std::size_t i = 1; i <= kParts; ++i) {
    text += (i > 1 ? "\n" : "") + ("part " + std::to_string(i));
  }
  mem->inject("room", text, "carol");
  auto parts = [&] { return alice->privmsgs("#a").size(); };
  ASSERT_TRUE(until([&] { return parts() >= 4; }, 10s)) << parts() << " lines arrived";
  ASSERT_LT(parts(), kParts) << "the link was not cut midway";
  const std::size_t before_cut = parts();
  op->send("KILL bridge :cut midway");
  ASSERT_TRUE(alice->wait_for([](const irc::Line& l) {
    return l.command == "QUIT" && l.nick == "bridge";
  }, 5s)) << "the server did not kill the bridge";
  EXPECT_EQ(parts(), before_cut);
  ASSERT_TRUE(until([&] { return irc->connections() == 2 && parts() >= kParts; }, 10s))
      << parts() << " lines arrived, " << irc->connections() << " connections\n"
      << server->log();
  // A sentinel behind it in the same outbox: once it arrives, nothing of
  // the message is still on its way.
  mem->inject("room", "after", "carol");
  ASSERT_TRUE(until([&] {
    return count(*alice, "#a", "<carol> after") == 1 && host->outbox_stats().pending == 0;
  }, 10s));
  std::vector<std::string> expected;
  for (std::size_t i = 1; i <= kParts; ++i) expected.push_back("<carol> part " + std::to_string(i));
  expected.push_back("<carol> after");
  EXPECT_EQ(texts(*alice, "#a"), expected);
  auto stats = host->outbox_stats();
  EXPECT_EQ(stats.partial, 1u) << "the cut message did not take the partial path";
  EXPECT_EQ(stats.delivered, 2u);
}

// The same cut in a long text that the plug wraps into lines near the
// 512-byte limit, and the bridge comes back under another nick (two
// squatters took "bridge" and "bridge_" meanwhile): the text alice reads,
// put back together, is the text that was sent: no word twice, none lost.
// Lines are wrapped to fit the bridge's prefix (nick!user@host), which is
// two bytes longer now, so the unsent rest of the text is not "the lines
// after the fourth" of a fresh wrap.
TEST_F(IrcBridgeTest, ALongTextCutByADroppedLinkArrivesWholeUnderANewNick) {
  server.reset();
  test::NgircdOptions rules;
  rules.no_penalty = true;
  server = std::make_unique<NgircdServer>(rules);
  build("send-delay: 0.5\n");
  auto op = client("op", "");
  op->send("OPER oper operpass");
  ASSERT_TRUE(op->wait_for([](const irc::Line& l) { return l.command == "381"; }, 5s));
  auto alice = client("alice");
  // One-letter words: every line holds one word less when the prefix grows
  // by two bytes.
  std::string words;
  for (int i = 0; i < 1400; ++i) {
    words += static_cast<char>('a' + i % 26);
    words += ' ';
  }
  words.pop_back();
  mem->inject("room", words, "carol");
  auto lines = [&] { return alice->privmsgs("#a").size(); };
  ASSERT_TRUE(until([&] { return lines() >= 4; }, 10s)) << lines() << " lines arrived";
  ASSERT_LT(lines(), 6u) << "the link was not cut midway";
  op->send("KILL bridge :cut midway");
  ASSERT_TRUE(alice->wait_for([](const irc::Line& l) {
    return l.command == "QUIT" && l.nick == "bridge";
  }, 5s));
  IrcClient squatter(server->port(), "bridge");
  IrcClient squatter2(server->port(), "bridge_");
  std::string rebuilt;
  auto rebuild = [&] {
    rebuilt.clear();
    for (const auto& l : alice->privmsgs("#a")) {
      auto text = l.param(1);
      if (text.rfind("<carol> ", 0) != 0) continue;
      if (!rebuilt.empty()) rebuilt += ' ';
      rebuilt += text.substr(std::string("<carol> ").size());
    }
  };
  ASSERT_TRUE(until([&] {
    rebuild();
    // An empty outbox means written, not yet read by alice: wait for the
    // text itself (a lost word fails below, once this times out).
    return irc->connections() == 2 && host->outbox_stats().pending == 0 &&
           rebuilt.size() >= words.size();
  }, 15s)) << server->log();
  EXPECT_EQ(irc->nick(), "bridge__");
  EXPECT_GE(host->outbox_stats().partial, 1u);
  rebuild();
  EXPECT_EQ(rebuilt.size(), words.size());
  EXPECT_EQ(rebuilt, words);
}

// Messages queued while the server is down go out as soon as the plug is
// back online (reconnected and joined): within 100 ms of its state event,
// not after an outbox backoff step (30 s here, so that one would show).
//
// What is measured is the host, so nothing else may pace the lines: the
// server has no penalty of its own (ngircd's default holds a new client's
// commands for a second after registration), and the plug's burst covers
// the JOIN and the queued lines (by default, IMMP's pacing, each line waits
// 500 ms after the one before).
TEST_F(IrcBridgeTest, QueuedMessagesGoOutWithin100MsOfThePlugBeingOnlineAgain) {
  server.reset();
  test::NgircdOptions rules;
  rules.no_penalty = true;
  server = std::make_unique<NgircdServer>(rules);
  options.retry_first = 30s;
  options.retry_max = 60s;
  build("burst: 10\n");
  bool watching = false;
  std::optional<std::chrono::steady_clock::time_point> online_at;
  // Unsubscribed when the test ends: the host closes later, at teardown,
  // and its state events must not reach these locals then.
  struct Listening {
    Host& host;
    std::uint64_t id;
    ~Listening() { host.unsubscribe(id); }
  } listening{*host, host->subscribe([&](const StateEvent& e) {
    if (watching && !online_at && e.kind == StateEvent::Kind::plug && e.name == "irc" && e.online) {
      online_at = std::chrono::steady_clock::now();
    }
  })};
  server->stop();
  ASSERT_TRUE(until([&] { return !irc->online(); }, 5s));
  watching = true;
  constexpr std::size_t kQueued = 3;
  for (std::size_t i = 0; i < kQueued; ++i) {
    mem->inject("room", "queued " + std::to_string(i), "carol");
  }
  ASSERT_TRUE(until([&] { return host->outbox_stats().pending == kQueued; }, 5s));
  EXPECT_FALSE(online_at);

  // bob is in #a before the bridge can come back: the host does not run
  // while this thread connects him.
  server->start();
  auto bob = client("bob");
  std::optional<std::chrono::steady_clock::time_point> first_at;
  ASSERT_TRUE(until([&] {
    if (!first_at && !bob->privmsgs("#a").empty()) first_at = std::chrono::steady_clock::now();
    return bob->privmsgs("#a").size() >= kQueued && host->outbox_stats().pending == 0;
  }, 10s)) << server->log();
  ASSERT_TRUE(online_at) << "no state event said the plug was online";
  auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(*first_at - *online_at);
  EXPECT_LT(delay, 100ms) << "the first queued message arrived " << delay.count()
                          << " ms after the plug was online";
  std::vector<std::string> expected;
  for (std::size_t i = 0; i < kQueued; ++i) expected.push_back("<carol> queued " + std::to_string(i));
  EXPECT_EQ(texts(*bob, "#a"), expected);
  EXPECT_EQ(irc->connections(), 2u);
  EXPECT_EQ(host->outbox_stats().delivered, kQueued);
}

TEST_F(IrcBridgeTest, PerformLinesRunAfterConnecting) {
  build("perform: ['JOIN #extra']\n");
  ASSERT_TRUE(until([&] { return irc->joined("#extra"); }, 5s));
}

TEST_F(IrcBridgeTest, InvitesAreAcceptedWhenConfigured) {
  build("accept-invites: true\n");
  auto alice = client("alice", "#secret");
  alice->send("INVITE bridge #secret");
  ASSERT_TRUE(until([&] { return irc->joined("#secret"); }, 5s));
}

TEST_F(IrcBridgeTest, ServerPasswordIsSent) {
  server.reset();
  test::NgircdOptions options;
  options.password = "letmein";
  server = std::make_unique<NgircdServer>(options);
  server_extra = ", password: letmein";
  build();
  EXPECT_TRUE(irc->connected());
}

}  // namespace
}  // namespace immp
