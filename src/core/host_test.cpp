#include "immp/host.hpp"

#include <gtest/gtest.h>

#include <boost/asio/detached.hpp>

#include "immp/tasks.hpp"
#include "support/async.hpp"
#include "support/memory.hpp"

namespace immp {
namespace {

using namespace std::chrono_literals;
using test::add_memory_plug;

// Holds whoever passes it until released, then lets everyone through: a
// hook busy with slow work, for exactly as long as a test wants.
class Gate {
 public:
  explicit Gate(Executor ex) : opened_(std::move(ex)) {}
  Task<> pass() {
    while (!open_) co_await opened_.wait();
  }
  void release() {
    open_ = true;
    opened_.notify();
  }

 private:
  Signal opened_;
  bool open_ = false;
};

// A hook that records what it sees, optionally held at a gate or throwing.
class Recorder : public Hook {
 public:
  Recorder(Host& host, std::string name, std::vector<std::string>* journal = nullptr)
      : Hook(Init{std::move(name), Node::map(), host}), journal_(journal) {}

  Task<> on_receive(const Received& r) override {
    const SentPtr& sent = r.sent;
    if (journal_) journal_->push_back(name() + ":start:" + sent->plain());
    if (gate) co_await gate->pass();
    if (throws) throw std::runtime_error("boom in " + name());
    seen.push_back(sent);
    sources.push_back(r.source);
    primaries.push_back(r.primary);
    origins.push_back(r.origin);
    if (on_seen) on_seen(sent);
    if (journal_) journal_->push_back(name() + ":end:" + sent->plain());
  }

  std::vector<SentPtr> seen;
  std::vector<MessagePtr> sources;
  std::vector<bool> primaries;
  std::vector<OriginPtr> origins;
  Gate* gate = nullptr;
  bool throws = false;
  std::function<void(const SentPtr&)> on_seen;
  // What wants() lets through; null: everything.
  std::function<bool(const Received&)> filter;
  bool wants(const Received& r) const override { return !filter || filter(r); }
  Task<SentPtr> before_receive(const Received& r) override {
    ++before_receive_calls;
    co_return r.sent;
  }
  int before_receive_calls = 0;

 private:
  std::vector<std::string>* journal_;
};

struct HostTest : ::testing::Test {
  asio::io_context io;
  Host host{io.get_executor(), HostOptions{.phase_timeout = 300ms}};

  void open() { test::run(io, host.open()); }
  ~HostTest() override {
    if (host.is_open()) test::run(io, host.close());
  }
};

TEST_F(HostTest, DeliversIncomingMessagesToHooksInOrder) {
  auto& a = add_memory_plug(host, "a");
  auto& rec = host.add_hook(std::make_unique<Recorder>(host, "rec"));
  open();
  for (int i = 0; i < 100; ++i) a.inject("room", "m" + std::to_string(i));
  ASSERT_TRUE(test::run_until(io, [&] { return rec.seen.size() == 100; }));
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(rec.seen[i]->plain(), "m" + std::to_string(i));
    EXPECT_EQ(rec.sources[i], rec.seen[i]) << "an incoming message is its own source";
    EXPECT_TRUE(rec.primaries[i]);
  }
}

TEST_F(HostTest, AHookSeesOnlyWhatItWants) {
  auto& a = add_memory_plug(host, "a");
  auto& picky = host.add_hook(std::make_unique<Recorder>(host, "picky"));
  picky.filter = [](const Received& r) { return r.sent->channel.source == "wanted"; };
  auto& all = host.add_hook(std::make_unique<Recorder>(host, "all"));
  open();
  a.inject("other", "skipped");
  a.inject("wanted", "taken");
  a.inject("other", "sentinel");
  ASSERT_TRUE(test::run_until(io, [&] { return all.seen.size() == 3 && picky.seen.size() >= 1; }));
  ASSERT_EQ(picky.seen.size(), 1u);
  EXPECT_EQ(picky.seen[0]->plain(), "taken");
  EXPECT_EQ(picky.before_receive_calls, 1) << "before_receive is skipped too";
  EXPECT_EQ(all.before_receive_calls, 3);
}

TEST_F(HostTest, EchoDuringPutIsPassedOnAtOnceAndKnownAsOurs) {
  // The network echoes our post while put() still waits for its answer
  // (50 ms): the id was announced first, so nothing waits for put().
  auto& a = add_memory_plug(host, "a", {{"echo", true}, {"delay-ms", 50}});
  auto& rec = host.add_hook(std::make_unique<Recorder>(host, "rec"));
  bool put_returned = false;
  std::vector<bool> returned_when_seen;
  rec.on_seen = [&](const SentPtr&) { returned_when_seen.push_back(put_returned); };
  open();
  auto original = std::make_shared<Message>();
  original->text = RichText("hello");
  std::vector<Receipt> receipts = test::run(io, [&]() -> Task<std::vector<Receipt>> {
    auto r = co_await a.send(a.channel("room"), original);
    put_returned = true;
    co_return r;
  }());
  ASSERT_EQ(receipts.size(), 1u);
  ASSERT_TRUE(test::run_until(io, [&] { return rec.seen.size() == 1; }));
  EXPECT_FALSE(returned_when_seen.at(0)) << "the echo waited for put() to return";
  EXPECT_EQ(rec.seen[0]->id, receipts[0].id);
  EXPECT_EQ(rec.sources[0].get(), original.get()) << "the echo's source is the message we sent";
  EXPECT_TRUE(rec.primaries[0]);
}

TEST_F(HostTest, EchoWithALateIdIsHeldBackButOthersMessagesAreNot) {
  // A network that tells our post's id only in its answer: our echo waits
  // for put() to return; a stranger's message meanwhile does not.
  auto& a = add_memory_plug(host, "a", {{"echo", true}, {"late-ids", true}, {"delay-ms", 200}});
  auto& rec = host.add_hook(std::make_unique<Recorder>(host, "rec"));
  bool put_returned = false;
  std::vector<std::pair<std::string, bool>> seen;
  rec.on_seen = [&](const SentPtr& s) { seen.emplace_back(s->plain(), put_returned); };
  open();
  auto original = std::make_shared<Message>();
  original->text = RichText("ours");
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> Task<> {
        co_await a.send(a.channel("room"), original);
        put_returned = true;
        done = true;
      },
      asio::detached);
  ASSERT_TRUE(test::run_until(io, [&] { return a.posted_count() == 1; }));
  a.inject("room", "theirs");
  ASSERT_TRUE(test::run_until(io, [&] { return done && seen.size() == 2; }));
  ASSERT_EQ(seen[0].first, "theirs");
  EXPECT_FALSE(seen[0].second) << "a stranger's message waited for our put()";
  EXPECT_EQ(seen[1].first, "ours");
  EXPECT_TRUE(seen[1].second);
  EXPECT_EQ(rec.sources[1].get(), original.get()) << "the held echo is known as ours";
}

TEST_F(HostTest, PrioritisedHooksRunOneAtATimeLowestFirstThenTheRestConcurrently) {
  std::vector<std::string> journal;
  auto& a = add_memory_plug(host, "a");
  auto& second = static_cast<Recorder&>(
      host.add_hook(std::make_unique<Recorder>(host, "second", &journal), 2));
  auto& first =
      static_cast<Recorder&>(host.add_hook(std::make_unique<Recorder>(host, "first", &journal), 1));
  auto& free =
      static_cast<Recorder&>(host.add_hook(std::make_unique<Recorder>(host, "free", &journal)));
  Gate first_busy(io.get_executor()), second_busy(io.get_executor());
  first.gate = &first_busy;
  second.gate = &second_busy;
  open();
  a.inject("room", "x");
  // While a hook is busy, everything that could run has run (test::poll),
  // and no later hook has started.
  ASSERT_TRUE(test::run_until(io, [&] { return !journal.empty(); }));
  test::poll(io);
  EXPECT_EQ(journal, std::vector<std::string>{"first:start:x"});
  first_busy.release();
  ASSERT_TRUE(test::run_until(io, [&] { return journal.size() == 3; }));
  test::poll(io);
  EXPECT_EQ(journal, (std::vector<std::string>{"first:start:x", "first:end:x", "second:start:x"}));
  second_busy.release();
  ASSERT_TRUE(test::run_until(io, [&] { return free.seen.size() == 1; }));
  std::vector<std::string> expected = {"first:start:x", "first:end:x",  "second:start:x",
                                       "second:end:x",  "free:start:x", "free:end:x"};
  EXPECT_EQ(journal, expected);
}

TEST_F(HostTest, ASlowHookDoesNotHoldBackTheOthers) {
  auto& a = add_memory_plug(host, "a");
  auto& slow = static_cast<Recorder&>(host.add_hook(std::make_unique<Recorder>(host, "slow")));
  auto& fast = static_cast<Recorder&>(host.add_hook(std::make_unique<Recorder>(host, "fast")));
  Gate slow_busy(io.get_executor());
  slow.gate = &slow_busy;  // busy with the first message until released
  open();
  for (int i = 0; i < 5; ++i) a.inject("room", std::to_string(i));
  ASSERT_TRUE(test::run_until(io, [&] { return fast.seen.size() == 5; }));
  EXPECT_TRUE(slow.seen.empty());
  slow_busy.release();
  ASSERT_TRUE(test::run_until(io, [&] { return slow.seen.size() == 5; }));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(slow.seen[i]->plain(), std::to_string(i));
}

TEST_F(HostTest, AHookThatThrowsNeverStopsDeliveryToOthersOrToItself) {
  auto& a = add_memory_plug(host, "a");
  auto& bad = static_cast<Recorder&>(host.add_hook(std::make_unique<Recorder>(host, "bad"), 1));
  auto& bad2 = static_cast<Recorder&>(host.add_hook(std::make_unique<Recorder>(host, "bad2")));
  auto& good = static_cast<Recorder&>(host.add_hook(std::make_unique<Recorder>(host, "good")));
  bad.throws = true;
  bad2.throws = true;
  open();
  a.inject("room", "one");
  a.inject("room", "two");
  ASSERT_TRUE(test::run_until(io, [&] { return good.seen.size() == 2; }));
  bad.throws = false;
  a.inject("room", "three");
  ASSERT_TRUE(test::run_until(io, [&] { return bad.seen.size() == 1 && good.seen.size() == 3; }));
  EXPECT_EQ(bad.seen[0]->plain(), "three");
}

class Rewriter : public Hook {
 public:
  explicit Rewriter(Host& host) : Hook(Init{"rewriter", Node::map(), host}) {}
  Task<SentPtr> before_receive(const Received& r) override {
    const SentPtr& sent = r.sent;
    if (sent->plain() == "drop me") co_return nullptr;
    auto copy = std::make_shared<SentMessage>(*sent);
    copy->text = RichText(sent->plain() + "!");
    co_return copy;
  }
  Task<std::optional<Outgoing>> before_send(Outgoing out) override {
    if (out.message->plain() == "secret") co_return std::nullopt;
    if (out.message->plain() == "reroute") out.channel = reroute;
    co_return out;
  }
  Channel reroute;
};

TEST_F(HostTest, BeforeReceiveReplacesOrDropsMessages) {
  auto& a = add_memory_plug(host, "a");
  host.add_hook(std::make_unique<Rewriter>(host), 1);
  auto& rec = host.add_hook(std::make_unique<Recorder>(host, "rec"));
  open();
  a.inject("room", "drop me");
  a.inject("room", "keep me");
  // Messages of one plug reach hooks in order: once the sentinel is seen,
  // "drop me" had its chance.
  a.inject("room", "sentinel");
  ASSERT_TRUE(test::run_until(io, [&] { return rec.seen.size() == 2; }));
  ASSERT_EQ(rec.seen.size(), 2u);
  EXPECT_EQ(rec.seen[0]->plain(), "keep me!");
  EXPECT_EQ(rec.seen[1]->plain(), "sentinel!");
}

TEST_F(HostTest, BeforeSendChangesTheChannelOrDropsTheMessage) {
  auto& a = add_memory_plug(host, "a");
  auto& b = add_memory_plug(host, "b");
  auto& rw = static_cast<Rewriter&>(host.add_hook(std::make_unique<Rewriter>(host)));
  rw.reroute = b.channel("elsewhere");
  open();
  auto send = [&](std::string text) {
    auto msg = std::make_shared<Message>();
    msg->text = RichText(std::move(text));
    return test::run(io, host.send(a.channel("room"), msg));
  };
  EXPECT_TRUE(send("secret").empty());
  EXPECT_EQ(send("reroute").size(), 1u);
  EXPECT_EQ(send("plain").size(), 1u);
  ASSERT_EQ(a.posted().size(), 1u);
  EXPECT_EQ(a.posted()[0]->plain(), "plain");
  ASSERT_EQ(b.posted().size(), 1u);
  EXPECT_EQ(b.posted()[0]->channel.source, "elsewhere");
}

class FailingPlug : public Plug {
 public:
  FailingPlug(Host& host, std::string name, bool hang)
      : Plug(Init{std::move(name), Node::map(), host}), hang_(hang) {}
  std::string network_name() const override { return "Failing"; }
  std::string network_id() const override { return "failing"; }
  Task<> start() override {
    if (hang_) co_await test::hang();
    throw std::runtime_error("cannot connect");
  }
  Task<PutResult> put(Posting&) override { co_return PutResult::delivered(); }

 private:
  bool hang_;
};

TEST_F(HostTest, APlugThatFailsOrHangsOnStartIsMarkedFailedAndTheRestRun) {
  auto& good = add_memory_plug(host, "good");
  auto& bad = host.add_plug(std::make_unique<FailingPlug>(host, "bad", false));
  auto& slow = host.add_plug(std::make_unique<FailingPlug>(host, "slow", true));
  auto& rec = host.add_hook(std::make_unique<Recorder>(host, "rec"));
  auto start = std::chrono::steady_clock::now();
  open();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "the phase timeout bounds start";
  EXPECT_EQ(good.state(), State::active);
  EXPECT_EQ(bad.state(), State::failed);
  EXPECT_EQ(slow.state(), State::failed);
  EXPECT_EQ(rec.state(), State::active);
  good.inject("room", "still works");
  EXPECT_TRUE(test::run_until(io, [&] { return rec.seen.size() == 1; }));
}

TEST_F(HostTest, DisabledPlugsAndHooksNeverStart) {
  auto plug = std::make_unique<plugs::MemoryPlug>(Init{"off",
                                                       [] {
                                                         Node c = Node::map();
                                                         validate(c, *plugs::MemoryPlug::schema());
                                                         return c;
                                                       }(),
                                                       host});
  auto& off = host.add_plug(std::move(plug), false);
  auto& rec = host.add_hook(std::make_unique<Recorder>(host, "rec"), std::nullopt, false);
  open();
  EXPECT_EQ(off.state(), State::disabled);
  EXPECT_EQ(rec.state(), State::disabled);
}

// A hook whose references are wrong (found in on_load) stops the start:
// open() throws the config error and no plug or hook has started.
struct BadReference : Hook {
  explicit BadReference(Host& host) : Hook(Init{"bad", Node::map(), host}) {}
  Task<> on_load() override {
    throw ConfigError(Mark{}, "hooks.bad.config.groups[0]", "unknown group 'nosuch'");
    co_return;
  }
};

TEST_F(HostTest, AConfigErrorWhileHooksLoadStopsTheStartBeforeAnythingRuns) {
  auto& a = add_memory_plug(host, "a");
  auto& rec = host.add_hook(std::make_unique<Recorder>(host, "rec"));
  host.add_hook(std::make_unique<BadReference>(host));
  EXPECT_THROW(
      {
        try {
          open();
        } catch (const ConfigError& e) {
          EXPECT_NE(std::string(e.what()).find("unknown group 'nosuch'"), std::string::npos);
          throw;
        }
      },
      ConfigError);
  EXPECT_FALSE(host.is_open());
  EXPECT_EQ(a.state(), State::inactive);
  EXPECT_EQ(rec.state(), State::inactive);
}

TEST_F(HostTest, CloseStopsHooksThenPlugs) {
  auto& a = add_memory_plug(host, "a");
  auto& rec = host.add_hook(std::make_unique<Recorder>(host, "rec"));
  open();
  test::run(io, host.close());
  EXPECT_EQ(a.state(), State::inactive);
  EXPECT_EQ(rec.state(), State::inactive);
  EXPECT_FALSE(host.is_open());
}

struct Resource : ResourceHook {
  static constexpr std::string_view kPath = "immp.hook.test.Resource";
  static constexpr std::string_view kKind = "test";
  explicit Resource(Host& host) : ResourceHook(Init{"res", Node::map(), host}) {}
};

TEST_F(HostTest, ResourcesAreFoundByTypeAndAMissingOneExplainsItself) {
  auto& rec = host.add_hook(std::make_unique<Recorder>(host, "notes"));
  try {
    host.resource<Resource>(rec);
    FAIL() << "no resource was configured";
  } catch (const MissingResource& e) {
    EXPECT_STREQ(e.what(),
                 "the notes hook needs a test resource: add immp.hook.test.Resource under hooks");
  }
  auto& res = host.add_hook(std::make_unique<Resource>(host));
  EXPECT_EQ(&host.resource<Resource>(rec), &res);
}

// ---- groups: IMMP's membership rules ----

struct GroupTest : HostTest {
  plugs::MemoryPlug* a;
  plugs::MemoryPlug* b;
  void SetUp() override {
    a = &add_memory_plug(host, "a", {{"private", NodeList{Node("dm")}}});
    b = &add_memory_plug(host, "b", {{"private", NodeList{Node("dm")}}});
    host.add_channel("a-room", a->channel("room"));
    host.add_channel("a-dm", a->channel("dm"));
  }
  bool has(const Group& g, const Channel& c) { return test::run(io, g.has_channel(host, c)); }
};

// A group with only the given parts set.
std::vector<const PlugHandle*> handles(const std::vector<Plug*>& plugs) {
  std::vector<const PlugHandle*> out;
  for (Plug* p : plugs) out.push_back(p->handle());
  return out;
}

Group group(std::vector<Channel> channels = {}, std::vector<Plug*> anywhere = {},
            std::vector<Plug*> named = {}, std::vector<Plug*> priv = {},
            std::vector<Plug*> shared = {}, std::vector<Channel> exclude = {}) {
  Group g;
  g.name = "g";
  g.channels = std::move(channels);
  g.anywhere = handles(anywhere);
  g.named = handles(named);
  g.private_ = handles(priv);
  g.shared = handles(shared);
  g.exclude = std::move(exclude);
  return g;
}

TEST_F(GroupTest, TruthTable) {
  Channel room = a->channel("room"), dm = a->channel("dm"), other = a->channel("other");
  Channel b_room = b->channel("room"), b_dm = b->channel("dm");
  Group listed = group({room});
  EXPECT_TRUE(has(listed, room));
  EXPECT_FALSE(has(listed, other));
  EXPECT_FALSE(has(listed, b_room));

  Group anywhere = group({}, {a});
  EXPECT_TRUE(has(anywhere, room));
  EXPECT_TRUE(has(anywhere, other));
  EXPECT_TRUE(has(anywhere, dm));
  EXPECT_FALSE(has(anywhere, b_room));

  Group named = group({}, {}, {a});
  EXPECT_TRUE(has(named, room));
  EXPECT_TRUE(has(named, dm));
  EXPECT_FALSE(has(named, other)) << "only channels declared under `channels`";

  Group priv = group({}, {}, {}, {a, b});
  EXPECT_TRUE(has(priv, dm));
  EXPECT_TRUE(has(priv, b_dm));
  EXPECT_FALSE(has(priv, room));

  Group shared = group({}, {}, {}, {}, {a});
  EXPECT_TRUE(has(shared, room));
  EXPECT_TRUE(has(shared, other));
  EXPECT_FALSE(has(shared, dm));
  EXPECT_FALSE(has(shared, b_room));

  Group excluded = group({room}, {a}, {}, {}, {}, {room, dm});
  EXPECT_FALSE(has(excluded, room)) << "exclude beats an explicit listing";
  EXPECT_FALSE(has(excluded, dm)) << "exclude beats anywhere";
  EXPECT_TRUE(has(excluded, other));
}

}  // namespace
}  // namespace immp
