// Two immp hosts as users run them: two `immp` processes, each with its own
// config file and IRC network account, share a bridged room through a real
// nats-server. What is said in one host's channel reaches the other's, each
// message once, both ways.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/irc_client.hpp"
#include "support/irc_server.hpp"
#include "support/nats_server.hpp"
#include "support/process.hpp"

namespace immp::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string immp_binary() { return (fs::path(IMMP_BINARY_DIR) / "immp").string(); }

// Host `prefix`: its IRC plug in `channel`, bridged with `remote`.
std::string host_config(const std::string& prefix, int irc_port, const std::string& channel,
                        const std::string& nats_url, const std::string& remote, const fs::path& dir) {
  return "plugs:\n"
         "  irc:\n"
         "    path: immp.plug.irc.IRCPlug\n"
         "    config:\n"
         "      server: {host: 127.0.0.1, port: " + std::to_string(irc_port) + "}\n"
         "      user: {nick: " + prefix + "bot, real-name: immp " + prefix + "}\n"
         "channels:\n"
         "  lobby: {plug: irc, source: '" + channel + "'}\n"
         "bus:\n"
         "  runtime_dir: " + (dir / ("run-" + prefix)).string() + "\n"
         "  url: " + nats_url + "\n"
         "  prefix: " + prefix + "\n"
         "  bridges:\n"
         "    - {channel: lobby, remote: '" + remote + "'}\n"
         "logging:\n"
         "  version: 1\n"
         "  handlers:\n"
         "    console: {class: logging.StreamHandler}\n"
         "  loggers:\n"
         "    immp: {level: INFO}\n"
         "  root: {handlers: [console]}\n";
}

// The texts of what `nick` said in `channel`, as `client` saw them.
std::vector<std::string> said_by(const IrcClient& client, const std::string& channel, const std::string& nick) {
  std::vector<std::string> out;
  for (const auto& l : client.privmsgs(channel)) {
    if (l.nick == nick) out.push_back(l.param(1));
  }
  return out;
}

bool contains(const std::string& line, const std::string& part) { return line.find(part) != std::string::npos; }

TEST(NatsProcesses, TwoImmpProcessesShareABridgedRoomWithNothingLostOrDoubled) {
  if (!NatsServer::available()) GTEST_SKIP() << "nats-server is not installed";
  if (!NgircdServer::available()) GTEST_SKIP() << "ngircd is not installed";
  NatsServer nats;
  NgircdServer irc;
  TempDir dir("immp-nats-procs");
  IrcClient alice(irc.port(), "alice");
  alice.join("#alpha");
  IrcClient bob(irc.port(), "bob");
  bob.join("#beta");
  std::ofstream(dir / "alpha.yaml") << host_config("alpha", irc.port(), "#alpha", nats.url(), "beta/irc/#beta", dir.path());
  std::ofstream(dir / "beta.yaml") << host_config("beta", irc.port(), "#beta", nats.url(), "alpha/irc/#alpha", dir.path());
  Process alpha({immp_binary(), (dir / "alpha.yaml").string()});
  Process beta({immp_binary(), (dir / "beta.yaml").string()});
  ASSERT_TRUE(alpha.wait_for(Stream::err, "bridge lobby <- beta/irc/#beta subscribed", 20s)) << alpha.err();
  ASSERT_TRUE(beta.wait_for(Stream::err, "bridge lobby <- alpha/irc/#alpha subscribed", 20s)) << beta.err();
  ASSERT_TRUE(alice.wait_for([](const irc::Line& l) { return l.command == "JOIN" && l.nick == "alphabot"; }, 10s))
      << alpha.err();
  ASSERT_TRUE(bob.wait_for([](const irc::Line& l) { return l.command == "JOIN" && l.nick == "betabot"; }, 10s))
      << beta.err();

  // Both ways, interleaved.
  const int n = 4;
  for (int i = 1; i <= n; ++i) {
    alice.say("#alpha", "from alpha " + std::to_string(i));
    bob.say("#beta", "from beta " + std::to_string(i));
  }
  auto last_at_beta = bob.wait_for([&](const irc::Line& l) {
    return l.command == "PRIVMSG" && l.nick == "betabot" && contains(l.param(1), "from alpha " + std::to_string(n));
  }, 20s);
  ASSERT_TRUE(last_at_beta) << beta.err() << alpha.err();
  auto last_at_alpha = alice.wait_for([&](const irc::Line& l) {
    return l.command == "PRIVMSG" && l.nick == "alphabot" && contains(l.param(1), "from beta " + std::to_string(n));
  }, 20s);
  ASSERT_TRUE(last_at_alpha) << alpha.err() << beta.err();
  // Anything doubled or echoed back would follow within this.
  alice.drain(1500ms);
  bob.drain(200ms);

  std::vector<std::string> at_beta = said_by(bob, "#beta", "betabot");
  std::vector<std::string> at_alpha = said_by(alice, "#alpha", "alphabot");
  ASSERT_EQ(at_beta.size(), static_cast<std::size_t>(n)) << ::testing::PrintToString(at_beta);
  ASSERT_EQ(at_alpha.size(), static_cast<std::size_t>(n)) << ::testing::PrintToString(at_alpha);
  for (int i = 0; i < n; ++i) {
    // In order, each with its author's name.
    EXPECT_TRUE(contains(at_beta[i], "from alpha " + std::to_string(i + 1))) << at_beta[i];
    EXPECT_TRUE(contains(at_beta[i], "alice")) << at_beta[i];
    EXPECT_TRUE(contains(at_alpha[i], "from beta " + std::to_string(i + 1))) << at_alpha[i];
    EXPECT_TRUE(contains(at_alpha[i], "bob")) << at_alpha[i];
  }

  alpha.signal(SIGTERM);
  beta.signal(SIGTERM);
  EXPECT_EQ(alpha.wait(15s), 0) << alpha.err();
  EXPECT_EQ(beta.wait(15s), 0) << beta.err();
}

}  // namespace
}  // namespace immp::test
