#include "hooks/sync/sync_hook.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "store/database_hook.hpp"
#include "support/async.hpp"
#include "support/hooks.hpp"
#include "support/memory.hpp"
#include "support/postgres_server.hpp"

namespace immp::hooks {
namespace {

using namespace std::chrono_literals;
using plugs::MemoryPlug;
namespace fs = std::filesystem;

Message text_message(std::string text, UserPtr user = nullptr) {
  Message m;
  m.text = RichText(std::move(text));
  m.user = std::move(user);
  return m;
}

// Three networks: `a` edits, deletes and replies; `b` only edits; `c` does
// none of it. Each has one room, bridged as label "room".
struct SyncTest : ::testing::Test {
  asio::io_context io;
  std::unique_ptr<Host> host;
  MemoryPlug* a = nullptr;
  MemoryPlug* b = nullptr;
  MemoryPlug* c = nullptr;
  SyncHook* sync = nullptr;
  std::string db_url;  // empty: no database resource
  // The wall clock the host's outboxes read for expiry: a test moves it.
  Clock::time_point now = Clock::now();
  HostOptions options = [this] {
    HostOptions o;
    o.phase_timeout = 2s;
    o.clock = [this] { return now; };
    return o;
  }();

  void build(const std::string& sync_config = "channels: {room: [a, b, c]}", NodeMap a_extra = {},
             NodeMap b_extra = {}, NodeMap c_extra = {}) {
    host = std::make_unique<Host>(io.get_executor(), options);
    NodeMap a_cfg{{"edit", true}, {"delete", true}, {"reply", true}};
    for (auto& kv : a_extra) a_cfg.push_back(kv);
    NodeMap b_cfg{{"edit", true}};
    for (auto& kv : b_extra) b_cfg.push_back(kv);
    a = &test::add_memory_plug(*host, "a", a_cfg);
    b = &test::add_memory_plug(*host, "b", b_cfg);
    c = &test::add_memory_plug(*host, "c", std::move(c_extra));
    host->add_channel("a", a->channel("room"));
    host->add_channel("b", b->channel("room"));
    host->add_channel("c", c->channel("room"));
    if (!db_url.empty()) {
      test::add_hook<store::DatabaseHook>(*host, "db", "url: \"" + db_url + "\"");
    }
    sync = &test::add_hook<SyncHook>(*host, "sync", sync_config);
    test::run(io, host->open());
  }
  void close() {
    if (host && host->is_open()) test::run(io, host->close());
  }
  ~SyncTest() override { close(); }

  bool wait(std::function<bool()> done, std::chrono::milliseconds limit = 5s) {
    return test::run_until(io, std::move(done), limit);
  }
};

TEST_F(SyncTest, AMessageInOneChannelAppearsInAllTheOthers) {
  build();
  a->inject("room", "hello from a", "alice");
  ASSERT_TRUE(wait([&] { return b->posted_count() == 1 && c->posted_count() == 1; }));
  EXPECT_EQ(b->posted().back()->plain(), "hello from a");
  EXPECT_EQ(c->posted().back()->user->display_name(), "alice");
  // The sync handles messages one at a time and a's outbox delivers in
  // order: a copy sent back to a would arrive before this one.
  b->inject("room", "sentinel", "bob");
  ASSERT_TRUE(wait([&] { return a->posted_count() >= 1 && c->posted_count() >= 2; }));
  EXPECT_EQ(a->posted_count(), 1u) << "never back to where it came from";
  EXPECT_EQ(a->posted().back()->plain(), "sentinel");
}

TEST_F(SyncTest, EchoesOfOurCopiesNeverLoop) {
  build("channels: {room: [a, b, c]}", {{"echo", true}}, {{"echo", true}});
  a->inject("room", "once", "alice");
  ASSERT_TRUE(wait([&] { return b->posted_count() == 1 && c->posted_count() == 1; }));
  // b's echo of its copy came in while b's put() ran, so it is queued on b
  // ahead of this: once the sentinel is bridged, whatever the echo caused
  // has been posted.
  b->inject("room", "sentinel", "bob");
  ASSERT_TRUE(wait([&] { return a->posted_count() >= 1 && c->posted_count() >= 2; }));
  EXPECT_EQ(a->posted_count(), 1u) << "an echo went back to the origin";
  EXPECT_EQ(a->posted().back()->plain(), "sentinel");
  EXPECT_EQ(b->posted_count(), 1u);
  EXPECT_EQ(c->posted_count(), 2u) << "an echo was bridged again";
  EXPECT_EQ(c->posted().back()->plain(), "sentinel");
}

TEST_F(SyncTest, MessagesKeepTheirOrder) {
  build();
  for (int i = 0; i < 500; ++i) a->inject("room", std::to_string(i));
  ASSERT_TRUE(wait([&] { return c->posted_count() == 500; }));
  for (int i = 0; i < 500; ++i) EXPECT_EQ(c->posted()[i]->plain(), std::to_string(i));
}

TEST_F(SyncTest, EditsApplyInPlaceWhereSupportedAndAreResentMarkedElsewhere) {
  build();
  SentPtr original = a->inject("room", "tpyo", "alice");
  ASSERT_TRUE(wait([&] { return b->posted_count() == 1 && c->posted_count() == 1; }));
  std::string b_copy = b->posted().back()->id;
  Message edit = text_message("typo", a->user("alice"));
  edit.edited = true;
  a->inject_as("room", original->id, edit);
  ASSERT_TRUE(wait([&] { return b->posted_count() == 2 && c->posted_count() == 2; }));
  EXPECT_EQ(b->posted().back()->id, b_copy) << "b edits its copy in place";
  EXPECT_EQ(b->posted().back()->plain(), "typo");
  EXPECT_TRUE(c->posted().back()->edited) << "c cannot edit: a new message marked edited";
  EXPECT_EQ(c->posted().back()->plain(), "typo");
}

// c splits lines into parts and cannot edit: a copy of two lines is two
// messages there, and each edit must still arrive once, not once per part
// nor once per earlier re-sent edit.
TEST_F(SyncTest, EachEditReachesANetworkOnceWhateverItsCopiesAre) {
  build("channels: {room: [a, b, c]}", {}, {}, {{"split-lines", true}});
  SentPtr original = a->inject("room", "line one\nline two", "alice");
  ASSERT_TRUE(wait([&] { return c->posted_count() == 2 && b->posted_count() == 1; }));
  for (const std::string text : {"first fix", "second fix"}) {
    Message edit = text_message(text, a->user("alice"));
    edit.edited = true;
    a->inject_as("room", original->id, edit);
  }
  a->inject("room", "sentinel", "alice");  // bridged after both edits
  ASSERT_TRUE(wait([&] { return c->posted_count() >= 5; }));
  ASSERT_EQ(c->posted_count(), 5u) << "two parts, one per edit, the sentinel";
  EXPECT_EQ(c->posted()[2]->plain(), "first fix");
  EXPECT_EQ(c->posted()[3]->plain(), "second fix");
  EXPECT_EQ(c->posted()[4]->plain(), "sentinel");
}

// c cannot edit and confirms what it was sent only later (as IRC answers
// a PING): an edit made before c confirmed the copy still reaches c, as a
// new message marked edited, which is what c would get anyway.
TEST_F(SyncTest, AnEditReachesANetworkThatHasNotYetConfirmedTheCopy) {
  build("channels: {room: [a, b, c]}", {}, {}, {{"pipelined", true}});
  c->hold_confirmations();
  SentPtr original = a->inject("room", "tpyo", "alice");
  ASSERT_TRUE(wait([&] { return b->posted_count() == 1 && c->posted_count() == 1; }));
  Message edit = text_message("typo", a->user("alice"));
  edit.edited = true;
  a->inject_as("room", original->id, edit);
  ASSERT_TRUE(wait([&] { return b->posted_count() == 2 && c->posted_count() == 2; }));
  EXPECT_TRUE(c->posted().back()->edited);
  EXPECT_EQ(c->posted().back()->plain(), "typo");
  c->release(false);
  a->inject("room", "sentinel", "alice");
  ASSERT_TRUE(wait([&] { return c->posted_count() == 3; }));
  EXPECT_EQ(c->posted().back()->plain(), "sentinel") << "the edit went to c once";
}

TEST_F(SyncTest, EditsAreIgnoredWhenTurnedOff) {
  build("{channels: {room: [a, b, c]}, edits: false}");
  SentPtr original = a->inject("room", "first", "alice");
  ASSERT_TRUE(wait([&] { return c->posted_count() == 1; }));
  Message edit = text_message("second");
  edit.edited = true;
  a->inject_as("room", original->id, edit);
  a->inject("room", "sentinel", "alice");  // bridged after the edit was handled
  ASSERT_TRUE(wait([&] { return b->posted_count() >= 2 && c->posted_count() >= 2; }));
  EXPECT_EQ(b->posted_count(), 2u);
  EXPECT_EQ(c->posted_count(), 2u);
  EXPECT_EQ(b->posted().back()->plain(), "sentinel") << "the edit was bridged";
  EXPECT_EQ(c->posted().back()->plain(), "sentinel") << "the edit was bridged";
}

TEST_F(SyncTest, DeletesRemoveEveryCopyThatCanBeRemoved) {
  build();
  SentPtr original = b->inject("room", "oops", "bob");
  ASSERT_TRUE(wait([&] { return a->posted_count() == 1 && c->posted_count() == 1; }));
  std::string a_copy = a->posted().back()->id;
  Message gone;
  gone.deleted = true;
  b->inject_as("room", original->id, gone);
  ASSERT_TRUE(wait([&] { return a->deleted().size() == 1; }));
  EXPECT_EQ(a->deleted()[0].id, a_copy);
  b->inject("room", "sentinel", "bob");  // bridged after the delete was handled
  ASSERT_TRUE(wait([&] { return c->posted_count() >= 2; }));
  EXPECT_EQ(c->posted_count(), 2u) << "c cannot delete, and gets nothing new";
  EXPECT_EQ(c->posted().back()->plain(), "sentinel");
}

TEST_F(SyncTest, RepliesBecomeNativeRepliesOrAQuote) {
  build();
  SentPtr parent = b->inject("room", "what time is it?", "bob");
  ASSERT_TRUE(wait([&] { return a->posted_count() == 1 && c->posted_count() == 1; }));
  std::string a_copy = a->posted().back()->id;
  Message reply = text_message("noon", b->user("carol"));
  reply.reply_to = parent;
  b->inject("room", reply);
  ASSERT_TRUE(wait([&] { return a->posted_count() == 2 && c->posted_count() == 2; }));
  ASSERT_TRUE(a->posted().back()->reply_to);
  EXPECT_EQ(a->posted().back()->reply_to->id, a_copy) << "a native reply to a's copy";
  EXPECT_EQ(a->posted().back()->plain(), "noon");
  EXPECT_FALSE(c->posted().back()->reply_to);
  EXPECT_EQ(c->posted().back()->plain(), "> bob: what time is it?\nnoon");
}

TEST_F(SyncTest, ReplyToABareReceiptIsResolvedForTheQuote) {
  build();
  SentPtr parent =
      b->inject("room", "a long question that keeps going on and on and on and on forever", "bob");
  ASSERT_TRUE(wait([&] { return c->posted_count() == 1; }));
  Message reply = text_message("yes");
  reply.reply_to = std::make_shared<SentMessage>(
      Receipt{parent->id, parent->channel, Clock::now(), {}, false}, Message{});
  // Only an id: the quote needs the parent's text from b's history.
  b->inject("room", reply);
  ASSERT_TRUE(wait([&] { return c->posted_count() == 2; }));
  EXPECT_EQ(c->posted().back()->plain().substr(0, 8), "> bob: a") << c->posted().back()->plain();
}

// Collects what fetch_file streams.
Task<FetchResult> fetch_all(const File& file, std::string& into, std::uint64_t limit) {
  FileSink sink = [&into](std::string_view chunk) -> Task<> {
    into.append(chunk);
    co_return;
  };
  co_return co_await file.plug()->fetch_file(file, std::move(sink), limit);
}

TEST_F(SyncTest, FilesAreUploadedWhereTheNetworkCanAndSentAsLinksElsewhere) {
  build("channels: {room: [a, b, c]}", {}, {{"upload", true}});
  Message msg = text_message("look", a->user("alice"));
  File cat;
  cat.title = "cat.png";
  cat.type = File::Type::image;
  cat.url = "https://example.org/cat.png";
  cat.mime = "image/png";
  msg.attachments.emplace_back(cat);
  // Only a can serve this one (its download needs a's credentials).
  msg.attachments.emplace_back(a->add_file("report.pdf", "%PDF-1.7 ...", File::Type::unknown));
  a->inject("room", msg);
  ASSERT_TRUE(wait([&] { return b->posted_count() == 1 && c->posted_count() == 1; }));

  const SentPtr& uploaded = b->posted().back();
  EXPECT_EQ(uploaded->plain(), "look") << "b uploads: the text is the message's own";
  ASSERT_EQ(uploaded->attachments.size(), 2u);
  EXPECT_EQ(std::get<File>(uploaded->attachments[0]).url, cat.url);
  const File& report = std::get<File>(uploaded->attachments[1]);
  ASSERT_EQ(report.plug(), a) << "b fetches the file through the plug it came from";
  std::string bytes;
  FetchResult fetched = test::run(io, fetch_all(report, bytes, 1024));
  EXPECT_EQ(fetched.kind, FetchResult::Kind::done) << fetched.reason;
  EXPECT_EQ(bytes, "%PDF-1.7 ...");

  // c cannot upload (its put() would refuse a file): links instead.
  const SentPtr& linked = c->posted().back();
  EXPECT_TRUE(linked->attachments.empty());
  EXPECT_EQ(linked->plain(), "look\ncat.png\n[file: report.pdf]");
  auto segments = linked->text->segments();
  auto link = std::find_if(segments.begin(), segments.end(),
                           [](const Segment& s) { return s.text == "cat.png"; });
  ASSERT_NE(link, segments.end());
  EXPECT_EQ(link->link, cat.url);
}

TEST_F(SyncTest, AFileWithoutTextIsALinkOfItsOwn) {
  build();
  Message msg;
  msg.user = b->user("bob");
  File voice;
  voice.type = File::Type::voice;
  voice.url = "https://example.org/v.ogg";
  msg.attachments.emplace_back(voice);
  b->inject("room", msg);
  ASSERT_TRUE(wait([&] { return a->posted_count() == 1 && c->posted_count() == 1; }));
  EXPECT_EQ(c->posted().back()->plain(), "https://example.org/v.ogg");
  EXPECT_EQ(c->posted().back()->text->segments()[0].link, "https://example.org/v.ogg");
}

TEST_F(SyncTest, AReactionReachesTheRightCopyWhereReactionsAreNativeAndNowhereElse) {
  build("channels: {room: [a, b, c]}", {}, {{"reaction", true}});
  SentPtr hello = a->inject("room", "hello", "alice");
  a->inject("room", "another", "alice");
  ASSERT_TRUE(wait([&] { return b->posted_count() == 2 && c->posted_count() == 2; }));
  std::string b_copy = b->posted()[0]->id;
  std::string c_copy = c->posted()[0]->id;
  ASSERT_NE(b_copy, b->posted()[1]->id);

  // carol, on c, reacts to c's copy of "hello" (c itself has no reactions
  // to send, but its users' reactions arrive as events all the same).
  for (bool removed : {false, true}) {
    Message react;
    react.user = c->user("carol");
    react.reaction =
        Reaction{"👍", removed,
                 std::make_shared<const SentMessage>(
                     Receipt{c_copy, c->channel("room"), Clock::now(), {}, false}, Message{})};
    c->inject("room", react);
  }
  ASSERT_TRUE(wait([&] { return b->posted_count() == 4; }));
  for (int i : {2, 3}) {
    const SentPtr& got = b->posted()[i];
    ASSERT_TRUE(got->reaction);
    EXPECT_EQ(got->reaction->emoji, "👍");
    EXPECT_EQ(got->reaction->removed, i == 3);
    ASSERT_TRUE(got->reaction->on);
    EXPECT_EQ(got->reaction->on->id, b_copy) << "on b's copy of the message reacted to";
    EXPECT_EQ(got->user->display_name(), "carol");
    EXPECT_FALSE(got->text) << "a reaction, not a post";
  }
  // a has no reactions: nothing (its put() would refuse one). Once c's
  // sentinel is out on a, the reactions before it were handled.
  c->inject("room", "sentinel", "carol");
  ASSERT_TRUE(wait([&] { return a->posted_count() == 1 && b->posted_count() == 5; }));
  EXPECT_EQ(a->posted().back()->plain(), "sentinel") << "a reaction reached a";
  EXPECT_EQ(c->posted_count(), 2u) << "never back where it came from";
  EXPECT_EQ(hello->channel, a->channel("room"));
}

TEST_F(SyncTest, ThreadsMapToTheTargetsCopyOfTheirFirstMessage) {
  build("channels: {room: [a, b, c]}", {{"thread", true}});
  SentPtr root = b->inject("room", "shall we?", "bob");
  ASSERT_TRUE(wait([&] { return a->posted_count() == 1 && c->posted_count() == 1; }));
  std::string a_root = a->posted().back()->id;
  Message answer = text_message("yes", b->user("carol"));
  answer.thread = root->id;
  b->inject("room", answer);
  ASSERT_TRUE(wait([&] { return a->posted_count() == 2 && c->posted_count() == 2; }));
  EXPECT_EQ(a->posted().back()->thread, a_root) << "in a's copy of the thread";
  EXPECT_EQ(a->posted().back()->plain(), "yes");
  EXPECT_TRUE(c->posted().back()->thread.empty()) << "c has no threads: the main timeline";
  EXPECT_EQ(c->posted().back()->plain(), "yes");

  // A thread whose first message was never bridged: the main timeline.
  Message lost = text_message("in an old thread", b->user("carol"));
  lost.thread = "before-the-bridge";
  b->inject("room", lost);
  ASSERT_TRUE(wait([&] { return a->posted_count() == 3; }));
  EXPECT_TRUE(a->posted().back()->thread.empty());
}

TEST_F(SyncTest, JoinsAndRenamesCrossAsTextByDefaultAsInImmp) {
  build();
  Message join;
  join.joined.push_back(a->user("dave"));
  a->inject("room", join);
  Message rename;
  rename.user = a->user("dave");
  rename.title = "New topic";
  a->inject("room", rename);
  ASSERT_TRUE(wait([&] { return b->posted_count() == 2; }));
  EXPECT_EQ(b->posted()[0]->plain(), "dave joined");
  EXPECT_EQ(b->posted()[1]->plain(), "dave changed the title to New topic");
}

TEST_F(SyncTest, JoinsAndRenamesTurnedOffAreNotBridged) {
  build("{channels: {room: [a, b, c]}, joins: false, renames: false}");
  Message join;
  join.joined.push_back(a->user("dave"));
  a->inject("room", join);
  Message rename;
  rename.user = a->user("dave");
  rename.title = "New topic";
  a->inject("room", rename);
  a->inject("room", "sentinel", "alice");  // bridged after both were handled
  ASSERT_TRUE(wait([&] { return b->posted_count() >= 1; }));
  EXPECT_EQ(b->posted_count(), 1u);
  EXPECT_EQ(b->posted().back()->plain(), "sentinel") << "a join or rename was bridged";
}

// IMMP's per-plug overrides: a key the override leaves out keeps the
// top-level value; joins and renames can be overridden per target plug.
TEST_F(SyncTest, PerPlugOverridesKeepWhatTheyLeaveOut) {
  build(R"({channels: {room: [a, b, c]}, joins: false, name-format: "{{ user.username }}!",
            plugs: {c: {joins: true}, b: {reset-author: true}}})");
  Message join;
  join.joined.push_back(a->user("dave"));
  a->inject("room", join);
  a->inject("room", "hi", "alice");
  ASSERT_TRUE(wait([&] { return b->posted_count() >= 1 && c->posted_count() >= 2; }));
  ASSERT_EQ(c->posted_count(), 2u);
  EXPECT_EQ(c->posted()[0]->plain(), "dave joined") << "c's override turns joins on";
  EXPECT_EQ(c->posted()[1]->user->real_name, "alice!") << "c keeps the top-level name-format";
  ASSERT_EQ(b->posted_count(), 1u) << "joins stay off for b";
  EXPECT_EQ(b->posted()[0]->plain(), "hi");
  EXPECT_EQ(b->posted()[0]->user->real_name, "alice!") << "b keeps the top-level name-format";
  EXPECT_TRUE(b->posted()[0]->user->id.empty()) << "b's own reset-author applies";
}

TEST_F(SyncTest, ATitleForALabelNotInChannelsLoads) {
  build("{channels: {room: [a, b, c]}, titles: {room: Lobby, later: Later}}");
  EXPECT_EQ(sync->title("later"), "Later");
}

TEST_F(SyncTest, NameFormatResetAuthorAndEmojiAndPerPlugOverrides) {
  build(R"({channels: {room: [a, b, c]}, titles: {room: Lobby},
            name-format: "{{ user.real_name }} [{{ title }}]", strip-name-emoji: true,
            plugs: {c: {name-format: "{{user.username}}!", reset-author: true}}})");
  auto user = std::make_shared<User>();
  user->id = "u1";
  user->handle = a->handle();
  user->username = "ally";
  user->real_name = "Alice 🦊 Smith";
  user->avatar = "https://example.org/a.png";
  a->inject("room", text_message("hi", user));
  ASSERT_TRUE(wait([&] { return b->posted_count() == 1 && c->posted_count() == 1; }));
  const User& on_b = *b->posted().back()->user;
  EXPECT_EQ(on_b.real_name, "Alice Smith [Lobby]");
  EXPECT_EQ(on_b.avatar, user->avatar) << "kept: not reset";
  const User& on_c = *c->posted().back()->user;
  EXPECT_EQ(on_c.real_name, "ally!");
  EXPECT_TRUE(on_c.avatar.empty()) << "reset-author starts a new user";
}

// Knows that alice on every network is "Alice".
class Directory final : public Hook, public IdentityProvider {
 public:
  static constexpr std::string_view kPath = "immp.hook.test.Directory";
  static SpecPtr schema() { return object({}); }
  explicit Directory(const Init& init) : Hook(init) {}
  Task<std::optional<IdentityGroup>> identity_from_user(const User& user) override {
    if (user.id != "alice") co_return std::nullopt;
    co_return IdentityGroup{"Alice", {}};
  }
};

TEST_F(SyncTest, IdentitiesNameLinkedUsers) {
  host = std::make_unique<Host>(io.get_executor(), HostOptions{.phase_timeout = 2s});
  a = &test::add_memory_plug(*host, "a");
  b = &test::add_memory_plug(*host, "b");
  c = &test::add_memory_plug(*host, "c");
  host->add_channel("a", a->channel("room"));
  host->add_channel("b", b->channel("room"));
  test::add_hook<Directory>(*host, "people", "");
  test::add_hook<SyncHook>(*host, "sync", "{channels: {room: [a, b]}, identities: people}");
  test::run(io, host->open());
  a->inject("room", "hi", "alice");
  a->inject("room", "hello", "mallory");
  ASSERT_TRUE(wait([&] { return b->posted_count() == 2; }));
  EXPECT_EQ(b->posted()[0]->user->real_name, "alice (Alice)");
  EXPECT_EQ(b->posted()[1]->user->real_name, "mallory");
}

TEST_F(SyncTest, ImmpNameFormatNamesTheAuthorAndTheirNetwork) {
  build(R"y({channels: {room: [a, b]},
            name-format: "{{ user.real_name or user.username }} ({{ user.plug.network_name }})"})y");
  auto nameless = std::make_shared<User>();
  nameless->id = "u1";
  nameless->handle = a->handle();
  nameless->username = "ally";
  auto named = std::make_shared<User>(*nameless);
  named->real_name = "Alice Smith";
  a->inject("room", text_message("hi", nameless));
  a->inject("room", text_message("hello", named));
  ASSERT_TRUE(wait([&] { return b->posted_count() == 2; }));
  const User& first = *b->posted()[0]->user;
  EXPECT_EQ(first.real_name, "ally (Memory)");
  EXPECT_EQ(first.display_name(), "ally (Memory)");
  EXPECT_TRUE(first.username.empty())
      << "IMMP drops the username, so networks that show usernames first show the name too";
  EXPECT_EQ(first.id, "u1") << "still a copy of the author";
  EXPECT_EQ(b->posted()[1]->user->real_name, "Alice Smith (Memory)");
}

TEST_F(SyncTest, NameFormatSeesIdentityAndChannelAndBranches) {
  host = std::make_unique<Host>(io.get_executor(), HostOptions{.phase_timeout = 2s});
  a = &test::add_memory_plug(*host, "a");
  b = &test::add_memory_plug(*host, "b");
  host->add_channel("a", a->channel("room"));
  host->add_channel("b", b->channel("room"));
  test::add_hook<Directory>(*host, "people", "");
  test::add_hook<SyncHook>(*host, "sync", R"y({channels: {room: [a, b]}, identities: people,
      titles: {room: Lobby},
      name-format: "{% if identity %}{{ identity.name }}{% else %}{{ user.username | title }}{% endif %} @ {{ channel }}"})y");
  test::run(io, host->open());
  a->inject("room", "hi", "alice");
  a->inject("room", "hello", "mallory");
  ASSERT_TRUE(wait([&] { return b->posted_count() == 2; }));
  EXPECT_EQ(b->posted()[0]->user->real_name, "Alice @ Lobby");
  EXPECT_EQ(b->posted()[1]->user->real_name, "Mallory @ Lobby");
}

TEST_F(SyncTest, ANameFormatThatRendersNothingLeavesTheAuthorAlone) {
  build(R"y({channels: {room: [a, b]}, name-format: "{{ identity.name }}", reset-author: true})y");
  a->inject("room", "hi", "alice");
  ASSERT_TRUE(wait([&] { return b->posted_count() == 1; }));
  EXPECT_EQ(b->posted()[0]->user, a->user("alice")) << "as IMMP: no name, the same user";
}

TEST_F(SyncTest, ASlowDestinationDoesNotSlowTheOthers) {
  build("channels: {room: [a, b, c]}", {}, {{"delay-ms", 5000}});
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) a->inject("room", std::to_string(i));
  ASSERT_TRUE(wait([&] { return c->posted_count() == 10; }));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_LE(b->posted_count(), 1u);
}

TEST_F(SyncTest, APlugThatIsDownGetsEverythingInOrderWhenBack) {
  options.retry_first = 10ms;  // the retry after it is back comes quickly
  options.retry_max = 50ms;
  build();
  b->set_failing(true);
  for (int i = 0; i < 5; ++i) a->inject("room", "m" + std::to_string(i));
  ASSERT_TRUE(wait([&] { return c->posted_count() == 5; }));
  // b's outbox has tried and been told to retry: the state under test.
  ASSERT_TRUE(wait([&] { return host->outbox_stats().retried >= 1; }));
  EXPECT_EQ(b->posted_count(), 0u);
  b->set_failing(false);
  ASSERT_TRUE(wait([&] { return b->posted_count() == 5; }, 5s));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(b->posted()[i]->plain(), "m" + std::to_string(i));
  EXPECT_EQ(c->posted_count(), 5u) << "the others are not sent twice";
  EXPECT_GE(host->outbox_stats().retried, 1u);
}

TEST_F(SyncTest, OldUndeliveredMessagesExpireAndAreCounted) {
  options.retry_first = 10ms;  // retries come quickly; the clock is ours
  options.retry_max = 50ms;
  build();
  b->outbox_policy().expiry = std::chrono::seconds(1);
  b->set_failing(true);
  a->inject("room", "stale");
  ASSERT_TRUE(wait([&] { return c->posted_count() == 1; }));
  ASSERT_TRUE(wait([&] { return host->outbox_stats().retried >= 1; }));
  EXPECT_EQ(host->outbox_stats().expired, 0u) << "expired before its time";
  now += 2s;  // the message is now older than the expiry
  ASSERT_TRUE(wait([&] { return host->outbox_stats().expired == 1; }));
  b->set_failing(false);
  a->inject("room", "fresh", "alice");  // queued behind anything left for b
  ASSERT_TRUE(wait([&] { return b->posted_count() >= 1; }));
  EXPECT_EQ(b->posted_count(), 1u);
  EXPECT_EQ(b->posted().back()->plain(), "fresh") << "an expired message was delivered";
}

TEST_F(SyncTest, VirtualPlugSeesEachBridgedMessageOnceAndPostsToAll) {
  build("{channels: {room: [a, b]}, plug: bridge}");
  Plug* bridge = host->plug("bridge");
  ASSERT_TRUE(bridge);
  auto msg = std::make_shared<Message>(text_message("announcement"));
  auto receipts = test::run(io, bridge->send(bridge->channel("room"), msg));
  ASSERT_EQ(receipts.size(), 1u);
  ASSERT_TRUE(wait([&] { return a->posted_count() == 1 && b->posted_count() == 1; }));
  EXPECT_EQ(a->posted().back()->plain(), "announcement");
  EXPECT_EQ(c->posted_count(), 0u);
}

struct Persistence : SyncTest {
  fs::path dir;
  void SetUp() override {
    std::string t = (fs::temp_directory_path() / "immp-sync-XXXXXX").string();
    dir = mkdtemp(t.data());
    db_url = "sqlite:///" + (dir / "immp.db").string();
  }
  void TearDown() override {
    close();
    fs::remove_all(dir);
  }
  void restart(const std::string& config = "channels: {room: [a, b, c]}") {
    close();
    host.reset();
    build(config);
  }

  void edits_and_replies_survive_a_restart() {
    build();
    SentPtr original = a->inject("room", "before restart", "alice");
    ASSERT_TRUE(wait([&] { return b->posted_count() == 1 && c->posted_count() == 1; }));
    std::string b_copy = b->posted().back()->id;
    std::string c_copy = c->posted().back()->id;
    restart();
    // A reply on c to c's copy, and an edit on a of the original.
    Message reply = text_message("after restart", c->user("carol"));
    reply.reply_to = std::make_shared<SentMessage>(
        Receipt{c_copy, c->channel("room"), Clock::now(), {}, false}, Message{});
    c->inject("room", reply);
    ASSERT_TRUE(wait([&] { return a->posted_count() == 1; }));
    ASSERT_TRUE(a->posted().back()->reply_to);
    EXPECT_EQ(a->posted().back()->reply_to->id, original->id);
    Message edit = text_message("edited after restart", a->user("alice"));
    edit.edited = true;
    a->inject_as("room", original->id, edit);
    ASSERT_TRUE(wait([&] { return b->posted_count() == 2; }));
    EXPECT_EQ(b->posted().back()->id, b_copy);
    EXPECT_EQ(b->posted().back()->plain(), "edited after restart");
  }
};

TEST_F(Persistence, SqliteKeepsTheIdMapAcrossARestart) { edits_and_replies_survive_a_restart(); }

TEST_F(Persistence, MessagesEvictedFromTheCacheAreFoundInTheDatabase) {
  build("{channels: {room: [a, b, c]}, cache: 16}");
  std::vector<SentPtr> originals;
  for (int i = 0; i < 100; ++i)
    originals.push_back(a->inject("room", "m" + std::to_string(i), "alice"));
  ASSERT_TRUE(wait([&] { return b->posted_count() == 100 && c->posted_count() == 100; }));
  std::string b_first = b->posted()[0]->id;
  Message edit = text_message("m0, edited long after", a->user("alice"));
  edit.edited = true;
  a->inject_as("room", originals[0]->id, edit);
  ASSERT_TRUE(wait([&] { return b->posted_count() == 101; }));
  EXPECT_EQ(b->posted().back()->id, b_first);
  EXPECT_EQ(b->posted().back()->plain(), "m0, edited long after");
  // And the newest are still answered from memory, the same way.
  Message reply = text_message("re m99", c->user("carol"));
  reply.reply_to = c->posted().back();
  c->inject("room", reply);
  ASSERT_TRUE(wait([&] { return a->posted_count() == 1; }));
  ASSERT_TRUE(a->posted().back()->reply_to);
  EXPECT_EQ(a->posted().back()->reply_to->id, originals[99]->id);
}

TEST_F(Persistence, PostgresKeepsTheIdMapAcrossARestart) {
  auto bin = test::PostgresServer::find_binaries();
  if (!bin) GTEST_SKIP() << test::PostgresServer::missing_reason();
  test::PostgresServer pg(*bin);
  db_url = pg.create_database("sync");
  edits_and_replies_survive_a_restart();
  close();  // while the server is still up: its writes must not be lost
  EXPECT_EQ(host->outbox_stats().pending, 0u);
}

TEST_F(Persistence, MessagesForADownPlugSurviveARestart) {
  build();
  b->set_failing(true);
  SentPtr first = a->inject("room", "queued 0", "alice");
  for (int i = 1; i < 3; ++i) a->inject("room", "queued " + std::to_string(i));
  ASSERT_TRUE(wait([&] { return c->posted_count() == 3; }));
  restart();
  ASSERT_TRUE(wait([&] { return b->posted_count() == 3; }));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b->posted()[i]->plain(), "queued " + std::to_string(i));
  // Anything restored for c is queued ahead of this.
  a->inject("room", "sentinel", "alice");
  ASSERT_TRUE(wait([&] { return c->posted_count() >= 1 && b->posted_count() >= 4; }));
  EXPECT_EQ(c->posted_count(), 1u) << "c already had them: nothing sent twice";
  EXPECT_EQ(c->posted().back()->plain(), "sentinel");
  EXPECT_EQ(host->outbox_stats().restored, 3u);
  // And the restored copies were mapped, although they were delivered
  // before the sync started: an edit reaches b's copy in place.
  Message edit = text_message("queued 0, edited", a->user("alice"));
  edit.edited = true;
  a->inject_as("room", first->id, edit);
  ASSERT_TRUE(wait([&] { return b->posted_count() == 5; }));
  EXPECT_EQ(b->posted().back()->plain(), "queued 0, edited");
  EXPECT_EQ(b->posted().back()->id, b->posted()[0]->id) << "not the copy: posted anew";
}

// An echoing network was down; its copies waited in the database over a
// restart. Delivered after it, their echoes are still known as the sync's
// own (the host's record, not a mark in the message) and go nowhere.
TEST_F(Persistence, EchoesOfCopiesDeliveredAfterARestartAreNotBridgedAgain) {
  const std::string config = "channels: {room: [a, b, c]}";
  build(config, {}, {{"echo", true}});
  b->set_link(false);
  for (int i = 0; i < 3; ++i) a->inject("room", "queued " + std::to_string(i));
  ASSERT_TRUE(wait([&] { return c->posted_count() == 3; }));
  close();
  host.reset();
  build(config, {}, {{"echo", true}});
  ASSERT_TRUE(wait([&] { return b->posted_count() == 3; }));
  EXPECT_EQ(host->outbox_stats().restored, 3u);
  // The echoes came in before this, on the same plug: once the sentinel is
  // through, anything they caused would have been posted already.
  b->inject("room", "sentinel", "bob");
  ASSERT_TRUE(wait([&] { return a->posted_count() >= 1 && c->posted_count() >= 1; }));
  EXPECT_EQ(a->posted_count(), 1u) << "an echo was bridged back to its origin";
  EXPECT_EQ(c->posted_count(), 1u) << "an echo was bridged again";
  EXPECT_EQ(a->posted().back()->plain(), "sentinel");
}

// The process dies with kill -9 right after bridging: no graceful close, no
// final flush. A new process on the same database still maps the copies.
// An IMMP user's database: IMMP's sync bridged a's "m1" to b as "m2"
// (IMMP's table, as Tortoise made it). Replies and edits to them still
// reach the other side's copy.
TEST_F(Persistence, MessagesBridgedByImmpStayLinked) {
  {
    auto db = test::run(io, store::Database::open(db_url));
    test::run(io, db->execute(
                      "CREATE TABLE \"syncbackref\" (\"id\" INTEGER PRIMARY KEY AUTOINCREMENT NOT "
                      "NULL, \"key\" TEXT NOT NULL, \"network\" TEXT NOT NULL, \"channel\" TEXT "
                      "NOT NULL, \"message\" TEXT NOT NULL, UNIQUE (\"network\", \"channel\", "
                      "\"message\"))"));
    for (auto [network, id] : {std::pair{"memory:a", "m1"}, std::pair{"memory:b", "m2"}}) {
      std::vector<store::Value> row{std::string("k1"), std::string(network), std::string("room"),
                                    std::string(id)};
      test::run(io, db->execute("INSERT INTO \"syncbackref\" (\"key\", \"network\", "
                                "\"channel\", \"message\") VALUES (?, ?, ?, ?)",
                                std::move(row)));
    }
    db->close();
  }
  build("channels: {room: [a, b, c]}", {}, {{"reply", true}});
  Message reply = text_message("answer", b->user("bob"));
  reply.reply_to = std::make_shared<const SentMessage>(
      Receipt{"m2", b->channel("room"), Clock::now(), {}, false}, Message{});
  b->inject("room", reply);
  ASSERT_TRUE(wait([&] { return a->posted_count() == 1; }));
  ASSERT_TRUE(a->posted()[0]->reply_to);
  EXPECT_EQ(a->posted()[0]->reply_to->id, "m1") << "a native reply to IMMP's copy";
  Message edit = text_message("edited on a", a->user("alice"));
  edit.edited = true;
  a->inject_as("room", "m1", edit);
  ASSERT_TRUE(wait([&] { return b->posted_count() == 1; }));
  EXPECT_EQ(b->posted()[0]->id, "m2") << "edited in place on b";
  EXPECT_EQ(b->posted()[0]->plain(), "edited on a");
}

TEST_F(Persistence, IdMapSurvivesKillDashNine) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    build();
    SentPtr original = a->inject("room", "before the crash", "alice");
    if (!wait([&] { return b->posted_count() == 1 && c->posted_count() == 1; })) _exit(3);
    // Each delivery queues the write of its copy's id as it is counted;
    // flush() returns once everything queued is committed.
    if (!wait([&] { return host->outbox_stats().delivered == 2; })) _exit(5);
    test::run(io, host->resource<store::DatabaseHook>(*sync).db().flush());
    std::string ids =
        original->id + " " + b->posted().back()->id + " " + c->posted().back()->id + "\n";
    if (write(ready[1], ids.data(), ids.size()) < 0) _exit(4);
    for (;;) pause();  // wait for SIGKILL
  }
  ::close(ready[1]);
  char buf[256] = {};
  ssize_t n = read(ready[0], buf, sizeof buf - 1);
  ::close(ready[0]);
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_GT(n, 0) << "the child did not bridge";
  std::istringstream in(buf);
  std::string original_id, b_copy, c_copy;
  in >> original_id >> b_copy >> c_copy;
  build();
  Message reply = text_message("after the crash", c->user("carol"));
  reply.reply_to = std::make_shared<SentMessage>(
      Receipt{c_copy, c->channel("room"), Clock::now(), {}, false}, Message{});
  c->inject("room", reply);
  ASSERT_TRUE(wait([&] { return a->posted_count() == 1 && b->posted_count() == 1; }));
  ASSERT_TRUE(a->posted().back()->reply_to);
  EXPECT_EQ(a->posted().back()->reply_to->id, original_id);
  ASSERT_TRUE(b->posted().back()->reply_to == nullptr);  // b has no replies: quoted
  Message edit = text_message("edited after the crash", a->user("alice"));
  edit.edited = true;
  a->inject_as("room", original_id, edit);
  ASSERT_TRUE(wait([&] { return b->posted_count() == 2; }));
  EXPECT_EQ(b->posted().back()->id, b_copy);
}

// Notes every message the host hands to hooks.
class Seen final : public Hook {
 public:
  explicit Seen(Host& host) : Hook(Init{"seen", Node::map(), host}) {}
  Task<> on_receive(const Received& r) override {
    texts.push_back(r.sent->plain());
    co_return;
  }
  std::vector<std::string> texts;
};

TEST(ForwardHook, RelaysOneWayOnlyAndOnlyFromAllowedUsers) {
  asio::io_context io;
  Host host(io.get_executor());
  auto& a = test::add_memory_plug(host, "a");
  auto& b = test::add_memory_plug(host, "b");
  host.add_channel("news", a.channel("news"));
  host.add_channel("feed", b.channel("feed"));
  test::add_hook<ForwardHook>(host, "fwd", "{channels: {news: [feed]}, users: [editor]}");
  auto& seen = host.add_hook(std::make_unique<Seen>(host));
  test::run(io, host.open());
  a.inject("news", "story", "editor");
  a.inject("news", "spam", "troll");
  b.inject("feed", "comment", "reader");
  // The host queues a message for every hook in one step: once `seen` has
  // all three, the forward hook has them too, and a later story from a
  // queues behind them. When that story is out, whatever they caused has
  // been posted.
  ASSERT_TRUE(test::run_until(io, [&] { return seen.texts.size() == 3; }));
  a.inject("news", "sentinel", "editor");
  ASSERT_TRUE(test::run_until(io, [&] { return b.posted_count() >= 2; }));
  EXPECT_EQ(host.outbox_stats().queued, 2u) << "something else was forwarded";
  ASSERT_EQ(b.posted_count(), 2u);
  EXPECT_EQ(b.posted()[0]->plain(), "story");
  EXPECT_EQ(b.posted()[1]->plain(), "sentinel");
  EXPECT_EQ(a.posted_count(), 0u);
  test::run(io, host.close());
}

// A forward from a's "news" to b's "feed" (b edits and deletes), with
// `config` for the hook.
struct ForwardTest : ::testing::Test {
  asio::io_context io;
  Host host{io.get_executor()};
  MemoryPlug& a = test::add_memory_plug(host, "a");
  MemoryPlug& b = test::add_memory_plug(host, "b", NodeMap{{"edit", true}, {"delete", true}});
  MemoryPlug& c = test::add_memory_plug(host, "c");
  // Prioritised hooks see each message in turn, in order: once a
  // sentinel forwarded by `probe` is out, `fwd` has handled what came
  // before it.
  void open(const std::string& config, bool probe = false) {
    host.add_channel("news", a.channel("news"));
    host.add_channel("feed", b.channel("feed"));
    host.add_channel("plain", c.channel("plain"));
    test::add_hook<ForwardHook>(host, "fwd", config, 1);
    if (probe) test::add_hook<ForwardHook>(host, "probe", "{channels: {news: [plain]}}", 2);
    test::run(io, host.open());
  }
  ~ForwardTest() override {
    if (host.is_open()) test::run(io, host.close());
  }
};

TEST_F(ForwardTest, AnEmptyUserListForwardsNothingAsInImmp) {
  open("{channels: {news: [feed]}, users: []}", true);
  a.inject("news", "story", "editor");
  a.inject("news", "sentinel", "editor");
  ASSERT_TRUE(test::run_until(io, [&] { return c.posted_count() == 2; }));
  EXPECT_EQ(b.posted_count(), 0u);
  EXPECT_EQ(host.outbox_stats().queued, 2u) << "only the probe's copies";
}

TEST_F(ForwardTest, WithoutAUserListEveryoneIsForwarded) {
  open("{channels: {news: [feed]}}");
  a.inject("news", "one", "editor");
  a.inject("news", "two", "reader");
  ASSERT_TRUE(test::run_until(io, [&] { return b.posted_count() == 2; }));
  EXPECT_EQ(b.posted()[1]->plain(), "two");
}

TEST_F(ForwardTest, EditsAndDeletesReachTheForwardedCopy) {
  open("{channels: {news: [feed, plain]}}");
  SentPtr story = a.inject("news", "tpyo", "editor");
  ASSERT_TRUE(test::run_until(io, [&] { return b.posted_count() == 1 && c.posted_count() == 1; }));
  std::string copy = b.posted().back()->id;
  Message edit = text_message("typo", a.user("editor"));
  edit.edited = true;
  a.inject_as("news", story->id, edit);
  ASSERT_TRUE(test::run_until(io, [&] { return b.posted_count() == 2 && c.posted_count() == 2; }));
  EXPECT_EQ(b.posted().back()->id, copy) << "b edits its copy in place";
  EXPECT_EQ(b.posted().back()->plain(), "typo");
  EXPECT_TRUE(c.posted().back()->edited) << "c cannot edit: sent again, marked edited";
  Message gone;
  gone.deleted = true;
  a.inject_as("news", story->id, gone);
  ASSERT_TRUE(test::run_until(io, [&] { return b.deleted().size() == 1; }));
  EXPECT_EQ(b.deleted()[0].id, copy);
}

TEST_F(ForwardTest, NameFormatSeesTheSourceChannelsTitle) {
  a.set_title("news", "Newsroom");
  open(R"({channels: {news: [feed]}, name-format: "{{ user.username }} in {{ channel }}"})");
  a.inject("news", "story", "editor");
  ASSERT_TRUE(test::run_until(io, [&] { return b.posted_count() == 1; }));
  EXPECT_EQ(b.posted()[0]->user->real_name, "editor in Newsroom");
}

TEST(SyncConfig, UnknownChannelIsAConfigErrorAtTheName) {
  asio::io_context io;
  Host host(io.get_executor());
  auto& a = test::add_memory_plug(host, "a");
  host.add_channel("room", a.channel("room"));
  try {
    test::add_hook<SyncHook>(host, "sync", "channels: {x: [room, rooom]}");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "test.yaml:1:22: hooks.sync.config.channels.x[1]: unknown channel 'rooom' (did "
                 "you mean 'room'?)");
  }
}

TEST(SyncConfig, NameFormatBeyondTheSubsetIsAConfigErrorWithTheColumn) {
  asio::io_context io;
  Host host(io.get_executor());
  auto& a = test::add_memory_plug(host, "a");
  host.add_channel("room", a.channel("room"));
  try {
    test::add_hook<SyncHook>(
        host, "sync",
        R"y({channels: {x: [room]}, name-format: "{{ user.real_name | capitalize }}"})y");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "test.yaml:1:25: hooks.sync.config.name-format: name-format template, column 21: "
                 "unknown filter 'capitalize' (supported: default, d, upper, lower, title, trim, "
                 "truncate, replace)");
  }
  try {
    test::add_hook<SyncHook>(host, "sync", R"y({channels: {x: [room]},
        plugs: {a: {name-format: "{% for u in users %}{{ u }}{% endfor %}"}}})y");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "hooks.sync.config.plugs.a.name-format");
    EXPECT_EQ(e.problem(),
              "name-format template, column 4: '{% for %}' is not supported: only if, elif, else "
              "and endif are supported");
  }
}

TEST(SyncConfig, AnUnknownNameFormatVariableIsAWarning) {
  asio::io_context io;
  Host host(io.get_executor());
  auto& a = test::add_memory_plug(host, "a");
  host.add_channel("room", a.channel("room"));
  ConfigWarningScope scope;
  test::add_hook<SyncHook>(host, "sync",
                           R"y({channels: {x: [room]}, name-format: "{{ usr.name }}"})y");
  ASSERT_EQ(scope.warnings().size(), 1u);
  EXPECT_EQ(scope.warnings()[0].problem,
            "name-format, column 4: 'usr' is not a variable here and renders empty (did you mean "
            "'user'?); a name-format has user, identity and channel");
}

}  // namespace
}  // namespace immp::hooks
