#include "hooks/filter/filter_hook.hpp"

#include <gtest/gtest.h>

#include "hooks/sync/sync_hook.hpp"
#include "support/async.hpp"
#include "support/hooks.hpp"
#include "support/memory.hpp"

namespace immp::hooks {
namespace {

using namespace std::chrono_literals;
using plugs::MemoryPlug;

// Rooms on `a` and `b` bridged by a sync; the filter covers group "a-side"
// (plug a) only.
struct FilterTest : ::testing::Test {
  asio::io_context io;
  std::unique_ptr<Host> host;
  MemoryPlug* a = nullptr;
  MemoryPlug* b = nullptr;
  FilterHook* filter = nullptr;

  void build(const std::string& config) {
    host = std::make_unique<Host>(io.get_executor(), HostOptions{.phase_timeout = 2s});
    a = &test::add_memory_plug(*host, "a");
    b = &test::add_memory_plug(*host, "b");
    host->add_channel("a-room", a->channel("room"));
    host->add_channel("b-room", b->channel("room"));
    Group side;
    side.name = "a-side";
    side.anywhere.push_back(&host->plug_handle("a"));
    host->add_group(side);
    filter = &test::add_hook<FilterHook>(*host, "filter", config, 0);
    test::add_hook<SyncHook>(*host, "sync", "channels: {room: [a-room, b-room]}");
    test::run(io, host->open());
  }
  ~FilterTest() override {
    if (host && host->is_open()) test::run(io, host->close());
  }
  // Says `text` on a as `user`, then a sentinel; returns what b received
  // before the sentinel.
  std::vector<std::string> relayed(const std::string& text, const std::string& user = "alice") {
    std::size_t before = b->posted_count();
    a->inject("room", text, user);
    a->inject("room", "sentinel", "alice");
    EXPECT_TRUE(test::run_until(
        io, [&] { return b->posted_count() > before && b->posted().back()->plain() == "sentinel"; },
        5s));
    std::vector<std::string> out;
    const auto& all = b->posted();
    for (std::size_t i = all.size() - (b->posted_count() - before); i + 1 < all.size(); ++i) {
      out.push_back(all[i]->plain());
    }
    return out;
  }
};

using Texts = std::vector<std::string>;

TEST_F(FilterTest, MessagesFromListedUsersAreDropped) {
  build("groups: [a-side]\nusers: {a: [spammer]}");
  EXPECT_EQ(relayed("buy now", "spammer"), Texts{});
  EXPECT_EQ(relayed("hello", "alice"), Texts{"hello"});
  EXPECT_EQ(filter->counts().dropped_users, 1u);
}

TEST_F(FilterTest, MessagesMatchingADropPatternAreDropped) {
  build("groups: [a-side]\ndrop: ['https?://bit\\.ly/', '(?=.*free)(?=.*money)']");
  EXPECT_EQ(relayed("see http://BIT.ly/x"), Texts{});
  EXPECT_EQ(relayed("money for free"), Texts{}) << "a look-ahead, through the fallback engine";
  EXPECT_EQ(relayed("free time"), Texts{"free time"});
}

TEST_F(FilterTest, TextIsRewrittenWithReplacements) {
  build(
      "groups: [a-side]\nreplace: {'\\bdarn\\b': '****', '(\\w+)@example\\.com': '\\1 at "
      "example'}");
  EXPECT_EQ(relayed("darn, mail bob@example.com"), Texts{"****, mail bob at example"});
  EXPECT_EQ(relayed("darnit"), Texts{"darnit"});
}

TEST_F(FilterTest, OnlyInTheChannelsOfItsGroups) {
  build("groups: [a-side]\ndrop: [secret]");
  std::size_t before = a->posted_count();
  b->inject("room", "secret from b", "bob");
  b->inject("room", "sentinel", "bob");
  ASSERT_TRUE(test::run_until(
      io, [&] { return a->posted_count() == before + 2; }, 5s));
  EXPECT_EQ(a->posted()[before]->plain(), "secret from b");
}

TEST_F(FilterTest, APatternNoEngineTakesIsAConfigErrorNamingIt) {
  host = std::make_unique<Host>(io.get_executor());
  Group g;
  g.name = "g";
  host->add_group(g);
  try {
    test::add_hook<FilterHook>(*host, "filter", "groups: [g]\ndrop: ['(open']");
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("test.yaml:2:8: hooks.filter.config.drop[0]: pattern "
                                         "'(open' cannot be used: missing )"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace immp::hooks
