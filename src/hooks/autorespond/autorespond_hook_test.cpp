#include "hooks/autorespond/autorespond_hook.hpp"

#include <gtest/gtest.h>

#include "hooks/command/command_hook.hpp"
#include "support/async.hpp"
#include "support/hooks.hpp"
#include "support/memory.hpp"

namespace immp::hooks {
namespace {

using namespace std::chrono_literals;
using plugs::MemoryPlug;

struct AutoRespondTest : ::testing::Test {
  asio::io_context io;
  std::unique_ptr<Host> host;
  MemoryPlug* a = nullptr;
  MemoryPlug* b = nullptr;
  AutoRespondHook* ar = nullptr;
  Clock::time_point now = Clock::now();
  std::vector<std::string> changed;  // hooks whose config changed

  // `a` is in group "bots"; `b` is not.
  void build(const std::string& config, NodeMap a_extra = {}) {
    HostOptions o;
    o.phase_timeout = 2s;
    o.clock = [this] { return now; };
    host = std::make_unique<Host>(io.get_executor(), o);
    a = &test::add_memory_plug(*host, "a", std::move(a_extra));
    b = &test::add_memory_plug(*host, "b");
    Group bots;
    bots.name = "bots";
    bots.anywhere.push_back(&host->plug_handle("a"));
    host->add_group(bots);
    // Both prioritised: they take each message in turn, so answers come
    // out in the order of the messages that caused them.
    ar = &test::add_hook<AutoRespondHook>(*host, "ar", config, 1);
    test::add_hook<CommandHook>(*host, "commands",
                                "prefix: '?'\nmapping: {main: {groups: [bots], hooks: [ar]}}", 2);
    // The sentinel's own responder (no cooldown), last: once it answered,
    // everything before it was handled.
    test::add_hook<AutoRespondHook>(
        *host, "sentinel", "groups: [bots]\ncooldown: 0\nresponses: {'sentinel (\\d+)': 'ok {0}'}",
        3);
    test::run(io, host->open());
    sub_ = host->on_config_changed([this](Openable& o) { changed.push_back(o.name()); });
  }
  ~AutoRespondTest() override {
    sub_.reset();
    if (host && host->is_open()) test::run(io, host->close());
  }
  bool wait(std::function<bool()> done) { return test::run_until(io, std::move(done), 5s); }
  // Says `text` in a's room, then a sentinel that always answers; returns
  // the answers to `text`.
  std::vector<std::string> say(const std::string& text, std::string user = "alice") {
    std::size_t before = a->posted_count();
    a->inject("room", text, user);
    a->inject("room", "sentinel " + std::to_string(++sentinels_), "zed");
    std::string expect = "ok " + std::to_string(sentinels_);
    EXPECT_TRUE(wait([&] {
      return a->posted_count() > before && a->posted().back()->plain() == expect;
    })) << "answers: "
        << dump();
    std::vector<std::string> out;
    const auto& all = a->posted();
    for (std::size_t i = all.size() - (a->posted_count() - before); i + 1 < all.size(); ++i) {
      out.push_back(all[i]->plain());
    }
    return out;
  }
  std::string dump() const {
    std::string out;
    for (const auto& m : a->posted()) out += "[" + m->plain() + "] ";
    return out;
  }
  static std::string config(const std::string& more = "") {
    return "groups: [bots]\nresponses:\n" + (more.empty() ? std::string("  {}\n") : more);
  }

 private:
  int sentinels_ = 0;
  Subscription sub_;
};

using Texts = std::vector<std::string>;

TEST_F(AutoRespondTest, AMatchingMessageIsAnsweredInItsChannel) {
  build(config("  '\\bhello\\b': 'Hi there!'\n"));
  EXPECT_EQ(say("well HELLO everyone"), Texts{"Hi there!"});
  EXPECT_EQ(a->posted()[a->posted().size() - 2]->channel, a->channel("room"));
  EXPECT_EQ(say("othello"), Texts{});
}

TEST_F(AutoRespondTest, OnlyInTheChannelsOfItsGroups) {
  build(config("  'hello': 'Hi'\n"));
  b->inject("room", "hello", "alice");
  EXPECT_EQ(say("sentinel-free"), Texts{});
  EXPECT_EQ(b->posted_count(), 0u);
}

TEST_F(AutoRespondTest, EveryMatchingPatternAnswersAndGroupsFillTheResponse) {
  build(config("  'my name is (\\w+)': 'Hello {}!'\n  'name': 'Names are nice'\n"));
  EXPECT_EQ(say("my name is Bob"), (Texts{"Hello Bob!", "Names are nice"}));
}

TEST_F(AutoRespondTest, APythonLookAheadStillWorks) {
  build(config("  'foo(?=bar)': 'lookahead'\n"));
  EXPECT_EQ(say("foobar"), Texts{"lookahead"});
  EXPECT_EQ(say("foobaz"), Texts{});
}

TEST_F(AutoRespondTest, NeverAnswersItselfEvenOnANetworkThatEchoes) {
  // The response matches its own pattern: its echo must not be answered.
  build(config("  'ping': 'ping pong'\n"), {{"echo", true}});
  EXPECT_EQ(say("ping"), Texts{"ping pong"});
  EXPECT_EQ(say("nothing"), Texts{}) << "no answer to our own echo came after";
}

TEST_F(AutoRespondTest, TwoBotsAnsweringEachOtherStopAfterOneRound) {
  // We answer "hello" with "hi"; another bot on the network answers "hi"
  // with "hello".
  build(config("  hello: hi\n"));
  EXPECT_EQ(say("hello"), Texts{"hi"});
  EXPECT_EQ(say("hello", "otherbot"), Texts{}) << "the other bot's answer is not answered";
  EXPECT_EQ(say("hello", "otherbot"), Texts{});
  // After the cooldown, the pattern answers again.
  now += 6s;
  EXPECT_EQ(say("hello"), Texts{"hi"});
}

TEST_F(AutoRespondTest, ArAddAndArRemoveChangeTheResponsesAndTheConfig) {
  build(config());
  EXPECT_EQ(say("?ar-add \"good (morning|night)\" 'Good {0} to you'"), Texts{"\xE2\x9C\x85 Added"});
  EXPECT_EQ(say("good night all"), Texts{"Good night to you"});
  ASSERT_FALSE(changed.empty());
  EXPECT_EQ(changed.back(), "ar");
  const Node* saved = ar->config().at("responses").find("good (morning|night)");
  ASSERT_TRUE(saved);
  EXPECT_EQ(saved->as_string(), "Good {0} to you");
  EXPECT_EQ(say("?ar-add \"good (morning|night)\" 'Sleep well'"), Texts{"\xE2\x9C\x85 Updated"});
  now += 6s;  // past the cooldown of the answer above
  EXPECT_EQ(say("good night"), Texts{"Sleep well"});
  EXPECT_EQ(say("?ar-remove \"good (morning|night)\""), Texts{"\xE2\x9C\x85 Removed"});
  EXPECT_EQ(say("good night"), Texts{});
  EXPECT_FALSE(ar->config().at("responses").find("good (morning|night)"));
  EXPECT_EQ(say("?ar-remove nope"), Texts{"\xE2\x9D\x8C No such response"});
  EXPECT_EQ(say("?ar-add '(bad' x"), Texts{"\xE2\x9D\x8C Bad pattern: missing ): (bad"});
  EXPECT_EQ(say("?ar-add onlyone"), Texts{"ar-add <match> <response>:\n"
                                          "Add a new trigger / response pair."});
}

TEST_F(AutoRespondTest, AnUnknownGroupIsAConfigErrorNamingTheKey) {
  host = std::make_unique<Host>(io.get_executor());
  try {
    test::add_hook<AutoRespondHook>(*host, "ar", "groups: [nope]");
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "test.yaml:1:10: hooks.ar.config.groups[0]: no group named 'nope' (see `groups`)");
  }
}

}  // namespace
}  // namespace immp::hooks
