#include "hooks/alerts/mentions_hook.hpp"

#include <gtest/gtest.h>

#include "support/async.hpp"
#include "support/hooks.hpp"
#include "support/roster.hpp"

namespace immp::hooks {
namespace {

Segment seg(std::string text) {
  Segment s;
  s.text = std::move(text);
  return s;
}
[[maybe_unused]] Segment bold_seg(std::string text) {
  Segment s = seg(std::move(text));
  s.bold = true;
  return s;
}
[[maybe_unused]] Segment italic_seg(std::string text) {
  Segment s = seg(std::move(text));
  s.italic = true;
  return s;
}
[[maybe_unused]] Segment link_seg(std::string text, std::string link) {
  Segment s = seg(std::move(text));
  s.link = std::move(link);
  return s;
}
[[maybe_unused]] Segment mention_seg(std::string text, UserPtr user) {
  Segment s = seg(std::move(text));
  s.mention = std::move(user);
  return s;
}

using namespace std::chrono_literals;

// Keeps what the hooks after MentionsHook see.
class Recorder final : public Hook {
 public:
  static SpecPtr schema() { return object({}, true); }
  explicit Recorder(const Init& init) : Hook(init) {}
  Task<> on_receive(const Received& r) override {
    seen.push_back(r.sent);
    co_return;
  }
  std::vector<SentPtr> seen;
};

struct MentionsTest : ::testing::Test {
  asio::io_context io;
  std::unique_ptr<Host> host;
  test::RosterPlug* net = nullptr;
  test::RosterPlug* other = nullptr;  // a network not in the group
  Recorder* rec = nullptr;

  void build(const std::string& config = "groups: [people]") {
    HostOptions o;
    o.phase_timeout = 2s;
    host = std::make_unique<Host>(io.get_executor(), o);
    net = &test::add_roster_plug(*host, "net");
    other = &test::add_roster_plug(*host, "other");
    Group people;
    people.name = "people";
    people.anywhere.push_back(&host->plug_handle("net"));
    host->add_group(std::move(people));
    test::add_hook<MentionsHook>(*host, "mentions", config);
    rec = &test::add_hook<Recorder>(*host, "rec", "");
    net->enter("#room", "alice");
    net->enter("#room", "bob", "Bob Smith");
    net->enter("#room", "bobby", "Bobby Tables");
    net->enter("#room", "dave");
    test::run(io, host->open());
  }
  ~MentionsTest() override {
    if (host && host->is_open()) test::run(io, host->close());
  }
  bool wait(std::function<bool()> done) { return test::run_until(io, std::move(done), 5s); }
  // The hook handles messages in order: once dave's alert for the sentinel
  // is out, every earlier message was handled.
  void settle() {
    std::size_t before = net->said("dm:dave").size();
    net->say("#room", "alice", "@dave sentinel");
    ASSERT_TRUE(wait([&] { return net->said("dm:dave").size() > before; }));
  }
};

TEST_F(MentionsTest, AMentionedMemberIsToldPrivatelyWhatWasSaidAndWhere) {
  build();
  net->say("#room", "alice", "lunch @bob?");
  ASSERT_TRUE(wait([&] { return !net->said("dm:bob").empty(); }));
  EXPECT_EQ(net->said("dm:bob"),
            (std::vector<std::string>{"alice mentioned you in #room:\nlunch @bob?"}));
  const Segment& who = net->posted("dm:bob")[0]->text->segments()[0];
  EXPECT_EQ(who.text, "alice");
  EXPECT_TRUE(who.bold);
  settle();
  EXPECT_TRUE(net->said("#room").empty()) << "nothing is said in the room itself";
  EXPECT_TRUE(net->said("dm:alice").empty());
}

TEST_F(MentionsTest, TheMentionBecomesAMentionSegmentForTheHooksAfter) {
  build();
  net->say("#room", "alice", "hi @Bob!");
  ASSERT_TRUE(wait([&] { return !rec->seen.empty(); }));
  std::vector<UserPtr> mentioned = rec->seen[0]->mentions();
  ASSERT_EQ(mentioned.size(), 1u);
  EXPECT_EQ(mentioned[0]->id, "bob");
  auto segments = rec->seen[0]->text->segments();
  ASSERT_EQ(segments.size(), 2u);
  EXPECT_EQ(segments[0].text, "hi ");
  EXPECT_EQ(segments[1].text, "@Bob!");
  EXPECT_EQ(rec->seen[0]->plain(), "hi @Bob!") << "the text itself is unchanged";
}

TEST_F(MentionsTest, TheAuthorAndPeopleNotInTheRoomAreNeverAlerted) {
  build();
  net->user("carol");  // known on the network, not in #room
  net->say("#room", "alice", "@alice @carol @nobody");
  settle();
  EXPECT_TRUE(net->said("dm:alice").empty());
  EXPECT_TRUE(net->said("dm:carol").empty());
}

TEST_F(MentionsTest, RealNamesMatchWholeOrByAUniqueStart) {
  build("groups: [people]\nreal-names: true");
  net->say("#room", "alice", "@bobsmith and @bobbyt");
  ASSERT_TRUE(wait([&] { return !net->said("dm:bob").empty() && !net->said("dm:bobby").empty(); }));
  net->say("#room", "dave", "@bob");  // a username wins over real names
  ASSERT_TRUE(wait([&] { return net->said("dm:bob").size() == 2; }));
  EXPECT_EQ(net->said("dm:bobby").size(), 1u);
}

TEST_F(MentionsTest, AnAmbiguousStartAlertsNobodyUnlessAsked) {
  build("groups: [people]\nreal-names: true\nusernames: false");
  net->say("#room", "alice", "@bo");  // Bob Smith and Bobby Tables
  settle();
  EXPECT_TRUE(net->said("dm:bob").empty());
  EXPECT_TRUE(net->said("dm:bobby").empty());
}

TEST_F(MentionsTest, AmbiguousAlertsEveryoneItMayMean) {
  build("groups: [people]\nreal-names: true\nusernames: false\nambiguous: true");
  net->say("#room", "alice", "@bo");
  ASSERT_TRUE(wait([&] { return !net->said("dm:bob").empty() && !net->said("dm:bobby").empty(); }));
}

TEST_F(MentionsTest, PrivateChannelsAndPlugsOutsideTheGroupsAreIgnored) {
  build();
  other->enter("#room", "alice");
  other->enter("#room", "bob");
  other->say("#room", "alice", "@bob");
  net->say("dm:alice", "alice", "@bob");
  settle();
  EXPECT_TRUE(net->said("dm:bob").empty());
  EXPECT_TRUE(other->said("dm:bob").empty());
}

TEST_F(MentionsTest, NativeMentionsAlertToo) {
  build();
  Message m;
  m.user = net->user("alice");
  RichText text;
  text.append(mention_seg("Bob", net->user("bob")));
  text.append(seg(": ping"));
  m.text = text;
  net->queue_message("#room", std::move(m));
  ASSERT_TRUE(wait([&] { return !net->said("dm:bob").empty(); }));
  EXPECT_EQ(net->said("dm:bob")[0], "alice mentioned you in #room:\nBob: ping");
}

TEST(Mentions, FindsEveryAtWordAndCleansNames) {
  auto found = MentionsHook::find_mentions("@a b @ c@d\t@e");
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[0], (std::pair<std::size_t, std::size_t>{0, 2}));
  EXPECT_EQ(found[1], (std::pair<std::size_t, std::size_t>{8, 10}));
  EXPECT_EQ(found[2], (std::pair<std::size_t, std::size_t>{11, 13}));
  EXPECT_EQ(MentionsHook::clean("@Fred-Bloggs!"), "fredbloggs");
  EXPECT_EQ(MentionsHook::clean("@Zoë_1"), "zoë_1");
}

TEST(MentionsConfig, AnUnknownGroupIsRefusedAtLoad) {
  asio::io_context io;
  Host host(io.get_executor());
  auto& hook = test::add_hook<MentionsHook>(host, "mentions", "groups: [nope]");
  try {
    test::run(io, hook.on_load());
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("hooks.mentions.config.groups"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("unknown group 'nope'"), std::string::npos);
  }
}

}  // namespace
}  // namespace immp::hooks
