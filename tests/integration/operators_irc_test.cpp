// Operators as users meet them: the real `immp` binary on a real ngircd
// starts the Python examples (the dice bot and the daily logger), people
// talk in the channel and read the bot's answers; a second immp with the
// same operators is refused; SIGTERM stops the operators with the host.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/irc_client.hpp"
#include "support/irc_server.hpp"
#include "support/process.hpp"

namespace immp::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string immp_binary() { return (fs::path(IMMP_BINARY_DIR) / "immp").string(); }
const fs::path kSource = IMMP_SOURCE_DIR;

std::string config(int port, const fs::path& dir) {
  return "plugs:\n"
         "  irc:\n"
         "    path: immp.plug.irc.IRCPlug\n"
         "    config:\n"
         "      server: {host: 127.0.0.1, port: " +
         std::to_string(port) +
         "}\n"
         "      user: {nick: bot, real-name: immp bot}\n"
         "channels:\n"
         "  lobby: {plug: irc, source: '#lobby'}\n"
         "bus:\n"
         "  runtime_dir: " + (dir / "run").string() + "\n"
         "operators:\n"
         "  dice:\n"
         "    command: python3\n"
         "    args: [" + (kSource / "examples/operators/dice.py").string() + "]\n"
         "    config: {seed: 1}\n"
         "  logger:\n"
         "    command: python3\n"
         "    args: [" + (kSource / "examples/operators/daily_logger.py").string() + "]\n"
         "    data: logs\n";
}

TEST(OperatorsOnIrc, TheDiceBotAnswersAndTheLoggerWritesTheDay) {
  if (!NgircdServer::available()) GTEST_SKIP() << "ngircd is not installed";
  NgircdServer server;
  TempDir dir("immp-ops-irc");
  IrcClient alice(server.port(), "alice");
  alice.join("#lobby");
  fs::path file = dir / "ops.yaml";
  std::ofstream(file) << config(server.port(), dir.path());
  Process immp({immp_binary(), file.string()});
  ASSERT_TRUE(immp.wait_for(Stream::err, "Host ready", 10s)) << immp.err();
  ASSERT_TRUE(immp.wait_for(Stream::err, "immp.operator.dice:ready", 20s)) << immp.err();
  ASSERT_TRUE(immp.wait_for(Stream::err, "immp.operator.logger:ready", 20s)) << immp.err();
  ASSERT_TRUE(alice.wait_for([](const irc::Line& l) { return l.command == "JOIN" && l.nick == "bot"; }, 10s))
      << immp.err();

  alice.say("#lobby", "!roll 3d6");
  auto roll = alice.wait_for(
      [](const irc::Line& l) { return l.command == "PRIVMSG" && l.nick == "bot"; }, 10s);
  ASSERT_TRUE(roll) << immp.err();
  EXPECT_EQ(roll->param(0), "#lobby");
  EXPECT_TRUE(roll->param(1).starts_with("alice rolled 3d6: ")) << roll->param(1);
  alice.say("#lobby", "!echo over the bus");
  auto echo = alice.wait_for(
      [](const irc::Line& l) { return l.command == "PRIVMSG" && l.nick == "bot" && l.param(1) == "over the bus"; },
      10s);
  EXPECT_TRUE(echo) << immp.err();

  // A second immp with the same operators: refused by name, the first runs on.
  fs::path other = dir / "other.yaml";
  std::ofstream(other) << config(server.port(), dir.path());
  Process second({immp_binary(), other.string()});
  EXPECT_TRUE(second.wait_for(Stream::err, "operator 'dice' is already running under another immp", 10s))
      << second.err();
  second.signal(SIGTERM);
  EXPECT_EQ(second.wait(10s), 0) << second.err();

  // The logger wrote what alice said into today's file of the channel.
  fs::path logs = dir / "logs" / "irc_#lobby";
  ASSERT_TRUE(fs::is_directory(logs)) << immp.err();
  std::string day;
  for (const auto& e : fs::directory_iterator(logs)) day = test::read_file(e.path());
  EXPECT_NE(day.find("<alice> !roll 3d6"), std::string::npos) << day;
  EXPECT_NE(day.find("<alice> !echo over the bus"), std::string::npos) << day;

  immp.signal(SIGTERM);
  EXPECT_EQ(immp.wait(15s), 0) << immp.err();
  EXPECT_NE(immp.err().find("immp.operator.dice:exited with status 0"), std::string::npos) << immp.err();
  // The host's runtime directory (socket, scratch dirs) is gone with it.
  for (const auto& e : fs::directory_iterator(dir / "run")) {
    EXPECT_FALSE(e.path().filename().string().starts_with("host-")) << e.path();
  }
}

// examples/operators/irc_bridge.py: a bridge written as an operator. immp's
// own IRC plug is on one network (#lobby); the operator reaches another
// IRC network by itself (#far) and bridges it to #lobby, both ways.
TEST(OperatorsOnIrc, ABridgeWrittenAsAnOperatorCarriesAnotherNetworkBothWays) {
  if (!NgircdServer::available()) GTEST_SKIP() << "ngircd is not installed";
  NgircdServer home;
  NgircdOptions far_options;
  far_options.name = "far.test";
  NgircdServer far(far_options);
  TempDir dir("immp-ops-bridge");
  IrcClient alice(home.port(), "alice");
  alice.join("#lobby");
  IrcClient bob(far.port(), "bob");
  bob.join("#far");
  fs::path file = dir / "bridge.yaml";
  std::ofstream(file) << "plugs:\n"
                         "  irc:\n"
                         "    path: immp.plug.irc.IRCPlug\n"
                         "    config:\n"
                         "      server: {host: 127.0.0.1, port: " << home.port() << "}\n"
                         "      user: {nick: bot, real-name: immp bot}\n"
                         "channels:\n"
                         "  lobby: {plug: irc, source: '#lobby'}\n"
                         "bus:\n"
                         "  runtime_dir: " << (dir / "run").string() << "\n"
                         "operators:\n"
                         "  far:\n"
                         "    command: python3\n"
                         "    args: [" << (kSource / "examples/operators/irc_bridge.py").string() << "]\n"
                         "    config: {port: " << far.port() << ", nick: bridge, channel: '#far', to: lobby}\n";
  Process immp({immp_binary(), file.string()});
  ASSERT_TRUE(immp.wait_for(Stream::err, "Host ready", 10s)) << immp.err();
  ASSERT_TRUE(immp.wait_for(Stream::err, "immp.operator.far:ready", 20s)) << immp.err();
  ASSERT_TRUE(alice.wait_for([](const irc::Line& l) { return l.command == "JOIN" && l.nick == "bot"; }, 10s))
      << immp.err();
  ASSERT_TRUE(bob.wait_for([](const irc::Line& l) { return l.command == "JOIN" && l.nick == "bridge"; }, 10s))
      << immp.err();

  alice.say("#lobby", "hello far network");
  auto there = bob.wait_for(
      [](const irc::Line& l) { return l.command == "PRIVMSG" && l.nick == "bridge"; }, 10s);
  ASSERT_TRUE(there) << immp.err();
  EXPECT_EQ(there->param(0), "#far");
  EXPECT_EQ(there->param(1), "<alice> hello far network");

  bob.say("#far", "hi home network");
  auto home_line = alice.wait_for(
      [](const irc::Line& l) { return l.command == "PRIVMSG" && l.nick == "bot"; }, 10s);
  ASSERT_TRUE(home_line) << immp.err();
  EXPECT_EQ(home_line->param(0), "#lobby");
  EXPECT_NE(home_line->param(1).find("bob"), std::string::npos) << home_line->param(1);
  EXPECT_NE(home_line->param(1).find("hi home network"), std::string::npos) << home_line->param(1);

  // Once more each way; then nothing came back to where it was said.
  alice.say("#lobby", "second from home");
  ASSERT_TRUE(bob.wait_privmsg("#far", "<alice> second from home", 10s)) << immp.err();
  bob.say("#far", "second from far");
  ASSERT_TRUE(alice.wait_for([](const irc::Line& l) {
    return l.command == "PRIVMSG" && l.param(1).find("second from far") != std::string::npos;
  }, 10s)) << immp.err();
  alice.drain(500ms);
  bob.drain(100ms);
  EXPECT_EQ(bob.privmsgs("#far").size(), 2u) << immp.err();
  EXPECT_EQ(alice.privmsgs("#lobby").size(), 2u) << immp.err();

  immp.signal(SIGTERM);
  EXPECT_EQ(immp.wait(15s), 0) << immp.err();
}

}  // namespace
}  // namespace immp::test
