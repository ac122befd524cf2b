#include "hooks/alerts/subscriptions_hook.hpp"

#include <gtest/gtest.h>

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

struct SubscriptionsTest : ::testing::Test {
  asio::io_context io;
  test::TempDir dir{"immp-subs"};
  std::unique_ptr<Host> host;
  test::RosterPlug* net = nullptr;
  SubscriptionsHook* subs = nullptr;

  void build() {
    HostOptions o;
    o.phase_timeout = 5s;
    host = std::make_unique<Host>(io.get_executor(), o);
    net = &test::add_roster_plug(*host, "net");
    Group people;
    people.name = "people";
    people.anywhere.push_back(&host->plug_handle("net"));
    host->add_group(std::move(people));
    test::add_hook<store::DatabaseHook>(*host, "db",
                                        "url: \"sqlite:///" + (dir / "immp.db").string() + "\"");
    subs = &test::add_hook<SubscriptionsHook>(*host, "subs", "groups: [people]");
    test::add_command_hook(*host, "people", "[subs]");
    net->enter("#room", "alice");
    net->enter("#room", "bob");
    net->enter("#room", "carol");
    test::run(io, host->open());
  }
  ~SubscriptionsTest() override { close(); }
  void close() {
    if (host && host->is_open()) test::run(io, host->close());
  }
  bool wait(std::function<bool()> done) { return test::run_until(io, std::move(done), 5s); }
  std::string ask(const std::string& where, const std::string& who, const std::string& text) {
    std::size_t before = net->said(where).size();
    net->say(where, who, text);
    EXPECT_TRUE(wait([&] { return net->said(where).size() > before; })) << "no answer to " << text;
    auto said = net->said(where);
    return said.size() > before ? said[before] : std::string();
  }
  // carol is subscribed to "sentinel": once her alert for it is out, every
  // message before it was handled.
  void settle() {
    if (!sentinel_) {
      ask("dm:carol", "carol", "!sub-add sentinel");
      sentinel_ = true;
    }
    std::size_t before = net->said("dm:carol").size();
    net->say("#room", "alice", "sentinel");
    ASSERT_TRUE(wait([&] { return net->said("dm:carol").size() > before; }));
  }
  bool sentinel_ = false;
};

TEST_F(SubscriptionsTest, AWordSaidInARoomIsToldPrivatelyToWhoeverSubscribed) {
  build();
  EXPECT_EQ(ask("dm:bob", "bob", "!sub-add Pizza!"), kTick + " Subscribed");
  EXPECT_EQ(ask("dm:bob", "bob", "!sub-add pizza"), kTick + " Already subscribed");
  std::size_t before = net->said("dm:bob").size();
  net->say("#room", "alice", "Who wants PIZZA tonight?");
  ASSERT_TRUE(wait([&] { return net->said("dm:bob").size() > before; }));
  EXPECT_EQ(net->said("dm:bob").back(), "alice mentioned pizza in #room:\nWho wants PIZZA tonight?");
  settle();
  EXPECT_TRUE(net->said("#room").empty()) << "nothing is said in the room";
  EXPECT_TRUE(net->said("dm:alice").empty());
}

TEST_F(SubscriptionsTest, TheAuthorAndPeopleNotInTheRoomAreNotAlerted) {
  build();
  ask("dm:alice", "alice", "!sub-add cake");
  ask("dm:dave", "dave", "!sub-add cake");  // dave is not in #room
  std::size_t alice_before = net->said("dm:alice").size();
  net->say("#room", "alice", "I baked a cake");
  settle();
  EXPECT_EQ(net->said("dm:alice").size(), alice_before);
  EXPECT_EQ(net->said("dm:dave").size(), 1u) << "only the answer to sub-add";
}

TEST_F(SubscriptionsTest, ListRemoveAndExclude) {
  build();
  EXPECT_EQ(ask("dm:bob", "bob", "!sub-list"), "No active subscriptions.");
  ask("dm:bob", "bob", "!sub-add tea");
  ask("dm:bob", "bob", "!sub-add coffee beans");
  EXPECT_EQ(ask("dm:bob", "bob", "!sub-list"), "Your subscriptions:\n- coffee beans\n- tea");
  // Muted in #room only.
  EXPECT_EQ(ask("#room", "bob", "!sub-exclude tea"), kTick + " Excluded");
  std::size_t before = net->said("dm:bob").size();
  net->say("#room", "alice", "tea time");
  settle();
  EXPECT_EQ(net->said("dm:bob").size(), before);
  EXPECT_EQ(ask("#room", "bob", "!sub-exclude tea"), kTick + " No longer excluded");
  net->say("#room", "alice", "tea time again");
  ASSERT_TRUE(wait([&] { return net->said("dm:bob").size() == before + 1; }));
  EXPECT_EQ(ask("#room", "bob", "!sub-exclude milk"), kCross + " Not subscribed");
  EXPECT_EQ(ask("dm:bob", "bob", "!sub-remove tea"), kTick + " Unsubscribed");
  EXPECT_EQ(ask("dm:bob", "bob", "!sub-remove tea"), kTick + " Not subscribed");
  before = net->said("dm:bob").size();
  net->say("#room", "alice", "more tea");
  settle();
  EXPECT_EQ(net->said("dm:bob").size(), before);
}

TEST_F(SubscriptionsTest, NothingToSubscribeToGetsTheUsageLine) {
  build();
  std::string answer = ask("dm:bob", "bob", "!sub-add !!!");
  EXPECT_NE(answer.find("sub-add"), std::string::npos) << answer;
  EXPECT_EQ(ask("dm:bob", "bob", "!sub-list"), "No active subscriptions.");
}

TEST_F(SubscriptionsTest, SubscriptionsSurviveARestart) {
  build();
  ask("dm:bob", "bob", "!sub-add kittens");
  ask("#room", "bob", "!sub-exclude kittens");
  close();
  build();
  EXPECT_EQ(ask("dm:bob", "bob", "!sub-list"), "Your subscriptions:\n- kittens");
  net->enter("#other", "alice");
  net->enter("#other", "bob");
  std::size_t before = net->said("dm:bob").size();
  net->say("#room", "alice", "kittens here");  // still excluded
  net->say("#other", "alice", "kittens there");
  ASSERT_TRUE(wait([&] { return net->said("dm:bob").size() > before; }));
  EXPECT_EQ(net->said("dm:bob").back(), "alice mentioned kittens in #other:\nkittens there");
}

// A room that moves (an upgraded group) keeps its excludes, in the
// database too.
TEST_F(SubscriptionsTest, ExcludesMoveWithTheChannel) {
  build();
  ask("dm:bob", "bob", "!sub-add kittens");
  EXPECT_EQ(ask("#room", "bob", "!sub-exclude kittens"), kTick + " Excluded");
  bool moved = test::run(io, subs->channel_migrate(net->channel("#room"), net->channel("#new")));
  EXPECT_TRUE(moved);
  EXPECT_FALSE(test::run(io, subs->channel_migrate(net->channel("#room"), net->channel("#new"))))
      << "nothing left to move";
  close();
  build();
  net->enter("#new", "alice");
  net->enter("#new", "bob");
  std::size_t before = net->said("dm:bob").size();
  net->say("#new", "alice", "kittens, moved");  // excluded where the room went
  settle();
  EXPECT_EQ(net->said("dm:bob").size(), before);
  net->say("#room", "alice", "kittens, left behind");  // no longer excluded
  ASSERT_TRUE(wait([&] { return net->said("dm:bob").size() > before; }));
  EXPECT_EQ(net->said("dm:bob").back(), "alice mentioned kittens in #room:\nkittens, left behind");
}

}  // namespace
}  // namespace immp::hooks
