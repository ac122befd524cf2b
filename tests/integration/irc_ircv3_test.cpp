// The IRC plug's IRCv3 and SASL features against a real InspIRCd 3 (with
// Atheme services where SASL needs them): SASL EXTERNAL with a client
// certificate, falling back from SCRAM-SHA-256 (which Atheme 7.2 lacks) to
// PLAIN, STS, and replies as +draft/reply client tags.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "hooks/sync/sync_hook.hpp"
#include "immp/host.hpp"
#include "plugs/irc/irc_plug.hpp"
#include "support/async.hpp"
#include "support/hooks.hpp"
#include "support/irc_client.hpp"
#include "support/irc_server.hpp"
#include "support/memory.hpp"
#include "support/process.hpp"

namespace immp {
namespace {

using namespace std::chrono_literals;
using hooks::SyncHook;
using plugs::IRCPlug;
using plugs::MemoryPlug;
using test::AthemeServices;
using test::InspircdServer;
using test::IrcClient;

struct InspircdIrcv3Test : ::testing::Test {
  asio::io_context io;
  test::TempDir dir{"immp-ircv3"};
  std::unique_ptr<InspircdServer> server;
  std::unique_ptr<AthemeServices> services;  // destroyed before the server
  std::unique_ptr<Host> host;
  std::vector<IrcClient*> clients;

  void SetUp() override {
    if (!InspircdServer::available()) GTEST_SKIP() << "inspircd is not installed";
  }
  void TearDown() override {
    if (host && host->is_open()) test::run(io, host->close());
  }
  void start(test::InspircdOptions options) {
    server = std::make_unique<InspircdServer>(options);
    make_host();
  }
  void make_host() {
    HostOptions o;
    o.phase_timeout = 5s;
    o.base_dir = dir.path();
    host = std::make_unique<Host>(io.get_executor(), o);
  }
  // With Atheme linked; false (skip) when it is not installed.
  bool start_services(test::InspircdOptions options = {}) {
    if (!AthemeServices::available()) return false;
    options.services = true;
    start(options);
    services = std::make_unique<AthemeServices>(*server);
    return true;
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
  // The account `nick` is logged in as, as others see it (WHOIS 330);
  // empty when none.
  std::string account_of(const std::string& nick) {
    IrcClient alice(server->port(), "whois");
    alice.send("WHOIS " + nick);
    auto reply = alice.wait_for([](const irc::Line& l) {
      return l.command == "330" || l.command == "318" || l.command == "401";
    });
    return reply && reply->command == "330" ? reply->param(2) : std::string();
  }
  std::string tls_server(int port) const {
    return "server: {host: localhost, port: " + std::to_string(port) +
           ", ssl: true, ca: " + server->ca_file().string();
  }
};

// A client certificate of our own, and its SHA-256 fingerprint as InspIRCd
// and Atheme write it (lower-case hex, no colons).
std::string make_client_certificate(const std::filesystem::path& dir) {
  auto run = [&](std::vector<std::string> argv) {
    auto r = test::run_process(std::move(argv), 30s, test::ProcessOptions{dir, {}});
    if (r.exit_code != 0) throw std::runtime_error("openssl failed: " + r.err);
    return r.out;
  };
  run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out",
       "client.pem", "-days", "2", "-subj", "/CN=immp-bridge"});
  std::string out = run({"openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", "client.pem"});
  std::string fp;
  for (char c : out.substr(out.find('=') + 1)) {
    if (std::isxdigit(static_cast<unsigned char>(c))) {
      fp += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return fp;
}

// ---- SASL --------------------------------------------------------------------

TEST_F(InspircdIrcv3Test, SaslExternalLogsInWithTheClientCertificate) {
  test::InspircdOptions options;
  options.client_certs = true;
  if (!start_services(options)) GTEST_SKIP() << "atheme-services is not installed";
  std::string fingerprint = make_client_certificate(dir.path());
  ASSERT_EQ(fingerprint.size(), 64u);
  services->register_account("immp-bridge", "s3cret");
  services->add_certificate("immp-bridge", "s3cret", fingerprint);
  auto& irc = test::add_plug<IRCPlug>(
      *host, "irc",
      tls_server(server->tls_port()) +
          ", client-cert: client.pem, client-key: client.key}\n"
          "user: {nick: bridge}\nreconnect-min: 5\nsasl: {mechanism: EXTERNAL}\n");
  test::run(io, host->open());
  ASSERT_TRUE(irc.connected()) << server->log() << services->log();
  EXPECT_EQ(account_of("bridge"), "immp-bridge");
}

// Atheme 7.2 (Debian 12) has no SCRAM: the server lists PLAIN and EXTERNAL.
// We still ask for SCRAM-SHA-256 first (a stale list costs one round trip),
// are refused, and log in with the next mechanism configured.
TEST_F(InspircdIrcv3Test, SaslFallsBackFromScramToPlainWhereServicesLackIt) {
  if (!start_services()) GTEST_SKIP() << "atheme-services is not installed";
  services->register_account("immp-bridge", "s3cret");
  auto& irc = test::add_plug<IRCPlug>(
      *host, "irc",
      "server: {host: 127.0.0.1, port: " + std::to_string(server->port()) +
          "}\nuser: {nick: bridge}\nreconnect-min: 5\n"
          "sasl: {mechanism: [SCRAM-SHA-256, PLAIN], username: immp-bridge, password: s3cret}\n");
  test::run(io, host->open());
  ASSERT_TRUE(irc.connected()) << services->log();
  EXPECT_EQ(account_of("bridge"), "immp-bridge");
  EXPECT_EQ(irc.connections(), 1u);
}

// Only SCRAM configured, not required: the bridge connects without an
// account rather than not at all.
TEST_F(InspircdIrcv3Test, SaslNotRequiredConnectsWithoutAnAccountWhenNoMechanismWorks) {
  if (!start_services()) GTEST_SKIP() << "atheme-services is not installed";
  services->register_account("immp-bridge", "s3cret");
  auto& irc = test::add_plug<IRCPlug>(
      *host, "irc",
      "server: {host: 127.0.0.1, port: " + std::to_string(server->port()) +
          "}\nuser: {nick: bridge}\nreconnect-min: 5\n"
          "sasl: {mechanism: SCRAM-SHA-256, username: immp-bridge, password: s3cret, "
          "required: false}\n");
  test::run(io, host->open());
  ASSERT_TRUE(irc.connected());
  EXPECT_EQ(account_of("bridge"), "");
}

// ---- STS ---------------------------------------------------------------------

// The plaintext port advertises STS: the bridge leaves it (QUIT) and comes
// back over TLS on the advertised port, whose policy it writes to
// `sts-file`. After a restart, a config whose plaintext port has nothing
// listening still connects: the remembered policy sends it to TLS first.
TEST_F(InspircdIrcv3Test, StsUpgradesToTlsAndThePolicyOutlivesARestart) {
  test::InspircdOptions options;
  options.sts = true;
  start(options);
  const std::string yaml_tail = "}\nuser: {nick: bridge}\nreconnect-min: 0.2\nreconnect-max: 1\n"
                                "sts-file: state/sts.txt\n";
  auto& irc = test::add_plug<IRCPlug>(
      *host, "irc",
      "server: {host: localhost, port: " + std::to_string(server->port()) +
          ", ca: " + server->ca_file().string() + yaml_tail);
  test::run(io, host->open());
  ASSERT_TRUE(until([&] { return irc.connected(); })) << server->log();
  // Registered once, over TLS: only a TLS link's `duration` is a policy,
  // and only a policy is written down.
  EXPECT_EQ(irc.connections(), 1u);
  std::ifstream file(dir / "state" / "sts.txt");
  std::string host_name;
  int port = 0;
  file >> host_name >> port;
  EXPECT_EQ(host_name, "localhost");
  EXPECT_EQ(port, server->tls_port());

  test::run(io, host->close());
  make_host();
  int nothing_there = test::free_port();
  auto& again = test::add_plug<IRCPlug>(
      *host, "irc",
      "server: {host: localhost, port: " + std::to_string(nothing_there) +
          ", ca: " + server->ca_file().string() + yaml_tail);
  test::run(io, host->open());
  ASSERT_TRUE(until([&] { return again.connected(); })) << server->log();
  EXPECT_EQ(again.connections(), 1u) << "the first attempt went to TLS";
}

// ---- replies -----------------------------------------------------------------

// alice's client speaks message-tags: she sees msgids, and her client
// shows a reply by its +draft/reply tag.
struct Tagged {
  std::unique_ptr<IrcClient> client;
  explicit Tagged(int port, const std::string& nick) {
    client = std::make_unique<IrcClient>(port, nick);
    client->send("CAP REQ :message-tags echo-message");
    auto ack = client->wait_for([](const irc::Line& l) { return l.command == "CAP"; });
    if (!ack || ack->param(1) != "ACK") throw std::runtime_error("no message-tags");
    client->join("#a");
  }
};

TEST_F(InspircdIrcv3Test, RepliesTravelAsDraftReplyTagsBothWays) {
  test::InspircdOptions options;
  options.message_tags = true;
  start(options);
  auto& mem = test::add_memory_plug(*host, "mem", {{"reply", true}});  // native replies
  auto& irc = test::add_plug<IRCPlug>(
      *host, "irc",
      "server: {host: 127.0.0.1, port: " + std::to_string(server->port()) +
          "}\nuser: {nick: bridge}\nquote-reply-to: false\n");
  host->add_channel("irc", irc.channel("#a"));
  host->add_channel("mem", mem.channel("room"));
  test::add_hook<SyncHook>(*host, "sync", "{channels: {bridge: [irc, mem]}, joins: false}");
  test::run(io, host->open());
  ASSERT_TRUE(until([&] { return irc.joined("#a"); })) << server->log();
  Tagged alice(server->port(), "alice");
  clients.push_back(alice.client.get());

  // IRC -> memory: alice asks, carol answers on the memory side.
  alice.client->say("#a", "question");
  auto asked = alice.client->wait_for(
      [](const irc::Line& l) { return l.command == "PRIVMSG" && l.nick == "alice"; });
  ASSERT_TRUE(asked && asked->tag("msgid")) << "no echo with a msgid";
  const std::string question_msgid = *asked->tag("msgid");
  ASSERT_TRUE(until([&] { return mem.posted_count() == 1; }));
  SentPtr question = mem.posted().back();
  Message answer;
  answer.text = RichText("answer");
  answer.user = mem.user("carol");
  answer.reply_to = question;
  SentPtr carols = mem.inject("room", answer);
  ASSERT_TRUE(until([&] {
    auto m = alice.client->privmsgs("#a");
    // However the renderer marks a reply ("└─> <carol> answer" after a
    // quote, as IMMP): the tag is what matters here.
    return !m.empty() && m.back().param(1).ends_with("<carol> answer");
  })) << [&] {
    std::string seen;
    for (const auto& l : alice.client->lines()) seen += l.str();
    return seen;
  }();
  const irc::Line bridged = alice.client->privmsgs("#a").back();
  ASSERT_TRUE(bridged.tag("+draft/reply")) << bridged.str();
  EXPECT_EQ(*bridged.tag("+draft/reply"), question_msgid);
  ASSERT_TRUE(bridged.tag("msgid"));
  const std::string answer_msgid = *bridged.tag("msgid");

  // memory <- IRC: alice replies to the bridged answer by its msgid; the
  // memory side gets a native reply to carol's own message.
  alice.client->send("@+draft/reply=" + answer_msgid + " PRIVMSG #a :thanks");
  ASSERT_TRUE(until([&] { return mem.posted_count() == 2; }));
  SentPtr thanks = mem.posted().back();
  EXPECT_EQ(thanks->plain(), "thanks");
  ASSERT_TRUE(thanks->reply_to) << "the reply was lost";
  EXPECT_EQ(thanks->reply_to->id, carols->id) << "not a reply to carol's answer";
}

// +draft/react on a TAGMSG, naming the message by +draft/reply, both ways.
TEST_F(InspircdIrcv3Test, ReactionsTravelAsDraftReactTagsBothWays) {
  test::InspircdOptions options;
  options.message_tags = true;
  start(options);
  auto& mem = test::add_memory_plug(*host, "mem", {{"reaction", true}});
  auto& irc = test::add_plug<IRCPlug>(
      *host, "irc",
      "server: {host: 127.0.0.1, port: " + std::to_string(server->port()) +
          "}\nuser: {nick: bridge}\n");
  host->add_channel("irc", irc.channel("#a"));
  host->add_channel("mem", mem.channel("room"));
  test::add_hook<SyncHook>(*host, "sync", "{channels: {bridge: [irc, mem]}, joins: false}");
  test::run(io, host->open());
  ASSERT_TRUE(until([&] { return irc.joined("#a"); })) << server->log();
  Tagged alice(server->port(), "alice");
  clients.push_back(alice.client.get());
  ASSERT_TRUE(irc.features().reaction);

  // memory -> IRC: carol reacts to alice's line.
  alice.client->say("#a", "lunch?");
  auto said = alice.client->wait_for(
      [](const irc::Line& l) { return l.command == "PRIVMSG" && l.nick == "alice"; });
  ASSERT_TRUE(said && said->tag("msgid"));
  ASSERT_TRUE(until([&] { return mem.posted_count() == 1; }));
  Message like;
  like.user = mem.user("carol");
  like.reaction = Reaction{"\xF0\x9F\x91\x8D", false, mem.posted().back()};
  mem.inject("room", like);
  std::optional<irc::Line> tagmsg;
  ASSERT_TRUE(until([&] {
    // find() moves past what it found: ask once.
    if (!tagmsg) {
      tagmsg = alice.client->find([](const irc::Line& l) { return l.command == "TAGMSG"; });
    }
    return tagmsg.has_value();
  }));
  ASSERT_TRUE(tagmsg->tag("+draft/react") && tagmsg->tag("+draft/reply"));
  EXPECT_EQ(*tagmsg->tag("+draft/react"), "\xF0\x9F\x91\x8D");
  EXPECT_EQ(*tagmsg->tag("+draft/reply"), *said->tag("msgid"));

  // IRC -> memory: alice reacts to carol's message as bridged.
  SentPtr carols = mem.inject("room", "soup", "carol");
  ASSERT_TRUE(until([&] {
    auto m = alice.client->privmsgs("#a");
    return !m.empty() && m.back().param(1) == "<carol> soup";
  }));
  const std::string soup_msgid = *alice.client->privmsgs("#a").back().tag("msgid");
  alice.client->send("@+draft/react=\xF0\x9F\x8D\xB2;+draft/reply=" + soup_msgid + " TAGMSG #a");
  ASSERT_TRUE(until([&] {
    return !mem.posted().empty() && mem.posted().back()->reaction.has_value();
  }));
  const Reaction& r = *mem.posted().back()->reaction;
  EXPECT_EQ(r.emoji, "\xF0\x9F\x8D\xB2");
  ASSERT_TRUE(r.on);
  EXPECT_EQ(r.on->id, carols->id);
}

}  // namespace
}  // namespace immp
