// The IRC plug against a real InspIRCd (TLS with a throwaway CA, IRCv3
// echo-message, SASL PLAIN through Atheme services) and across two servers
// (ngircd <-> InspIRCd).
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <sstream>
#include <string>

#include "hooks/sync/sync_hook.hpp"
#include "immp/host.hpp"
#include "plugs/irc/irc_plug.hpp"
#include "store/database_hook.hpp"
#include "support/async.hpp"
#include "support/hooks.hpp"
#include "support/irc_client.hpp"
#include "support/irc_server.hpp"
#include "support/memory.hpp"
#include "support/process.hpp"

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
using test::AthemeServices;
using test::InspircdServer;
using test::IrcClient;
using test::NgircdServer;

struct InspircdTest : ::testing::Test {
  asio::io_context io;
  std::unique_ptr<InspircdServer> server;
  std::unique_ptr<Host> host;
  std::vector<IrcClient*> clients;

  void SetUp() override {
    if (!InspircdServer::available()) GTEST_SKIP() << "inspircd is not installed";
    server = std::make_unique<InspircdServer>();
    host = std::make_unique<Host>(io.get_executor(), test_options());
  }
  void TearDown() override {
    if (host && host->is_open()) test::run(io, host->close());
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
  // Replaces the server with one linked to Atheme (skips without it).
  bool start_services() {
    if (!AthemeServices::available()) return false;
    server.reset();
    test::InspircdOptions options;
    options.services = true;
    server = std::make_unique<InspircdServer>(options);
    services = std::make_unique<AthemeServices>(*server);
    return true;
  }
  std::string sasl_yaml(const std::string& password) const {
    return "server: {host: 127.0.0.1, port: " + std::to_string(server->port()) +
           "}\nuser: {nick: bridge}\nreconnect-min: 5\n"
           "sasl: {mechanism: PLAIN, username: immp-bridge, password: " +
           password + "}\n";
  }
  std::unique_ptr<AthemeServices> services;  // destroyed before the server
  std::string tls_yaml(const std::string& server_extra) const {
    return "server: {host: localhost, port: " + std::to_string(server->tls_port()) + ", ssl: true" +
           server_extra + "}\nuser: {nick: bridge}\nreconnect-min: 5\n";
  }
};

TEST_F(InspircdTest, TlsWithTheServersCaConnectsAndEchoesAreOurs) {
  auto& mem = test::add_memory_plug(*host, "mem");
  auto& irc =
      test::add_plug<IRCPlug>(*host, "irc", tls_yaml(", ca: " + server->ca_file().string()));
  host->add_channel("irc", irc.channel("#a"));
  host->add_channel("mem", mem.channel("room"));
  test::add_hook<SyncHook>(*host, "sync", "{channels: {bridge: [irc, mem]}, joins: false}");
  test::run(io, host->open());
  ASSERT_TRUE(irc.connected()) << server->log();
  ASSERT_TRUE(until([&] { return irc.joined("#a"); }));
  EXPECT_TRUE(irc.features().echo) << "echo-message negotiated";
  auto alice = std::make_unique<IrcClient>(server->port(), "alice");
  alice->join("#a");
  clients.push_back(alice.get());
  mem.inject("room", "over tls", "carol");
  ASSERT_TRUE(until([&] {
    auto m = alice->privmsgs("#a");
    return !m.empty() && m.back().param(1) == "<carol> over tls";
  }));
  // The server's echo of our line came back with the id put() announced,
  // so the sync hook knew it as its own copy and did not relay it again:
  // alice's reply, sent after she saw our line, is the first thing bridged.
  alice->say("#a", "reply");
  ASSERT_TRUE(until([&] { return mem.posted_count() >= 1; }));
  EXPECT_EQ(mem.posted_count(), 1u);
  EXPECT_EQ(mem.posted().front()->plain(), "reply");
}

TEST_F(InspircdTest, TlsRefusesACertificateItCannotVerify) {
  // Verification on (the default), system CAs only: the test CA is unknown.
  auto& irc = test::add_plug<IRCPlug>(*host, "irc", tls_yaml(""));
  test::run(io, host->open());
  EXPECT_FALSE(irc.connected());
  EXPECT_EQ(irc.state(), State::active) << "keeps retrying in the background";
  EXPECT_EQ(irc.connections(), 0u);
}

TEST_F(InspircdTest, TlsNameMustMatchTheCertificate) {
  // The certificate names localhost; 127.0.0.1 is the same server under a
  // name the certificate does not carry.
  std::string yaml = "server: {host: 127.0.0.1, port: " + std::to_string(server->tls_port()) +
                     ", ssl: true, ca: " + server->ca_file().string() + "}\nuser: {nick: bridge}\n";
  auto& irc = test::add_plug<IRCPlug>(*host, "irc", yaml);
  test::run(io, host->open());
  EXPECT_FALSE(irc.connected());
  EXPECT_EQ(irc.connections(), 0u);
}

// InspIRCd with fakelag off disconnects a client whose command penalty
// reaches `threshold` ("Excess Flood"); here a burst of 100 commands, then
// 50 a second. 500 lines blasted unpaced get a client killed; the plug
// with flood control (a burst of 10, then one per 25 ms: 40 a second)
// bridges the same 500 lines and stays connected.
TEST_F(InspircdTest, FloodControlKeepsUsConnectedWhereFloodersAreKilled) {
  server.reset();
  test::InspircdOptions rules;
  rules.threshold = 100;
  rules.commandrate = 50000;
  rules.fakelag = false;
  server = std::make_unique<InspircdServer>(rules);
  constexpr int kLines = 500;

  // First the proof that this server kills flooders: a raw client sends
  // the 500 lines as fast as it can.
  {
    IrcClient flooder(server->port(), "flooder");
    flooder.join("#a");
    bool send_failed = false;
    try {
      for (int i = 0; i < kLines; ++i) flooder.say("#a", "line " + std::to_string(i));
    } catch (const std::runtime_error&) {
      send_failed = true;  // the server already closed the link
    }
    auto error = flooder.wait_for([](const irc::Line& l) { return l.command == "ERROR"; }, 10s);
    ASSERT_TRUE(error || send_failed || flooder.closed()) << "the flooder was not disconnected";
    if (error) {
      EXPECT_TRUE(error->param(0).find("Excess Flood") != std::string::npos ||
                  error->param(0).find("RecvQ exceeded") != std::string::npos)
          << error->param(0);
    }
  }

  auto& mem = test::add_memory_plug(*host, "mem");
  auto& irc =
      test::add_plug<IRCPlug>(*host, "irc",
                              "server: {host: 127.0.0.1, port: " + std::to_string(server->port()) +
                                  "}\nuser: {nick: bridge}\nsend-delay: 0.025\nburst: 10\n");
  host->add_channel("irc", irc.channel("#a"));
  host->add_channel("mem", mem.channel("room"));
  test::add_hook<SyncHook>(*host, "sync", "{channels: {bridge: [irc, mem]}, joins: false}");
  test::run(io, host->open());
  ASSERT_TRUE(until([&] { return irc.joined("#a"); })) << server->log();
  auto alice = std::make_unique<IrcClient>(server->port(), "alice");
  alice->join("#a");
  clients.push_back(alice.get());
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < kLines; ++i) mem.inject("room", "line " + std::to_string(i), "carol");
  ASSERT_TRUE(
      until([&] { return alice->privmsgs("#a").size() >= kLines || !irc.connected(); }, 25s))
      << alice->privmsgs("#a").size() << " lines arrived";
  auto lines = alice->privmsgs("#a");
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kLines));
  for (int i = 0; i < kLines; ++i) {
    EXPECT_EQ(lines[i].param(1), "<carol> line " + std::to_string(i));
  }
  EXPECT_TRUE(irc.connected());
  EXPECT_EQ(irc.connections(), 1u);
  // Paced: a burst of 10, then one per 25 ms.
  EXPECT_GE(std::chrono::steady_clock::now() - started, (kLines - 10) * 25ms * 9 / 10);
}

// Issue 7: a copy that the sync hook queued for an echoing network, kept in
// the database across a restart of the host, is still the sync hook's copy
// when it is finally delivered: the server's echo of it is not bridged
// back to where it came from, nor anywhere else.
TEST_F(InspircdTest, EchoesOfCopiesQueuedAcrossAHostRestartAreNotRelayedAgain) {
  test::TempDir dir("immp-echo-restart");
  const std::string db = "url: \"sqlite:///" + (dir / "immp.db").string() + "\"";
  MemoryPlug* mem = nullptr;
  IRCPlug* irc = nullptr;
  auto build = [&] {
    host = std::make_unique<Host>(io.get_executor(), test_options());
    test::add_hook<store::DatabaseHook>(*host, "db", db);
    mem = &test::add_memory_plug(*host, "mem");
    irc = &test::add_plug<IRCPlug>(
        *host, "irc",
        "server: {host: 127.0.0.1, port: " + std::to_string(server->port()) +
            "}\nuser: {nick: bridge}\nreconnect-min: 0.2\n"
            "reconnect-max: 1\n");
    host->add_channel("irc", irc->channel("#a"));
    host->add_channel("room", mem->channel("room"));
    host->add_channel("other", mem->channel("other"));
    test::add_hook<SyncHook>(*host, "sync",
                             "{channels: {bridge: [irc, room, other]}, joins: false}");
    test::run(io, host->open());
  };
  auto texts = [](const IrcClient& c) {
    std::vector<std::string> out;
    for (const auto& l : c.privmsgs("#a")) out.push_back(l.param(1));
    return out;
  };

  build();
  ASSERT_TRUE(until([&] { return irc->joined("#a"); })) << server->log();
  ASSERT_TRUE(irc->features().echo) << "echo-message negotiated";
  server->stop();
  ASSERT_TRUE(until([&] { return !irc->online(); }, 5s));
  constexpr int kQueued = 3;
  for (int i = 0; i < kQueued; ++i) mem->inject("room", "queued " + std::to_string(i), "carol");
  // Bridged to `other` at once; waiting for IRC.
  ASSERT_TRUE(until(
      [&] { return mem->posted_count() == kQueued && host->outbox_stats().pending == kQueued; },
      5s));
  test::run(io, host->close());

  // A new host on the same database: the copies come back from it.
  build();
  EXPECT_EQ(host->outbox_stats().restored, static_cast<std::uint64_t>(kQueued));
  EXPECT_EQ(host->outbox_stats().pending, static_cast<std::size_t>(kQueued));
  // alice is in #a before the bridge can reconnect: the host does not run
  // while this thread connects her.
  server->start();
  auto alice = std::make_unique<IrcClient>(server->port(), "alice");
  alice->join("#a");
  clients = {alice.get()};
  ASSERT_TRUE(until([&] { return alice->privmsgs("#a").size() >= kQueued; }))
      << alice->privmsgs("#a").size() << " lines arrived\n"
      << server->log();
  EXPECT_TRUE(irc->features().echo);
  // alice speaks after she saw the copies, so the server echoed them to
  // the bridge before it relays her line: once her line is in both rooms,
  // any echo that was going to be bridged has been.
  alice->say("#a", "sentinel");
  auto sentinels = [&] {
    std::size_t n = 0;
    for (const auto& m : mem->posted()) n += m->plain() == "sentinel";
    return n;
  };
  ASSERT_TRUE(until([&] { return sentinels() == 2; }));
  std::vector<std::string> posted;
  for (const auto& m : mem->posted()) posted.push_back(m->channel.source + ": " + m->plain());
  std::sort(posted.begin(), posted.end());
  EXPECT_EQ(posted, (std::vector<std::string>{"other: sentinel", "room: sentinel"}))
      << "an echo of a restored copy was bridged again";
  std::vector<std::string> expected;
  for (int i = 0; i < kQueued; ++i) expected.push_back("<carol> queued " + std::to_string(i));
  EXPECT_EQ(texts(*alice), expected) << "each copy reaches IRC once";
  EXPECT_EQ(host->outbox_stats().pending, 0u);
  clients.clear();
}

// Issue 7, the send lock's replacement on a network that echoes: alice
// floods #l on ngircd, and the bridge paces the lines out to #r on InspIRCd
// (default flood control), whose echo of each comes back while the backlog
// drains. bob's reply in #r still reaches #l within a second, and every echo
// is known as the bridge's own: none comes back to #l, none twice to #r.
TEST_F(InspircdTest, EchoesOfAPacedBacklogAreAllOursAndAReplyIsNotHeldBack) {
  if (!NgircdServer::available()) GTEST_SKIP() << "ngircd is not installed";
  test::NgircdOptions quick;
  quick.no_penalty = true;  // alice's flood reaches the bridge at once
  NgircdServer ngircd(quick);
  server.reset();
  test::InspircdOptions rules;  // fakelag, but faster than the bridge's 2 lines a second
  rules.threshold = 20;
  rules.commandrate = 4000;
  server = std::make_unique<InspircdServer>(rules);
  auto& left =
      test::add_plug<IRCPlug>(*host, "left",
                              "server: {host: 127.0.0.1, port: " + std::to_string(ngircd.port()) +
                                  "}\nuser: {nick: bridge}\n");
  auto& right =
      test::add_plug<IRCPlug>(*host, "right",
                              "server: {host: 127.0.0.1, port: " + std::to_string(server->port()) +
                                  "}\nuser: {nick: bridge}\n");
  host->add_channel("left", left.channel("#l"));
  host->add_channel("right", right.channel("#r"));
  test::add_hook<SyncHook>(*host, "sync", "{channels: {bridge: [left, right]}, joins: false}");
  test::run(io, host->open());
  ASSERT_TRUE(until([&] { return left.joined("#l") && right.joined("#r"); }));
  ASSERT_TRUE(right.features().echo) << "echo-message negotiated";
  auto alice = std::make_unique<IrcClient>(ngircd.port(), "alice");
  alice->join("#l");
  auto bob = std::make_unique<IrcClient>(server->port(), "bob");
  bob->join("#r");
  clients = {alice.get(), bob.get()};
  auto texts = [](const IrcClient& c, const std::string& target) {
    std::vector<std::string> out;
    for (const auto& l : c.privmsgs(target)) out.push_back(l.param(1));
    return out;
  };

  constexpr std::size_t kLines = 20;
  for (std::size_t i = 0; i < kLines; ++i) alice->say("#l", "flood " + std::to_string(i));
  auto relayed = [&] { return bob->privmsgs("#r").size(); };
  ASSERT_TRUE(until([&] { return relayed() >= 8; }, 20s)) << relayed() << " lines relayed";
  bob->say("#r", "reply");
  auto said = std::chrono::steady_clock::now();
  auto replied = [&] {
    auto t = texts(*alice, "#l");
    return std::count(t.begin(), t.end(), "<bob> reply") > 0;
  };
  ASSERT_TRUE(until(replied, 15s));
  auto latency = std::chrono::steady_clock::now() - said;
  EXPECT_LT(latency, 1s) << "the reply took "
                         << std::chrono::duration_cast<std::chrono::milliseconds>(latency).count()
                         << " ms";
  EXPECT_LT(relayed(), kLines) << "the backlog had drained before the reply arrived";

  ASSERT_TRUE(until([&] { return relayed() >= kLines; }, 30s)) << relayed() << " lines relayed";
  // bob speaks after the last line reached him, so the server echoed all of
  // them to the bridge before it relays his: once his line is in #l, every
  // echo that was going to be bridged has been.
  bob->say("#r", "sentinel");
  ASSERT_TRUE(until([&] { return alice->privmsgs("#l").size() >= 2; }));
  EXPECT_EQ(texts(*alice, "#l"), (std::vector<std::string>{"<bob> reply", "<bob> sentinel"}));
  std::vector<std::string> expected;
  for (std::size_t i = 0; i < kLines; ++i) expected.push_back("<alice> flood " + std::to_string(i));
  EXPECT_EQ(texts(*bob, "#r"), expected);
  EXPECT_EQ(right.connections(), 1u);
  test::run(io, host->close());  // before ngircd goes
  clients.clear();
}

// What a logger writes while this lives (the plug's own warnings).
struct CapturedLog {
  explicit CapturedLog(LoggerPtr log)
      : log_(std::move(log)), sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)) {
    log_->sinks().push_back(sink_);
  }
  ~CapturedLog() { std::erase(log_->sinks(), sink_); }
  std::string text() const { return out_.str(); }

 private:
  LoggerPtr log_;
  std::ostringstream out_;
  spdlog::sink_ptr sink_;
};

TEST_F(InspircdTest, SaslPlainLogsIntoTheServicesAccount) {
  if (!start_services()) GTEST_SKIP() << "atheme-services is not installed";
  services->register_account("immp-bridge", "s3cret");
  auto& irc = test::add_plug<IRCPlug>(*host, "irc", sasl_yaml("s3cret"));
  test::run(io, host->open());
  ASSERT_TRUE(irc.connected()) << server->log() << services->log();
  // Everyone else on the network sees the account: WHOIS 330.
  IrcClient alice(server->port(), "alice");
  alice.send("WHOIS bridge");
  auto account = alice.wait_for([](const irc::Line& l) {
    return l.command == "330" || l.command == "318" || l.command == "401";
  });
  ASSERT_TRUE(account);
  EXPECT_EQ(account->command, "330") << "bridge is not logged in";
  EXPECT_EQ(account->param(1), "bridge");
  EXPECT_EQ(account->param(2), "immp-bridge");
  EXPECT_EQ(irc.connections(), 1u);
}

TEST_F(InspircdTest, SaslPlainWithAWrongPasswordFailsClearly) {
  if (!start_services()) GTEST_SKIP() << "atheme-services is not installed";
  services->register_account("immp-bridge", "s3cret");
  auto& irc = test::add_plug<IRCPlug>(*host, "irc", sasl_yaml("wrong"));
  CapturedLog captured(irc.log());
  test::run(io, host->open());
  // 904: the plug gives up this attempt instead of registering unauthenticated.
  EXPECT_FALSE(irc.connected());
  EXPECT_EQ(irc.connections(), 0u);
  EXPECT_EQ(irc.state(), State::active) << "keeps retrying in the background";
  EXPECT_TRUE(until(
      [&] { return captured.text().find("SASL authentication failed on") != std::string::npos; },
      5s))
      << captured.text();
  IrcClient alice(server->port(), "alice");
  alice.send("WHOIS bridge");
  auto reply = alice.wait_for([](const irc::Line& l) {
    return l.command == "330" || l.command == "318" || l.command == "401";
  });
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->command, "401") << "bridge is on the network without its account";
}

TEST_F(InspircdTest, BridgesAChannelOnNgircdWithOneOnInspircd) {
  if (!NgircdServer::available()) GTEST_SKIP() << "ngircd is not installed";
  NgircdServer ngircd;
  auto& left =
      test::add_plug<IRCPlug>(*host, "left",
                              "server: {host: 127.0.0.1, port: " + std::to_string(ngircd.port()) +
                                  "}\nuser: {nick: bridge}\n");
  auto& right =
      test::add_plug<IRCPlug>(*host, "right",
                              "server: {host: 127.0.0.1, port: " + std::to_string(server->port()) +
                                  "}\nuser: {nick: bridge}\n");
  host->add_channel("left", left.channel("#l"));
  host->add_channel("right", right.channel("#r"));
  test::add_hook<SyncHook>(*host, "sync", "{channels: {bridge: [left, right]}, joins: false}");
  test::run(io, host->open());
  ASSERT_TRUE(until([&] { return left.joined("#l") && right.joined("#r"); }));
  auto alice = std::make_unique<IrcClient>(ngircd.port(), "alice");
  alice->join("#l");
  auto bob = std::make_unique<IrcClient>(server->port(), "bob");
  bob->join("#r");
  clients = {alice.get(), bob.get()};
  alice->say("#l", "hello inspircd");
  ASSERT_TRUE(until([&] {
    auto m = bob->privmsgs("#r");
    return !m.empty() && m.back().param(1) == "<alice> hello inspircd";
  }));
  bob->say("#r", "hello ngircd");
  ASSERT_TRUE(until([&] {
    auto m = alice->privmsgs("#l");
    return !m.empty() && m.back().param(1) == "<bob> hello ngircd";
  }));
  // Nothing bounced back: each side saw exactly the other's line. bob
  // speaks again after both lines went through, so an echo that was going
  // to bounce would reach #l before his sentinel.
  bob->say("#r", "sentinel");
  ASSERT_TRUE(until([&] { return alice->privmsgs("#l").size() >= 2; }));
  std::vector<std::string> seen;
  for (const auto& l : alice->privmsgs("#l")) seen.push_back(l.param(1));
  EXPECT_EQ(seen, (std::vector<std::string>{"<bob> hello ngircd", "<bob> sentinel"}));
  EXPECT_EQ(bob->privmsgs("#r").size(), 1u);
}

}  // namespace
}  // namespace immp
