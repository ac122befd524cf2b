// The XMPP plug against a real Prosody (started once for this program,
// tests/support/xmpp_server.hpp), with real XMPP users (slixmpp in a child
// process) and, for the bridge, a real ngircd with raw IRC clients: a host
// with XMPPPlug + IRCPlug bridged by the sync hook.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "hooks/sync/sync_hook.hpp"
#include "immp/host.hpp"
#include "plugs/irc/irc_plug.hpp"
#include "plugs/xmpp/xmpp_plug.hpp"
#include "plugs/xmpp/xmpp_stream.hpp"
#include "support/async.hpp"
#include "support/hooks.hpp"
#include "support/irc_client.hpp"
#include "support/irc_server.hpp"
#include "support/xmpp_server.hpp"

namespace immp {
namespace {

using namespace std::chrono_literals;
using hooks::SyncHook;
using plugs::IRCPlug;
using plugs::XMPPPlug;
using test::IrcClient;
using test::NgircdServer;
using test::ProsodyServer;
using test::XmppUser;

std::string muc(const std::string& room) { return room + "@" + ProsodyServer::kMuc; }

// ---- the stream: TLS and login ---------------------------------------------

struct XmppStreamTest : ::testing::Test {
  asio::io_context io;
  ProsodyServer* server = nullptr;

  void SetUp() override {
    if (!ProsodyServer::available()) GTEST_SKIP() << "prosody is not installed";
    server = &test::shared_prosody();
  }

  xmpp::StreamOptions options(const std::string& user, const std::string& password) {
    xmpp::StreamOptions o;
    o.host = "127.0.0.1";
    o.port = server->port();
    o.domain = ProsodyServer::kDomain;
    o.username = user;
    o.password = password;
    o.resource = "test";
    o.tls_options.ca_file = server->ca_file().string();
    o.connect_timeout = 10s;
    return o;
  }

  // Opens a stream; the error's text, or "" when it logged in.
  std::string login(xmpp::StreamOptions o, std::string* jid = nullptr) {
    auto log = immp::logger("test.xmpp");
    xmpp::Stream s(io.get_executor(), std::move(o), log);
    std::string error;
    test::run(io, [&]() -> Task<> {
      try {
        co_await s.open();
        if (jid) *jid = s.jid();
      } catch (const xmpp::StreamError& e) {
        error = e.what();
        if (e.auth()) error = "auth: " + error;
      }
      co_await s.stop();
    }());
    return error;
  }
};

TEST_F(XmppStreamTest, LogsInWithScramOverStartTls) {
  std::string user = server->fresh_user();
  server->add_user(user, "pencil");
  std::string jid;
  EXPECT_EQ(login(options(user, "pencil"), &jid), "");
  EXPECT_EQ(jid, user + "@localhost/test");
}

TEST_F(XmppStreamTest, LogsInOverDirectTls) {
  std::string user = server->fresh_user();
  server->add_user(user, "pencil");
  auto o = options(user, "pencil");
  o.tls = xmpp::TlsMode::direct;
  o.port = server->tls_port();
  EXPECT_EQ(login(o), "");
}

TEST_F(XmppStreamTest, ScramSha1WhenTheServerHasNoSha256) {
  // Prosody 0.12 offers SCRAM-SHA-1 (and PLAIN): asking for SCRAM only
  // proves the SCRAM exchange, server signature included, against it.
  std::string user = server->fresh_user();
  server->add_user(user, "pencil");
  auto o = options(user, "pencil");
  o.mechanisms = {xmpp::Mechanism::scram_sha_256, xmpp::Mechanism::scram_sha_1};
  EXPECT_EQ(login(o), "");
}

TEST_F(XmppStreamTest, AWrongPasswordIsRefusedAsALoginFailure) {
  std::string user = server->fresh_user();
  server->add_user(user, "pencil");
  std::string error = login(options(user, "wrong"));
  EXPECT_TRUE(error.starts_with("auth: ")) << error;
  EXPECT_NE(error.find("not-authorized"), std::string::npos) << error;
  EXPECT_NE(error.find(user), std::string::npos) << error;
}

TEST_F(XmppStreamTest, AnUnknownCaIsRefused) {
  auto o = options("nobody", "x");
  o.tls_options.ca_file = server->other_ca_file().string();
  std::string error = login(o);
  EXPECT_NE(error.find("cannot be verified"), std::string::npos) << error;
}

TEST_F(XmppStreamTest, ACertificateForAnotherNameIsRefused) {
  auto o = options("nobody", "x");
  o.domain = ProsodyServer::kMismatch;  // served with the certificate of "localhost"
  std::string error = login(o);
  EXPECT_NE(error.find(ProsodyServer::kMismatch), std::string::npos) << error;
  EXPECT_NE(error.find("refused"), std::string::npos) << error;
}

TEST_F(XmppStreamTest, APinnedFingerprintIsTrustedWithoutCa) {
  std::string user = server->fresh_user();
  server->add_user(user, "pencil");
  auto r = test::run_process({"openssl", "x509", "-in", (server->dir() / "cert.pem").string(),
                              "-noout", "-fingerprint", "-sha256"},
                             10s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto o = options(user, "pencil");
  o.tls_options.ca_file = server->other_ca_file().string();
  o.tls_options.fingerprint = r.out.substr(r.out.find('=') + 1, 95);
  EXPECT_EQ(login(o), "");
}

// ---- the plug, bridged to IRC ------------------------------------------------

struct XmppBridgeTest : ::testing::Test {
  asio::io_context io;
  ProsodyServer* server = nullptr;
  std::unique_ptr<NgircdServer> ircd;
  std::unique_ptr<Host> host;
  XMPPPlug* xmpp = nullptr;
  IRCPlug* irc = nullptr;
  std::string room;
  std::string bridge_user;
  std::vector<IrcClient*> irc_clients;
  std::vector<XmppUser*> users;

  void SetUp() override {
    if (!ProsodyServer::available()) GTEST_SKIP() << "prosody is not installed";
    if (!NgircdServer::available()) GTEST_SKIP() << "ngircd is not installed";
    server = &test::shared_prosody();
    ircd = std::make_unique<NgircdServer>();
    room = muc(server->fresh_user("room"));
    bridge_user = server->fresh_user("bridge");
    server->add_user(bridge_user, "bridge-pw");
  }

  void TearDown() override {
    if (host && host->is_open()) test::run(io, host->close());
  }

  void build(const std::string& extra = "") {
    host = std::make_unique<Host>(io.get_executor(), HostOptions{.phase_timeout = 5s});
    xmpp = &test::add_plug<XMPPPlug>(
        *host, "xmpp",
        "jid: " + bridge_user + "@localhost\npassword: bridge-pw\nnick: bridge\n"
        "server: {host: 127.0.0.1, port: " + std::to_string(server->port()) +
            ", ca: " + server->ca_file().string() + "}\n"
        "reconnect-min: 0.2\nreconnect-max: 0.5\n" + extra);
    irc = &test::add_plug<IRCPlug>(
        *host, "irc",
        "server: {host: 127.0.0.1, port: " + std::to_string(ircd->port()) +
            "}\nuser: {nick: relay}\nreconnect-min: 0.2\nreconnect-max: 1\n");
    host->add_channel("room", xmpp->channel(room));
    host->add_channel("chan", irc->channel("#a"));
    test::add_hook<SyncHook>(*host, "sync", "channels: {bridge: [room, chan]}\njoins: false\n");
    test::run(io, host->open());
    ASSERT_TRUE(until([&] { return xmpp->joined(room) && irc->joined("#a"); }, 10s))
        << server->log();
  }

  bool until(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    return test::run_until(
        io,
        [&] {
          for (auto* c : irc_clients) c->pump();
          for (auto* u : users) u->pump();
          return done();
        },
        limit);
  }

  std::unique_ptr<IrcClient> irc_client(const std::string& nick) {
    auto c = std::make_unique<IrcClient>(ircd->port(), nick);
    c->join("#a");
    irc_clients.push_back(c.get());
    return c;
  }

  std::unique_ptr<XmppUser> user(const std::string& nick, const std::string& history = "0") {
    std::string name = server->fresh_user("person");
    server->add_user(name, "pw");
    auto u = std::make_unique<XmppUser>(*server, name, "pw", room, nick, history);
    EXPECT_TRUE(u->wait_ready(20s)) << u->output();
    users.push_back(u.get());
    return u;
  }

  // Whether `c` got a PRIVMSG to #a containing `text`.
  static bool irc_saw(IrcClient& c, const std::string& text) {
    for (const auto& l : c.privmsgs("#a")) {
      if (l.param(1).find(text) != std::string::npos) return true;
    }
    return false;
  }

  static bool xmpp_saw(XmppUser& u, const std::string& text) {
    for (const auto& b : u.bodies()) {
      if (b.find(text) != std::string::npos) return true;
    }
    return false;
  }
};

TEST_F(XmppBridgeTest, MessagesTravelBothWaysBetweenARoomAndAnIrcChannel) {
  build();
  auto bob = irc_client("bob");
  auto alice = user("alice");
  alice->say("hello from *xmpp*", "a1");
  ASSERT_TRUE(until([&] { return irc_saw(*bob, "hello from"); })) << alice->output();
  bool named = false, bold = false;
  std::string seen;
  for (const auto& l : bob->privmsgs("#a")) {
    seen += l.param(1) + "\n";
    named |= l.param(1).find("alice") != std::string::npos;
    bold |= l.param(1).find("\x02xmpp") != std::string::npos;
  }
  EXPECT_TRUE(named) << "the IRC side sees who spoke";
  EXPECT_TRUE(bold) << "XEP-0393 *bold* arrives as IRC bold: " << seen;

  bob->say("#a", "hello from irc");
  ASSERT_TRUE(until([&] { return xmpp_saw(*alice, "hello from irc"); })) << alice->output();
  for (const auto& m : alice->messages()) {
    if (m.child_text("body").find("hello from irc") == std::string_view::npos) continue;
    EXPECT_NE(m.child_text("body").find("bob"), std::string_view::npos);
    // Our message carries our own origin-id, and the room gave it a stanza-id.
    EXPECT_NE(m.child("origin-id", "urn:xmpp:sid:0"), nullptr);
    EXPECT_NE(m.child("stanza-id", "urn:xmpp:sid:0"), nullptr);
  }
  // Exactly once each way.
  std::size_t n = 0;
  for (const auto& b : alice->bodies()) n += b.find("hello from irc") != std::string::npos;
  EXPECT_EQ(n, 1u);
}

TEST_F(XmppBridgeTest, CorrectionsAndRetractionsFromXmppReachIrc) {
  build();
  auto bob = irc_client("bob");
  auto alice = user("alice");
  alice->say("teh first", "c1");
  ASSERT_TRUE(until([&] { return irc_saw(*bob, "teh first"); }));
  // XEP-0308: a new id of its own, naming the id of the first version.
  alice->send("<message to='" + room + "' type='groupchat' id='c2'><body>the first</body>"
              "<replace xmlns='urn:xmpp:message-correct:0' id='c1'/>"
              "<origin-id xmlns='urn:xmpp:sid:0' id='c2'/></message>");
  ASSERT_TRUE(until([&] { return irc_saw(*bob, "the first"); }));
}

TEST_F(XmppBridgeTest, RepeatedIdsOfAnotherSenderCorrectNothing) {
  build();
  auto bob = irc_client("bob");
  auto alice = user("alice");
  auto mallory = user("mallory");
  alice->say("alice's words", "same");
  ASSERT_TRUE(until([&] { return irc_saw(*bob, "alice's words"); }));
  // mallory names alice's id: that is a correction of nothing of hers.
  mallory->send("<message to='" + room + "' type='groupchat' id='m2'><body>forged</body>"
                "<replace xmlns='urn:xmpp:message-correct:0' id='same'/>"
                "<origin-id xmlns='urn:xmpp:sid:0' id='m2'/></message>");
  ASSERT_TRUE(until([&] { return irc_saw(*bob, "forged"); }));
  for (const auto& l : bob->privmsgs("#a")) {
    if (l.param(1).find("forged") != std::string::npos) {
      EXPECT_NE(l.param(1).find("mallory"), std::string::npos) << l.param(1);
    }
  }
}

TEST_F(XmppBridgeTest, IrcMessagesReachTheRoomAfterAServerRestart) {
  build();
  auto bob = irc_client("bob");
  {
    auto alice = user("alice");
    alice->say("before", "r1");
    ASSERT_TRUE(until([&] { return irc_saw(*bob, "before"); }));
    users.clear();
  }
  auto connections = xmpp->connections();
  server->stop();
  ASSERT_TRUE(until([&] { return !xmpp->connected(); }));
  // Said while the XMPP server is down: kept in the outbox.
  auto queued = host->outbox_stats().queued;
  bob->say("#a", "said while down");
  ASSERT_TRUE(until([&] { return host->outbox_stats().queued > queued; }));
  EXPECT_GE(host->outbox_stats().pending, 1u);
  server->start();
  ASSERT_TRUE(until([&] { return xmpp->connections() > connections && xmpp->joined(room); }, 20s))
      << server->log();
  // A newcomer asks for the room's history: what the bridge delivered after
  // rejoining is there (or arrives live).
  auto carol = user("carol", "20");
  ASSERT_TRUE(until([&] { return xmpp_saw(*carol, "said while down"); }, 15s)) << carol->output();
  carol->say("after", "r2");
  ASSERT_TRUE(until([&] { return irc_saw(*bob, "after"); }));
}

}  // namespace
}  // namespace immp
