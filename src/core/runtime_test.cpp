// The host changing while it runs: plugs and hooks added, stopped,
// restarted, replaced and removed while messages flow.
#include "immp/host.hpp"

#include <gtest/gtest.h>

#include "support/async.hpp"
#include "support/hooks.hpp"
#include "support/memory.hpp"

namespace immp {
namespace {

using namespace std::chrono_literals;
using plugs::MemoryPlug;

MessagePtr text(std::string t) {
  auto m = std::make_shared<Message>();
  m->text = RichText(std::move(t));
  return m;
}

class Recorder : public Hook {
 public:
  Recorder(Host& host, std::string name) : Hook(Init{std::move(name), Node::map(), host}) {}
  Task<> on_receive(const Received& r) override { seen.push_back(r.sent->plain()); co_return; }
  Task<> on_load() override {
    ++loaded;
    co_return;
  }
  std::vector<std::string> seen;
  int loaded = 0;
};

// Posts every message it sees in `from` to `to` (a minimal bridge).
class Copier : public Hook {
 public:
  Copier(Host& host, std::string name, Channel from, Channel to)
      : Hook(Init{std::move(name), Node::map(), host}), from_(std::move(from)), to_(std::move(to)) {}
  Task<> on_receive(const Received& r) override {
    if (r.sent->channel == from_ && !r.origin) host().post(to_, r.sent);
    co_return;
  }

 private:
  Channel from_, to_;
};

struct Runtime : ::testing::Test {
  asio::io_context io;
  Host host{io.get_executor(), [] {
              HostOptions o;
              o.phase_timeout = 2s;
              o.retry_first = 20ms;
              o.retry_max = 100ms;
              return o;
            }()};
  std::vector<std::string> events;
  Runtime() {
    host.subscribe([this](const StateEvent& e) {
      events.push_back(e.name + ":" + std::string(state_name(e.state)));
    });
  }
  ~Runtime() override {
    if (host.is_open()) test::run(io, host.close());
  }
  void open() { test::run(io, host.open()); }
  bool wait(std::function<bool()> done) { return test::run_until(io, std::move(done), 5s); }
};

TEST_F(Runtime, AHookAddedWhileOpenStartsAndReceives) {
  auto& a = test::add_memory_plug(host, "a");
  open();
  auto& rec = host.add_hook(std::make_unique<Recorder>(host, "late"));
  a.inject("room", "before start");
  test::run(io, host.start("late"));
  EXPECT_EQ(rec.state(), State::active);
  EXPECT_EQ(rec.loaded, 1);
  a.inject("room", "after start");
  ASSERT_TRUE(wait([&] { return rec.seen.size() == 1; }));
  EXPECT_EQ(rec.seen[0], "after start");
}

TEST_F(Runtime, APlugAddedWhileOpenIsReadAndDeliveredTo) {
  auto& rec = host.add_hook(std::make_unique<Recorder>(host, "rec"));
  open();
  auto& b = test::add_memory_plug(host, "b");
  host.post(b.channel("room"), text("queued before start"));
  test::run(io, host.start("b"));
  ASSERT_TRUE(wait([&] { return b.posted_count() == 1; }));
  b.inject("room", "hello");
  ASSERT_TRUE(wait([&] { return rec.seen.size() == 1; }));
}

TEST_F(Runtime, AStoppedPlugKeepsItsMessagesAndGetsThemWhenStartedAgain) {
  auto& b = test::add_memory_plug(host, "b");
  open();
  test::run(io, host.stop("b"));
  EXPECT_EQ(b.state(), State::inactive);
  host.post(b.channel("room"), text("one"));
  host.post(b.channel("room"), text("two"));
  auto& c = test::add_memory_plug(host, "c");
  test::run(io, host.start("c"));
  host.post(c.channel("room"), text("sentinel"));
  ASSERT_TRUE(wait([&] { return c.posted_count() == 1; }));
  EXPECT_EQ(b.posted_count(), 0u);
  test::run(io, host.start("b"));
  ASSERT_TRUE(wait([&] { return b.posted_count() == 2; }));
  EXPECT_EQ(b.posted()[0]->plain(), "one");
}

TEST_F(Runtime, AReplacedPlugTakesOverItsChannelsAndOutbox) {
  auto& a = test::add_memory_plug(host, "a");
  auto& old_b = test::add_memory_plug(host, "b");
  Channel b_room = old_b.channel("room");
  host.add_channel("b-room", b_room);
  host.add_hook(std::make_unique<Copier>(host, "copier", a.channel("room"), b_room));
  open();
  old_b.set_link(false);
  a.inject("room", "while replacing");
  // The new instance: a new config (here: echo on), same name.
  NodeMap settings{{"echo", true}};
  Node config(std::move(settings));
  validate(config, *MemoryPlug::schema());
  auto fresh = std::make_unique<MemoryPlug>(Init{"b", config, host});
  MemoryPlug* next = fresh.get();
  test::run(io, host.replace(std::move(fresh)));
  EXPECT_EQ(host.plug("b"), next);
  EXPECT_EQ(b_room.plug(), next) << "the channel follows the new instance";
  EXPECT_EQ(host.channel("b-room")->plug(), next);
  ASSERT_TRUE(wait([&] { return next->posted_count() == 1; }))
      << "what waited for the old instance goes to the new one";
  a.inject("room", "after");
  ASSERT_TRUE(wait([&] { return next->posted_count() == 2; }));
}

TEST_F(Runtime, ARemovedPlugLeavesNoDanglingChannel) {
  auto& a = test::add_memory_plug(host, "a");
  auto& b = test::add_memory_plug(host, "b");
  Channel b_room = b.channel("room");
  auto& rec = host.add_hook(std::make_unique<Recorder>(host, "rec"));
  // Prioritised: it has posted each message before the recorder sees it.
  host.add_hook(std::make_unique<Copier>(host, "copier", a.channel("room"), b_room), 1);
  open();
  test::run(io, host.remove("b"));
  EXPECT_EQ(host.plug("b"), nullptr);
  EXPECT_FALSE(b_room.valid());
  EXPECT_EQ(b_room.repr(), "b:room");
  a.inject("room", "to nowhere");  // the copier posts to the removed plug's channel
  a.inject("room", "sentinel");
  ASSERT_TRUE(wait([&] { return rec.seen.size() == 2; }));
  EXPECT_EQ(host.outbox_stats().pending, 2u) << "kept for a plug of that name";
  EXPECT_NE(std::find(events.begin(), events.end(), "b:stopping"), events.end());
}

TEST_F(Runtime, ARemovedHookGetsNothingMoreAndTheOthersCarryOn) {
  auto& a = test::add_memory_plug(host, "a");
  auto& gone = host.add_hook(std::make_unique<Recorder>(host, "gone"));
  auto& rec = host.add_hook(std::make_unique<Recorder>(host, "rec"));
  open();
  a.inject("room", "one");
  ASSERT_TRUE(wait([&] { return rec.seen.size() == 1 && gone.seen.size() == 1; }));
  test::run(io, host.remove("gone"));
  EXPECT_EQ(host.hook("gone"), nullptr);
  a.inject("room", "two");
  ASSERT_TRUE(wait([&] { return rec.seen.size() == 2; }));
}

TEST_F(Runtime, ADisabledHookStaysOffUntilStarted) {
  auto& a = test::add_memory_plug(host, "a");
  auto& rec = host.add_hook(std::make_unique<Recorder>(host, "rec"));
  auto& other = host.add_hook(std::make_unique<Recorder>(host, "other"));
  open();
  test::run(io, host.stop("rec", true));
  EXPECT_EQ(rec.state(), State::disabled);
  a.inject("room", "while off");
  ASSERT_TRUE(wait([&] { return other.seen.size() == 1; }));
  test::run(io, host.restart("rec"));
  EXPECT_EQ(rec.state(), State::active);
  a.inject("room", "on again");
  ASSERT_TRUE(wait([&] { return rec.seen.size() == 1; }));
  EXPECT_EQ(rec.seen[0], "on again");
}

}  // namespace
}  // namespace immp
