// The `immp` command as a user runs it: options, --check, start-up,
// signals, and what it prints without a `logging` section.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "immp/version.hpp"
#include "support/process.hpp"

namespace immp::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string immp_binary() { return (fs::path(IMMP_BINARY_DIR) / "immp").string(); }

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

constexpr std::string_view kGoodConfig = R"(plugs:
  console:
    path: immp.plug.console.ConsolePlug
    config:
      user: alice
  dummy:
    path: immp.plug.dummy.DummyPlug
    config:
      interval: 0.2
channels:
  terminal:
    plug: console
    source: console
  dummy:
    plug: dummy
    source: dummy
)";

TEST(Runner, VersionPrintsTheVersion) {
  ProcessResult r = run_process({immp_binary(), "--version"}, 10s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("immp " + std::string(kVersion), 0), 0u) << r.out;
  EXPECT_NE(r.out.find("ABI " + std::to_string(kAbiVersion)), std::string::npos) << r.out;
}

TEST(Runner, HelpDescribesTheOptions) {
  ProcessResult r = run_process({immp_binary(), "--help"}, 10s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* option : {"--check", "--strict", "--version", "--write"}) {
    EXPECT_NE(r.out.find(option), std::string::npos) << option << " missing from:\n" << r.out;
  }
}

TEST(Runner, WithoutAConfigItSaysWhatIsMissing) {
  ProcessResult r = run_process({immp_binary()}, 10s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("config file is required"), std::string::npos) << r.err;
}

TEST(Runner, CheckAcceptsAGoodConfig) {
  TempDir dir("immp-runner-test");
  write_file(dir / "good.yaml", kGoodConfig);
  ProcessResult r = run_process({immp_binary(), "--check", (dir / "good.yaml").string()}, 10s);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("good.yaml: OK"), std::string::npos) << r.out;
}

TEST(Runner, CheckNamesWhereABrokenConfigIsWrong) {
  TempDir dir("immp-runner-test");
  struct Case {
    std::string body;
    // What stderr must say: "<file>:<line>:<col>: <what>". The column is
    // the reader's choice (the key or its value), the line is not.
    std::string pattern;
  };
  std::vector<Case> cases = {
      // A value of the wrong type, in a plug's own schema.
      {"plugs:\n  dummy:\n    path: immp.plug.dummy.DummyPlug\n    config:\n"
       "      interval: soon\n",
       R"(bad\.yaml:5:\d+: plugs\.dummy\.config\.interval: expected a number)"},
      // A YAML syntax error (found at the end of the file).
      {"plugs:\n  dummy: [unclosed\n", R"(bad\.yaml:[23]:\d+: .*YAML)"},
      // A sync naming an identity provider that is not there: found by
      // --check, not only at start.
      {"plugs:\n  dummy:\n    path: immp.plug.dummy.DummyPlug\nchannels:\n  c:\n"
       "    plug: dummy\n    source: dummy\nhooks:\n  sync:\n    path: immp.hook.sync.SyncHook\n"
       "    config:\n      channels: {room: [c]}\n      identities: people\n",
       R"(bad\.yaml:13:\d+: hooks\.sync\.config\.identities: unknown hook 'people')"},
      // A channel that names a plug that does not exist.
      {"plugs:\n  dummy:\n    path: immp.plug.dummy.DummyPlug\nchannels:\n  c:\n"
       "    plug: dumy\n    source: dummy\n",
       R"(bad\.yaml:6:\d+: channels\.c\.plug: unknown plug 'dumy' \(did you mean 'dummy'\?\))"},
  };
  for (const auto& c : cases) {
    write_file(dir / "bad.yaml", c.body);
    ProcessResult r = run_process({immp_binary(), "--check", (dir / "bad.yaml").string()}, 10s);
    EXPECT_EQ(r.exit_code, 2) << c.body << r.out << r.err;
    EXPECT_TRUE(std::regex_search(r.err, std::regex(c.pattern)))
        << c.body << "stderr should match " << c.pattern << ":\n" << r.err;
    EXPECT_EQ(r.out, "") << c.body;
  }
}

// Unknown keys (IMMP's validator passes them through): --check prints
// each as a warning on stderr and accepts the file; --strict refuses it; a
// normal start logs them and runs.
constexpr std::string_view kUnknownKeys = R"(plugz:
  dummy:
    path: immp.plug.dummy.DummyPlug
plugs:
  dummy:
    path: immp.plug.dummy.DummyPlug
    priority: 1
channels:
  room:
    plug: dummy
    source: dummy
    title: Room
)";

// A hook's reference to a group is checked when hooks load, before
// anything starts: a start with a wrong one is a config error like any
// other (exit 2, the key and the problem on stderr), not a bot that runs
// without its groups.
TEST(Runner, AHookNamingAnUnknownGroupStopsTheStartWithExit2) {
  TempDir dir("immp-runner-test");
  write_file(dir / "bad.yaml", std::string(kGoodConfig) +
                                   "hooks:\n"
                                   "  mentions:\n"
                                   "    path: immp.hook.alerts.MentionsHook\n"
                                   "    config:\n"
                                   "      groups: [nosuch]\n");
  ProcessResult r = run_process({immp_binary(), (dir / "bad.yaml").string()}, 20s);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("immp: config error:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unknown group 'nosuch'"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("Host ready"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("Host ready"), std::string::npos) << r.err;
}

TEST(Runner, CheckWarnsAboutUnknownKeysAndStrictRefusesThem) {
  TempDir dir("immp-runner-test");
  const fs::path file = dir / "keys.yaml";
  write_file(file, kUnknownKeys);
  const std::vector<std::string> warnings = {
      file.string() + ":1:1: unknown key 'plugz' (did you mean 'plugs'?)",
      file.string() + ":7:5: plugs.dummy: unknown key 'priority' (known keys: path, config, "
                      "enabled, outbox)",
      file.string() + ":12:5: channels.room: unknown key 'title' (known keys: plug, source)",
  };

  ProcessResult check = run_process({immp_binary(), "--check", file.string()}, 10s);
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_EQ(check.out, file.string() + ": OK (3 warnings)\n");
  std::vector<std::string> expected;
  for (const auto& w : warnings) expected.push_back("immp: warning: " + w);
  EXPECT_EQ(lines(check.err), expected);

  ProcessResult strict = run_process({immp_binary(), "--check", "--strict", file.string()}, 10s);
  EXPECT_EQ(strict.exit_code, 2) << strict.err;
  EXPECT_EQ(strict.out, "");
  expected.clear();
  for (const auto& w : warnings) expected.push_back("immp: config error: " + w);
  expected.push_back("immp: refused by --strict (3 warnings)");
  EXPECT_EQ(lines(strict.err), expected);

  // --strict without --check refuses to start.
  ProcessResult start = run_process({immp_binary(), "--strict", file.string()}, 10s);
  EXPECT_EQ(start.exit_code, 2) << start.err;

  // A normal start logs them, then runs.
  Process immp({immp_binary(), file.string()});
  ASSERT_TRUE(immp.wait_for(Stream::err, "Host ready", 10s)) << immp.err();
  for (const auto& w : warnings) {
    EXPECT_NE(immp.err().find(w), std::string::npos) << w << "\nnot logged in:\n" << immp.err();
  }
  EXPECT_LT(immp.err().find(warnings[0]), immp.err().find("Starting host"));
  immp.signal(SIGTERM);
  EXPECT_EQ(immp.wait(5s), 0) << immp.err();
}

TEST(Runner, RunsUntilSignalledAndPrintsImmpsInfoLines) {
  TempDir dir("immp-runner-test");
  write_file(dir / "good.yaml", kGoodConfig);
  Process immp({immp_binary(), (dir / "good.yaml").string()});
  ASSERT_TRUE(immp.wait_for(Stream::err, "Starting host", 10s)) << immp.err();
  ASSERT_TRUE(immp.wait_for(Stream::err, "Host ready", 10s)) << immp.err();
  // The dummy speaks every 0.2 s; the host keeps running (and quiet).
  immp.drain(1s);
  ASSERT_TRUE(immp.running()) << immp.err();

  immp.signal(SIGTERM);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(immp.wait(2s), 0) << immp.err();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);

  // Without a `logging` section, as IMMP's runner: immp's own loggers at
  // INFO and above, in Python's basic format; the runner's lines in order,
  // and nothing that is not an INFO record of immp.*.
  const std::vector<std::string> expected = {
      "INFO:immp.runner:Starting host (2 plugs, 0 hooks)", "INFO:immp.runner:Host ready",
      "INFO:immp.runner:Stopping host (signal 15)", "INFO:immp.runner:Stopped"};
  std::vector<std::string> runner;
  for (const std::string& line : lines(immp.err())) {
    EXPECT_TRUE(std::regex_search(line, std::regex(R"(^INFO:immp\.[\w.-]+:)")))
        << "not an INFO record of immp.*: " << line << "\n" << immp.err();
    if (line.starts_with("INFO:immp.runner:")) runner.push_back(line);
  }
  EXPECT_EQ(runner, expected) << immp.err();
}

TEST(Runner, SigintStopsItToo) {
  TempDir dir("immp-runner-test");
  write_file(dir / "good.yaml", kGoodConfig);
  Process immp({immp_binary(), (dir / "good.yaml").string()});
  ASSERT_TRUE(immp.wait_for(Stream::err, "Host ready", 10s)) << immp.err();
  immp.signal(SIGINT);
  EXPECT_EQ(immp.wait(2s), 0) << immp.err();
  EXPECT_NE(immp.err().find("Stopped"), std::string::npos) << immp.err();
}

TEST(Runner, ConsoleAtEndOfInputKeepsRunning) {
  TempDir dir("immp-runner-test");
  write_file(dir / "good.yaml", kGoodConfig);
  Process immp({immp_binary(), (dir / "good.yaml").string()});
  ASSERT_TRUE(immp.wait_for(Stream::err, "Host ready", 10s)) << immp.err();
  immp.write("a line nobody relays\n");
  immp.close_stdin();
  immp.drain(500ms);
  EXPECT_TRUE(immp.running()) << "the other plugs are still useful: " << immp.err();
  immp.signal(SIGTERM);
  EXPECT_EQ(immp.wait(2s), 0) << immp.err();
}

// SIGHUP reloads the file: a good change applies at once (here a bridge is
// added, and the dummy's lines start to reach the terminal); a broken file
// changes nothing, says where it is wrong, and the bridge keeps running.
TEST(Runner, SighupAppliesAGoodConfigAndRefusesABadOneWhileRunning) {
  TempDir dir("immp-runner-test");
  fs::path file = dir / "live.yaml";
  write_file(file, kGoodConfig);
  Process immp({immp_binary(), file.string()});
  ASSERT_TRUE(immp.wait_for(Stream::err, "Host ready", 10s)) << immp.err();
  const std::string bridge = std::string(kGoodConfig) + R"(hooks:
  bridge:
    path: immp.hook.sync.SyncHook
    config:
      channels:
        room: [terminal, dummy]
)";
  write_file(file, bridge);
  immp.signal(SIGHUP);
  ASSERT_TRUE(immp.wait_for(Stream::err, "added hook bridge", 10s)) << immp.err();
  ASSERT_TRUE(immp.wait_for(Stream::out, "Test", 10s)) << "the new bridge relays: " << immp.out();

  write_file(file, bridge + "  broken: [\n");
  immp.signal(SIGHUP);
  ASSERT_TRUE(immp.wait_for(Stream::err, "Reload refused", 10s)) << immp.err();
  EXPECT_NE(immp.err().find(file.string() + ":"), std::string::npos)
      << "the error names the file and where: " << immp.err();
  std::size_t seen = immp.out().size();
  ASSERT_TRUE(immp.wait_for(Stream::out, "Test", 10s, seen)) << "the old config still runs";
  EXPECT_TRUE(immp.running());
  immp.signal(SIGTERM);
  EXPECT_EQ(immp.wait(5s), 0) << immp.err();
}

}  // namespace
}  // namespace immp::test
