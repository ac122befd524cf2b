// External plugins, end to end: install this build of immp into a
// temporary prefix, build examples/plugin against it with
// find_package(immp), and load the result into the real `immp` binary
// (the greeter also uses the SDK's database interface).
// Also builds two test plugins the same way: one that reports a different
// ABI (refused) and one whose stop() is slow (for the second-signal exit).
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <string>

#include "immp/version.hpp"
#include "support/process.hpp"

namespace immp::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path kSource = IMMP_SOURCE_DIR;
const fs::path kBinary = IMMP_BINARY_DIR;

std::string immp_binary() { return (kBinary / "immp").string(); }

// A value from the build's CMakeCache.txt ("" if absent): the plugins are
// compiled with the compiler immp was, as their build signature must match.
std::string cache_value(const std::string& key) {
  std::ifstream in(kBinary / "CMakeCache.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    auto eq = line.find('=');
    return eq == std::string::npos ? "" : line.substr(eq + 1);
  }
  return "";
}

// A test-only plugin module `<name>`, built against the installed SDK like
// any other: <build>/plugins/<name>/hooks.so. It leaves the C++ standard to
// the package (immp::immp requires C++20).
constexpr std::string_view kTestPluginCMake = R"(cmake_minimum_required(VERSION 3.25)
project(immp_test_plugin LANGUAGES CXX)
find_package(immp REQUIRED)
add_library(test_hooks MODULE hooks.cpp)
target_link_libraries(test_hooks PRIVATE immp::immp)
set_target_properties(test_hooks PROPERTIES PREFIX "" OUTPUT_NAME hooks SUFFIX ".so"
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/plugins/${MODULE})
)";

// Built against this immp, but its entry point claims the next ABI, as a
// plugin built against another immp release would.
constexpr std::string_view kBadAbiSource = R"(#include <immp/registry.hpp>
extern "C" __attribute__((visibility("default"))) const immp::Module* immp_plugin_module_v1() {
  static const immp::Module module{immp::kAbiVersion + 1, immp::kBuildSignature, "badabi", {}};
  return &module;
}
)";

// A hook that takes far longer to stop than a test waits.
constexpr std::string_view kSlowSource = R"(#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <immp/host.hpp>
#include <immp/registry.hpp>
class SlowHook final : public immp::Hook {
 public:
  static constexpr std::string_view kPath = "slow.hooks.SlowHook";
  static constexpr std::string_view kDescription = "stops slowly";
  static immp::SpecPtr schema() { return immp::object({}); }
  explicit SlowHook(const immp::Init& init) : Hook(init) {}
  immp::Task<> stop() override {
    boost::asio::steady_timer timer(host().executor());
    timer.expires_after(std::chrono::seconds(60));
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
};
IMMP_PLUGIN("slow", immp::describe<SlowHook>())
)";

// What a test needs built: a directory to list under `path:`, or why
// there is none.
struct Built {
  fs::path dir;
  std::string error;
};

// immp is installed into a temporary prefix and each plugin is built
// against it on first use, once per process: a whole run builds each one
// once, and ctest (one process per test) builds only what a test needs.
class PluginTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = new TempDir("immp-plugin-test"); }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
    built_.clear();
    prefix_.clear();
  }

  // "greeter" (examples/plugin), "badabi" or "slow" (the sources above).
  static const Built& plugins(const std::string& which) {
    auto it = built_.find(which);
    if (it != built_.end()) return it->second;
    Built b;
    try {
      b.dir = build(which);
    } catch (const std::exception& e) {
      b.error = e.what();
    }
    return built_.emplace(which, std::move(b)).first->second;
  }

  // A folder of the suite's temporary directory for one test's files.
  static fs::path folder(const std::string& name) {
    fs::path d = *dir_ / "tests" / name;
    fs::create_directories(d);
    return d;
  }
  // Writes `body` as <folder(name)>/config.yaml and returns its path.
  static fs::path config(const std::string& name, const std::string& body) {
    fs::path file = folder(name) / "config.yaml";
    write_file(file, body);
    return file;
  }

  // Where this build of immp is installed (on first use).
  // Throws std::runtime_error with cmake's output when it cannot.
  static const fs::path& prefix() {
    if (prefix_.empty()) {
      fs::path p = *dir_ / "prefix";
      step("install immp", {"cmake", "--install", kBinary.string(), "--prefix", p.string()});
      prefix_ = p;
    }
    return prefix_;
  }

 private:
  // Runs one step; its time goes to the test log, its output to the error.
  static void step(const std::string& what, std::vector<std::string> argv) {
    ProcessResult r = run_process(std::move(argv), 240s);
    std::cout << "[          ] " << what << ": " << r.elapsed.count() << " ms" << std::endl;
    if (r.exit_code != 0) {
      throw std::runtime_error(what + " failed (exit " + std::to_string(r.exit_code) +
                               (r.timed_out ? ", timed out" : "") + "):\n" + r.out + r.err);
    }
  }

  static fs::path build(const std::string& which) {
    fs::path src = kSource / "examples/plugin";
    if (which != "greeter") {
      src = *dir_ / "sources" / which;
      write_file(src / "CMakeLists.txt", kTestPluginCMake);
      write_file(src / "hooks.cpp", which == "badabi" ? kBadAbiSource : kSlowSource);
    }
    fs::path out = *dir_ / "builds" / which;
    // Optimised like a user's build (the example defaults to RelWithDebInfo;
    // debug info only costs time here). Not -O0: code built that way hid a
    // use-after-dlclose in the loader that -O2 plugins crash on.
    std::vector<std::string> configure = {"cmake", "-S", src.string(), "-B", out.string(),
                                          "-G", "Ninja", "-DCMAKE_PREFIX_PATH=" + prefix().string(),
                                          "-DCMAKE_BUILD_TYPE=Release"};
    if (which != "greeter") configure.push_back("-DMODULE=" + which);
    // The plugin's build signature must match: the compiler immp was built with.
    if (auto cxx = cache_value("CMAKE_CXX_COMPILER"); !cxx.empty()) {
      configure.push_back("-DCMAKE_CXX_COMPILER=" + cxx);
    }
    step("configure " + which, configure);
    step("build " + which, {"cmake", "--build", out.string()});
    fs::path so = out / "plugins" / which / "hooks.so";
    if (!fs::exists(so)) throw std::runtime_error("the build made no " + so.string());
    return out / "plugins";
  }

  static inline TempDir* dir_ = nullptr;
  static inline std::map<std::string, Built> built_;
  static inline fs::path prefix_;
};

TEST_F(PluginTest, ExamplePluginGreetsOnTheConsole) {
  const Built& greeter = plugins("greeter");
  ASSERT_EQ(greeter.error, "");
  // Two instances of the same class: one with the schema's defaults, one
  // configured, to show the config reaches the plugin.
  fs::path file = config("greeter", "path:\n  - " + greeter.dir.string() + R"(
plugs:
  console:
    path: immp.plug.console.ConsolePlug
    config:
      user: alice
hooks:
  greeter:
    path: greeter.hooks.GreeterHook
  howdy:
    path: greeter.hooks.GreeterHook
    config:
      greeting: Howdy
      command: "!howdy"
      name: cowboy
)");
  Process immp({immp_binary(), file.string()});
  ASSERT_TRUE(immp.wait_for(Stream::err, "Host ready", 10s)) << immp.err();

  immp.write("!hello\n");
  EXPECT_TRUE(immp.wait_for(Stream::out, "<greeter> Hello, alice!\n", 5s))
      << "stdout:\n" << immp.out() << "stderr:\n" << immp.err();
  std::size_t mark = immp.out().size();
  immp.write("!howdy partner\n");
  EXPECT_TRUE(immp.wait_for(Stream::out, "<cowboy> Howdy, alice!\n", 5s, mark))
      << "stdout:\n" << immp.out() << "stderr:\n" << immp.err();
  // Ordinary messages get no answer.
  mark = immp.out().size();
  immp.write("hello there\n!hellos\n");
  immp.drain(300ms);
  EXPECT_EQ(immp.out().substr(mark), "");

  immp.signal(SIGTERM);
  EXPECT_EQ(immp.wait(5s), 0) << immp.err();
  EXPECT_NE(immp.err().find("Stopped"), std::string::npos) << immp.err();
}

// The SDK's database interface from a plugin built out of tree: the greeter
// counts greetings in the database resource, and the count survives a
// restart of immp.
TEST_F(PluginTest, ExamplePluginRemembersGreetingsAcrossRestarts) {
  const Built& greeter = plugins("greeter");
  ASSERT_EQ(greeter.error, "");
  fs::path file = config("remember", "path:\n  - " + greeter.dir.string() + R"(
plugs:
  console:
    path: immp.plug.console.ConsolePlug
    config:
      user: alice
hooks:
  db:
    path: immp.hook.database.DatabaseHook
    config:
      url: sqlite:///greeter.db  # from the working directory: the config's (below)
  greeter:
    path: greeter.hooks.GreeterHook
    config:
      remember: true
  howdy:
    path: greeter.hooks.GreeterHook
    config:
      greeting: Howdy
      command: "!howdy"
      remember: true
)");
  auto says = [](Process& immp, const std::string& line, std::size_t mark) {
    return immp.wait_for(Stream::out, line + "\n", 5s, mark);
  };
  {
    Process immp({immp_binary(), file.string()}, {.cwd = file.parent_path()});
    ASSERT_TRUE(immp.wait_for(Stream::err, "Host ready", 10s)) << immp.err();
    immp.write("!hello\n");
    EXPECT_TRUE(says(immp, "<greeter> Hello, alice!", 0)) << immp.out() << immp.err();
    std::size_t mark = immp.out().size();
    immp.write("!hello\n");
    EXPECT_TRUE(says(immp, "<greeter> Hello again, alice! (2 times now)", mark))
        << immp.out() << immp.err();
    // Each greeter keeps its own count.
    mark = immp.out().size();
    immp.write("!howdy\n");
    EXPECT_TRUE(says(immp, "<howdy> Howdy, alice!", mark)) << immp.out() << immp.err();
    immp.signal(SIGTERM);
    EXPECT_EQ(immp.wait(5s), 0) << immp.err();
  }
  EXPECT_TRUE(fs::exists(file.parent_path() / "greeter.db"));
  {
    Process immp({immp_binary(), file.string()}, {.cwd = file.parent_path()});
    ASSERT_TRUE(immp.wait_for(Stream::err, "Host ready", 10s)) << immp.err();
    immp.write("!hello\n");
    EXPECT_TRUE(says(immp, "<greeter> Hello again, alice! (3 times now)", 0))
        << immp.out() << immp.err();
    immp.signal(SIGTERM);
    EXPECT_EQ(immp.wait(5s), 0) << immp.err();
  }
}

// Without a database resource, a greeter that should remember fails to
// start and says what to add; the host runs on without it.
TEST_F(PluginTest, ExamplePluginNamesTheMissingDatabase) {
  const Built& greeter = plugins("greeter");
  ASSERT_EQ(greeter.error, "");
  fs::path file = config("nodb", "path:\n  - " + greeter.dir.string() + R"(
plugs:
  console:
    path: immp.plug.console.ConsolePlug
hooks:
  greeter:
    path: greeter.hooks.GreeterHook
    config:
      remember: true
)");
  Process immp({immp_binary(), file.string()});
  ASSERT_TRUE(immp.wait_for(Stream::err, "Host ready", 10s)) << immp.err();
  EXPECT_NE(immp.err().find("the greeter hook needs a database resource: add "
                            "immp.hook.database.DatabaseHook under hooks"),
            std::string::npos)
      << immp.err();
  immp.signal(SIGTERM);
  EXPECT_EQ(immp.wait(5s), 0) << immp.err();
}

TEST_F(PluginTest, ConfigIsCheckedAgainstThePlugin) {
  const Built& greeter = plugins("greeter");
  ASSERT_EQ(greeter.error, "");
  fs::path file = config("check", "path: " + greeter.dir.string() +
                                      "\nhooks:\n  greeter:\n    path: greeter.hooks.GreeterHook\n");
  ProcessResult r = run_process({immp_binary(), "--check", file.string()}, 10s);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  // The plugin's own schema applies: a typo in its config is named, where
  // it is and with the key meant; a warning as IMMP has it, refused with
  // --strict.
  write_file(file, "path: " + greeter.dir.string() + R"(
hooks:
  greeter:
    path: greeter.hooks.GreeterHook
    config:
      greting: Hi
)");
  for (bool strict : {false, true}) {
    std::vector<std::string> argv = {immp_binary(), "--check", file.string()};
    if (strict) argv.insert(argv.begin() + 1, "--strict");
    r = run_process(argv, 10s);
    EXPECT_EQ(r.exit_code, strict ? 2 : 0) << r.out << r.err;
    EXPECT_TRUE(
        std::regex_search(r.err, std::regex(R"(config\.yaml:6:\d+: hooks\.greeter\.config)")))
        << r.err;
    EXPECT_NE(r.err.find("'greeting'"), std::string::npos) << "suggests the right key: " << r.err;
  }
  // A value of the wrong type is refused outright.
  write_file(file, "path: " + greeter.dir.string() + R"(
hooks:
  greeter:
    path: greeter.hooks.GreeterHook
    config:
      remember: [yes]
)");
  r = run_process({immp_binary(), "--check", file.string()}, 10s);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_TRUE(std::regex_search(
      r.err, std::regex(R"(config\.yaml:6:\d+: hooks\.greeter\.config\.remember)")))
      << r.err;

  // The module is there, the class is not.
  write_file(file, "path: [" + greeter.dir.string() +
                       "]\nhooks:\n  ghost:\n    path: greeter.hooks.GhostHook\n");
  r = run_process({immp_binary(), file.string()}, 10s);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("does not provide class greeter.hooks.GhostHook"), std::string::npos)
      << r.err;
}

TEST_F(PluginTest, InstalledCommandRuns) {
  fs::path installed;
  ASSERT_NO_THROW(installed = prefix() / "bin/immp");
  // It finds the installed libimmp by itself (its RUNPATH), like a user's would.
  ProcessResult r = run_process({installed.string(), "--version"}, 10s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("immp " + std::string(kVersion), 0), 0u) << r.out;
}

TEST_F(PluginTest, UnknownClassIsNamed) {
  // A path directory without the module: nothing to build for this one.
  fs::path empty = folder("unknown") / "plugins";
  fs::create_directories(empty);
  fs::path file = config("unknown", "path: [" + empty.string() + R"(]
hooks:
  ghost:
    path: nosuch.hooks.GhostHook
)");
  ProcessResult r = run_process({immp_binary(), file.string()}, 10s);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_TRUE(std::regex_search(r.err, std::regex(R"(config\.yaml:4:\d+: hooks\.ghost\.path: )")))
      << r.err;
  EXPECT_NE(r.err.find("unknown class 'nosuch.hooks.GhostHook'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no nosuch/hooks.so in the search path"), std::string::npos) << r.err;
}

TEST_F(PluginTest, PluginWithAnotherAbiIsRefused) {
  const Built& badabi = plugins("badabi");
  ASSERT_EQ(badabi.error, "");
  fs::path file = config("badabi", "path: [" + badabi.dir.string() + R"(]
hooks:
  bad:
    path: badabi.hooks.BadHook
)");
  for (bool check : {true, false}) {
    std::vector<std::string> argv = {immp_binary(), file.string()};
    if (check) argv.insert(argv.begin() + 1, "--check");
    ProcessResult r = run_process(argv, 10s);
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_TRUE(std::regex_search(r.err, std::regex(R"(config\.yaml:4:\d+: hooks\.bad\.path: )")))
        << "names where: " << r.err;
    EXPECT_NE(r.err.find((badabi.dir / "badabi/hooks.so").string()), std::string::npos)
        << "names the file: " << r.err;
    EXPECT_NE(r.err.find("ABI " + std::to_string(kAbiVersion + 1)), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("rebuild the plugin against immp " + std::string(kVersion)),
              std::string::npos)
        << r.err;
  }
}

TEST_F(PluginTest, SecondSignalDuringSlowShutdownExitsAtOnce) {
  const Built& slow = plugins("slow");
  ASSERT_EQ(slow.error, "");
  fs::path file = config("slow", "path: [" + slow.dir.string() + R"(]
hooks:
  slow:
    path: slow.hooks.SlowHook
)");
  Process immp({immp_binary(), file.string()});
  ASSERT_TRUE(immp.wait_for(Stream::err, "Host ready", 10s)) << immp.err();
  immp.signal(SIGTERM);
  ASSERT_TRUE(immp.wait_for(Stream::err, "Stopping host", 5s)) << immp.err();
  immp.drain(300ms);
  ASSERT_TRUE(immp.running()) << "the slow hook should hold the shutdown up: " << immp.err();
  immp.signal(SIGINT);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(immp.wait(2s), 1) << immp.err();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_NE(immp.err().find("Second signal"), std::string::npos) << immp.err();
}

}  // namespace
}  // namespace immp::test
