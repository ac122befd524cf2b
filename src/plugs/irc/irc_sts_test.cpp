#include "plugs/irc/irc_sts.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace immp::irc {
namespace {

using namespace std::chrono_literals;
using SysClock = std::chrono::system_clock;

TEST(IrcSts, ParsesPortAndDurationAndIgnoresTheRest) {
  auto v = parse_sts("port=6697,duration=2592000,preload");
  EXPECT_EQ(v.port, 6697);
  EXPECT_EQ(v.duration, std::chrono::seconds(2592000));
  auto bad = parse_sts("port=99999,duration=-1,future=x");
  EXPECT_FALSE(bad.port);
  EXPECT_FALSE(bad.duration);
  EXPECT_EQ(parse_sts("duration=0").duration, 0s) << "0 withdraws a policy";
}

struct IrcStsStore : ::testing::Test {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("immp-sts-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
       ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::path file = dir / "state" / "irc-sts.txt";
  SysClock::time_point now = SysClock::time_point(std::chrono::seconds(1'800'000'000));
  ~IrcStsStore() override { std::filesystem::remove_all(dir); }
};

TEST_F(IrcStsStore, APolicyOutlivesTheProcessUntilItExpires) {
  {
    StsStore store(file);
    EXPECT_FALSE(store.find("irc.example.net", now));
    EXPECT_EQ(store.learn("IRC.Example.net", 6697, 3600s, now), std::nullopt);
  }
  StsStore again(file);  // a restart
  auto p = again.find("irc.example.NET", now + 10s);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->port, 6697);
  EXPECT_FALSE(again.find("irc.example.net", now + 3600s)) << "expired";
  EXPECT_FALSE(again.find("other.example.net", now));
}

TEST_F(IrcStsStore, ADurationOfZeroForgetsThePolicy) {
  StsStore store(file);
  (void)store.learn("irc.example.net", 6697, 3600s, now);
  (void)store.learn("irc.example.net", 6697, 0s, now);
  EXPECT_FALSE(store.find("irc.example.net", now));
  EXPECT_FALSE(StsStore(file).find("irc.example.net", now));
}

TEST_F(IrcStsStore, TwoStoresOnOneFileKeepEachOthersPolicies) {
  StsStore a(file);
  StsStore b(file);
  (void)a.learn("one.example.net", 6697, 3600s, now);
  (void)b.learn("two.example.net", 7000, 3600s, now);
  StsStore c(file);
  EXPECT_TRUE(c.find("one.example.net", now));
  EXPECT_TRUE(c.find("two.example.net", now));
}

TEST_F(IrcStsStore, AGarbledLineIsSkipped) {
  std::filesystem::create_directories(file.parent_path());
  std::ofstream(file) << "garbage\nirc.example.net 6697 1800003600\n";
  StsStore store(file);
  EXPECT_TRUE(store.find("irc.example.net", now));
}

}  // namespace
}  // namespace immp::irc
