#include "runner/runner.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "plugs/memory/memory_plug.hpp"
#include "support/async.hpp"

namespace immp {
namespace {

namespace fs = std::filesystem;

const fs::path kData = fs::path(IMMP_SOURCE_DIR) / "tests/data/config";

// A hook whose settings change at runtime, as a bot's admin commands would.
class RecordHook final : public Hook {
 public:
  static constexpr std::string_view kPath = "immp.hook.test.RecordHook";
  static constexpr std::string_view kDescription = "test hook";
  static SpecPtr schema() {
    return object({{"note", str(), "", ""}, {"tags", list_of(str()), Node::list(), ""}});
  }
  explicit RecordHook(const Init& init) : Hook(init) {}
  void change_note(std::string note) {
    Node c = config();
    c.set("note", std::move(note));
    set_config(std::move(c));
  }
};

const Module& test_module() {
  static const Module m{kAbiVersion, kBuildSignature, "test", {describe<RecordHook>()}};
  return m;
}

struct Tmp {
  fs::path dir;
  Tmp() {
    std::string t = (fs::temp_directory_path() / "immp-runner-XXXXXX").string();
    dir = mkdtemp(t.data());
  }
  ~Tmp() { fs::remove_all(dir); }
};

std::string config_error(const fs::path& file) {
  asio::io_context io;
  try {
    Runner runner(file, io, false, {&test_module()});
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

struct BadCase {
  const char* file;
  const char* error;  // the whole sentence the user sees
};

class BadConfig : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfig, FailsWithFileLineColumnAndKeyPath) {
  const BadCase& c = GetParam();
  EXPECT_EQ(config_error(kData / "bad" / c.file), (kData / "bad" / c.file).string() + c.error);
}

INSTANTIATE_TEST_SUITE_P(
    Runner, BadConfig,
    ::testing::Values(
        BadCase{"missing_path.yaml", ":2:3: plugs.dummy: missing required key 'path'"},
        BadCase{"unknown_plug_class.yaml",
                ":3:5: plugs.dummy.path: unknown class 'immp.plug.dumy.DummyPlug' (did you mean "
                "'immp.plug.dummy.DummyPlug'?)"},
        BadCase{"unknown_hook_class.yaml",
                ":3:5: hooks.relay.path: unknown class 'immp.hook.sink.SinkHook' (did you mean "
                "'immp.hook.sync.SyncHook'?)"},
        BadCase{"plug_class_as_hook.yaml",
                ":3:5: hooks.dummy.path: immp.plug.dummy.DummyPlug is a plug, not a hook"},
        BadCase{"channel_unknown_plug.yaml",
                ":6:5: channels.room.plug: unknown plug 'dumy' (did you mean 'dummy'?)"},
        BadCase{"channel_missing_source.yaml", ":5:3: channels.room: missing required key 'source'"},
        BadCase{"group_unknown_channel.yaml",
                ":10:16: groups.everyone.channels[0]: unknown channel 'rooom' (did you mean 'room'?)"},
        BadCase{"group_unknown_plug.yaml",
                ":6:16: groups.everyone.anywhere[0]: unknown plug 'dumm' (did you mean 'dummy'?)"},
        BadCase{"duplicate_priority.yaml",
                ":10:5: hooks.second.priority: priority 1 is already used by hook 'first'; "
                "priorities must be unique"},
        BadCase{"priority_not_integer.yaml",
                ":4:5: hooks.first.priority: expected an integer, got a string"},
        BadCase{"plugs_not_a_map.yaml", ":1:1: plugs: expected a map, got a list"},
        BadCase{"wrong_type_in_plug_config.yaml",
                ":5:7: plugs.dummy.config.interval: expected a number, got a string"},
        BadCase{"enabled_not_bool.yaml",
                ":4:5: plugs.dummy.enabled: expected a boolean, got a string"},
        BadCase{"yaml_syntax.yaml", ":4:9: YAML syntax error: end of sequence flow not found"},
        BadCase{"json_syntax.json", ":3:51: a trailing comma is not allowed in JSON"},
        BadCase{"toml_wrong_type.toml", ":3:1: plugs.dummy.enabled: expected a boolean, got a string"},
        BadCase{"json_unknown_channel.json",
                ":3:32: groups.g.exclude[0]: unknown channel 'nowhere'"},
        BadCase{"top_not_a_map.yaml", ":1:1: expected a map of sections at the top of the file"},
        BadCase{"bad_logging.yaml",
                ":5:5: logging.root.level: unknown level 'LOUD'; levels are DEBUG, INFO, "
                "WARNING, ERROR, CRITICAL and NOTSET"},
        BadCase{"path_not_list.yaml", ":1:1: path: expected a list or a string, got an integer"},
        BadCase{"bad_extension.ini",
                ": unsupported config format '.ini': use .yaml, .yml, .json or .toml"},
        // References a schema declares are checked once everything is built,
        // so --check finds them.
        BadCase{"sync_identities_unknown.yaml",
                ":12:7: hooks.sync.config.identities: unknown hook 'identites' (did you mean "
                "'identities'?)"},
        BadCase{"sync_identities_not_provider.yaml",
                ":12:7: hooks.sync.config.identities: 'db' is not an identity provider hook"},
        BadCase{"merge_not_a_map.yaml",
                ":4:5: plugs.dummy: a merge key ('<<') takes a map or a list of maps (`<<: *base`, "
                "`<<: [*a, *b]`), got a scalar ('immp.plug.dummy.DummyPlug')"}),
    [](const auto& info) {
      std::string name = info.param.file;
      for (char& ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return name;
    });

// Unknown keys load (IMMP's validator passes them through) with warnings
// that say where, in which section, and the nearest known key.
struct WarnCase {
  const char* file;
  std::vector<const char*> warnings;  // each after the file name
};

class WarnedConfig : public ::testing::TestWithParam<WarnCase> {};

TEST_P(WarnedConfig, LoadsWithWarningsNamingFileLineColumnAndKeyPath) {
  const WarnCase& c = GetParam();
  const fs::path file = kData / "warn" / c.file;
  asio::io_context io;
  std::vector<std::string> got;
  {
    Runner runner(file, io, false, {&test_module()});
    for (const ConfigWarning& w : runner.warnings()) got.push_back(w.str());
  }
  std::vector<std::string> expected;
  for (const char* w : c.warnings) expected.push_back(file.string() + w);
  EXPECT_EQ(got, expected);
}

INSTANTIATE_TEST_SUITE_P(
    Runner, WarnedConfig,
    ::testing::Values(
        WarnCase{"unknown_top_key.yaml", {":2:1: unknown key 'hoks' (did you mean 'hooks'?)"}},
        WarnCase{"group_unknown_key.yaml",
                 {":6:5: groups.everyone: unknown key 'everywhere' (known keys: channels, "
                  "private, shared, named, anywhere, exclude)"}},
        WarnCase{"unknown_plug_config_key.yaml",
                 {":5:7: plugs.dummy.config: unknown key 'intervall' (did you mean 'interval'?)"}},
        WarnCase{"duplicate_key.yaml",
                 {":4:3: plugs: duplicate key 'dummy' (first written on line 2, again on line 4): "
                  "the last one is used"}},
        WarnCase{"channel_title.yaml",
                 {":4:5: plugs.dummy: unknown key 'priority' (known keys: path, config, enabled, "
                  "outbox)",
                  ":9:5: channels.room: unknown key 'title' (known keys: plug, source)"}}),
    [](const auto& info) {
      std::string name = info.param.file;
      for (char& ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return name;
    });

TEST(Runner, TomlSyntaxErrorNamesTheLine) {
  std::string e = config_error(kData / "bad/toml_syntax.toml");
  EXPECT_NE(e.find("toml_syntax.toml:2:"), std::string::npos) << e;
}

TEST(Runner, EmptyFileIsAConfigErrorNamingIt) {
  Tmp tmp;
  fs::path file = tmp.dir / "empty.yaml";
  std::ofstream(file) << "";
  EXPECT_EQ(config_error(file),
            file.string() + ": expected a map of sections at the top of the file");
}

TEST(Runner, MissingFileIsAConfigErrorNamingIt) {
  std::string e = config_error(kData / "bad/does_not_exist.yaml");
  EXPECT_NE(e.find("does_not_exist.yaml"), std::string::npos) << e;
  EXPECT_NE(e.find("No such file"), std::string::npos) << e;
}

// The same config in three formats builds the same host.
class Formats : public ::testing::TestWithParam<const char*> {};

TEST_P(Formats, BuildEverySection) {
  asio::io_context io;
  Runner runner(kData / "good" / GetParam(), io, false, {&test_module()});
  Host& host = runner.host();
  ASSERT_EQ(host.plugs().size(), 2u);
  Plug* a = host.plug("a");
  Plug* b = host.plug("b");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->state(), State::inactive);
  EXPECT_EQ(b->state(), State::disabled);
  EXPECT_EQ(host.channel("b-room"), b->channel("12345")) << "numeric sources read as text";
  const Group* mixed = host.group("mixed");
  ASSERT_TRUE(mixed);
  auto has = [&](Channel c) { return test::run(io, mixed->has_channel(host, c)); };
  EXPECT_TRUE(has(b->channel("12345")));
  EXPECT_FALSE(has(a->channel("dm"))) << "excluded";
  EXPECT_FALSE(has(a->channel("room"))) << "not private";
  EXPECT_EQ(host.priority(*host.hook("rec")), 2);
  EXPECT_EQ(host.priority(*host.hook("other")), std::nullopt);
  EXPECT_EQ(host.hook("rec")->config().at("note").as_string(), "yes");
  EXPECT_EQ(runner.config().at("path"), runner.config().at("path"));
}

TEST(Runner, OutboxSettingsPerPlug) {
  Tmp tmp;
  fs::path file = tmp.dir / "outbox.yaml";
  std::ofstream(file) << "plugs:\n  a:\n    path: immp.plug.memory.MemoryPlug\n"
                         "    outbox: {expiry: 60, capacity: 5}\n"
                         "  b:\n    path: immp.plug.memory.MemoryPlug\n";
  asio::io_context io;
  Runner runner(file, io);
  EXPECT_EQ(runner.host().plug("a")->outbox_policy().expiry, std::chrono::seconds(60));
  EXPECT_EQ(runner.host().plug("a")->outbox_policy().capacity, 5u);
  EXPECT_EQ(runner.host().plug("a")->outbox_policy().pipeline, 32u) << "the default";
  EXPECT_EQ(runner.host().plug("b")->outbox_policy().expiry, std::chrono::hours(24));
  std::ofstream(file) << "plugs:\n  a:\n    path: immp.plug.memory.MemoryPlug\n"
                         "    outbox: {capacity: 0}\n";
  EXPECT_EQ(config_error(file), file.string() + ":4:14: plugs.a.outbox.capacity: must be at least 1");
}

INSTANTIATE_TEST_SUITE_P(Runner, Formats, ::testing::Values("full.yaml", "full.json", "full.toml"));

// -w: a runtime change is written back in the same format, nothing else lost.
TEST_P(Formats, WriteBackKeepsEverythingAndTheChange) {
  Tmp tmp;
  fs::path file = tmp.dir / GetParam();
  fs::copy_file(kData / "good" / GetParam(), file);
  Node before = load_config_file(file);
  {
    asio::io_context io;
    Runner runner(file, io, true, {&test_module()});
    static_cast<RecordHook*>(runner.host().hook("rec"))->change_note("changed at runtime");
  }
  Node after = load_config_file(file);
  EXPECT_EQ(after.at("hooks").at("rec").at("config").at("note").as_string(), "changed at runtime");
  EXPECT_EQ(after.at("hooks").at("rec").at("config").at("tags"),
            before.at("hooks").at("rec").at("config").at("tags"));
  Node expected = before;
  expected.find("hooks")->find("rec")->find("config")->set("note", "changed at runtime");
  EXPECT_EQ(after, expected) << dump_config(after, format_for(file));
  for (const auto& entry : fs::directory_iterator(tmp.dir)) {
    EXPECT_EQ(entry.path().filename(), GetParam()) << "no temporary file left behind";
  }
}

// ---- reload -------------------------------------------------------------------

const char* kReloadBase = R"(plugs:
  a: {path: immp.plug.memory.MemoryPlug}
  b: {path: immp.plug.memory.MemoryPlug}
channels:
  a: {plug: a, source: room}
  b: {plug: b, source: room}
hooks:
  bridge:
    path: immp.hook.sync.SyncHook
    config: {channels: {room: [a, b]}}
  rec: {path: immp.hook.test.RecordHook}
)";

// Only what changed is restarted; what waited for a replaced plug reaches
// its new instance; a bad file changes nothing at all.
TEST(Reload, AppliesTheDifferenceAndRefusesABadFileWhole) {
  Tmp tmp;
  fs::path file = tmp.dir / "live.yaml";
  std::ofstream(file) << kReloadBase;
  asio::io_context io;
  Runner runner(file, io, false, {&test_module()});
  Host& host = runner.host();
  test::run(io, host.open());
  Plug* a0 = host.plug("a");
  Plug* b0 = host.plug("b");
  Hook* rec0 = host.hook("rec");
  std::vector<std::string> events;  // addresses may be reused: states tell
  auto listening = host.subscribe([&](const StateEvent& e) {
    events.push_back(e.name + ":" + std::string(state_name(e.state)));
  });
  static_cast<plugs::MemoryPlug*>(b0)->set_link(false);
  static_cast<plugs::MemoryPlug*>(a0)->inject("room", "waits for b");
  ASSERT_TRUE(test::run_until(io, [&] { return host.outbox_stats().pending == 1; }));

  // b gets a new config, c is new and joins the bridge.
  std::ofstream(file) << R"(plugs:
  a: {path: immp.plug.memory.MemoryPlug}
  b: {path: immp.plug.memory.MemoryPlug, config: {echo: true}}
  c: {path: immp.plug.memory.MemoryPlug}
channels:
  a: {plug: a, source: room}
  b: {plug: b, source: room}
  c: {plug: c, source: room}
hooks:
  bridge:
    path: immp.hook.sync.SyncHook
    config: {channels: {room: [a, b, c]}}
  rec: {path: immp.hook.test.RecordHook}
)";
  ASSERT_TRUE(test::run(io, runner.reload()));
  EXPECT_EQ(host.plug("a"), a0) << "unchanged: kept running";
  EXPECT_EQ(host.hook("rec"), rec0) << "unchanged: kept running";
  auto* b1 = static_cast<plugs::MemoryPlug*>(host.plug("b"));
  auto* c1 = static_cast<plugs::MemoryPlug*>(host.plug("c"));
  ASSERT_NE(b1, nullptr);
  EXPECT_NE(b1, b0) << "changed: restarted with its new config";
  EXPECT_TRUE(b1->features().echo);
  ASSERT_NE(c1, nullptr);
  EXPECT_EQ(c1->state(), State::active);
  auto count = [&](const std::string& e) { return std::count(events.begin(), events.end(), e); };
  EXPECT_EQ(count("bridge:stopping"), 1) << "its channels changed: restarted";
  EXPECT_EQ(count("b:stopping"), 1);
  EXPECT_EQ(count("a:stopping"), 0);
  EXPECT_EQ(count("rec:stopping"), 0);
  ASSERT_TRUE(test::run_until(io, [&] { return b1->posted_count() == 1; }))
      << "the message that waited for b reached its new instance";
  static_cast<plugs::MemoryPlug*>(a0)->inject("room", "to all three");
  ASSERT_TRUE(test::run_until(io, [&] { return c1->posted_count() == 1; }));

  // An unknown channel in the bridge: refused, nothing changes.
  Hook* bridge1 = host.hook("bridge");
  events.clear();
  std::ofstream(file) << R"(plugs:
  a: {path: immp.plug.memory.MemoryPlug}
channels:
  a: {plug: a, source: room}
hooks:
  bridge:
    path: immp.hook.sync.SyncHook
    config: {channels: {room: [a, nowhere]}}
)";
  EXPECT_FALSE(test::run(io, runner.reload()));
  EXPECT_EQ(host.plug("b"), b1);
  EXPECT_EQ(host.plug("c"), c1);
  EXPECT_EQ(host.hook("bridge"), bridge1);
  EXPECT_EQ(runner.config().at("plugs").size(), 3u);
  EXPECT_TRUE(events.empty()) << "nothing was stopped or started";
  host.unsubscribe(listening);
  test::run(io, host.close());
}

// A reloaded file with unknown keys is applied (they are warnings); with
// --strict it is refused like a bad one.
TEST(Reload, UnknownKeysWarnOrWithStrictRefuse) {
  Tmp tmp;
  fs::path file = tmp.dir / "live.yaml";
  std::ofstream(file) << kReloadBase;
  asio::io_context io;
  Runner runner(file, io, false, {&test_module()});
  EXPECT_TRUE(runner.warnings().empty());
  test::run(io, runner.host().open());
  std::string with_note = kReloadBase;
  const std::string rec = "rec: {path: immp.hook.test.RecordHook}";
  with_note.replace(with_note.find(rec), rec.size(),
                    "rec: {path: immp.hook.test.RecordHook, priority: 3, nots: x}");
  std::ofstream(file) << with_note;
  runner.set_strict(true);
  EXPECT_FALSE(test::run(io, runner.reload()));
  EXPECT_EQ(runner.host().priority(*runner.host().hook("rec")), std::nullopt) << "not applied";
  runner.set_strict(false);
  ASSERT_TRUE(test::run(io, runner.reload()));
  EXPECT_EQ(runner.host().priority(*runner.host().hook("rec")), 3);
  ASSERT_EQ(runner.warnings().size(), 1u);
  EXPECT_EQ(runner.warnings()[0].str(),
            file.string() + ":11:55: hooks.rec: unknown key 'nots' (known keys: path, config, "
                            "enabled, priority)");
  test::run(io, runner.host().close());
}

TEST(Reload, ASyncWithAVirtualPlugCanBeRestarted) {
  Tmp tmp;
  fs::path file = tmp.dir / "live.yaml";
  std::string base = R"(plugs:
  a: {path: immp.plug.memory.MemoryPlug}
  b: {path: immp.plug.memory.MemoryPlug}
channels:
  a: {plug: a, source: room}
  b: {plug: b, source: room}
hooks:
  bridge:
    path: immp.hook.sync.SyncHook
    config: {channels: {room: [a, b]}, plug: everywhere}
)";
  std::ofstream(file) << base;
  asio::io_context io;
  Runner runner(file, io, false, {&test_module()});
  Host& host = runner.host();
  test::run(io, host.open());
  Plug* everywhere = host.plug("everywhere");
  ASSERT_NE(everywhere, nullptr);
  std::ofstream(file) << std::string(base).replace(base.find("plug: everywhere"), 16,
                                                    "plug: everywhere, titles: {room: Room}");
  ASSERT_TRUE(test::run(io, runner.reload()));
  EXPECT_EQ(host.plug("everywhere"), everywhere) << "the new sync took over its virtual plug";
  auto msg = std::make_shared<Message>();
  msg->text = RichText("announcement");
  test::run(io, everywhere->send(everywhere->channel("room"), msg));
  auto* b = static_cast<plugs::MemoryPlug*>(host.plug("b"));
  ASSERT_TRUE(test::run_until(io, [&] { return b->posted_count() == 1; }));
  EXPECT_EQ(test::run(io, everywhere->channel_title(everywhere->channel("room"))), "Room");
  test::run(io, host.close());
}

}  // namespace
}  // namespace immp
