// IMMP-form configs (tests/data/config/immp/*.yaml): files IMMP's own
// validator accepts (check_with_immp.py in that folder says how to check
// one), loaded here and checked for what they parse to and, where it
// matters, what they do when run.
//
// One section per class or feature, each naming its file. Add a file and a
// section for yours; EveryFileLoads holds every file to the warnings it
// lists.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/logging.hpp"
#include "plugs/dummy/dummy_plug.hpp"
#include "runner/runner.hpp"
#include "support/async.hpp"

namespace immp {
namespace {

namespace fs = std::filesystem;

const fs::path kDir = fs::path(IMMP_SOURCE_DIR) / "tests/data/config/immp";

// A file built into a host (nothing started).
struct Loaded {
  asio::io_context io;
  std::unique_ptr<Runner> runner;

  explicit Loaded(const std::string& name) { runner = std::make_unique<Runner>(kDir / name, io); }
  ~Loaded() {
    runner.reset();
    configure_logging(nullptr, kDir);  // the next test gets the defaults
  }
  const Node& config() const { return runner->config(); }
  Host& host() { return runner->host(); }
  // Warnings as a user reads them, without the folder.
  std::vector<std::string> warnings() const {
    std::vector<std::string> out;
    for (const ConfigWarning& w : runner->warnings()) {
      std::string s = w.str();
      std::string prefix = kDir.string() + "/";
      if (s.rfind(prefix, 0) == 0) s.erase(0, prefix.size());
      out.push_back(s);
    }
    return out;
  }
};

std::vector<std::string> keys_of(const Node& map) {
  std::vector<std::string> out;
  for (const auto& [key, value] : map.as_map()) out.push_back(key);
  return out;
}

using Strings = std::vector<std::string>;

// Every file loads; only the ones listed here may warn, and exactly this
// many times.
TEST(ImmpConfigs, EveryFileLoads) {
  const std::map<std::string, std::size_t> warned = {{"unknown_keys.yaml", 5}};
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(kDir)) {
    const fs::path& file = entry.path();
    if (file.extension() != ".yaml") continue;
    const std::string name = file.filename().string();
    try {
      Loaded loaded(name);
      auto it = warned.find(name);
      EXPECT_EQ(loaded.warnings().size(), it == warned.end() ? 0u : it->second)
          << name << ":\n" << testing::PrintToString(loaded.warnings());
    } catch (const ConfigError& e) {
      ADD_FAILURE() << name << " does not load: " << e.what();
    }
    ++checked;
  }
  EXPECT_GE(checked, 6);
}

// ---- YAML as IMMP users write it --------------------------------------------

// merge_keys.yaml: anchors on top-level x- keys, merged with `<<`.
TEST(ImmpConfigs, MergeKeysAndAnchorHolders) {
  Loaded loaded("merge_keys.yaml");
  const Node& plugs = loaded.config().at("plugs");
  const Node& libera = plugs.at("libera").at("config");
  EXPECT_EQ(libera.at("server").at("host"), Node("irc.example.org"));
  EXPECT_EQ(libera.at("server").at("port"), Node(6697));
  EXPECT_EQ(libera.at("server").at("ssl"), Node(true)) << "`ssl: yes`, merged";
  EXPECT_EQ(libera.at("user").at("nick"), Node("bridge")) << "a plain alias";
  EXPECT_EQ(libera.at("user").at("real-name"), Node("IMMP bridge"));
  const Node& oftc = plugs.at("oftc").at("config");
  EXPECT_EQ(oftc.at("server").at("host"), Node("irc.oftc.net")) << "own keys override";
  EXPECT_EQ(oftc.at("server").at("port"), Node(6667));
  EXPECT_EQ(oftc.at("server").at("ssl"), Node(false));
  EXPECT_EQ(oftc.at("user").at("nick"), Node("bridge2"));
  EXPECT_EQ(oftc.at("user").at("real-name"), Node("IMMP bridge"));
  // A merged value is located where it is written, under the path it is
  // used at.
  const Node& host = libera.at("server").at("host");
  EXPECT_EQ(host.mark().line, 4);
  EXPECT_EQ(host.mark().column, 3);
  EXPECT_EQ(host.path(), "plugs.libera.config.server.host");
  EXPECT_EQ(oftc.at("server").at("host").mark().line, 23);
  // The anchor holders are not sections: no warning, not in the tree.
  EXPECT_EQ(loaded.config().find("x-irc-server"), nullptr);
  EXPECT_EQ(loaded.warnings(), Strings{});
  ASSERT_NE(loaded.host().plug("libera"), nullptr);
  ASSERT_NE(loaded.host().plug("oftc"), nullptr);
}

// merge_list.yaml: lists of merged maps, in PyYAML's order.
TEST(ImmpConfigs, MergeListsFirstMapWins) {
  Loaded loaded("merge_list.yaml");
  Host& host = loaded.host();
  EXPECT_EQ(host.plug("a")->state(), State::inactive) << "[*on, *base]: enabled";
  EXPECT_EQ(host.plug("b")->state(), State::disabled) << "[*base, *on]: disabled";
  EXPECT_EQ(host.plug("c")->state(), State::inactive) << "its own key wins";
  // Merged entries come first, as PyYAML builds the map: the order hooks
  // without a priority see some stages in.
  EXPECT_EQ(keys_of(loaded.config().at("hooks")), (Strings{"sync", "runner"}));
  EXPECT_NE(host.hook("sync"), nullptr);
}

// booleans.yaml: YAML 1.1 booleans where IMMP expects a boolean.
TEST(ImmpConfigs, Yaml11Booleans) {
  Loaded loaded("booleans.yaml");
  Host& host = loaded.host();
  EXPECT_EQ(host.plug("dummy")->state(), State::inactive) << "enabled: yes";
  EXPECT_EQ(host.plug("spare")->state(), State::disabled) << "enabled: Off";
  EXPECT_NE(host.hook("sync")->state(), State::disabled) << "enabled: YES";
  EXPECT_EQ(loaded.config().at("hooks").at("sync").at("config").at("edits"), Node(false))
      << "edits: NO";
  EXPECT_EQ(loaded.config().at("plugs").at("dummy").at("enabled"), Node(true));
}

// ---- unknown keys -------------------------------------------------------------

// unknown_keys.yaml: every key IMMP passes through loads with a warning
// (in file order), and is passed through to the plug as IMMP does.
TEST(ImmpConfigs, UnknownKeysAreWarnings) {
  Loaded loaded("unknown_keys.yaml");
  EXPECT_EQ(loaded.warnings(),
            (Strings{
                "unknown_keys.yaml:2:1: unknown key 'notes' (known keys: path, plugs, channels, "
                "groups, hooks, logging, operators, bus)",
                "unknown_keys.yaml:9:5: plugs.dummy: unknown key 'priority' (known keys: path, "
                "config, enabled, outbox)",
                "unknown_keys.yaml:11:7: plugs.dummy.config: unknown key 'colour' (known keys: "
                "interval, text)",
                "unknown_keys.yaml:16:5: channels.room: unknown key 'title' (known keys: plug, "
                "source)",
                "unknown_keys.yaml:20:5: groups.everyone: unknown key 'comment' (known keys: "
                "channels, private, shared, named, anywhere, exclude)",
            }));
  Host& host = loaded.host();
  EXPECT_EQ(host.plug("dummy")->config().at("colour"), Node("blue"));
  EXPECT_EQ(host.channel("room"), host.plug("dummy")->channel("dummy"));
  ASSERT_NE(host.group("everyone"), nullptr);
  EXPECT_EQ(host.priority(*host.hook("runner")), 5);
}

// ---- immp.hook.runner.RunnerHook -----------------------------------------------

// runner_hook.yaml: IMMP's runner hook listed explicitly. The runner does
// its work (writing back with -w) here, so it takes part in nothing.
TEST(ImmpConfigs, RunnerHookLoads) {
  Loaded loaded("runner_hook.yaml");
  Hook* hook = loaded.host().hook("runner");
  ASSERT_NE(hook, nullptr);
  EXPECT_EQ(loaded.host().priority(*hook), 1);
  EXPECT_FALSE(hook->stages().before_send);
  EXPECT_FALSE(hook->stages().before_receive);
  EXPECT_FALSE(hook->stages().on_receive);
}

// ---- immp.plug.dummy.DummyPlug ---------------------------------------------------

// Keeps what the host receives.
class Recorder final : public Hook {
 public:
  explicit Recorder(const Init& init) : Hook(init) {}
  Task<> on_receive(const Received& received) override {
    seen.push_back(received.sent);
    co_return;
  }
  std::vector<SentPtr> seen;
};

// dummy.yaml: IMMP's dummy channel is `dummy`; what is sent there comes back
// there, and the dummy says "Test" every 10 seconds (immp's `interval` and
// `text` keep IMMP's behaviour as their defaults).
TEST(ImmpConfigs, DummyChannelIsDummy) {
  Loaded loaded("dummy.yaml");
  Host& host = loaded.host();
  Plug* dummy = host.plug("dummy");
  ASSERT_NE(dummy, nullptr);
  const Channel channel = *host.channel("dummy");
  EXPECT_EQ(channel.source, "dummy");
  auto publics = test::run(loaded.io, dummy->public_channels());
  EXPECT_EQ(publics, std::vector<Channel>{channel});
  EXPECT_EQ(dummy->config().at("interval"), Node(10.0));
  EXPECT_EQ(dummy->config().at("text"), Node("Test"));
  EXPECT_EQ(plugs::DummyPlug::kSource, "dummy");
}

// dummy.yaml, run: what is sent to the IMMP dummy channel comes back in it.
TEST(ImmpConfigs, DummyChannelHearsItsEcho) {
  Loaded loaded("dummy.yaml");
  Host& host = loaded.host();
  auto& recorder = host.add_hook(std::make_unique<Recorder>(Init{"recorder", Node::map(), host}));
  test::run(loaded.io, host.open());
  const Channel channel = *host.channel("dummy");
  auto msg = std::make_shared<Message>();
  msg->text = RichText("hello");
  test::run(loaded.io, host.plug("dummy")->send(channel, msg));
  ASSERT_TRUE(test::run_until(loaded.io, [&] { return !recorder.seen.empty(); }));
  EXPECT_EQ(recorder.seen[0]->channel, channel);
  ASSERT_TRUE(recorder.seen[0]->text);
  EXPECT_EQ(recorder.seen[0]->text->plain(), "hello");
  test::run(loaded.io, host.close());
}

}  // namespace
}  // namespace immp
