#include "hooks/access/access_hook.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "support/async.hpp"
#include "support/hooks.hpp"
#include "support/roster.hpp"

namespace immp::hooks {
namespace {

using namespace std::chrono_literals;

// A predicate that allows the users it lists and denies the ones it bans;
// everyone else it leaves to the next (abstains).
class GuestList final : public Hook, public AccessPredicate {
 public:
  static SpecPtr schema() { return object({}, true); }
  explicit GuestList(const Init& init) : Hook(init) {}
  Task<std::optional<bool>> channel_access(const Channel&, const User& user) override {
    if (allow.count(user.id)) co_return true;
    if (ban.count(user.id)) co_return false;
    co_return std::nullopt;
  }
  Task<std::optional<std::vector<Channel>>> access_channels() override { co_return own; }
  std::set<std::string> allow;
  std::set<std::string> ban;
  std::optional<std::vector<Channel>> own;
};

struct AccessTest : ::testing::Test {
  asio::io_context io;
  std::unique_ptr<Host> host;
  test::RosterPlug* net = nullptr;
  GuestList* list = nullptr;
  ChannelAccessHook* access = nullptr;

  void build(const std::string& config, std::function<void()> before_open = {}) {
    HostOptions o;
    o.phase_timeout = 2s;
    host = std::make_unique<Host>(io.get_executor(), o);
    net = &test::add_roster_plug(*host, "net");
    host->add_channel("vip", net->channel("#vip"));
    host->add_channel("lobby", net->channel("#lobby"));
    list = &test::add_hook<GuestList>(*host, "list", "");
    access = &test::add_hook<ChannelAccessHook>(*host, "access", config);
    if (before_open) before_open();
    test::run(io, host->open());
  }
  ~AccessTest() override {
    if (host && host->is_open()) test::run(io, host->close());
  }
  bool wait(std::function<bool()> done) { return test::run_until(io, std::move(done), 5s); }
  // Joins are handled one at a time in order: once the sentinel's join was
  // decided, every earlier one was.
  void settle(const std::string& source) {
    list->ban.insert("sentinel");
    net->join(source, "sentinel");
    ASSERT_TRUE(wait([&] {
      const auto& r = access->reports();
      return std::any_of(r.begin(), r.end(), [](const auto& x) { return x.user->id == "sentinel"; });
    }));
  }
};

TEST_F(AccessTest, ADeniedJoinIsRemovedAndAnAllowedOneStays) {
  build("hooks: {list: [vip]}\ndefault: false");
  list->allow.insert("alice");
  net->join("#vip", "alice");
  net->join("#vip", "mallory");
  settle("#vip");
  EXPECT_TRUE(net->is_member("#vip", "alice"));
  EXPECT_FALSE(net->is_member("#vip", "mallory"));
  EXPECT_EQ(net->removed(), (std::vector<std::string>{"#vip mallory", "#vip sentinel"}));
}

TEST_F(AccessTest, AnAbstainingPredicateLeavesItToDefault) {
  build("hooks: {list: [vip]}");  // default: true
  net->join("#vip", "bob");
  settle("#vip");
  EXPECT_TRUE(net->is_member("#vip", "bob"));
  EXPECT_EQ(net->removed(), (std::vector<std::string>{"#vip sentinel"}));
}

TEST_F(AccessTest, ChannelsNotGuardedAreLeftAlone) {
  build("hooks: {list: [vip]}\ndefault: false");
  net->join("#lobby", "mallory");
  settle("#vip");
  EXPECT_TRUE(net->is_member("#lobby", "mallory"));
}

TEST_F(AccessTest, PassiveModeOnlyReports) {
  build("hooks: {list: [vip]}\npassive: true");
  list->ban.insert("mallory");
  net->join("#vip", "mallory");
  settle("#vip");
  EXPECT_TRUE(net->is_member("#vip", "mallory"));
  EXPECT_TRUE(net->removed().empty());
  ASSERT_GE(access->reports().size(), 1u);
  EXPECT_EQ(access->reports()[0].user->id, "mallory");
  EXPECT_FALSE(access->reports()[0].removed);
}

// A busy channel in passive mode: the record keeps the latest denials and
// does not grow without end.
TEST_F(AccessTest, TheRecordOfDenialsKeepsTheLatestOnly) {
  build("hooks: {list: [vip]}\npassive: true\ndefault: false");
  const std::size_t joins = ChannelAccessHook::kMaxReports + 100;
  for (std::size_t i = 0; i < joins; ++i) net->join("#vip", "guest" + std::to_string(i));
  settle("#vip");
  const auto& r = access->reports();
  EXPECT_LE(r.size(), ChannelAccessHook::kMaxReports);
  EXPECT_GE(r.size(), ChannelAccessHook::kMaxReports / 2);
  EXPECT_EQ(r.back().user->id, "sentinel");
  EXPECT_EQ(r[r.size() - 2].user->id, "guest" + std::to_string(joins - 1));
}

TEST_F(AccessTest, StartupChecksEveryMemberExceptExcludedOnes) {
  build("hooks: {list: [vip]}\nstartup: true\ndefault: false\nexclude: {net: [bot]}", [&] {
    net->enter("#vip", "alice");
    net->enter("#vip", "mallory");
    net->enter("#vip", "bot");
    list->allow.insert("alice");
  });
  ASSERT_TRUE(wait([&] { return access->ready(); }));
  EXPECT_EQ(net->removed(), (std::vector<std::string>{"#vip mallory"}));
  EXPECT_TRUE(net->is_member("#vip", "bot"));
  EXPECT_TRUE(net->is_member("#vip", "alice"));
}

TEST_F(AccessTest, APredicatesOwnChannelListIsUsedWhenTheConfigGivesNone) {
  build("hooks: {list: null}\ndefault: false", [&] {
    list->own = std::vector<Channel>{net->channel("#lobby")};
  });
  net->join("#vip", "carol");
  net->join("#lobby", "dave");
  settle("#lobby");
  EXPECT_TRUE(net->is_member("#vip", "carol"));
  EXPECT_FALSE(net->is_member("#lobby", "dave"));
}

TEST_F(AccessTest, TheHookItselfDeniesEveryone) {
  build("hooks: {access: [vip]}");
  net->join("#vip", "erin");
  ASSERT_TRUE(wait([&] { return !net->removed().empty(); }));
  EXPECT_EQ(net->removed(), (std::vector<std::string>{"#vip erin"}));
}

TEST(AccessConfig, AnUnknownChannelNamesItsPlaceInTheFile) {
  asio::io_context io;
  Host host(io.get_executor());
  test::add_roster_plug(host, "net");
  try {
    test::add_hook<ChannelAccessHook>(host, "access", "hooks:\n  list: [nowhere]");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("test.yaml:2:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("hooks.access.config.hooks.list"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("unknown channel 'nowhere'"), std::string::npos);
  }
}

TEST(AccessConfig, AHookThatIsNoPredicateIsRefusedAtLoad) {
  asio::io_context io;
  Host host(io.get_executor());
  auto& net = test::add_roster_plug(host, "net");
  host.add_channel("vip", net.channel("#vip"));
  auto& access = test::add_hook<ChannelAccessHook>(host, "access", "hooks: {nobody: [vip]}");
  EXPECT_THROW(test::run(io, access.on_load()), ConfigError);
}

}  // namespace
}  // namespace immp::hooks
