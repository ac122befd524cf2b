// Delivery guarantees of the host: typed put() outcomes, partial delivery,
// "retry after", wake-up when a plug comes back, expiry, slow and hung
// hooks, stage detection, state events and restarts of failed plugs.
#include "immp/host.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "store/database_hook.hpp"
#include "support/async.hpp"
#include "support/hooks.hpp"
#include "support/memory.hpp"

namespace immp {
namespace {

using namespace std::chrono_literals;
using plugs::MemoryPlug;
namespace fs = std::filesystem;

MessagePtr text(std::string t) {
  auto m = std::make_shared<Message>();
  m->text = RichText(std::move(t));
  return m;
}

std::vector<std::string> texts(const MemoryPlug& plug) {
  std::vector<std::string> out;
  for (const auto& s : plug.posted()) out.push_back(s->plain());
  return out;
}

// Records what it receives; optionally blocks on a signal it is given.
class Recorder : public Hook {
 public:
  Recorder(Host& host, std::string name) : Hook(Init{std::move(name), Node::map(), host}) {}
  Task<> on_receive(const Received& r) override {
    if (gate) co_await gate->wait();
    seen.push_back(r.sent->plain());
  }
  std::vector<std::string> seen;
  Signal* gate = nullptr;
};

struct Delivery : ::testing::Test {
  asio::io_context io;
  Clock::time_point now = Clock::now();
  HostOptions options() {
    HostOptions o;
    o.phase_timeout = 2s;
    o.retry_first = 20ms;
    o.retry_max = 100ms;
    o.restart_first = 20ms;
    o.restart_max = 100ms;
    o.clock = [this] { return now; };
    return o;
  }
  std::unique_ptr<Host> host = std::make_unique<Host>(io.get_executor(), options());
  // What state listeners record; outlives the host's last events at close.
  std::vector<std::string> states;
  std::vector<bool> online;

  void open() { test::run(io, host->open()); }
  void close() {
    if (host && host->is_open()) test::run(io, host->close());
  }
  ~Delivery() override { close(); }
  bool wait(std::function<bool()> done, std::chrono::milliseconds limit = 5s) {
    return test::run_until(io, std::move(done), limit);
  }
};

TEST_F(Delivery, APermanentFailureIsDroppedAndCountedAndNeverBlocksTheChannel) {
  auto& b = test::add_memory_plug(*host, "b");
  open();
  b.set_rejecting(true);
  host->post(b.channel("room"), text("refused"));
  ASSERT_TRUE(wait([&] { return host->outbox_stats().failed == 1; }));
  b.set_rejecting(false);
  host->post(b.channel("room"), text("next"));
  ASSERT_TRUE(wait([&] { return b.posted_count() == 1; }));
  EXPECT_EQ(texts(b), std::vector<std::string>{"next"});
  auto stats = host->outbox_stats();
  EXPECT_EQ(stats.retried, 0u) << "a permanent failure is not retried";
  EXPECT_EQ(stats.pending, 0u);
}

TEST_F(Delivery, ARetryAfterFromTheNetworkIsWaitedOutNotBackedOff) {
  HostOptions o = options();
  o.retry_first = 10s;  // the outbox's own backoff would take this long
  host = std::make_unique<Host>(io.get_executor(), o);
  auto& b = test::add_memory_plug(*host, "b");
  open();
  b.set_rate_limit(300ms);
  auto start = std::chrono::steady_clock::now();
  host->post(b.channel("room"), text("later"));
  ASSERT_TRUE(wait([&] { return host->outbox_stats().retried == 1; }));
  b.set_rate_limit(0ms);
  ASSERT_TRUE(wait([&] { return b.posted_count() == 1; }, 3s));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 290ms) << "delivered before the network's retry-after";
  EXPECT_LT(took, 3s);
}

TEST_F(Delivery, PartsThatWentOutAreNeverSentAgain) {
  auto& b = test::add_memory_plug(*host, "b", {{"split-lines", true}});
  std::vector<std::string> receipts;
  auto listening = host->on_delivered("test", [&](const Origin& origin, const Channel&,
                                 std::span<const Receipt> rs) {
    EXPECT_EQ(origin.tag, "t1");
    for (const auto& r : rs) receipts.push_back(r.id);
  });
  open();
  b.drop_link_after(2);
  host->post(b.channel("room"), text("one\ntwo\nthree\nfour"),
             std::make_shared<const Origin>(Origin{"test", "t1"}));
  ASSERT_TRUE(wait([&] { return host->outbox_stats().delivered == 1; }));
  EXPECT_EQ(texts(b), (std::vector<std::string>{"one", "two", "three", "four"}));
  EXPECT_EQ(host->outbox_stats().partial, 1u);
  ASSERT_EQ(receipts.size(), 4u) << "every part's id reaches the poster, first attempt's too";
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(receipts[i], b.posted()[i]->id);
}

TEST_F(Delivery, AnOutboxDeliversAsSoonAsItsPlugIsOnlineAgain) {
  HostOptions o = options();
  o.retry_first = 30s;  // the next backoff step would be far away
  o.retry_max = 60s;
  host = std::make_unique<Host>(io.get_executor(), o);
  auto& b = test::add_memory_plug(*host, "b");
  open();
  b.set_failing(true);
  host->post(b.channel("room"), text("queued"));
  ASSERT_TRUE(wait([&] { return host->outbox_stats().retried == 1; }));
  b.set_failing(false);
  b.set_link(false);
  b.set_link(true);
  auto back = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait([&] { return b.posted_count() == 1; }, 2s));
  EXPECT_LT(std::chrono::steady_clock::now() - back, 100ms);
}

TEST_F(Delivery, NothingIsSentToAPlugThatIsOffline) {
  auto& b = test::add_memory_plug(*host, "b");
  auto& c = test::add_memory_plug(*host, "c");
  host->subscribe([&](const StateEvent& e) {
    if (e.name == "b") online.push_back(e.online);
  });
  open();
  b.set_link(false);
  host->post(b.channel("room"), text("one"));
  host->post(b.channel("room"), text("two"));
  // A message to another plug goes through meanwhile: the sentinel.
  host->post(c.channel("room"), text("sentinel"));
  ASSERT_TRUE(wait([&] { return c.posted_count() == 1; }));
  EXPECT_EQ(b.posted_count(), 0u);
  EXPECT_EQ(host->outbox_stats().retried, 0u) << "an offline plug is not even tried";
  b.set_link(true);
  ASSERT_TRUE(wait([&] { return b.posted_count() == 2; }));
  EXPECT_EQ(texts(b), (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(online, (std::vector<bool>{true, true, false, true}));  // starting, active, down, up
}

TEST_F(Delivery, ExpiryReadsTheHostsClock) {
  auto& b = test::add_memory_plug(*host, "b");
  b.outbox_policy().expiry = 3600s;
  open();
  b.set_link(false);
  host->post(b.channel("room"), text("stale"));
  now += 2h;
  b.set_link(true);  // wakes the outbox, which finds the message too old
  ASSERT_TRUE(wait([&] { return host->outbox_stats().expired == 1; }));
  EXPECT_EQ(b.posted_count(), 0u);
  EXPECT_EQ(host->outbox_stats().pending, 0u);
}

TEST_F(Delivery, PartialProgressSurvivesARestart) {
  std::string t = (fs::temp_directory_path() / "immp-delivery-XXXXXX").string();
  fs::path dir = mkdtemp(t.data());
  std::string url = "url: \"sqlite:///" + (dir / "immp.db").string() + "\"";
  auto build = [&] {
    host = std::make_unique<Host>(io.get_executor(), options());
    test::add_hook<store::DatabaseHook>(*host, "db", url);
    auto& b = test::add_memory_plug(*host, "b", {{"split-lines", true}});
    open();
    return &b;
  };
  MemoryPlug* b = build();
  b->drop_link_after(1);
  host->post(b->channel("room"), text("one\ntwo\nthree"));
  ASSERT_TRUE(wait([&] { return host->outbox_stats().partial == 1; }));
  b->set_link(false);  // and then the network stays away until we stop
  close();
  EXPECT_EQ(texts(*b), std::vector<std::string>{"one"});
  b = build();
  ASSERT_TRUE(wait([&] { return host->outbox_stats().delivered == 1; }));
  EXPECT_EQ(texts(*b), (std::vector<std::string>{"two", "three"}))
      << "the part that went out before the restart went out again";
  close();
  fs::remove_all(dir);
}

TEST_F(Delivery, AHookThatFallsBehindLosesItsOldestMessagesNotTheNetworks) {
  HostOptions o = options();
  o.hook_inbox = 10;
  o.hook_timeout = 200ms;
  host = std::make_unique<Host>(io.get_executor(), o);
  auto& a = test::add_memory_plug(*host, "a");
  auto& slow = host->add_hook(std::make_unique<Recorder>(*host, "slow"));
  auto& fast = host->add_hook(std::make_unique<Recorder>(*host, "fast"));
  Signal gate(io.get_executor());
  slow.gate = &gate;
  open();
  for (int i = 0; i < 100; ++i) a.inject("room", "m" + std::to_string(i));
  ASSERT_TRUE(wait([&] { return fast.seen.size() == 100; }));
  slow.gate = nullptr;
  gate.notify();
  ASSERT_TRUE(wait([&] { return !slow.seen.empty() && slow.seen.back() == "m99"; }));
  // The first message in hand, 10 queued while the readers waited for the
  // hook (a burst fills any queue), then the newest 10 once it lagged.
  EXPECT_EQ(slow.seen.size(), 11u);
  EXPECT_EQ(host->hook_stats().dropped, 89u);
  EXPECT_EQ(slow.seen.front(), "m0");
}

class Hanging : public Hook {
 public:
  explicit Hanging(Host& host) : Hook(Init{"hanging", Node::map(), host}) {}
  Task<SentPtr> before_receive(const Received& r) override {
    if (r.sent->plain() == "hang") co_await test::hang();
    co_return r.sent;
  }
};

TEST_F(Delivery, AHungBeforeReceiveIsCancelledAndTheMessageGoesOn) {
  HostOptions o = options();
  o.hook_timeout = 200ms;
  host = std::make_unique<Host>(io.get_executor(), o);
  auto& a = test::add_memory_plug(*host, "a");
  host->add_hook(std::make_unique<Hanging>(*host), 1);
  auto& rec = host->add_hook(std::make_unique<Recorder>(*host, "rec"));
  open();
  a.inject("room", "hang");
  a.inject("room", "next");
  ASSERT_TRUE(wait([&] { return rec.seen.size() == 2; }, 3s));
  EXPECT_EQ(rec.seen, (std::vector<std::string>{"hang", "next"}));
  EXPECT_EQ(host->hook_stats().timed_out, 1u);
  a.inject("room", "later");
  ASSERT_TRUE(wait([&] { return rec.seen.size() == 3; })) << "the reader goes on after a timeout";
}

// Calls the base from its override: in an earlier design that quietly
// unsubscribed the hook.
class CallsBase : public Hook {
 public:
  explicit CallsBase(Host& host) : Hook(Init{"base", Node::map(), host}) {}
  Task<> on_receive(const Received& r) override {
    co_await Hook::on_receive(r);
    ++count;
  }
  int count = 0;
};

TEST_F(Delivery, StagesAreReadFromTheHooksType) {
  static_assert(Hook::stages_of<CallsBase>().on_receive);
  static_assert(!Hook::stages_of<CallsBase>().before_receive);
  static_assert(!Hook::stages_of<CallsBase>().before_send);
  static_assert(Hook::stages_of<Hanging>().before_receive);
  auto& a = test::add_memory_plug(*host, "a");
  auto& hook = host->add_hook(std::make_unique<CallsBase>(*host));
  open();
  for (int i = 0; i < 3; ++i) a.inject("room", "x");
  ASSERT_TRUE(wait([&] { return hook.count == 3; }));
}

class FlakyPlug : public Plug {
 public:
  FlakyPlug(Host& host, int failures) : Plug(Init{"flaky", Node::map(), host}), failures_(failures) {}
  std::string network_name() const override { return "Flaky"; }
  std::string network_id() const override { return "flaky"; }
  Task<> start() override {
    if (failures_-- > 0) throw std::runtime_error("server refused");
    co_return;
  }
  Task<PutResult> put(Posting& post) override {
    post.sent("id");
    co_return PutResult::delivered();
  }
  void say(std::string t) {
    queue(std::make_shared<const SentMessage>(Receipt{"1", channel("room"), Clock::now(), {}, false},
                                              Message(*text(std::move(t)))));
  }

 private:
  int failures_;
};

TEST_F(Delivery, APlugThatFailedToStartIsStartedAgainAndEveryStateIsAnEvent) {
  auto& flaky = host->add_plug(std::make_unique<FlakyPlug>(*host, 2));
  auto& rec = host->add_hook(std::make_unique<Recorder>(*host, "rec"));
  host->subscribe([&](const StateEvent& e) {
    if (e.kind == StateEvent::Kind::plug) {
      states.push_back(std::string(state_name(e.state)) + (e.reason.empty() ? "" : ":" + e.reason));
    }
  });
  open();
  ASSERT_TRUE(wait([&] { return flaky.state() == State::active; }));
  EXPECT_EQ(states, (std::vector<std::string>{"starting", "failed:server refused", "starting",
                                              "failed:server refused", "starting", "active"}));
  static_cast<FlakyPlug&>(flaky).say("hello");
  ASSERT_TRUE(wait([&] { return rec.seen.size() == 1; })) << "a restarted plug is read";
  host->post(flaky.channel("room"), text("out"));
  ASSERT_TRUE(wait([&] { return host->outbox_stats().delivered == 1; }));
}


// A network that confirms what it took only later (IRC: the answer to a
// PING written after the lines) gets the next messages while it confirms:
// they overlap, and still land in order.
TEST_F(Delivery, PipelinedPutsOverlapAndLandInOrder) {
  auto& b = test::add_memory_plug(*host, "b", {{"pipelined", true}});
  open();
  b.hold_confirmations();
  for (int i = 1; i <= 5; ++i) host->post(b.channel("room"), text("m" + std::to_string(i)));
  ASSERT_TRUE(wait([&] { return b.in_flight() == 5; })) << "five puts waiting at once";
  EXPECT_EQ(texts(b), (std::vector<std::string>{"m1", "m2", "m3", "m4", "m5"}));
  EXPECT_EQ(host->outbox_stats().delivered, 0u) << "nothing counts before the network confirms";
  b.release(false);
  ASSERT_TRUE(wait([&] { return host->outbox_stats().delivered == 5; }));
  EXPECT_EQ(texts(b), (std::vector<std::string>{"m1", "m2", "m3", "m4", "m5"}));
  EXPECT_EQ(host->outbox_stats().retried, 0u);
}

// The link drops while five messages wait for confirmation: all five are
// sent again once it is back, in their order, none twice.
TEST_F(Delivery, ALinkThatDropsUnderAPipelineSendsTheUnconfirmedAgainInOrder) {
  auto& b = test::add_memory_plug(*host, "b", {{"pipelined", true}});
  open();
  b.hold_confirmations();
  for (int i = 1; i <= 5; ++i) host->post(b.channel("room"), text("m" + std::to_string(i)));
  ASSERT_TRUE(wait([&] { return b.in_flight() == 5; }));
  b.release(true);
  ASSERT_TRUE(wait([&] { return host->outbox_stats().delivered == 5; }));
  EXPECT_EQ(texts(b), (std::vector<std::string>{"m1", "m2", "m3", "m4", "m5"}));
  EXPECT_EQ(host->outbox_stats().retried, 5u);
  EXPECT_EQ(host->outbox_stats().pending, 0u);
}

// OutboxPolicy::pipeline bounds how many wait at once.
TEST_F(Delivery, ThePipelineIsBoundedPerChannel) {
  auto& b = test::add_memory_plug(*host, "b", {{"pipelined", true}});
  b.outbox_policy().pipeline = 2;
  open();
  b.hold_confirmations();
  for (int i = 1; i <= 5; ++i) host->post(b.channel("room"), text("m" + std::to_string(i)));
  ASSERT_TRUE(wait([&] { return b.in_flight() == 2; }));
  io.poll();  // everything that was ready ran: no third put() started
  EXPECT_EQ(b.in_flight(), 2u);
  EXPECT_EQ(texts(b), (std::vector<std::string>{"m1", "m2"}));
  b.release(false);
  ASSERT_TRUE(wait([&] { return host->outbox_stats().delivered == 5; }));
  EXPECT_EQ(texts(b), (std::vector<std::string>{"m1", "m2", "m3", "m4", "m5"}));
  EXPECT_EQ(b.max_in_flight(), 2u);
}

// Messages still waiting for confirmation at shutdown are kept for the
// next start, in order.
TEST_F(Delivery, UnconfirmedPipelinedMessagesAreKeptAtShutdown) {
  std::string t = (fs::temp_directory_path() / "immp-pipeline-XXXXXX").string();
  fs::path dir = mkdtemp(t.data());
  std::string url = "url: \"sqlite:///" + (dir / "immp.db").string() + "\"";
  auto build = [&] {
    host = std::make_unique<Host>(io.get_executor(), options());
    test::add_hook<store::DatabaseHook>(*host, "db", url);
    auto& b = test::add_memory_plug(*host, "b", {{"pipelined", true}});
    open();
    return &b;
  };
  MemoryPlug* b = build();
  b->hold_confirmations();
  for (int i = 1; i <= 3; ++i) host->post(b->channel("room"), text("m" + std::to_string(i)));
  ASSERT_TRUE(wait([&] { return b->in_flight() == 3; }));
  b->set_link(false);  // the network stays away until we stop
  close();
  EXPECT_EQ(host->outbox_stats().delivered, 0u);
  b = build();
  ASSERT_TRUE(wait([&] { return host->outbox_stats().delivered == 3; }));
  // The first run's copies were never confirmed: this run's are the ones.
  auto sent = texts(*b);
  EXPECT_EQ(sent, (std::vector<std::string>{"m1", "m2", "m3"}));
  close();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace immp
