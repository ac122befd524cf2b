// The XMPP plug against a real Prosody and a real ejabberd (each started
// once for this program, tests/support/xmpp_server.hpp and
// ejabberd_server.hpp): every test of the stream and of the bridge runs on
// both (the "Servers/..." instances name the server). Real XMPP users
// (slixmpp in a child process) and, for the bridge, a real ngircd (also one
// for the program, a fresh channel per test) with raw IRC clients: a host
// with XMPPPlug + IRCPlug bridged by the sync hook.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "hooks/sync/sync_hook.hpp"
#include "immp/host.hpp"
#include "net/http.hpp"
#include "plugs/memory/memory_plug.hpp"
#include "plugs/irc/irc_plug.hpp"
#include "plugs/xmpp/xmpp_jid.hpp"
#include "plugs/xmpp/xmpp_plug.hpp"
#include "plugs/xmpp/xmpp_stream.hpp"
#include "support/async.hpp"
#include "support/ejabberd_server.hpp"
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

std::string muc(const std::string& room) { return room + "@" + test::XmppServer::kMuc; }

// The server a parameterised test runs on; null (the test skips) when it is
// not installed.
test::XmppServer* server_named(const std::string& name) {
  if (name == "prosody") return ProsodyServer::available() ? &test::shared_prosody() : nullptr;
  return test::EjabberdServer::available() ? &test::shared_ejabberd() : nullptr;
}

// One ngircd for the program: each bridge test has a channel of its own.
NgircdServer& shared_ngircd() {
  static NgircdServer server;
  return server;
}

// A loopback TCP proxy in front of a server, on the test's io_context:
// cut() breaks every link it carries at once, bytes in flight included, as
// a failing network would; both ends see the drop. New links are carried
// as before.
class LinkCutter {
 public:
  LinkCutter(asio::io_context& io, int upstream)
      : io_(io), upstream_(upstream), acceptor_(io, {asio::ip::make_address("127.0.0.1"), 0}) {
    asio::co_spawn(io, accept(), asio::detached);
  }
  ~LinkCutter() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    cut();
  }
  int port() const { return acceptor_.local_endpoint().port(); }
  void cut() {
    for (auto& l : links_) close(*l);
    links_.clear();
  }

 private:
  struct Link {
    explicit Link(asio::io_context& io) : client(io), server(io) {}
    asio::ip::tcp::socket client, server;
  };
  static constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

  static void close(Link& l) {
    boost::system::error_code ec;
    // Shut down, not only closed: the slixmpp children inherited these
    // descriptors, and would keep the links open.
    l.client.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    l.server.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    l.client.close(ec);
    l.server.close(ec);
  }

  Task<> accept() {
    for (;;) {
      auto link = std::make_shared<Link>(io_);
      auto [ec] = co_await acceptor_.async_accept(link->client, kTuple);
      if (ec) co_return;
      asio::ip::tcp::endpoint to(asio::ip::make_address("127.0.0.1"),
                                 static_cast<unsigned short>(upstream_));
      auto [cec] = co_await link->server.async_connect(to, kTuple);
      if (cec) continue;
      links_.push_back(link);
      asio::co_spawn(io_, pump(link, true), asio::detached);
      asio::co_spawn(io_, pump(link, false), asio::detached);
    }
  }

  static Task<> pump(std::shared_ptr<Link> l, bool up) {
    auto& from = up ? l->client : l->server;
    auto& to = up ? l->server : l->client;
    std::array<char, 16384> buffer;
    for (;;) {
      auto [ec, n] = co_await from.async_read_some(asio::buffer(buffer), kTuple);
      if (ec) break;
      auto [wec, w] = co_await asio::async_write(to, asio::buffer(buffer.data(), n), kTuple);
      if (wec) break;
    }
    close(*l);
  }

  asio::io_context& io_;
  int upstream_;
  asio::ip::tcp::acceptor acceptor_;
  std::vector<std::shared_ptr<Link>> links_;
};

// ---- the stream: TLS and login ---------------------------------------------

struct XmppStreamTest : ::testing::TestWithParam<std::string> {
  asio::io_context io;
  test::XmppServer* server = nullptr;

  void SetUp() override {
    server = server_named(GetParam());
    if (!server) GTEST_SKIP() << GetParam() << " is not installed";
  }

  xmpp::StreamOptions options(const std::string& user, const std::string& password) {
    xmpp::StreamOptions o;
    o.host = "127.0.0.1";
    o.port = server->port();
    o.domain = test::XmppServer::kDomain;
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

TEST_P(XmppStreamTest, LogsInWithScramOverStartTls) {
  std::string user = server->fresh_user();
  server->add_user(user, "pencil");
  std::string jid;
  EXPECT_EQ(login(options(user, "pencil"), &jid), "");
  EXPECT_EQ(jid, user + "@localhost/test");
}

TEST_P(XmppStreamTest, LogsInOverDirectTls) {
  std::string user = server->fresh_user();
  server->add_user(user, "pencil");
  auto o = options(user, "pencil");
  o.tls = xmpp::TlsMode::direct;
  o.port = server->tls_port();
  EXPECT_EQ(login(o), "");
}

TEST_P(XmppStreamTest, ScramSha1WhenTheServerHasNoSha256) {
  // Prosody 0.12 offers SCRAM-SHA-1 (and PLAIN): asking for SCRAM only
  // proves the SCRAM exchange, server signature included, against it.
  std::string user = server->fresh_user();
  server->add_user(user, "pencil");
  auto o = options(user, "pencil");
  o.mechanisms = {xmpp::Mechanism::scram_sha_256, xmpp::Mechanism::scram_sha_1};
  EXPECT_EQ(login(o), "");
}

TEST_P(XmppStreamTest, AWrongPasswordIsRefusedAsALoginFailure) {
  std::string user = server->fresh_user();
  server->add_user(user, "pencil");
  std::string error = login(options(user, "wrong"));
  EXPECT_TRUE(error.starts_with("auth: ")) << error;
  EXPECT_NE(error.find("not-authorized"), std::string::npos) << error;
  EXPECT_NE(error.find(user), std::string::npos) << error;
}

TEST_P(XmppStreamTest, AnUnknownCaIsRefused) {
  auto o = options("nobody", "x");
  o.tls_options.ca_file = server->other_ca_file().string();
  std::string error = login(o);
  EXPECT_NE(error.find("cannot be verified"), std::string::npos) << error;
}

TEST_P(XmppStreamTest, ACertificateForAnotherNameIsRefused) {
  if (server->name() != "prosody") {
    GTEST_SKIP() << "only the Prosody of these tests serves a host its certificate does not name";
  }
  auto o = options("nobody", "x");
  o.domain = test::XmppServer::kMismatch;  // served with the certificate of "localhost"
  std::string error = login(o);
  EXPECT_NE(error.find(test::XmppServer::kMismatch), std::string::npos) << error;
  EXPECT_NE(error.find("refused"), std::string::npos) << error;
}

TEST_P(XmppStreamTest, APinnedFingerprintIsTrustedWithoutCa) {
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

struct XmppBridgeTest : ::testing::TestWithParam<std::string> {
  asio::io_context io;
  test::XmppServer* server = nullptr;
  NgircdServer* ircd = nullptr;
  std::string chan;      // the IRC channel, fresh for each test
  std::unique_ptr<Host> host;
  XMPPPlug* xmpp = nullptr;
  IRCPlug* irc = nullptr;
  std::string room;
  std::string room2;     // a second room in the bridge, if set before build()
  int xmpp_port = 0;     // where the plug connects, if not the server's port
  std::string xmpp_yaml;  // the XMPP plug's whole config, if not the usual account
  std::string bridge_user;
  std::vector<IrcClient*> irc_clients;
  std::vector<XmppUser*> users;

  void SetUp() override {
    server = server_named(GetParam());
    if (!server) GTEST_SKIP() << GetParam() << " is not installed";
    if (!NgircdServer::available()) GTEST_SKIP() << "ngircd is not installed";
    ircd = &shared_ngircd();
    static int channels = 0;
    chan = "#" + GetParam() + std::to_string(++channels);
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
        xmpp_yaml.empty()
            ? "jid: " + bridge_user + "@localhost\npassword: bridge-pw\nnick: bridge\n"
              "server: {host: 127.0.0.1, port: " +
                  std::to_string(xmpp_port ? xmpp_port : server->port()) +
                  ", ca: " + server->ca_file().string() + "}\n"
              "reconnect-min: 0.2\nreconnect-max: 0.5\n" + extra
            : xmpp_yaml);
    irc = &test::add_plug<IRCPlug>(
        *host, "irc",
        "server: {host: 127.0.0.1, port: " + std::to_string(ircd->port()) +
            "}\nuser: {nick: relay}\nreconnect-min: 0.2\nreconnect-max: 1\n");
    host->add_channel("room", xmpp->channel(room));
    host->add_channel("chan", irc->channel(chan));
    if (!room2.empty()) host->add_channel("room2", xmpp->channel(room2));
    test::add_hook<SyncHook>(*host, "sync",
                             std::string("channels: {bridge: [room, chan") +
                                 (room2.empty() ? "" : ", room2") + "]}\njoins: false\n");
    test::run(io, host->open());
    ASSERT_TRUE(until([&] {
      return xmpp->joined(room) && irc->joined(chan) && (room2.empty() || xmpp->joined(room2));
    }, 10s)) << server->log();
  }

  // A host whose XMPP plug is a component (one occupant per bridged user),
  // bridging `room` to a memory plug's "lobby", open.
  plugs::MemoryPlug& build_component_with_memory() {
    host = std::make_unique<Host>(io.get_executor(), HostOptions{.phase_timeout = 5s});
    xmpp = &test::add_plug<XMPPPlug>(
        *host, "xmpp",
        std::string("jid: ") + test::XmppServer::kComponent + "\npassword: " +
            test::XmppServer::kComponentSecret + "\ncomponent: true\n"
            "server: {host: 127.0.0.1, port: " + std::to_string(server->component_port()) + "}\n");
    auto& mem = test::add_plug<plugs::MemoryPlug>(*host, "mem", "");
    host->add_channel("room", xmpp->channel(room));
    host->add_channel("mem", mem.channel("lobby"));
    test::add_hook<SyncHook>(*host, "sync", "channels: {bridge: [room, mem]}\njoins: false\n");
    test::run(io, host->open());
    return mem;
  }

  // The memory plug's user u1, named `name` this time, says `text`.
  static void say_as(plugs::MemoryPlug& mem, const std::string& name, const std::string& text) {
    auto u = std::make_shared<User>(*mem.user("u1"));
    u->real_name = name;
    Message msg;
    msg.user = u;
    msg.text = RichText(text);
    mem.inject("lobby", std::move(msg));
  }

  // Takes `nick` out of `room`'s occupants on Prosody without a presence to
  // anyone: a silent removal, which no client can cause.
  void remove_silently(test::ProsodyServer& prosody, const std::string& nick) {
    std::string lua =
        "local r = prosody.hosts['" + std::string(test::XmppServer::kMuc) +
        "'].modules.muc.get_room_from_jid('" + room + "'); local n = '" + room + "/" + nick +
        "'; local o = r._occupants[n]; for jid in pairs(o.sessions) do "
        "r._jid_nick[jid] = nil end; r._occupants[n] = nil; return 'removed'";
    ASSERT_NE(prosody.shell(lua).find("removed"), std::string::npos);
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
    // Nicks fresh on the shared server ("bob" -> "bob7"): the last test's
    // may not be gone yet.
    static int nicks = 0;
    auto c = std::make_unique<IrcClient>(ircd->port(), nick + std::to_string(++nicks));
    c->join(chan);
    irc_clients.push_back(c.get());
    return c;
  }

  std::unique_ptr<XmppUser> user(const std::string& nick, const std::string& history = "0",
                                 const std::string& in = {}) {
    std::string name = server->fresh_user("person");
    server->add_user(name, "pw");
    auto u = std::make_unique<XmppUser>(*server, name, "pw", in.empty() ? room : in, nick,
                                        history);
    EXPECT_TRUE(u->wait_ready(20s)) << u->output();
    users.push_back(u.get());
    return u;
  }

  // Whether `c` got a PRIVMSG to the channel containing `text`.
  bool irc_saw(IrcClient& c, const std::string& text) const {
    for (const auto& l : c.privmsgs(chan)) {
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

  // How often each of `prefix`0; .. `prefix`<n-1>; arrived in `texts`, and
  // whether their first arrivals kept their order.
  struct Tally {
    std::vector<int> seen;
    bool ordered = true;
    std::size_t distinct() const {
      return static_cast<std::size_t>(std::count_if(seen.begin(), seen.end(),
                                                    [](int c) { return c > 0; }));
    }
    std::string missing_or_doubled() const {
      std::string out;
      for (std::size_t i = 0; i < seen.size(); ++i) {
        if (seen[i] != 1) out += " #" + std::to_string(i) + "x" + std::to_string(seen[i]);
      }
      return out;
    }
  };
  void drop_link_under_flood(bool lose_session);
  static Tally tally(const std::vector<std::string>& texts, const std::string& prefix, int n) {
    Tally t;
    t.seen.assign(static_cast<std::size_t>(n), 0);
    int last = -1;
    for (const auto& text : texts) {
      auto at = text.find(prefix);
      if (at == std::string::npos) continue;
      int i = std::atoi(text.c_str() + at + prefix.size());
      if (i < 0 || i >= n) continue;
      if (t.seen[static_cast<std::size_t>(i)]++ == 0) {
        t.ordered &= i > last;
        last = std::max(last, i);
      }
    }
    return t;
  }
};

TEST_P(XmppBridgeTest, MessagesTravelBothWaysBetweenARoomAndAnIrcChannel) {
  // Written with capitals, as people do; servers compare room JIDs folded.
  room = muc(server->fresh_user("Room"));
  build();
  auto bob = irc_client("bob");
  auto alice = user("alice");
  alice->say("hello from *xmpp*", "a1");
  ASSERT_TRUE(until([&] { return irc_saw(*bob, "hello from"); })) << alice->output();
  bool named = false, bold = false;
  std::string seen;
  for (const auto& l : bob->privmsgs(chan)) {
    seen += l.param(1) + "\n";
    named |= l.param(1).find("alice") != std::string::npos;
    bold |= l.param(1).find("\x02xmpp") != std::string::npos;
  }
  EXPECT_TRUE(named) << "the IRC side sees who spoke";
  EXPECT_TRUE(bold) << "XEP-0393 *bold* arrives as IRC bold: " << seen;

  bob->say(chan, "hello from irc");
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

TEST_P(XmppBridgeTest, CorrectionsAndRetractionsFromXmppReachIrc) {
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

TEST_P(XmppBridgeTest, RepeatedIdsOfAnotherSenderCorrectNothing) {
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
  for (const auto& l : bob->privmsgs(chan)) {
    if (l.param(1).find("forged") != std::string::npos) {
      EXPECT_NE(l.param(1).find("mallory"), std::string::npos) << l.param(1);
    }
  }
}

TEST_P(XmppBridgeTest, IrcMessagesReachTheRoomAfterAServerRestart) {
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
  bob->say(chan, "said while down");
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

// ---- files as links (XEP-0066) ---------------------------------------------

// A file with a public address: a link on IRC, and a file again (the link
// with out-of-band data) in another room.
TEST_P(XmppBridgeTest, AnOutOfBandLinkArrivesAsALinkOnIrcAndAsAFileInAnotherRoom) {
  room2 = muc(server->fresh_user("room"));
  build();
  auto bob = irc_client("bob");
  auto alice = user("alice");
  auto carol = user("carol", "0", room2);
  const std::string url = "https://files.example/share/cat.png";
  // As clients send a file they uploaded: the body is the link, and the
  // out-of-band data says it is a file.
  alice->send("<message to='" + room + "' type='groupchat' id='f1'><body>" + url + "</body>"
              "<x xmlns='jabber:x:oob'><url>" + url + "</url></x>"
              "<origin-id xmlns='urn:xmpp:sid:0' id='f1'/></message>");
  ASSERT_TRUE(until([&] { return irc_saw(*bob, url); })) << alice->output();
  ASSERT_TRUE(until([&] {
    return carol->has([&](const xmpp::Element& m) {
      const auto* oob = m.child("x", "jabber:x:oob");
      return oob && oob->child_text("url") == url && m.child_text("body") == url;
    });
  })) << carol->output();
  // Said once on IRC: the file, not the file and its link as text again.
  std::size_t n = 0;
  for (const auto& l : bob->privmsgs(chan)) n += l.param(1).find(url) != std::string::npos;
  EXPECT_EQ(n, 1u);
}

// ---- files out: HTTP upload (XEP-0363) -------------------------------------

// A file only its own network can serve (here the memory plug's, as a
// download that needs that network's credentials would be), bridged into a
// room: the plug uploads it to the server's upload service and the room
// gets the link, with out-of-band data; the link serves the bytes.
TEST_P(XmppBridgeTest, AFileOnlyItsNetworkCanServeIsUploadedAndLinked) {
  host = std::make_unique<Host>(io.get_executor(), HostOptions{.phase_timeout = 5s});
  xmpp = &test::add_plug<XMPPPlug>(
      *host, "xmpp",
      "jid: " + bridge_user + "@localhost\npassword: bridge-pw\nnick: bridge\n"
      "server: {host: 127.0.0.1, port: " + std::to_string(server->port()) +
          ", ca: " + server->ca_file().string() + "}\n");
  auto& mem = test::add_plug<plugs::MemoryPlug>(*host, "mem", "");
  host->add_channel("room", xmpp->channel(room));
  host->add_channel("mem", mem.channel("lobby"));
  test::add_hook<SyncHook>(*host, "sync", "channels: {bridge: [room, mem]}\njoins: false\n");
  test::run(io, host->open());
  ASSERT_TRUE(until([&] { return xmpp->joined(room) && xmpp->upload_service(); }, 15s))
      << server->log();
  EXPECT_EQ(xmpp->upload_service()->jid, test::XmppServer::kUpload);
  auto alice = user("alice");
  std::string bytes(50000, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7 % 251);
  Message msg;
  msg.text = RichText("the cat");
  File cat = mem.add_file("cat.png", bytes, File::Type::image);
  cat.mime = "image/png";
  msg.attachments.emplace_back(cat);
  mem.inject("lobby", std::move(msg));
  std::string url;
  ASSERT_TRUE(until([&] {
    for (const auto& m : alice->messages()) {
      const auto* oob = m.child("x", "jabber:x:oob");
      if (!oob || m.child_text("body").find("the cat") == std::string_view::npos) continue;
      url = std::string(oob->child_text("url"));
      EXPECT_NE(m.child_text("body").find(url), std::string_view::npos) << "the link is in the body";
      return true;
    }
    return false;
  }, 15s)) << alice->output() << server->log();
  EXPECT_TRUE(url.starts_with("http://127.0.0.1:" + std::to_string(server->http_port()) + "/"))
      << url;
  EXPECT_NE(url.find("cat.png"), std::string::npos) << url;
  // Anyone with the link gets the file.
  net::HttpClient http(io.get_executor());
  net::HttpResponse got;
  test::run(io, [&]() -> Task<> { got = co_await http.get(url); }());
  EXPECT_EQ(got.status, 200u) << got.body;
  EXPECT_TRUE(got.body == bytes) << "got " << got.body.size() << " bytes";
  test::run(io, host->close());
}

// Without an upload service, a file with a public address goes as its
// link (and out-of-band data), and one only its network can serve as a
// stand-in that says what it was.
TEST_P(XmppBridgeTest, WithoutUploadFilesGoAsLinksOrStandIns) {
  host = std::make_unique<Host>(io.get_executor(), HostOptions{.phase_timeout = 5s});
  xmpp = &test::add_plug<XMPPPlug>(
      *host, "xmpp",
      "jid: " + bridge_user + "@localhost\npassword: bridge-pw\nnick: bridge\n"
      "server: {host: 127.0.0.1, port: " + std::to_string(server->port()) +
          ", ca: " + server->ca_file().string() + "}\nupload: false\n");
  auto& mem = test::add_plug<plugs::MemoryPlug>(*host, "mem", "");
  host->add_channel("room", xmpp->channel(room));
  host->add_channel("mem", mem.channel("lobby"));
  test::add_hook<SyncHook>(*host, "sync", "channels: {bridge: [room, mem]}\njoins: false\n");
  test::run(io, host->open());
  ASSERT_TRUE(until([&] { return xmpp->joined(room); })) << server->log();
  auto alice = user("alice");
  Message msg;
  msg.text = RichText("two files");
  File pub;
  pub.title = "dog.png";
  pub.url = "https://files.example/dog.png";
  msg.attachments.emplace_back(pub);
  msg.attachments.emplace_back(mem.add_file("secret.pdf", "%PDF", File::Type::unknown));
  mem.inject("lobby", std::move(msg));
  ASSERT_TRUE(until([&] {
    return alice->has([](const xmpp::Element& m) {
      const auto* oob = m.child("x", "jabber:x:oob");
      auto body = m.child_text("body");
      return oob && oob->child_text("url") == "https://files.example/dog.png" &&
             body.find("https://files.example/dog.png") != std::string_view::npos &&
             body.find("[file: secret.pdf]") != std::string_view::npos;
    });
  })) << alice->output();
  EXPECT_FALSE(xmpp->upload_service());
  test::run(io, host->close());
}

// ---- component mode (XEP-0114) ---------------------------------------------

// Every IRC user who speaks is an occupant of their own in the room, with
// their nick, joining with their first message; a real XMPP user sees one
// occupant per person and their words without a name prefix, and what she
// says reaches IRC once (not once per occupant the bridge has there).
TEST_P(XmppBridgeTest, InComponentModeEachBridgedUserIsTheirOwnOccupant) {
  xmpp_yaml = std::string("jid: ") + test::XmppServer::kComponent + "\npassword: " +
              test::XmppServer::kComponentSecret + "\ncomponent: true\n"
              "server: {host: 127.0.0.1, port: " + std::to_string(server->component_port()) +
              "}\nreconnect-min: 0.2\nreconnect-max: 0.5\n";
  build();
  EXPECT_TRUE(xmpp->component());
  auto alice = user("alice");
  auto bob = irc_client("bob");
  auto dave = irc_client("dave");
  const std::string bob_nick = bob->nick(), dave_nick = dave->nick();
  bob->say(chan, "hello from bob");
  ASSERT_TRUE(until([&] { return xmpp_saw(*alice, "hello from bob"); })) << alice->output();
  dave->say(chan, "hello from dave");
  bob->say(chan, "bob again");
  ASSERT_TRUE(until([&] { return xmpp_saw(*alice, "bob again") && xmpp_saw(*alice, "hello from dave"); }))
      << alice->output();
  // Each from the person's own occupant, in their own words.
  std::map<std::string, std::vector<std::string>> said;
  for (const auto& m : alice->messages()) {
    said[std::string(xmpp::resource(m.attr("from")))].emplace_back(m.child_text("body"));
  }
  EXPECT_EQ(said[bob_nick], (std::vector<std::string>{"hello from bob", "bob again"}));
  EXPECT_EQ(said[dave_nick], (std::vector<std::string>{"hello from dave"}));
  // One occupant each, joined once, as alice's client sees the room.
  auto joins = [&](const std::string& nick) {
    int n = 0;
    for (const auto& p : alice->stanzas()) {
      n += p.name == "presence" && p.attr("type").empty() &&
           p.attr("from") == room + "/" + nick;
    }
    return n;
  };
  EXPECT_EQ(joins(bob_nick), 1);
  EXPECT_EQ(joins(dave_nick), 1);
  auto nicks = xmpp->puppet_nicks(room);
  std::sort(nicks.begin(), nicks.end());
  EXPECT_EQ(nicks, (std::vector<std::string>{bob_nick, dave_nick}));
  // Alice's words reach IRC once, from the plug's own occupant's copy.
  alice->say("hi both", "k1");
  ASSERT_TRUE(until([&] { return irc_saw(*bob, "hi both"); }));
  bob->say(chan, "sync");
  ASSERT_TRUE(until([&] { return xmpp_saw(*alice, "sync"); }));
  std::size_t n = 0;
  for (const auto& l : bob->privmsgs(chan)) n += l.param(1).find("hi both") != std::string::npos;
  EXPECT_EQ(n, 1u);
  test::run(io, host->close());
}

// A bridged user renamed on their network (the same account, a new name)
// is renamed in the room too: their occupant changes its nick, as a person
// would, rather than a second occupant joining beside the first. And a
// private message to that occupant cannot reach them: the sender is told
// so at once, with an error, instead of waiting for an answer.
TEST_P(XmppBridgeTest, InComponentModeAnOccupantFollowsItsUsersNameAndAnswersPrivateMessages) {
  auto& mem = build_component_with_memory();
  ASSERT_TRUE(until([&] { return xmpp->joined(room); })) << server->log();
  auto alice = user("alice");
  auto says = [&](const std::string& name, const std::string& text) {
    say_as(mem, name, text);
  };
  says("Marge", "first words");
  ASSERT_TRUE(until([&] { return xmpp_saw(*alice, "first words"); })) << alice->output();
  says("Marjorie", "second words");
  ASSERT_TRUE(until([&] { return xmpp_saw(*alice, "second words"); })) << alice->output();
  std::map<std::string, std::string> from;
  for (const auto& m : alice->messages()) from[std::string(m.child_text("body"))] = m.attr("from");
  EXPECT_EQ(from["first words"], room + "/Marge");
  EXPECT_EQ(from["second words"], room + "/Marjorie");
  // Alice's client saw a nick change (XEP-0045 status 303), not a part.
  EXPECT_TRUE(alice->has([&](const xmpp::Element& p) {
    if (p.name != "presence" || p.attr("type") != "unavailable" ||
        p.attr("from") != room + "/Marge") {
      return false;
    }
    const auto* x = p.child("x", "http://jabber.org/protocol/muc#user");
    if (!x || !x->child("item") || x->child("item")->attr("nick") != "Marjorie") return false;
    for (const auto* st : x->children_named("status")) {
      if (st->attr("code") == "303") return true;
    }
    return false;
  })) << alice->output();
  EXPECT_EQ(xmpp->puppet_nicks(room), (std::vector<std::string>{"Marjorie"}));
  // Nothing of the rename reached the other side as a message.
  std::size_t before = mem.posted_count();
  alice->send("<message type='chat' to='" + room + "/Marjorie' id='pm1'><body>psst</body></message>");
  ASSERT_TRUE(until([&] {
    return alice->has([&](const xmpp::Element& m) {
      const auto* e = m.child("error");
      return m.name == "message" && m.attr("type") == "error" && m.attr("id") == "pm1" && e &&
             e->child("feature-not-implemented") &&
             e->child_text("text").find("another network") != std::string_view::npos;
    });
  })) << alice->output();
  // The private words went nowhere else: not into the bridged room.
  alice->say("sentinel", "s1");
  ASSERT_TRUE(until([&] { return mem.posted_count() > before; }));
  ASSERT_EQ(mem.posted_count(), before + 1);
  ASSERT_TRUE(mem.posted().back()->text);
  EXPECT_EQ(mem.posted().back()->text->plain(), "sentinel");
  test::run(io, host->close());
}

// A room that forgets a bridged user's occupant without a word (an admin's
// cleanup, a room module reloaded while our link stayed up) refuses that
// user's next message as from someone not in the room. The occupant joins
// again and the message goes through, rather than being dropped as refused.
TEST_P(XmppBridgeTest, InComponentModeAnOccupantRemovedSilentlyJoinsAgainAndNothingIsLost) {
  auto* prosody = dynamic_cast<test::ProsodyServer*>(server);
  if (!prosody) {
    GTEST_SKIP() << server->name() << " has no way here to remove an occupant without telling it";
  }
  auto& mem = build_component_with_memory();
  ASSERT_TRUE(until([&] { return xmpp->joined(room); })) << server->log();
  auto alice = user("alice");
  auto says = [&](const std::string& text) { say_as(mem, "Marge", text); };
  says("before");
  ASSERT_TRUE(until([&] { return xmpp_saw(*alice, "before"); })) << alice->output();
  // Out of the room's occupant table, with no presence sent to anyone.
  remove_silently(*prosody, "Marge");
  says("after");
  ASSERT_TRUE(until([&] { return xmpp_saw(*alice, "after"); }, 30s)) << alice->output();
  std::size_t afters = 0;
  for (const auto& m : alice->messages()) {
    if (m.child_text("body") == "after") {
      ++afters;
      EXPECT_EQ(m.attr("from"), room + "/Marge");
    }
  }
  EXPECT_EQ(afters, 1u);
  test::run(io, host->close());
}

// The same for the bridge's own occupant (account mode): removed without a
// word, it learns it from its next message's refusal (long before the next
// self-ping), joins again, and the IRC line arrives once.
TEST_P(XmppBridgeTest, AnAccountRemovedSilentlyFromTheRoomJoinsAgainAndNothingIsLost) {
  auto* prosody = dynamic_cast<test::ProsodyServer*>(server);
  if (!prosody) {
    GTEST_SKIP() << server->name() << " has no way here to remove an occupant without telling it";
  }
  build();
  auto alice = user("alice");
  auto bob = irc_client("bob");
  bob->say(chan, "before");
  ASSERT_TRUE(until([&] { return xmpp_saw(*alice, "before"); })) << alice->output();
  remove_silently(*prosody, "bridge");
  bob->say(chan, "after");
  ASSERT_TRUE(until([&] { return xmpp_saw(*alice, "after"); }, 30s)) << alice->output();
  std::size_t afters = 0;
  for (const auto& b : alice->bodies()) afters += b.find("after") != std::string::npos;
  EXPECT_EQ(afters, 1u);
  // And the room's words reach IRC again.
  alice->say("back", "b1");
  EXPECT_TRUE(until([&] { return irc_saw(*bob, "back"); })) << server->log();
}

// ---- XEP-0198: a dropped link ------------------------------------------------

// Both rooms talk at once through the one link of the bridge, which breaks
// while messages fly both ways; nothing is lost or doubled either way, and
// each room sees the other's messages in order.
void XmppBridgeTest::drop_link_under_flood(bool lose_session) {
  LinkCutter cutter(io, server->port());
  xmpp_port = cutter.port();
  room2 = muc(server->fresh_user("room"));
  build();
  auto alice = user("alice");
  auto carol = user("carol", "0", room2);
  constexpr int kN = 150;
  for (int i = 0; i < kN; ++i) {
    alice->say("A" + std::to_string(i) + ";", "a" + std::to_string(i));
    carol->say("C" + std::to_string(i) + ";", "c" + std::to_string(i));
  }
  ASSERT_TRUE(until([&] { return tally(carol->bodies(), "A", kN).distinct() >= 20; }, 20s))
      << carol->output();
  auto connections = xmpp->connections();
  if (lose_session) xmpp->spoil_resumption();
  cutter.cut();
  if (lose_session) {
    ASSERT_TRUE(until([&] { return xmpp->connections() > connections; }, 20s)) << server->log();
  } else {
    ASSERT_TRUE(until([&] { return xmpp->resumptions() >= 1; }, 20s)) << server->log();
  }
  ASSERT_TRUE(until(
      [&] {
        return tally(carol->bodies(), "A", kN).distinct() == kN &&
               tally(alice->bodies(), "C", kN).distinct() == kN;
      },
      40s))
      << "to carol:" << tally(carol->bodies(), "A", kN).missing_or_doubled()
      << "\nto alice:" << tally(alice->bodies(), "C", kN).missing_or_doubled();
  // Whatever else arrives would come now: everyone else's messages are in.
  auto bob = irc_client("bob");
  bob->say(chan, "last");
  ASSERT_TRUE(until([&] { return xmpp_saw(*alice, "last") && xmpp_saw(*carol, "last"); }));
  auto to_carol = tally(carol->bodies(), "A", kN);
  auto to_alice = tally(alice->bodies(), "C", kN);
  EXPECT_EQ(to_carol.missing_or_doubled(), "");
  EXPECT_EQ(to_alice.missing_or_doubled(), "");
  EXPECT_TRUE(to_carol.ordered);
  EXPECT_TRUE(to_alice.ordered);
  if (lose_session) {
    EXPECT_EQ(xmpp->resumptions(), 0u);
  } else {
    // One link resumed once; on Prosody 0.12 a resumed session may be dead
    // (it parses the new link with the broken link's parser), and the plug
    // then starts a fresh one: one more link.
    EXPECT_GE(xmpp->connections(), 2u);
    EXPECT_LE(xmpp->connections(), 3u);
  }
  test::run(io, host->close());  // before the proxy goes
}

TEST_P(XmppBridgeTest, ADroppedLinkResumesWithNothingLostOrDoubledEitherWay) {
  drop_link_under_flood(false);
}

// The server no longer knows the session (as after its timeout, or when it
// closed it): the rooms' history since the last message the bridge took
// fills the gap, and what the bridge had sent is sent again only if the
// room's history lacks it, ahead of anything newer: the rooms see each
// side's messages in the order they were said.
TEST_P(XmppBridgeTest, ALostSessionUnderFloodLosesAndDoublesNothingEitherWay) {
  drop_link_under_flood(true);
}

TEST_P(XmppBridgeTest, WhenResumptionFailsWhatWasNotAcknowledgedIsSentAgain) {
  LinkCutter cutter(io, server->port());
  xmpp_port = cutter.port();
  build();
  auto bob = irc_client("bob");
  auto alice = user("alice");
  constexpr int kN = 60;
  for (int i = 0; i < kN; ++i) bob->say(chan, "L" + std::to_string(i) + ";");
  ASSERT_TRUE(until([&] { return tally(alice->bodies(), "L", kN).distinct() >= 10; }, 20s))
      << alice->output();
  // The server no longer knows the session (as after its timeout): the
  // plug logs in afresh, joins again, and sends what was not acknowledged.
  xmpp->spoil_resumption();
  auto connections = xmpp->connections();
  cutter.cut();
  ASSERT_TRUE(until([&] { return xmpp->connections() > connections && xmpp->joined(room); }, 20s));
  ASSERT_TRUE(until([&] { return tally(alice->bodies(), "L", kN).distinct() == kN; }, 30s))
      << alice->output();
  EXPECT_EQ(xmpp->resumptions(), 0u);
  EXPECT_TRUE(tally(alice->bodies(), "L", kN).ordered);
  test::run(io, host->close());  // before the proxy goes
}

// ---- through the sync hook to IRC (IRCv3 tags) and back -------------------

// An IRC user whose client asks for message tags: it sees msgids, replies
// and reactions.
std::unique_ptr<IrcClient> tagged_client(int port, const std::string& nick,
                                         const std::string& channel) {
  auto c = std::make_unique<IrcClient>(port, nick);
  c->send("CAP REQ :message-tags echo-message");
  auto ack = c->wait_for([](const irc::Line& l) { return l.command == "CAP"; });
  if (!ack || ack->param(1) != "ACK") throw std::runtime_error("no message-tags");
  c->join(channel);
  return c;
}

// The stanza-id the room gave the message `u` saw with `text` in its body.
std::string stanza_id_of(XmppUser& u, const std::string& text) {
  for (const auto& m : u.messages()) {
    if (m.child_text("body").find(text) == std::string_view::npos) continue;
    for (const auto* s : m.children_named("stanza-id", "urn:xmpp:sid:0")) {
      return std::string(s->attr("id"));
    }
  }
  return {};
}

// A room and a second room on Prosody and a channel on InspIRCd (client
// tags on), bridged by the sync hook: what XMPP users do to messages shows
// on IRC as IRC can show it, and what IRC users do comes back natively.
TEST_P(XmppBridgeTest, CorrectionsRetractionsRepliesAndReactionsRoundTripThroughIrc) {
  if (!test::InspircdServer::available()) GTEST_SKIP() << "inspircd is not installed";
  test::InspircdOptions o;
  o.message_tags = true;
  test::InspircdServer ircd3(o);
  room2 = muc(server->fresh_user("room"));
  host = std::make_unique<Host>(io.get_executor(), HostOptions{.phase_timeout = 5s});
  xmpp = &test::add_plug<XMPPPlug>(
      *host, "xmpp",
      "jid: " + bridge_user + "@localhost\npassword: bridge-pw\nnick: bridge\n"
      "server: {host: 127.0.0.1, port: " + std::to_string(server->port()) +
          ", ca: " + server->ca_file().string() + "}\n");
  irc = &test::add_plug<IRCPlug>(
      *host, "irc",
      "server: {host: 127.0.0.1, port: " + std::to_string(ircd3.port()) +
          "}\nuser: {nick: relay}\nquote-reply-to: false\n");
  host->add_channel("room", xmpp->channel(room));
  host->add_channel("room2", xmpp->channel(room2));
  host->add_channel("chan", irc->channel(chan));
  test::add_hook<SyncHook>(*host, "sync", "channels: {bridge: [room, chan, room2]}\njoins: false\n");
  test::run(io, host->open());
  ASSERT_TRUE(until([&] { return xmpp->joined(room) && xmpp->joined(room2) && irc->joined(chan); }))
      << server->log() << ircd3.log();
  auto bob = tagged_client(ircd3.port(), "bob", chan);
  irc_clients.push_back(bob.get());
  auto alice = user("alice");
  auto carol = user("carol", "0", room2);
  auto bob_saw = [&](const std::string& text) -> std::optional<irc::Line> {
    for (const auto& l : bob->privmsgs(chan)) {
      if (l.param(1).find(text) != std::string::npos) return l;
    }
    return std::nullopt;
  };
  auto carol_has = [&](const std::function<bool(const xmpp::Element&)>& match) {
    return carol->has(match);
  };

  // XMPP -> IRC and the other room.
  alice->say("lunch at noon", "x1");
  ASSERT_TRUE(until([&] { return bob_saw("lunch at noon") && xmpp_saw(*carol, "lunch at noon"); }));
  const std::string noon_msgid = *bob_saw("lunch at noon")->tag("msgid");
  const std::string noon_sid = stanza_id_of(*alice, "lunch at noon");
  const std::string noon_copy_sid = stanza_id_of(*carol, "lunch at noon");
  ASSERT_FALSE(noon_sid.empty());
  ASSERT_FALSE(noon_copy_sid.empty());

  // A correction (XEP-0308): IRC gets the new text, the other room a
  // correction of the bridge's copy.
  alice->send("<message to='" + room + "' type='groupchat' id='x2'><body>lunch at one</body>"
              "<replace xmlns='urn:xmpp:message-correct:0' id='x1'/>"
              "<origin-id xmlns='urn:xmpp:sid:0' id='x2'/></message>");
  std::string copy_origin;
  for (const auto& m : carol->messages()) {
    if (m.child_text("body").find("lunch at noon") == std::string_view::npos) continue;
    if (auto* oid = m.child("origin-id", "urn:xmpp:sid:0")) copy_origin = oid->attr("id");
  }
  ASSERT_FALSE(copy_origin.empty());
  ASSERT_TRUE(until([&] {
    return bob_saw("lunch at one") && carol_has([&](const xmpp::Element& m) {
             const auto* r = m.child("replace", "urn:xmpp:message-correct:0");
             return r && r->attr("id") == copy_origin &&
                    m.child_text("body").find("lunch at one") != std::string_view::npos;
           });
  })) << carol->output();

  // IRC -> XMPP: bob replies to alice's line by its msgid; alice gets a
  // native reply (XEP-0461) to her own message, by the room's stanza-id.
  bob->send("@+draft/reply=" + noon_msgid + " PRIVMSG " + chan + " :see you there");
  ASSERT_TRUE(until([&] {
    return alice->has([&](const xmpp::Element& m) {
      const auto* r = m.child("reply", "urn:xmpp:reply:0");
      return r && r->attr("id") == noon_sid &&
             m.child_text("body").find("see you there") != std::string_view::npos;
    });
  })) << alice->output();

  // IRC -> XMPP: bob reacts to alice's line (XEP-0444 on her message).
  bob->send("@+draft/react=\xF0\x9F\x8D\xB2;+draft/reply=" + noon_msgid + " TAGMSG " + chan);
  ASSERT_TRUE(until([&] {
    return alice->has([&](const xmpp::Element& m) {
      const auto* r = m.child("reactions", "urn:xmpp:reactions:0");
      return r && r->attr("id") == noon_sid && r->child_text("reaction") == "\xF0\x9F\x8D\xB2";
    });
  })) << alice->output();

  // XMPP -> IRC: alice replies to and reacts to bob's line as the bridge
  // put it in the room; IRC sees both on bob's own msgid.
  bob->say(chan, "soup?");
  ASSERT_TRUE(until([&] { return xmpp_saw(*alice, "soup?"); }));
  auto soup = bob_saw("soup?");  // the echo of bob's own line
  ASSERT_TRUE(soup && soup->tag("msgid"));
  const std::string soup_sid = stanza_id_of(*alice, "soup?");
  ASSERT_FALSE(soup_sid.empty());
  alice->send("<message to='" + room + "' type='groupchat' id='x3'><body>yes please</body>"
              "<reply xmlns='urn:xmpp:reply:0' to='" + room + "/bridge' id='" + soup_sid + "'/>"
              "<origin-id xmlns='urn:xmpp:sid:0' id='x3'/></message>");
  ASSERT_TRUE(until([&] { return bob_saw("yes please").has_value(); }));
  auto reply = bob_saw("yes please");
  ASSERT_TRUE(reply->tag("+draft/reply")) << reply->str();
  EXPECT_EQ(*reply->tag("+draft/reply"), *soup->tag("msgid"));
  alice->send("<message to='" + room + "' type='groupchat' id='x4'>"
              "<reactions xmlns='urn:xmpp:reactions:0' id='" + soup_sid + "'>"
              "<reaction>\xF0\x9F\x91\x8D</reaction></reactions>"
              "<origin-id xmlns='urn:xmpp:sid:0' id='x4'/></message>");
  std::optional<irc::Line> tagmsg;
  ASSERT_TRUE(until([&] {
    if (!tagmsg) {
      tagmsg = bob->find([](const irc::Line& l) { return l.command == "TAGMSG" && l.nick == "relay"; });
    }
    return tagmsg.has_value();
  }));
  ASSERT_TRUE(tagmsg->tag("+draft/react") && tagmsg->tag("+draft/reply")) << tagmsg->str();
  EXPECT_EQ(*tagmsg->tag("+draft/react"), "\xF0\x9F\x91\x8D");
  EXPECT_EQ(*tagmsg->tag("+draft/reply"), *soup->tag("msgid"));

  // A retraction (XEP-0424): the other room's copy is retracted by the
  // bridge; IRC, which cannot take a line back, gets no line about it.
  alice->send("<message to='" + room + "' type='groupchat' id='x5'>"
              "<retract xmlns='urn:xmpp:message-retract:1' id='" + noon_sid + "'/>"
              "<origin-id xmlns='urn:xmpp:sid:0' id='x5'/></message>");
  ASSERT_TRUE(until([&] {
    return carol_has([&](const xmpp::Element& m) {
      const auto* r = m.child("retract", "urn:xmpp:message-retract:1");
      return r && r->attr("id") == noon_copy_sid;
    });
  })) << carol->output();
  bob->say(chan, "done");
  ASSERT_TRUE(until([&] { return xmpp_saw(*alice, "done"); }));
  EXPECT_FALSE(bob_saw("retract")) << "no fallback text on IRC";
  test::run(io, host->close());
}

// ---- a room on Prosody bridged to a room on ejabberd ----------------------

// The origin-id of the copy `u` saw with `text` in its body (what the
// bridge's corrections of it name).
std::string origin_id_of(XmppUser& u, const std::string& text) {
  for (const auto& m : u.messages()) {
    if (m.child_text("body").find(text) == std::string_view::npos) continue;
    if (const auto* o = m.child("origin-id", "urn:xmpp:sid:0")) return std::string(o->attr("id"));
  }
  return {};
}

TEST(XmppAcrossServersTest, ARoomOnProsodyAndARoomOnEjabberdShareMessagesEditsAndDeletes) {
  if (!ProsodyServer::available()) GTEST_SKIP() << "prosody is not installed";
  if (!test::EjabberdServer::available()) GTEST_SKIP() << "ejabberd is not installed";
  asio::io_context io;
  test::XmppServer& pro = test::shared_prosody();
  test::XmppServer& ej = test::shared_ejabberd();
  const std::string proom = muc(pro.fresh_user("across"));
  const std::string eroom = muc(ej.fresh_user("across"));
  // Both servers are "localhost": distinct account names keep the two
  // plugs' network ids apart.
  const std::string pbridge = pro.fresh_user("pbridge"), ebridge = ej.fresh_user("ebridge");
  pro.add_user(pbridge, "bridge-pw");
  ej.add_user(ebridge, "bridge-pw");
  Host host(io.get_executor(), HostOptions{.phase_timeout = 5s});
  auto plug_config = [](test::XmppServer& s, const std::string& user) {
    return "jid: " + user + "@localhost\npassword: bridge-pw\nnick: bridge\n"
           "server: {host: 127.0.0.1, port: " + std::to_string(s.port()) +
           ", ca: " + s.ca_file().string() + "}\n";
  };
  auto& pplug = test::add_plug<XMPPPlug>(host, "prosody", plug_config(pro, pbridge));
  auto& eplug = test::add_plug<XMPPPlug>(host, "ejabberd", plug_config(ej, ebridge));
  host.add_channel("p", pplug.channel(proom));
  host.add_channel("e", eplug.channel(eroom));
  test::add_hook<SyncHook>(host, "sync", "channels: {bridge: [p, e]}\njoins: false\n");
  test::run(io, host.open());
  std::vector<XmppUser*> people;
  auto until = [&](const std::function<bool()>& done) {
    return test::run_until(
        io,
        [&] {
          for (auto* u : people) u->pump();
          return done();
        },
        15s);
  };
  ASSERT_TRUE(until([&] { return pplug.joined(proom) && eplug.joined(eroom); }))
      << pro.log() << ej.log();
  const std::string alice_user = pro.fresh_user("alice"), erin_user = ej.fresh_user("erin");
  pro.add_user(alice_user, "pw");
  ej.add_user(erin_user, "pw");
  XmppUser alice(pro, alice_user, "pw", proom, "alice");
  XmppUser erin(ej, erin_user, "pw", eroom, "erin");
  ASSERT_TRUE(alice.wait_ready(20s)) << alice.output();
  ASSERT_TRUE(erin.wait_ready(20s)) << erin.output();
  people = {&alice, &erin};
  auto saw = [](XmppUser& u, const std::string& text) {
    for (const auto& b : u.bodies()) {
      if (b.find(text) != std::string::npos) return true;
    }
    return false;
  };

  // A message each way.
  alice.say("hello from prosody", "p1");
  erin.say("hello from ejabberd", "e1");
  ASSERT_TRUE(until([&] { return saw(erin, "hello from prosody"); })) << erin.output();
  ASSERT_TRUE(until([&] { return saw(alice, "hello from ejabberd"); })) << alice.output();

  // An edit each way: a correction of the bridge's copy.
  const std::string copy_on_ej = origin_id_of(erin, "hello from prosody");
  const std::string copy_on_pro = origin_id_of(alice, "hello from ejabberd");
  ASSERT_FALSE(copy_on_ej.empty());
  ASSERT_FALSE(copy_on_pro.empty());
  alice.send("<message to='" + proom + "' type='groupchat' id='p2'><body>hello again</body>"
             "<replace xmlns='urn:xmpp:message-correct:0' id='p1'/>"
             "<origin-id xmlns='urn:xmpp:sid:0' id='p2'/></message>");
  erin.send("<message to='" + eroom + "' type='groupchat' id='e2'><body>hi again</body>"
            "<replace xmlns='urn:xmpp:message-correct:0' id='e1'/>"
            "<origin-id xmlns='urn:xmpp:sid:0' id='e2'/></message>");
  auto corrected = [](XmppUser& u, const std::string& id, const std::string& text) {
    return u.has([&](const xmpp::Element& m) {
      const auto* r = m.child("replace", "urn:xmpp:message-correct:0");
      return r && r->attr("id") == id && m.child_text("body").find(text) != std::string_view::npos;
    });
  };
  ASSERT_TRUE(until([&] { return corrected(erin, copy_on_ej, "hello again"); })) << erin.output();
  ASSERT_TRUE(until([&] { return corrected(alice, copy_on_pro, "hi again"); })) << alice.output();

  // A delete each way: the room's stanza-id of one's own message; the
  // other room sees the bridge retract its copy, by that room's stanza-id.
  const std::string alice_sid = stanza_id_of(alice, "hello from prosody");
  const std::string erin_sid = stanza_id_of(erin, "hello from ejabberd");
  const std::string copy_sid_on_ej = stanza_id_of(erin, "hello from prosody");
  const std::string copy_sid_on_pro = stanza_id_of(alice, "hello from ejabberd");
  ASSERT_FALSE(alice_sid.empty());
  ASSERT_FALSE(erin_sid.empty());
  ASSERT_FALSE(copy_sid_on_ej.empty());
  ASSERT_FALSE(copy_sid_on_pro.empty());
  alice.send("<message to='" + proom + "' type='groupchat' id='p3'>"
             "<retract xmlns='urn:xmpp:message-retract:1' id='" + alice_sid + "'/>"
             "<origin-id xmlns='urn:xmpp:sid:0' id='p3'/></message>");
  erin.send("<message to='" + eroom + "' type='groupchat' id='e3'>"
            "<retract xmlns='urn:xmpp:message-retract:1' id='" + erin_sid + "'/>"
            "<origin-id xmlns='urn:xmpp:sid:0' id='e3'/></message>");
  auto retracted = [](XmppUser& u, const std::string& id) {
    return u.has([&](const xmpp::Element& m) {
      const auto* r = m.child("retract", "urn:xmpp:message-retract:1");
      return r && r->attr("id") == id;
    });
  };
  ASSERT_TRUE(until([&] { return retracted(erin, copy_sid_on_ej); })) << erin.output();
  ASSERT_TRUE(until([&] { return retracted(alice, copy_sid_on_pro); })) << alice.output();
  test::run(io, host.close());
}

std::string server_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(Servers, XmppStreamTest, ::testing::Values("prosody", "ejabberd"),
                         server_name);
INSTANTIATE_TEST_SUITE_P(Servers, XmppBridgeTest, ::testing::Values("prosody", "ejabberd"),
                         server_name);

}  // namespace
}  // namespace immp
