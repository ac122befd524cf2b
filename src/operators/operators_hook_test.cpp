#include "operators/operators_hook.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "plugs/memory/memory_plug.hpp"
#include "support/async.hpp"
#include "support/memory.hpp"
#include "support/process.hpp"

namespace immp::operators {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::run;
using test::run_until;

const std::string kFake = std::string(IMMP_SOURCE_DIR) + "/tests/operators/fake_operator.py";
const std::string kDice = std::string(IMMP_SOURCE_DIR) + "/examples/operators/dice.py";

// One operator entry, as YAML under `operators: {name: ...}`.
OperatorSettings settings(const std::string& name, const std::string& yaml, const fs::path& base) {
  Node entry = parse_config(yaml, ConfigFormat::yaml, "test.yaml");
  entry.set_path("operators." + name);
  entry.repath();
  validate(entry, *operator_schema());
  return read_settings(name, entry, base);
}

// A host with a memory plug (channel `room` = mem/#room) and the operators.
class Fixture {
 public:
  Fixture(std::vector<OperatorSettings> operators, fs::path runtime)
      : host(io.get_executor()), mem(test::add_memory_plug(host, "mem")) {
    host.add_channel("room", mem.channel("#room"));
    OperatorsOptions o;
    o.runtime_root = std::move(runtime);
    o.operators = std::move(operators);
    ops = &host.add_hook(std::make_unique<OperatorsHook>(Init{"operators", Node::map(), host}, o));
    events_sub = ops->on_event([this](const OperatorEvent& e) { events.push_back(e); });
  }
  ~Fixture() {
    if (host.is_open()) run(io, host.close(), 30s);
  }

  void open() { run(io, host.open()); }
  // How many `what` events `name` had.
  int count(const std::string& name, const std::string& what) const {
    int n = 0;
    for (const auto& e : events) n += e.name == name && e.what == what;
    return n;
  }
  bool wait_event(const std::string& name, const std::string& what, int times = 1,
                  std::chrono::milliseconds limit = 20s) {
    return run_until(io, [&] { return count(name, what) >= times; }, limit);
  }
  std::vector<std::string> posted() const {
    std::vector<std::string> out;
    for (const auto& p : mem.posted()) out.push_back(p->plain());
    return out;
  }
  bool wait_posted(std::size_t n, std::chrono::milliseconds limit = 20s) {
    return run_until(io, [&] { return mem.posted().size() >= n; }, limit);
  }
  std::string trail() const {
    std::string out;
    for (const auto& e : events) out += e.name + ":" + e.what + "(" + e.detail + ") ";
    return out;
  }

  asio::io_context io;
  Host host;
  plugs::MemoryPlug& mem;
  OperatorsHook* ops = nullptr;
  std::vector<OperatorEvent> events;
  Subscription events_sub;
};

std::string fake(const std::string& config) {
  return "command: python3\nargs: [" + kFake + "]\nconfig: " + config + "\n";
}

TEST(Operators, DiceExampleAnswersInTheChannel) {
  test::TempDir tmp("immp-ops");
  Fixture f({settings("dice", "command: python3\nargs: [" + kDice + "]\nconfig: {seed: 7}\n", tmp.path())},
            tmp / "run");
  f.open();
  ASSERT_TRUE(f.wait_event("dice", "ready")) << f.trail();
  // Subscribed before ready: nothing said from now on is missed.
  f.mem.inject("#room", "!roll 2d6", "alice");
  f.mem.inject("#room", "not for the bot", "bob");
  f.mem.inject("#room", "!echo hi there", "bob");
  ASSERT_TRUE(f.wait_posted(2)) << f.trail();
  auto posted = f.posted();
  EXPECT_TRUE(posted[0].starts_with("alice rolled 2d6: ")) << posted[0];
  EXPECT_EQ(posted[1], "hi there");
  EXPECT_EQ(f.mem.posted()[1]->channel, f.mem.channel("#room"));
  auto st = f.ops->status("dice");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->phase, Phase::ready);
  EXPECT_TRUE(st->connected);
}

TEST(Operators, NodeEchoExampleAnswersInTheChannel) {
  test::TempDir tmp("immp-ops");
  const std::string echo = std::string(IMMP_SOURCE_DIR) + "/examples/operators/echo.js";
  Fixture f({settings("echo", "command: node\nargs: [" + echo + "]\n", tmp.path())}, tmp / "run");
  f.open();
  ASSERT_TRUE(f.wait_event("echo", "ready")) << f.trail();
  f.mem.inject("#room", "!echo from node", "alice");
  ASSERT_TRUE(f.wait_posted(1)) << f.trail();
  EXPECT_EQ(f.posted()[0], "from node");
}

TEST(Operators, AHangingOperatorIsRestarted) {
  test::TempDir tmp("immp-ops");
  Fixture f({settings("hang", fake("{mode: hang}") + "ping_interval: 0.1\nping_timeout: 0.5\nbackoff: 0.01\n",
                      tmp.path())},
            tmp / "run");
  f.open();
  ASSERT_TRUE(f.wait_event("hang", "ready")) << f.trail();
  ASSERT_TRUE(f.wait_event("hang", "unhealthy")) << f.trail();
  ASSERT_TRUE(f.wait_event("hang", "ready", 2)) << f.trail();
  EXPECT_GE(f.ops->status("hang")->restarts, 1);
}

TEST(Operators, ACrashingOperatorBacksOffAndACrashLoopStops) {
  test::TempDir tmp("immp-ops");
  Fixture f({settings("crash",
                      fake("{mode: crash}") + "backoff: 0.02\nbackoff_max: 0.08\ncrash_loop: {restarts: 4, window: 60}\n",
                      tmp.path())},
            tmp / "run");
  f.open();
  ASSERT_TRUE(f.wait_event("crash", "crash-loop")) << f.trail();
  std::vector<std::string> delays;
  for (const auto& e : f.events) {
    if (e.what == "backoff") delays.push_back(e.detail);
  }
  EXPECT_EQ(delays, (std::vector<std::string>{"20", "40", "80", "80"}));
  EXPECT_EQ(f.count("crash", "exited"), 5);
  EXPECT_EQ(f.ops->status("crash")->phase, Phase::failed);
  // Stopped, not spun: it is not started again.
  test::poll(f.io);
  EXPECT_EQ(f.count("crash", "starting"), 5);
  // Started by hand, it runs again.
  EXPECT_TRUE(f.ops->start_operator("crash"));
  ASSERT_TRUE(f.wait_event("crash", "starting", 6)) << f.trail();
}

TEST(Operators, HaltBuffersAndResumeDeliversInOrder) {
  test::TempDir tmp("immp-ops");
  Fixture f({settings("echo", fake("{mode: echo}"), tmp.path())}, tmp / "run");
  f.open();
  ASSERT_TRUE(f.wait_event("echo", "ready")) << f.trail();
  ASSERT_TRUE(f.ops->halt("echo"));
  for (int i = 1; i <= 5; ++i) f.mem.inject("#room", "!echo " + std::to_string(i), "alice");
  // Every message reached the operator's queue and waits there.
  ASSERT_TRUE(run_until(f.io, [&] { return f.ops->status("echo")->queued == 5; })) << f.trail();
  EXPECT_TRUE(f.ops->status("echo")->halted);
  EXPECT_TRUE(f.posted().empty());
  ASSERT_TRUE(f.ops->resume("echo"));
  ASSERT_TRUE(f.wait_posted(5)) << f.trail();
  EXPECT_EQ(f.posted(), (std::vector<std::string>{"1", "2", "3", "4", "5"}));
}

TEST(Operators, ReloadDeliversTheNewConfigAndReportsItForWriteBack) {
  test::TempDir tmp("immp-ops");
  Fixture f({settings("echo", fake("{mode: echo}"), tmp.path())}, tmp / "run");
  std::vector<std::string> written;
  auto sub = f.ops->on_config_changed(
      [&](const std::string& name, const Node& config) { written.push_back(name + " " + config.at("mode").as_string()); });
  f.open();
  ASSERT_TRUE(f.wait_event("echo", "ready")) << f.trail();
  Node config = Node::map();
  config.set("mode", "echo");
  config.set("level", 2);
  ASSERT_TRUE(f.ops->reload("echo", config));
  ASSERT_TRUE(f.wait_posted(1)) << f.trail();
  EXPECT_EQ(f.posted()[0], R"(reloaded {"level": 2, "mode": "echo"})");
  EXPECT_EQ(written, std::vector<std::string>{"echo echo"});
}

TEST(Operators, ShutdownEscalatesToSigkillForOneThatIgnoresSigterm) {
  test::TempDir tmp("immp-ops");
  Fixture f({settings("stubborn", fake("{mode: stubborn}") + "grace: 0.2\n", tmp.path())}, tmp / "run");
  f.open();
  ASSERT_TRUE(f.wait_event("stubborn", "ready")) << f.trail();
  auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(run(f.io, f.ops->stop_operator("stubborn")));
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(f.count("stubborn", "exited"), 1) << f.trail();
  for (const auto& e : f.events) {
    if (e.what == "exited") {
      EXPECT_EQ(e.detail, "137");  // 128 + SIGKILL
    }
  }
  EXPECT_GE(took, 400ms);  // the request's grace, then SIGTERM's
  EXPECT_EQ(f.ops->status("stubborn")->phase, Phase::stopped);
}

TEST(Operators, ASecondInstanceOfANamedOperatorIsRefused) {
  test::TempDir tmp("immp-ops");
  Fixture first({settings("solo", fake("{mode: echo}"), tmp.path())}, tmp / "run");
  first.open();
  ASSERT_TRUE(first.wait_event("solo", "ready")) << first.trail();
  {
    Fixture second({settings("solo", fake("{mode: echo}"), tmp.path())}, tmp / "run");
    second.open();
    EXPECT_EQ(second.count("solo", "refused"), 1) << second.trail();
    EXPECT_EQ(second.count("solo", "starting"), 0);
    EXPECT_EQ(second.ops->status("solo")->phase, Phase::failed);
  }
  // The first one never noticed.
  EXPECT_EQ(first.ops->status("solo")->phase, Phase::ready);
  run(first.io, first.host.close(), 30s);
  // Once the first host closed, the name is free again (as after a restart).
  Fixture third({settings("solo", fake("{mode: echo}"), tmp.path())}, tmp / "run");
  third.open();
  EXPECT_TRUE(third.wait_event("solo", "ready")) << third.trail();
}

TEST(Operators, TheScratchDirectoryExistsWhileItRunsAndIsRemovedAtStop) {
  test::TempDir tmp("immp-ops");
  Fixture f({settings("echo", fake("{mode: echo}"), tmp.path())}, tmp / "run");
  f.open();
  ASSERT_TRUE(f.wait_event("echo", "ready")) << f.trail();
  f.mem.inject("#room", "!scratch", "alice");
  ASSERT_TRUE(f.wait_posted(1)) << f.trail();
  fs::path scratch = f.posted()[0];
  EXPECT_TRUE(fs::is_directory(scratch)) << scratch;
  EXPECT_TRUE(fs::is_directory(tmp / "operators" / "echo"));  // the data directory
  run(f.io, f.host.close(), 30s);
  EXPECT_FALSE(fs::exists(scratch));
  EXPECT_TRUE(fs::is_directory(tmp / "operators" / "echo"));  // kept
}

TEST(Operators, MalformedLinesGetErrorsAndTheOperatorStaysConnected) {
  test::TempDir tmp("immp-ops");
  std::string lines =
      R"(["not json", "{\"op\":\"send\",\"event\":{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"room\",\"type\":\"message\",\"data\":{\"text\":[{\"text\":\"hi\",\"bold\":\"yes\"}]}}}", )"
      R"("{\"op\":\"shout\"}", "@deep", "@badutf8", "@huge", "{}", "{\"op\":\"send\",\"event\":{\"specversion\":\"1.0\",\"id\":\"y\",\"source\":\"nowhere\",\"type\":\"message\",\"data\":{\"text\":\"hi\"}}}"])";
  Fixture f({settings("raw", fake("{mode: raw, lines: " + lines + "}"), tmp.path())}, tmp / "run");
  f.open();
  ASSERT_TRUE(f.wait_event("raw", "ready")) << f.trail();
  ASSERT_TRUE(f.wait_posted(1)) << f.trail();
  EXPECT_EQ(f.posted()[0], "-|event.data.text[0].bold|op|-|-|-|op|event.source");
  EXPECT_TRUE(f.ops->status("raw")->connected);
  EXPECT_EQ(f.count("raw", "disconnected"), 0);
}

TEST(Operators, ASystemdNotifyDaemonRunsUnchanged) {
  test::TempDir tmp("immp-ops");
  Fixture f({settings("sd", "command: python3\nargs: [" + kFake + "]\nenv: {FAKE_MODE: notify}\nping_timeout: 0.4\n",
                      tmp.path())},
            tmp / "run");
  f.open();
  ASSERT_TRUE(f.wait_event("sd", "ready")) << f.trail();
  EXPECT_EQ(f.ops->status("sd")->status, "warming up");
  // Its watchdog keeps it alive past several ping timeouts.
  asio::steady_timer t(f.io, 1200ms);
  bool waited = false;
  t.async_wait([&](auto) { waited = true; });
  run_until(f.io, [&] { return waited; });
  EXPECT_EQ(f.count("sd", "unhealthy"), 0) << f.trail();
  run(f.io, f.ops->stop_operator("sd"));
  EXPECT_EQ(f.count("sd", "sd-stopping"), 1) << f.trail();  // STOPPING=1
}

TEST(Operators, AChangedSectionIsAppliedByDifference) {
  test::TempDir tmp("immp-ops");
  Fixture f({settings("keep", fake("{mode: echo}"), tmp.path()),
             settings("gone", fake("{mode: echo}"), tmp.path())},
            tmp / "run");
  f.open();
  ASSERT_TRUE(f.wait_event("keep", "ready")) << f.trail();
  ASSERT_TRUE(f.wait_event("gone", "ready")) << f.trail();
  // `keep`'s config block alone changed; `gone` is gone; `new` is new.
  run(f.io, f.ops->apply({settings("keep", fake("{mode: echo, level: 3}"), tmp.path()),
                          settings("new", fake("{mode: echo}"), tmp.path())}));
  ASSERT_TRUE(f.wait_posted(1)) << f.trail();
  EXPECT_EQ(f.posted()[0], R"(reloaded {"level": 3, "mode": "echo"})");
  EXPECT_EQ(f.count("keep", "exited"), 0);  // reloaded, not restarted
  EXPECT_EQ(f.count("gone", "exited"), 1);
  EXPECT_FALSE(f.ops->status("gone"));
  ASSERT_TRUE(f.wait_event("new", "ready")) << f.trail();
  // Any other change restarts it, under the same name lock.
  run(f.io, f.ops->apply({settings("keep", fake("{mode: echo, level: 3}") + "grace: 1\n", tmp.path()),
                          settings("new", fake("{mode: echo}"), tmp.path())}));
  EXPECT_EQ(f.count("keep", "exited"), 1);
  ASSERT_TRUE(f.wait_event("keep", "ready", 2)) << f.trail();
  EXPECT_EQ(f.count("keep", "refused"), 0);
}

TEST(Operators, RestartAndStopAndStartByTheApi) {
  test::TempDir tmp("immp-ops");
  Fixture f({settings("echo", fake("{mode: echo}") + "restart: never\n", tmp.path())}, tmp / "run");
  f.open();
  ASSERT_TRUE(f.wait_event("echo", "ready")) << f.trail();
  EXPECT_TRUE(run(f.io, f.ops->restart("echo")));
  ASSERT_TRUE(f.wait_event("echo", "ready", 2)) << f.trail();
  EXPECT_EQ(f.ops->status("echo")->restarts, 1);
  EXPECT_TRUE(run(f.io, f.ops->stop_operator("echo")));
  EXPECT_EQ(f.ops->status("echo")->phase, Phase::stopped);
  EXPECT_TRUE(run_until(f.io, [&] { return !f.ops->status("echo")->connected; }));
  EXPECT_TRUE(f.ops->start_operator("echo"));
  ASSERT_TRUE(f.wait_event("echo", "ready", 3)) << f.trail();
  EXPECT_FALSE(run(f.io, f.ops->restart("nobody")));
}

}  // namespace
}  // namespace immp::operators
