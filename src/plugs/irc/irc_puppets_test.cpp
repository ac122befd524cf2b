#include "plugs/irc/irc_puppets.hpp"

#include <gtest/gtest.h>

#include <sstream>

#include <spdlog/sinks/ostream_sink.h>

#include "plugs/irc/irc_transport_fake.hpp"
#include "support/async.hpp"

// Puppets against in-memory servers (one per puppet) and a manual clock:
// how they are named, and that there is no limit unless one is set.

namespace immp::plugs {
namespace {

using irc::fake::FakeServer;
using irc::fake::FakeTransport;
using irc::fake::ManualClock;
using Lines = std::vector<std::string>;

TEST(IrcPuppetNick, IsTheNameAsImmpMakesIt) {
  EXPECT_EQ(IrcPuppets::nick_for("", "jdoe"), "jdoe");
  EXPECT_EQ(IrcPuppets::nick_for("m-", "jdoe"), "m-jdoe");
  // Runs of spaces become one '-'; leading and trailing spaces go.
  EXPECT_EQ(IrcPuppets::nick_for("", "  Jane   Doe "), "Jane-Doe");
  // Characters IMMP does not allow in nicks are left out.
  EXPECT_EQ(IrcPuppets::nick_for("", "jane.doe@example"), "janedoeexample");
  EXPECT_EQ(IrcPuppets::nick_for("", "Zoë"), "Zo");
  EXPECT_EQ(IrcPuppets::nick_for("", "[a]{b}|c^d_e"), "[a]{b}|c^d_e");
  // Not IMMP's (a server refuses these): a leading '_' when the nick would
  // start with a digit or '-', or be empty.
  EXPECT_EQ(IrcPuppets::nick_for("", "1337"), "_1337");
  EXPECT_EQ(IrcPuppets::nick_for("", "Жанна"), "_");
  EXPECT_EQ(IrcPuppets::nick_for("", std::string(40, 'a')).size(), 30u);
}

struct IrcPuppetsTest : ::testing::Test {
  asio::io_context io;
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>(io.get_executor());
  // One server end per connection made, in order.
  std::shared_ptr<std::vector<std::shared_ptr<FakeServer>>> servers =
      std::make_shared<std::vector<std::shared_ptr<FakeServer>>>();
  std::ostringstream log_text;
  LoggerPtr log = std::make_shared<spdlog::logger>(
      "immp.plug.irc.test", std::make_shared<spdlog::sinks::ostream_sink_st>(log_text));

  irc::ConnectionOptions base() {
    irc::ConnectionOptions o;
    o.host = "irc.test";
    o.nick = "bridge";
    o.send_delay = std::chrono::milliseconds(0);
    o.clock = clock;
    o.transport = [servers = servers](Executor ex, const irc::ConnectionOptions&) {
      auto server = std::make_shared<FakeServer>(ex);
      server->answer_pings(true);  // confirms what the puppet sends
      servers->push_back(server);
      return std::unique_ptr<irc::Transport>(std::make_unique<FakeTransport>(server));
    };
    return o;
  }

  void settle() {
    for (;;) {
      if (io.stopped()) io.restart();
      if (io.poll() == 0) return;
    }
  }

  // Speaks for `user` through `puppets`, answering the new puppet's
  // registration (if it makes one) as a server without capabilities does.
  // Returns the lines sent, or nullopt if the puppet could not be used.
  std::optional<std::size_t> speak(IrcPuppets& puppets, const std::string& key,
                                   const std::string& name, const std::string& real_name) {
    std::optional<std::optional<std::size_t>> result;
    std::size_t before = servers->size();
    // send() keeps references to its strings: they outlive it here.
    const std::string channel = "#room";
    asio::co_spawn(io, puppets.send(key, name, real_name, channel, {"PRIVMSG #room :hello\r\n"}),
                   [&](std::exception_ptr e, std::optional<std::size_t> written) {
                     if (e) std::rethrow_exception(e);
                     result = written;
                   });
    settle();
    if (servers->size() > before) {
      FakeServer& server = *servers->back();
      server.line(":irc.test CAP * LS :");
      settle();
      auto nick = server.lines().at(1).substr(5);  // "NICK <nick>"
      server.line(":irc.test 001 " + nick + " :Welcome " + nick + "!immp@puppet.example");
      settle();
    }
    EXPECT_TRUE(result.has_value()) << "the send did not finish";
    settle();
    return result.value_or(std::nullopt);
  }
};

// IMMP puts no limit on puppets, and neither do we unless max-puppets is
// set: the twelfth user's puppet joins the other eleven, none of them quits.
TEST_F(IrcPuppetsTest, ThereIsNoLimitByDefault) {
  IrcPuppets puppets(io.get_executor(), base(), "", 0, "bye", log);
  for (int i = 1; i <= 12; ++i) {
    std::string name = "user" + std::to_string(i);
    ASSERT_EQ(speak(puppets, "dummy/" + name, name, name), 1u) << name;
  }
  EXPECT_EQ(puppets.size(), 12u);
  ASSERT_EQ(servers->size(), 12u);
  for (std::size_t i = 0; i < servers->size(); ++i) {
    SCOPED_TRACE(i);
    const FakeServer& server = *(*servers)[i];
    EXPECT_FALSE(server.client_closed());
    for (const auto& line : server.lines()) EXPECT_NE(line.rfind("QUIT", 0), 0u) << line;
    EXPECT_TRUE(puppets.owns("user" + std::to_string(i + 1)));
  }
  // A user seen before speaks through the same puppet.
  ASSERT_EQ(speak(puppets, "dummy/user1", "user1", "user1"), 1u);
  EXPECT_EQ(servers->size(), 12u);
  test::run(io, puppets.stop());
}

// With max-puppets set, the least recently used puppet quits to make room.
TEST_F(IrcPuppetsTest, ALimitEvictsTheLeastRecentlyUsed) {
  IrcPuppets puppets(io.get_executor(), base(), "", 2, "bye", log);
  ASSERT_EQ(speak(puppets, "k/a", "a", "a"), 1u);
  ASSERT_EQ(speak(puppets, "k/b", "b", "b"), 1u);
  ASSERT_EQ(speak(puppets, "k/c", "c", "c"), 1u);
  EXPECT_EQ(puppets.size(), 2u);
  EXPECT_FALSE(puppets.owns("a"));
  EXPECT_TRUE(puppets.owns("b"));
  EXPECT_TRUE(puppets.owns("c"));
  EXPECT_EQ((*servers)[0]->lines().back().rfind("QUIT", 0), 0u)
      << testing::PrintToString((*servers)[0]->lines());
  test::run(io, puppets.stop());
}

// A puppet registers as IMMP's do: ident `immp`, the nick made from the
// name, the real name the plug gives (who and where from).
TEST_F(IrcPuppetsTest, RegistersWithIdentImmpAndTheGivenRealName) {
  IrcPuppets puppets(io.get_executor(), base(), "m-", 0, "bye", log);
  ASSERT_EQ(speak(puppets, "slack/U42", "Jane Doe", "Jane Doe (Slack: U42)"), 1u);
  ASSERT_EQ(servers->size(), 1u);
  const FakeServer& server = *servers->front();
  EXPECT_TRUE(server.saw("NICK m-Jane-Doe"));
  EXPECT_TRUE(server.saw("USER immp 0 * :Jane Doe (Slack: U42)"));
  EXPECT_TRUE(server.saw("JOIN #room")) << testing::PrintToString(server.lines());
  EXPECT_TRUE(server.saw("PRIVMSG #room :hello"));
  test::run(io, puppets.stop());
}

}  // namespace
}  // namespace immp::plugs
