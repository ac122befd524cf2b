#include "core/logging.hpp"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "immp/config.hpp"
#include "core/logging_sinks.hpp"
#include "immp/log.hpp"

namespace immp {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kExample1 = R"(
logging:
  version: 1
  handlers:
    console:
      class: logging.StreamHandler
      level: INFO
    file:
      class: logging.FileHandler
      filename: debug.log
      level: DEBUG
  loggers:
    immp:
      level: DEBUG
    asyncio:
      level: ERROR
  root:
    level: WARNING
    handlers: [console, file]
)";

constexpr std::string_view kExample2 = R"(
logging:
  version: 1
  filters:
    local:
      (): __main__.LocalFilter
  formatters:
    simple:
      format: "[%(asctime)s %(levelname)-5.5s %(name)s] %(message)s"
      datefmt: "%d/%m/%Y %H:%M:%S"
  handlers:
    console:
      class: logging.StreamHandler
      filters: [local]
      formatter: simple
  root:
    level: DEBUG
    handlers: [console]
)";

// docs/logging.md's own example.
constexpr std::string_view kDailyAndSyslog = R"(
logging:
  version: 1
  formatters:
    file:
      style: "{"
      format: "{asctime} {levelname:<8} {name}: {message}"
    syslog:
      format: "immp[%(process)d]: %(name)s: %(message)s"
  handlers:
    daily:
      class: logging.handlers.TimedRotatingFileHandler
      filename: immp.log
      when: midnight
      backupCount: 14
      formatter: file
    syslog:
      class: logging.handlers.SysLogHandler
      address: /dev/log
      facility: daemon
      level: WARNING
      formatter: syslog
  loggers:
    immp:
      level: INFO
  root:
    level: WARNING
    handlers: [daily, syslog]
)";

// Whether `text` has the shape `shape`: '#' stands for one digit, '*' for
// any run of characters, everything else for itself. (std::regex trips
// GCC 12's -Wmaybe-uninitialized under the sanitizers.)
bool has_shape(std::string_view text, std::string_view shape) {
  if (shape.empty()) return text.empty();
  if (shape[0] == '*') {
    for (std::size_t skip = 0; skip <= text.size(); ++skip) {
      if (has_shape(text.substr(skip), shape.substr(1))) return true;
    }
    return false;
  }
  if (text.empty()) return false;
  const bool ok = shape[0] == '#' ? std::isdigit(static_cast<unsigned char>(text[0])) != 0
                                  : shape[0] == text[0];
  return ok && has_shape(text.substr(1), shape.substr(1));
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class LoggingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("immp_logging_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    redirect_console_for_testing(&out_, &err_);
  }

  void TearDown() override {
    // Nothing may keep writing to out_/err_ once they are gone.
    redirect_console_for_testing(nullptr, nullptr);
    configure_logging(nullptr, {});
    fs::remove_all(dir_);
  }

  // Applies the `logging` section of a YAML config named test.yaml.
  void configure_yaml(std::string_view yaml) {
    config_ = parse_config(yaml, ConfigFormat::yaml, "test.yaml");
    configure_logging(config_.find("logging"), dir_);
  }

  // The ConfigError message of applying a YAML config, or "" if none.
  std::string config_error(std::string_view yaml) {
    try {
      configure_yaml(yaml);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
  std::ostringstream out_;
  std::ostringstream err_;
  Node config_;
};

// Without a logging section, as IMMP's runner: basicConfig(level=INFO), the
// root at WARNING, `immp` at INFO.
TEST_F(LoggingTest, DefaultsShowImmpAtInfoAndOthersAtWarning) {
  configure_logging(nullptr, dir_);
  logger("immp.runner")->info("Starting host");
  logger("immp.host")->info("plug opened");
  logger("immp.host")->debug("details");
  logger("immp.plug.irc")->warn("reconnecting");
  logger("asyncio")->info("chatter");
  logger("asyncio")->warn("slow callback");
  logger("immpx")->info("not immp's");
  spdlog::info("stray spdlog info");

  EXPECT_EQ(err_.str(),
            "INFO:immp.runner:Starting host\n"
            "INFO:immp.host:plug opened\n"
            "WARNING:immp.plug.irc:reconnecting\n"
            "WARNING:asyncio:slow callback\n");
  EXPECT_EQ(out_.str(), "");
}

// A log tap (the admin UI's tail) sees what the loggers let through,
// besides the handlers the config routes it to, until it is removed.
TEST_F(LoggingTest, ATapSeesEveryRecordTheLoggersLetThroughUntilRemoved) {
  configure_yaml(
      "logging:\n"
      "  version: 1\n"
      "  handlers: {console: {class: logging.StreamHandler}}\n"
      "  root: {level: INFO, handlers: [console]}\n");
  auto before = logger("immp.tap.before");
  std::ostringstream seen;
  auto tap = std::make_shared<spdlog::sinks::ostream_sink_mt>(seen);
  tap->set_pattern("%n:%v");
  add_log_tap(tap);
  before->info("from an older logger");
  logger("immp.tap.after")->warn("from a newer one");
  logger("immp.tap.after")->debug("below the level");
  remove_log_tap(tap);
  before->info("after removal");
  EXPECT_EQ(seen.str(),
            "immp.tap.before:from an older logger\nimmp.tap.after:from a newer one\n");
  EXPECT_EQ(err_.str(), "from an older logger\nfrom a newer one\nafter removal\n");
}

TEST_F(LoggingTest, NullSectionMeansDefaults) {
  Node null_section;
  configure_logging(&null_section, dir_);
  logger("immp.runner")->info("started");
  EXPECT_EQ(err_.str(), "INFO:immp.runner:started\n");
}

// IMMP's docs: "stdout (at info level) and a log file (debug level), with
// IMMP's full output and warnings/errors for external modules". (Python's
// StreamHandler writes to stderr.) No formatter: the message alone.
TEST_F(LoggingTest, Example1SendsDebugToFileAndInfoToConsole) {
  configure_yaml(kExample1);
  logger("immp.host")->debug("routing detail");
  logger("immp.plug.irc")->info("connected");
  logger("asyncio")->warn("slow callback");
  logger("asyncio")->error("loop broke");
  logger("other.lib")->info("chatter");
  logger("other.lib")->warn("careful");
  shutdown_logging();

  EXPECT_EQ(err_.str(), "connected\nloop broke\ncareful\n");
  EXPECT_EQ(read_file(dir_ / "debug.log"), "routing detail\nconnected\nloop broke\ncareful\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(LoggingTest, HandlerWithoutFormatterPrintsOnlyTheMessage) {
  configure_yaml(R"(
logging:
  version: 1
  formatters:
    empty: {}
  handlers:
    bare: {class: logging.StreamHandler}
    empty: {class: logging.StreamHandler, formatter: empty, stream: "ext://sys.stdout"}
  root: {level: INFO, handlers: [bare, empty]}
)");
  logger("immp.host")->info("just this");
  EXPECT_EQ(err_.str(), "just this\n");
  // A formatter without `format` is Python's Formatter(): the message too.
  EXPECT_EQ(out_.str(), "just this\n");
}

TEST_F(LoggingTest, Example2PassesOnlyLocalRecordsInSimpleFormat) {
  configure_yaml(kExample2);
  logger("immp.host")->debug("message");
  logger("__main__")->info("runner says hi");
  logger("immp.plug.irc")->warn("lag");
  logger("asyncio")->error("not ours");
  logger("immpx")->error("not ours either");
  logger("")->critical("root record");

  const std::string err = err_.str();
  std::istringstream lines(err);
  std::vector<std::string> seen;
  for (std::string l; std::getline(lines, l);) {
    EXPECT_TRUE(has_shape(l, "[##/##/#### ##:##:## *] *")) << l;
    seen.push_back(l.substr(l.find(' ', 12) + 1));
  }
  EXPECT_EQ(seen,
            (std::vector<std::string>{"DEBUG immp.host] message", "INFO  __main__] runner says hi",
                                      "WARNI immp.plug.irc] lag"}));
}

TEST_F(LoggingTest, CachedLoggersFollowAReconfigure) {
  LoggerPtr cached = logger("immp.hook.sync");
  configure_logging(nullptr, dir_);
  cached->debug("hidden by default");
  EXPECT_FALSE(cached->should_log(spdlog::level::debug));

  configure_yaml(kExample1);
  EXPECT_EQ(logger("immp.hook.sync"), cached);
  EXPECT_TRUE(cached->should_log(spdlog::level::debug));
  cached->info("now visible");
  EXPECT_EQ(err_.str(), "now visible\n");
}

TEST_F(LoggingTest, ReconfigureWhileOtherThreadsLog) {
  const std::string a =
      "logging:\n  version: 1\n  handlers:\n    f: {class: FileHandler, filename: a.log}\n"
      "  root: {level: INFO, handlers: [f]}\n";
  const std::string b =
      "logging:\n  version: 1\n  handlers:\n    f: {class: FileHandler, filename: b.log}\n"
      "  root: {level: INFO, handlers: [f]}\n";
  configure_yaml(a);
  LoggerPtr cached = logger("immp.hook.sync");
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) cached->info("thread {} line {}", t, i);
    });
  }
  for (int i = 0; i < 20; ++i) configure_yaml(i % 2 ? a : b);
  stop = true;
  for (std::thread& thread : threads) thread.join();
  for (const char* file : {"a.log", "b.log"}) {
    std::istringstream lines(read_file(dir_ / file));
    for (std::string line; std::getline(lines, line);) {
      EXPECT_TRUE(has_shape(line, "thread # line *")) << line;
    }
  }
}

TEST_F(LoggingTest, DisabledLevelsAreRejectedByTheLoggerItself) {
  configure_yaml(kExample1);
  // asyncio is at ERROR; immp.* at DEBUG; the root at WARNING.
  EXPECT_EQ(logger("asyncio.events")->level(), spdlog::level::err);
  EXPECT_EQ(logger("immp.host")->level(), spdlog::level::debug);
  EXPECT_EQ(logger("other")->level(), spdlog::level::warn);

  // Handler levels raise it further: nothing below ERROR reaches any handler.
  configure_yaml(R"(
logging:
  version: 1
  handlers:
    console: {class: logging.StreamHandler, level: ERROR}
  root: {level: DEBUG, handlers: [console]}
)");
  EXPECT_EQ(logger("immp.host")->level(), spdlog::level::err);

  // A NullHandler takes everything and shows nothing: the logger is off.
  configure_yaml(R"(
logging:
  version: 1
  handlers:
    nothing: {class: logging.NullHandler}
  root: {level: DEBUG, handlers: [nothing]}
)");
  EXPECT_EQ(logger("immp.host")->level(), spdlog::level::off);
  logger("immp.host")->critical("swallowed");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(LoggingTest, PropagateFalseStopsParentHandlers) {
  configure_yaml(R"(
logging:
  version: 1
  handlers:
    console: {class: logging.StreamHandler}
    own: {class: logging.StreamHandler, stream: "ext://sys.stdout"}
  loggers:
    immp.plug:
      level: INFO
      handlers: [own]
      propagate: false
    immp.hook:
      level: INFO
      handlers: [own]
  root: {level: WARNING, handlers: [console]}
)");
  logger("immp.plug.irc")->info("plug line");
  logger("immp.hook.sync")->info("hook line");
  EXPECT_EQ(out_.str(), "plug line\nhook line\n");
  EXPECT_EQ(err_.str(), "hook line\n");
}

TEST_F(LoggingTest, NameFiltersOnLoggersAndHandlers) {
  configure_yaml(R"(
logging:
  version: 1
  filters:
    irc: {name: immp.plug.irc}
    everything: {}
  handlers:
    console: {class: logging.StreamHandler, filters: [irc, everything]}
    out: {class: logging.StreamHandler, stream: "ext://sys.stdout"}
  loggers:
    immp.hook.sync: {filters: [irc]}
  root: {level: INFO, handlers: [console, out]}
)");
  logger("immp.plug.irc")->info("irc");
  logger("immp.plug.irc.conn")->info("irc child");
  logger("immp.plug.ircx")->info("not irc");
  logger("immp.hook.sync")->info("dropped by its own logger filter");
  // Logger filters apply only to the logger's own records, as in Python.
  logger("immp.hook.sync.child")->info("child of a filtered logger");
  EXPECT_EQ(err_.str(), "irc\nirc child\n");
  EXPECT_EQ(out_.str(), "irc\nirc child\nnot irc\nchild of a filtered logger\n");
}

TEST_F(LoggingTest, LastResortPrintsWarningsWhenNoHandlerIsReached) {
  configure_yaml(R"(
logging:
  version: 1
  handlers:
    file: {class: logging.FileHandler, filename: immp.log}
  loggers:
    immp: {level: DEBUG, handlers: [file]}
)");
  logger("immp.host")->debug("to the file");
  logger("asyncio")->info("nowhere");
  logger("asyncio")->warn("last resort");
  EXPECT_EQ(read_file(dir_ / "immp.log"), "to the file\n");
  // Python's lastResort has no formatter either.
  EXPECT_EQ(err_.str(), "last resort\n");
}

TEST_F(LoggingTest, FileHandlerModesAndPaths) {
  std::ofstream(dir_ / "append.log") << "old line\n";
  std::ofstream(dir_ / "truncate.log") << "old line\n";
  const fs::path absolute = dir_ / "sub" / "abs.log";
  configure_yaml(R"(
logging:
  version: 1
  handlers:
    append: {class: FileHandler, filename: append.log, encoding: utf-8}
    truncate: {class: logging.FileHandler, filename: truncate.log, mode: w}
    absolute: {class: logging.FileHandler, filename: ")" +
                 absolute.string() + R"("}
  root: {level: INFO, handlers: [append, truncate, absolute]}
)");
  logger("immp")->info("new line");
  EXPECT_EQ(read_file(dir_ / "append.log"), "old line\nnew line\n");
  EXPECT_EQ(read_file(dir_ / "truncate.log"), "new line\n");
  EXPECT_EQ(read_file(absolute), "new line\n");
}

TEST_F(LoggingTest, RotatingFileHandlerKeepsBackupCountFiles) {
  configure_yaml(R"(
logging:
  version: 1
  formatters:
    bare: {format: "%(message)s"}
  handlers:
    rotating:
      class: logging.handlers.RotatingFileHandler
      filename: immp.log
      formatter: bare
      maxBytes: 20
      backupCount: 2
  root: {level: INFO, handlers: [rotating]}
)");
  // 9 bytes a line: two fit under 20 bytes, a third would reach it.
  for (int i = 1; i <= 7; ++i) logger("immp")->info("line {:03d}", i);
  EXPECT_EQ(read_file(dir_ / "immp.log"), "line 007\n");
  EXPECT_EQ(read_file(dir_ / "immp.log.1"), "line 005\nline 006\n");
  EXPECT_EQ(read_file(dir_ / "immp.log.2"), "line 003\nline 004\n");
  EXPECT_FALSE(fs::exists(dir_ / "immp.log.3"));
}

TEST_F(LoggingTest, RotatingFileHandlerWithZeroMaxBytesNeverRotates) {
  configure_yaml(R"(
logging:
  version: 1
  handlers:
    rotating:
      class: RotatingFileHandler
      filename: immp.log
      maxBytes: 0
      backupCount: 3
  root: {level: INFO, handlers: [rotating]}
)");
  for (int i = 0; i < 50; ++i) logger("immp")->info("a fairly long line number {}", i);
  EXPECT_FALSE(fs::exists(dir_ / "immp.log.1"));
  EXPECT_EQ(std::count(
                std::istreambuf_iterator<char>(*std::make_unique<std::ifstream>(dir_ / "immp.log")),
                std::istreambuf_iterator<char>(), '\n'),
            50);
}

TEST_F(LoggingTest, FormatterFields) {
  configure_yaml(R"(
logging:
  version: 1
  formatters:
    all:
      format: "%(asctime)s|%(levelname)s|%(levelno)d|%(name)-6s|%(message).5s|%(process)d|%(created)f|%(msecs)03d|%%|%(lineno)d|%(funcName)s|%(filename)s|%(module)s"
  handlers:
    console: {class: logging.StreamHandler, formatter: all}
  root: {level: DEBUG, handlers: [console]}
)");
  logger("immp")->warn("truncated message");
  const std::string line = err_.str();
  const std::string pid = std::to_string(::getpid());
  EXPECT_TRUE(has_shape(line, "####-##-## ##:##:##,###|WARNING|30|immp  |trunc|" + pid +
                                  "|##########.######|###|%|0|(unknown function)|(unknown file)|"
                                  "(unknown file)\n"))
      << line;

  err_.str("");
  logger("immp")->log(spdlog::source_loc{"src/core/host.cpp", 42, "open"}, spdlog::level::err, "x");
  EXPECT_THAT(err_.str(), HasSubstr("|ERROR|40|immp  |x|"));
  EXPECT_THAT(err_.str(), HasSubstr("|42|open|host.cpp|host\n"));
}

TEST_F(LoggingTest, NodeTreesBuiltInCodeWork) {
  Node handler = Node::map();
  handler.set("class", "logging.StreamHandler");
  handler.set("stream", "ext://sys.stdout");
  Node section = Node::map();
  section.set("version", 1);
  section.set("handlers", NodeMap{{"out", handler}});
  section.set("root", NodeMap{{"level", "debug"}, {"handlers", NodeList{Node("out")}}});
  section.set_path("logging");
  section.repath();
  configure_logging(&section, dir_);
  logger("immp.x")->debug("lower-case level names are accepted");
  EXPECT_EQ(out_.str(), "lower-case level names are accepted\n");
}

TEST_F(LoggingTest, UnknownHandlerReferenceNamesPlaceAndSuggestion) {
  const std::string error = config_error(R"(
logging:
  version: 1
  handlers:
    console: {class: logging.StreamHandler}
  root:
    handlers: [console, consol]
)");
  EXPECT_THAT(error, HasSubstr("test.yaml:7:"));
  EXPECT_THAT(
      error,
      HasSubstr("logging.root.handlers[1]: unknown handler 'consol' (did you mean 'console'?)"));
}

TEST_F(LoggingTest, ConfigErrors) {
  EXPECT_THAT(
      config_error(
          "logging:\n  version: 1\n  handlers:\n    x: {class: logging.handlers.SMTPHandler}\n"),
      HasSubstr("logging.handlers.x.class: unsupported handler class 'logging.handlers.SMTPHandler'"));
  EXPECT_THAT(
      config_error("logging:\n  version: 1\n  handlers:\n    x: {(): mymodule.Handler}\n"),
      HasSubstr("logging.handlers.x.(): custom handler factories ('()') name Python code"));
  EXPECT_THAT(
      config_error("logging:\n  version: 1\n  formatters:\n    x: {(): mymodule.Formatter}\n"),
      HasSubstr("logging.formatters.x.(): custom formatter factories ('()') name Python code"));
  EXPECT_THAT(
      config_error("logging:\n  version: 1\n  handlers:\n    x: {class: logging.StreamHandlr}\n"),
      HasSubstr("(did you mean 'logging.StreamHandler'?)"));
  const std::string bad_level =
      config_error("logging:\n  version: 1\n  root:\n    level: VERBOSE\n");
  EXPECT_THAT(bad_level, HasSubstr("test.yaml:4:"));
  EXPECT_THAT(bad_level, HasSubstr(": logging.root.level: unknown level 'VERBOSE'"));
  EXPECT_THAT(config_error("logging:\n  version: 1\n  loggers:\n    immp: {level: WARNIGN}\n"),
              HasSubstr("(did you mean 'WARNING'?)"));
  EXPECT_THAT(
      config_error("logging:\n  version: 1\n  handlers:\n    f: {class: logging.FileHandler}\n"),
      HasSubstr("logging.handlers.f: logging.FileHandler needs a 'filename'"));
  EXPECT_THAT(config_error("logging:\n  version: 2\n"),
              HasSubstr("logging.version: unsupported logging config version 2"));
  EXPECT_THAT(config_error("logging:\n  handlers: {}\n"),
              HasSubstr("missing required key 'version'"));
  EXPECT_EQ(
      config_error(
          "logging:\n  version: 1\n  incremental: false\n  disable_existing_loggers: false\n"),
      "");
  EXPECT_THAT(
      config_error(
          "logging:\n  version: 1\n  handlers:\n    c: {class: StreamHandler, formatter: simpel}\n"
          "  formatters:\n    simple: {format: '%(message)s'}\n"),
      HasSubstr("logging.handlers.c.formatter: unknown formatter 'simpel'"));
  EXPECT_THAT(
      config_error("logging:\n  version: 1\n  formatters:\n    simple: {format: '%(message)s'}\n"
                   "  handlers:\n    c: {class: StreamHandler, formatter: simpel}\n"),
      HasSubstr("unknown formatter 'simpel' (did you mean 'simple'?)"));
  EXPECT_THAT(
      config_error(
          "logging:\n  version: 1\n  handlers:\n    c: {class: StreamHandler, filters: [local]}\n"),
      HasSubstr("logging.handlers.c.filters[0]: unknown filter 'local' (nothing is defined under "
                "logging.filters)"));
  EXPECT_THAT(config_error("logging:\n  version: 1\n  filters:\n    f: {(): mymodule.Custom}\n"),
              HasSubstr("logging.filters.f.(): unknown filter factory 'mymodule.Custom': custom "
                        "factories name Python code"));
  EXPECT_THAT(
      config_error(
          "logging:\n  version: 1\n  formatters:\n    f: {format: '%(levelnam)s %(message)s'}\n"),
      HasSubstr("logging.formatters.f.format: unknown field '%(levelnam)s' (did you mean "
                "'%(levelname)s'?) (at character 1 of the format)"));
  EXPECT_THAT(config_error("logging:\n  version: 1\n  formatters:\n    f: {format: '%(name)d'}\n"),
              HasSubstr("needs a number"));
  EXPECT_THAT(
      config_error(
          "logging:\n  version: 1\n  handlers:\n    c: {class: StreamHandler, lvel: INFO}\n"),
      HasSubstr("logging.handlers.c.lvel: unknown key 'lvel' in a StreamHandler (did you mean "
                "'level'?)"));
  EXPECT_THAT(config_error("logging:\n  version: 1\n  handlers:\n    c: {class: StreamHandler, "
                           "stream: 'ext://sys.stdin'}\n"),
              HasSubstr("unsupported stream 'ext://sys.stdin'"));
  EXPECT_THAT(config_error("logging:\n  version: 1\n  handlers:\n    c: {class: FileHandler, "
                           "filename: x.log, mode: r}\n"),
              HasSubstr("logging.handlers.c.mode: unsupported mode 'r'"));
  EXPECT_THAT(config_error("logging:\n  version: 1\n  formatters:\n    f: {format: 'no field'}\n"),
              HasSubstr("logging.formatters.f.format: the format has no field"));
  EXPECT_EQ(config_error("logging:\n  version: 1\n  formatters:\n"
                         "    f: {format: 'no field', validate: false}\n"),
            "");
  EXPECT_THAT(config_error("logging:\n  version: 1\n  formatters:\n    f: {style: '#'}\n"),
              HasSubstr("logging.formatters.f.style: unknown style '#': use '%', '{' or '$'"));
}

TEST_F(LoggingTest, BadReconfigureKeepsTheOldConfigurationAndFiles) {
  configure_yaml(R"(
logging:
  version: 1
  handlers:
    file: {class: logging.FileHandler, filename: keep.log}
  root: {level: INFO, handlers: [file]}
)");
  logger("immp")->info("before");
  const std::string error = config_error(R"(
logging:
  version: 1
  handlers:
    file: {class: logging.FileHandler, filename: keep.log, mode: w}
  root: {level: INFO, handlers: [file, missing]}
)");
  EXPECT_THAT(error, HasSubstr("unknown handler 'missing'"));
  logger("immp")->info("after");
  EXPECT_EQ(read_file(dir_ / "keep.log"), "before\nafter\n");
}

TEST_F(LoggingTest, CheckFindsErrorsWithoutTouchingAnything) {
  configure_yaml(R"(
logging:
  version: 1
  handlers:
    file: {class: logging.FileHandler, filename: keep.log}
  root: {level: INFO, handlers: [file]}
)");
  logger("immp")->info("before");
  auto check = [&](std::string_view yaml) -> std::string {
    config_ = parse_config(yaml, ConfigFormat::yaml, "test.yaml");
    try {
      check_logging(config_.find("logging"), dir_);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_THAT(check("logging:\n  version: 1\n  root: {handlers: [nothing]}\n"),
              HasSubstr("test.yaml:3:"));
  // A good section that would truncate keep.log: checked, not applied.
  EXPECT_EQ(check(R"(
logging:
  version: 1
  handlers:
    file: {class: logging.FileHandler, filename: keep.log, mode: w}
    other: {class: logging.FileHandler, filename: other.log}
  root: {level: DEBUG, handlers: [file, other]}
)"),
            "");
  logger("immp")->debug("not shown: the running configuration is at INFO");
  logger("immp")->info("after");
  EXPECT_EQ(read_file(dir_ / "keep.log"), "before\nafter\n");
  EXPECT_FALSE(fs::exists(dir_ / "other.log"));
}

TEST_F(LoggingTest, UnopenableFileIsAConfigError) {
  std::ofstream(dir_ / "plain") << "a file, not a folder";
  const std::string error = config_error(R"(
logging:
  version: 1
  handlers:
    file: {class: logging.FileHandler, filename: plain/immp.log}
  root: {handlers: [file]}
)");
  EXPECT_THAT(error, HasSubstr("logging.handlers.file.filename: cannot open the log file"));
  EXPECT_THAT(error, HasSubstr("plain/immp.log"));
}

TEST_F(LoggingTest, RootLoggerNames) {
  configure_yaml(R"(
logging:
  version: 1
  handlers:
    console: {class: StreamHandler}
  root: {level: NOTSET, handlers: [console]}
)");
  EXPECT_EQ(logger("root"), logger(""));
  logger("")->trace("everything passes NOTSET");
  EXPECT_EQ(err_.str(), "everything passes NOTSET\n");
}

// ---- formats -------------------------------------------------------------

TEST_F(LoggingTest, BraceStyleFormatsWithSpecs) {
  configure_yaml(R"(
logging:
  version: 1
  formatters:
    brace:
      style: "{"
      format: "[{asctime}] {levelname:8}|{levelname:>8}|{levelname:^9.3}|{name!r}|{levelno:03d}|{msecs:03.0f}|{{literal}}|{message}|{levelno!r:>4}|{created:>5.1e}"
      datefmt: "%Y"
  handlers:
    console: {class: logging.StreamHandler, formatter: brace}
  root: {level: DEBUG, handlers: [console]}
)");
  logger("immp.host")->info("hello");
  // What Python's Formatter(style="{") renders for the same record.
  const std::string line = err_.str();
  EXPECT_TRUE(has_shape(line,
                        "[####] INFO    |    INFO|   INF   |'immp.host'|020|###|{literal}|hello|"
                        "  20|#.#e+09\n"))
      << line;
}

TEST_F(LoggingTest, BraceStyleFloatsShowAsPython) {
  configure_yaml(R"(
logging:
  version: 1
  formatters:
    brace: {style: "{", format: "{msecs}|{msecs:>8}|{msecs:03d}|{message}"}
  handlers:
    console: {class: logging.StreamHandler, formatter: brace}
  root: {level: DEBUG, handlers: [console]}
)");
  const auto time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'239));
  logger("immp")->log(time, spdlog::source_loc{}, spdlog::level::info, "x");
  // Python's msecs is a float: str() keeps ".0".
  // Python's msecs is a float: str() keeps ".0"; 'd' truncates it (where
  // Python would fail on every record).
  EXPECT_EQ(err_.str(), "239.0|   239.0|239|x\n");
}

TEST_F(LoggingTest, DollarStyleFormats) {
  configure_yaml(R"(
logging:
  version: 1
  formatters:
    dollar: {style: "$", format: "$levelname ${name}: $message $$5"}
    plain: {style: "$"}
  handlers:
    console: {class: logging.StreamHandler, formatter: dollar}
    out: {class: logging.StreamHandler, formatter: plain, stream: "ext://sys.stdout"}
  root: {level: DEBUG, handlers: [console, out]}
)");
  logger("immp.host")->info("hello");
  EXPECT_EQ(err_.str(), "INFO immp.host: hello $5\n");
  EXPECT_EQ(out_.str(), "hello\n");
}

TEST_F(LoggingTest, FormatterDefaultsFillFieldsRecordsLack) {
  configure_yaml(R"(
logging:
  version: 1
  formatters:
    brace: {style: "{", format: "{user}: {message}", defaults: {user: bot}}
    percent: {format: "%(count)03d %(message)s", defaults: {count: 7}}
  handlers:
    console: {class: logging.StreamHandler, formatter: brace}
    out: {class: logging.StreamHandler, formatter: percent, stream: "ext://sys.stdout"}
  root: {level: DEBUG, handlers: [console, out]}
)");
  logger("immp.host")->info("hello");
  EXPECT_EQ(err_.str(), "bot: hello\n");
  EXPECT_EQ(out_.str(), "007 hello\n");
}

TEST_F(LoggingTest, FormatErrorsNameTheFieldAndPlace) {
  auto error = [&](std::string_view style, std::string_view format) {
    return config_error("logging:\n  version: 1\n  formatters:\n    f:\n      style: '" +
                        std::string(style) + "'\n      format: '" + std::string(format) + "'\n");
  };
  EXPECT_THAT(error("{", "{levelnam} {message}"),
              HasSubstr("test.yaml:6:"));
  EXPECT_THAT(error("{", "{levelnam} {message}"),
              HasSubstr("logging.formatters.f.format: unknown field '{levelnam}' (did you mean "
                        "'{levelname}'?) (at character 1 of the format)"));
  EXPECT_THAT(error("{", "{name:d}"), HasSubstr("'{name:d}' formats a number, but name is text"));
  EXPECT_THAT(error("{", "{levelno:,d}"), HasSubstr("format spec '{levelno:,d}' is not supported"));
  EXPECT_THAT(error("{", "{levelno:=5}"), HasSubstr("format spec '{levelno:=5}' is not supported"));
  EXPECT_THAT(error("{", "{levelno:%}"), HasSubstr("format type '%' in '{levelno:%}' is not supported"));
  EXPECT_THAT(error("{", "{name.upper}"), HasSubstr("attribute and index access"));
  EXPECT_THAT(error("{", "{} {message}"), HasSubstr("a field needs a name"));
  EXPECT_THAT(error("{", "{message} }"), HasSubstr("single '}' in the format"));
  EXPECT_THAT(error("{", "{message!x}"), HasSubstr("invalid conversion '!x'"));
  EXPECT_THAT(error("{", "{message"), HasSubstr("unclosed '{'"));
  EXPECT_THAT(error("{", "no fields"), HasSubstr("the format has no field"));
  EXPECT_THAT(error("$", "cost $ $message"), HasSubstr("a bare '$' (write $$ for a dollar sign)"));
  EXPECT_THAT(error("$", "$mesage"),
              HasSubstr("unknown field '${mesage}' (did you mean '${message}'?)"));
  EXPECT_THAT(error("%", "{message}"), HasSubstr("the format has no field"));
  EXPECT_EQ(error("{", "%(message)s {message}"), "");
}

TEST_F(LoggingTest, HandlerAttributes) {
  std::vector<std::string> warnings;
  {
    ConfigWarningScope scope;
    configure_yaml(R"(
logging:
  version: 1
  handlers:
    console:
      class: logging.StreamHandler
      .: {terminator: " | ", colour: red}
  root: {level: DEBUG, handlers: [console]}
)");
    for (const ConfigWarning& w : scope.warnings()) warnings.push_back(w.str());
  }
  logger("immp")->info("a");
  logger("immp")->info("b");
  EXPECT_EQ(err_.str(), "a | b | ");
  EXPECT_EQ(warnings, (std::vector<std::string>{
                          "test.yaml:7:30: logging.handlers.console: attribute 'colour' under "
                          "'.' means nothing to immp's handler (it knows terminator); ignored"}));
}

TEST_F(LoggingTest, DocsDailyExampleWritesTheDocumentedLine) {
  configure_yaml(kDailyAndSyslog);
  logger("immp.runner")->info("Starting host (3 plugs, 5 hooks)");
  logger("immp.host")->debug("not at INFO");
  shutdown_logging();
  const std::string line = read_file(dir_ / "immp.log");
  EXPECT_TRUE(has_shape(
      line, "####-##-## ##:##:##,### INFO     immp.runner: Starting host (3 plugs, 5 hooks)\n"))
      << line;
}

// ---- incremental and warnings ----------------------------------------------

TEST_F(LoggingTest, IncrementalChangesLevelsOfTheDefaults) {
  configure_yaml(R"(
logging:
  version: 1
  incremental: true
  loggers:
    immp.plug: {level: DEBUG}
    asyncio: {level: ERROR}
)");
  logger("immp.plug.irc")->debug("plug detail");
  logger("immp.host")->debug("host detail");
  logger("immp.host")->info("host info");
  logger("asyncio")->warn("hidden now");
  logger("asyncio")->error("shown");
  logger("other")->warn("others stay at WARNING");
  // The defaults' console handler and format are kept.
  EXPECT_EQ(err_.str(),
            "DEBUG:immp.plug.irc:plug detail\n"
            "INFO:immp.host:host info\n"
            "ERROR:asyncio:shown\n"
            "WARNING:other:others stay at WARNING\n");
}

TEST_F(LoggingTest, IncrementalHandlerLevelAndRoot) {
  configure_yaml(R"(
logging:
  version: 1
  incremental: true
  handlers:
    console: {level: ERROR}
  root: {level: DEBUG}
)");
  logger("other")->warn("below the handler's level");
  logger("immp")->error("shown");
  EXPECT_EQ(err_.str(), "ERROR:immp:shown\n");
  EXPECT_EQ(logger("other")->level(), spdlog::level::err);
}

TEST_F(LoggingTest, IncrementalIgnoresWhatItCannotChangeAndSaysSo) {
  configure_yaml(R"(
logging:
  version: 1
  incremental: true
  formatters:
    f: {format: "%(message)s"}
  loggers:
    immp: {level: WARNING, handlers: [console], propagate: true}
)");
  logger("immp.host")->info("hidden: immp is at WARNING now");
  const std::string err = err_.str();
  EXPECT_THAT(err, HasSubstr("WARNING:immp.config:test.yaml:5:3: "));
  EXPECT_THAT(err, HasSubstr("logging.formatters: formatters are not read with incremental: true"));
  EXPECT_THAT(err, HasSubstr("logging.loggers.immp.handlers: only a logger's level and propagate "
                             "change with incremental: true; 'handlers' is ignored"));
  EXPECT_THAT(err, Not(HasSubstr("hidden")));

  EXPECT_THAT(config_error(R"(
logging:
  version: 1
  incremental: true
  handlers:
    consol: {level: DEBUG}
)"),
              HasSubstr("logging.handlers.consol: no handler 'consol' to change (did you mean "
                        "'console'?): incremental: true only changes the levels of the handlers "
                        "immp has without a logging section (console)"));
}

// Where Python passes over a key silently, immp warns and goes on: the
// warnings reach the caller's ConfigWarningScope (`immp --check` prints
// them, `--strict` refuses them), or are logged without one.
TEST_F(LoggingTest, KeysPythonIgnoresAreWarnings) {
  constexpr std::string_view kConfig = R"(
logging:
  version: 1
  colour: yes
  formatters:
    f: {format: "%(message)s", colour: red}
  handlers:
    console: {class: StreamHandler, formatter: f}
  loggers:
    immp: {lvel: DEBUG}
  root: {level: INFO, handlers: [console], propagate: false}
)";
  std::vector<std::string> warnings;
  {
    ConfigWarningScope scope;
    configure_yaml(kConfig);
    for (const ConfigWarning& w : scope.warnings()) warnings.push_back(w.str());
  }
  EXPECT_EQ(warnings,
            (std::vector<std::string>{
                "test.yaml:4:3: logging: unknown key 'colour' in the logging section",
                "test.yaml:6:32: logging.formatters.f: unknown key 'colour' in a formatter",
                "test.yaml:10:12: logging.loggers.immp: unknown key 'lvel' in a logger (did you "
                "mean 'level'?)",
                "test.yaml:11:44: logging.root: unknown key 'propagate' in the root logger",
            }));
  EXPECT_EQ(err_.str(), "");

  // Without a scope they are logged on immp.config, through the new
  // configuration.
  configure_yaml(kConfig);
  EXPECT_THAT(err_.str(), HasSubstr("test.yaml:10:12: logging.loggers.immp: unknown key 'lvel'"));

  // A handler's unknown key is a TypeError in Python: an error here too.
  EXPECT_THAT(config_error("logging:\n  version: 1\n  handlers:\n    c: {class: StreamHandler, "
                           "strem: 'ext://sys.stdout'}\n"),
              HasSubstr("unknown key 'strem' in a StreamHandler (did you mean 'stream'?)"));
}

TEST_F(LoggingTest, RootUnderLoggersAndExtLevels) {
  configure_yaml(R"(
logging:
  version: 1
  handlers:
    console: {class: StreamHandler}
  loggers:
    root: {level: ext://logging.DEBUG, handlers: [console]}
)");
  logger("anything")->debug("root at DEBUG");
  EXPECT_EQ(err_.str(), "root at DEBUG\n");
}

// ---- TimedRotatingFileHandler --------------------------------------------

using std::chrono::sys_seconds;

sys_seconds utc_time(int y, unsigned mo, unsigned d, int h, int mi, int s) {
  using namespace std::chrono;
  return sys_seconds(sys_days(year(y) / month(mo) / day(d))) + hours(h) + minutes(mi) +
         seconds(s);
}

void set_mtime(const fs::path& file, sys_seconds time) {
  fs::last_write_time(file, std::chrono::file_clock::from_sys(time));
}

void log_at(std::string_view name, sys_seconds time, std::string_view message) {
  logger(name)->log(std::chrono::system_clock::time_point(time), spdlog::source_loc{},
                    spdlog::level::info, message);
}

TEST_F(LoggingTest, TimedRotationRenamesByPeriodAndKeepsBackupCount) {
  const sys_seconds t0 = utc_time(2026, 11, 22, 10, 0, 0);
  std::ofstream(dir_ / "immp.log") << "old\n";
  set_mtime(dir_ / "immp.log", t0);
  std::ofstream(dir_ / "immp.log.keep") << "not a rotated file\n";
  configure_yaml(R"(
logging:
  version: 1
  handlers:
    timed:
      class: logging.handlers.TimedRotatingFileHandler
      filename: immp.log
      when: s
      interval: 10
      backupCount: 2
      utc: true
  root: {level: INFO, handlers: [timed]}
)");
  using std::chrono::seconds;
  // The first period starts when the file was last written.
  log_at("immp", t0 + seconds(5), "a");
  EXPECT_FALSE(fs::exists(dir_ / "immp.log.2026-11-22_10-00-00"));
  log_at("immp", t0 + seconds(10), "b");
  EXPECT_EQ(read_file(dir_ / "immp.log.2026-11-22_10-00-00"), "old\na\n");
  EXPECT_EQ(read_file(dir_ / "immp.log"), "b\n");
  log_at("immp", t0 + seconds(31), "c");
  log_at("immp", t0 + seconds(45), "d");
  // Python names each file for the start of its period and keeps two.
  EXPECT_EQ(read_file(dir_ / "immp.log.2026-11-22_10-00-10"), "b\n");
  EXPECT_EQ(read_file(dir_ / "immp.log.2026-11-22_10-00-31"), "c\n");
  EXPECT_FALSE(fs::exists(dir_ / "immp.log.2026-11-22_10-00-00"));
  EXPECT_EQ(read_file(dir_ / "immp.log"), "d\n");
  EXPECT_TRUE(fs::exists(dir_ / "immp.log.keep"));
}

TEST_F(LoggingTest, TimedRotationAtMidnightWithAtTime) {
  std::ofstream(dir_ / "immp.log") << "";
  set_mtime(dir_ / "immp.log", utc_time(2026, 11, 22, 10, 0, 0));
  std::ofstream(dir_ / "immp.log.2026-11-22") << "from an earlier run\n";
  configure_yaml(R"(
logging:
  version: 1
  handlers:
    timed:
      class: logging.handlers.TimedRotatingFileHandler
      filename: immp.log
      when: midnight
      atTime: "04:30"
      utc: true
  root: {level: INFO, handlers: [timed]}
)");
  log_at("immp", utc_time(2026, 11, 23, 4, 29, 59), "before");
  EXPECT_EQ(read_file(dir_ / "immp.log"), "before\n");
  log_at("immp", utc_time(2026, 11, 23, 4, 30, 0), "after");
  // The day the period started; an existing file of that name is added to,
  // not replaced.
  EXPECT_EQ(read_file(dir_ / "immp.log.2026-11-22"), "from an earlier run\nbefore\n");
  EXPECT_EQ(read_file(dir_ / "immp.log"), "after\n");
  // The next one is a day later; backupCount 0 keeps every file.
  log_at("immp", utc_time(2026, 11, 24, 4, 30, 0), "next day");
  EXPECT_EQ(read_file(dir_ / "immp.log.2026-11-23"), "after\n");
  EXPECT_TRUE(fs::exists(dir_ / "immp.log.2026-11-22"));
}

RotationSchedule schedule(RotationSchedule::Unit unit, int interval = 1, int weekday = 0,
                          std::optional<int> at_time = std::nullopt) {
  RotationSchedule s;
  s.unit = unit;
  s.interval = interval;
  s.weekday = weekday;
  s.at_time = at_time;
  return s;
}

TEST(RotationSchedule, WeekdaysIntervalsAndAtTime) {
  using Unit = RotationSchedule::Unit;
  auto next = [](RotationSchedule s, sys_seconds now) {
    s.utc = true;
    return sys_seconds(std::chrono::seconds(s.next_after(std::chrono::system_clock::to_time_t(
        std::chrono::system_clock::time_point(now)))));
  };
  const sys_seconds sunday = utc_time(2026, 11, 22, 10, 0, 0);
  const sys_seconds monday = utc_time(2026, 11, 23, 10, 0, 0);
  // W0: at the midnight that starts Monday.
  EXPECT_EQ(next(schedule(Unit::weekday, 1, 0), sunday), utc_time(2026, 11, 23, 0, 0, 0));
  EXPECT_EQ(next(schedule(Unit::weekday, 1, 0), monday), utc_time(2026, 11, 30, 0, 0, 0));
  // W2 at 04:00, asked on Wednesday 03:00: later that day.
  EXPECT_EQ(next(schedule(Unit::weekday, 1, 2, 4 * 3600), utc_time(2026, 11, 25, 3, 0, 0)), utc_time(2026, 11, 25, 4, 0, 0));
  // interval > 1 for midnight and weekdays, as Python 3.13 counts it.
  EXPECT_EQ(next(schedule(Unit::midnight, 2), sunday), utc_time(2026, 11, 24, 0, 0, 0));
  EXPECT_EQ(next(schedule(Unit::weekday, 2, 0), sunday), utc_time(2026, 11, 30, 0, 0, 0));
  // S, M, H, D: one interval after, not aligned to the clock.
  EXPECT_EQ(next(schedule(Unit::hours, 3), sunday + std::chrono::minutes(7)),
            utc_time(2026, 11, 22, 13, 7, 0));
  EXPECT_EQ(next(schedule(Unit::days, 1), sunday), utc_time(2026, 11, 23, 10, 0, 0));
}

// Local midnight across the start of summer time: the day is 23 hours long,
// and the rotated file is still named for the day it covers.
TEST(RotationSchedule, LocalMidnightAcrossDaylightSaving) {
  if (!fs::exists("/usr/share/zoneinfo/Europe/Berlin")) GTEST_SKIP() << "no tzdata";
  const char* old = std::getenv("TZ");
  const std::string saved = old ? old : "";
  ::setenv("TZ", "Europe/Berlin", 1);
  ::tzset();
  const RotationSchedule s = schedule(RotationSchedule::Unit::midnight);
  auto t = [](sys_seconds time) {
    return std::chrono::system_clock::to_time_t(std::chrono::system_clock::time_point(time));
  };
  // 2026-03-29 02:00 CET becomes 03:00 CEST.
  EXPECT_EQ(s.next_after(t(utc_time(2026, 3, 28, 11, 0, 0))), t(utc_time(2026, 3, 28, 23, 0, 0)));
  const std::time_t after = s.next_after(t(utc_time(2026, 3, 28, 23, 0, 1)));
  EXPECT_EQ(after, t(utc_time(2026, 3, 29, 22, 0, 0)));
  EXPECT_EQ(s.period_start(after), t(utc_time(2026, 3, 28, 23, 0, 0)));
  if (old) {
    ::setenv("TZ", saved.c_str(), 1);
  } else {
    ::unsetenv("TZ");
  }
  ::tzset();
}

TEST_F(LoggingTest, TimedRotationConfigErrors) {
  auto error = [&](std::string_view keys) {
    return config_error(
        "logging:\n  version: 1\n  handlers:\n    t:\n      class: "
        "logging.handlers.TimedRotatingFileHandler\n      filename: t.log\n" +
        std::string(keys));
  };
  EXPECT_THAT(error("      when: W7\n"),
              HasSubstr("logging.handlers.t.when: unknown rotation 'W7'"));
  EXPECT_THAT(error("      when: fortnight\n"), HasSubstr("W0 is Monday"));
  EXPECT_THAT(error("      interval: 0\n"),
              HasSubstr("logging.handlers.t.interval: interval must be a whole number"));
  EXPECT_THAT(error("      atTime: '25:00'\n"),
              HasSubstr("atTime must be a time of day as \"HH:MM\""));
  EXPECT_THAT(error("      mode: w\n"),
              HasSubstr("unknown key 'mode' in a TimedRotatingFileHandler"));
  EXPECT_EQ(error("      when: W6\n      interval: 2\n      backupCount: 3\n      encoding: utf-8\n"
                  "      delay: true\n      utc: false\n      atTime: '23:59:30'\n"
                  "      errors: strict\n"),
            "");
}

// ---- SysLogHandler -------------------------------------------------------

// A socket the test reads what immp sends to.
class TestSocket {
 public:
  explicit TestSocket(int fd) : fd_(fd) {}
  ~TestSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  TestSocket(TestSocket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  TestSocket& operator=(TestSocket&&) = delete;
  int fd() const { return fd_; }

  // One datagram (or what a stream has so far), waiting up to 2 s.
  std::string receive() const {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) return "(nothing arrived)";
    char buffer[4096];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : "(closed)";
  }

  static TestSocket unix_datagram(const fs::path& path) {
    TestSocket s(::socket(AF_UNIX, SOCK_DGRAM, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    EXPECT_EQ(::bind(s.fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    return s;
  }

  // Bound to 127.0.0.1 on a free port; `type` SOCK_DGRAM or SOCK_STREAM
  // (listening).
  static TestSocket loopback(int type) {
    TestSocket s(::socket(AF_INET, type, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(s.fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    if (type == SOCK_STREAM) {
      EXPECT_EQ(::listen(s.fd_, 4), 0);
    }
    return s;
  }

  int port() const {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    return ntohs(address.sin_port);
  }

 private:
  int fd_;
};

TEST_F(LoggingTest, SysLogToAUnixSocket) {
  TestSocket daemon = TestSocket::unix_datagram(dir_ / "log.sock");
  configure_yaml(R"(
logging:
  version: 1
  formatters:
    tagged: {format: "immp: %(name)s: %(message)s"}
  handlers:
    syslog:
      class: logging.handlers.SysLogHandler
      address: log.sock
      facility: local0
      formatter: tagged
  root: {level: NOTSET, handlers: [syslog]}
)");
  logger("immp.host")->info("hello");
  logger("immp.host")->warn("careful");
  logger("immp.host")->critical("bad");
  logger("immp.host")->trace("chatty");
  // Python's packet: <facility * 8 + severity>, the formatted record, NUL.
  using namespace std::string_literals;
  EXPECT_EQ(daemon.receive(), "<134>immp: immp.host: hello\0"s);
  EXPECT_EQ(daemon.receive(), "<132>immp: immp.host: careful\0"s);
  EXPECT_EQ(daemon.receive(), "<130>immp: immp.host: bad\0"s);
  EXPECT_EQ(daemon.receive(), "<135>immp: immp.host: chatty\0"s);
}

TEST_F(LoggingTest, SysLogToAHostAndPort) {
  TestSocket collector = TestSocket::loopback(SOCK_DGRAM);
  configure_yaml(R"(
logging:
  version: 1
  handlers:
    syslog:
      class: logging.handlers.SysLogHandler
      address: [127.0.0.1, )" + std::to_string(collector.port()) + R"(]
      facility: ext://logging.handlers.SysLogHandler.LOG_DAEMON
      .: {ident: "immp: ", append_nul: false}
  root: {level: INFO, handlers: [syslog]}
)");
  logger("immp")->warn("over UDP");
  EXPECT_EQ(collector.receive(), "<28>immp: over UDP");
}

TEST_F(LoggingTest, SysLogOverTcp) {
  TestSocket server = TestSocket::loopback(SOCK_STREAM);
  configure_yaml(R"(
logging:
  version: 1
  handlers:
    syslog:
      class: logging.handlers.SysLogHandler
      address: [localhost, )" + std::to_string(server.port()) + R"(]
      socktype: ext://socket.SOCK_STREAM
  root: {level: INFO, handlers: [syslog]}
)");
  logger("immp")->info("one");
  logger("immp")->info("two");
  TestSocket connection(::accept(server.fd(), nullptr, nullptr));
  std::string got;
  using namespace std::string_literals;
  const std::string expected = "<14>one\0<14>two\0"s;
  while (got.size() < expected.size()) {
    const std::string more = connection.receive();
    if (more.starts_with("(")) break;
    got += more;
  }
  EXPECT_EQ(got, expected);
}

// As Python (and C's openlog): a syslog socket that is not there yet is
// tried again with each record.
TEST_F(LoggingTest, SysLogReachesADaemonThatStartsLater) {
  configure_yaml(R"(
logging:
  version: 1
  handlers:
    syslog: {class: logging.handlers.SysLogHandler, address: late.sock}
    console: {class: logging.StreamHandler}
  root: {level: INFO, handlers: [syslog, console]}
)");
  // A failing handler keeps the record from no other handler.
  logger("immp")->info("nobody listens yet");
  EXPECT_EQ(err_.str(), "nobody listens yet\n");
  TestSocket daemon = TestSocket::unix_datagram(dir_ / "late.sock");
  logger("immp")->info("now");
  using namespace std::string_literals;
  EXPECT_EQ(daemon.receive(), "<14>now\0"s);
}

TEST_F(LoggingTest, SysLogConfigErrors) {
  auto error = [&](std::string_view keys) {
    return config_error("logging:\n  version: 1\n  handlers:\n    s:\n      class: "
                        "logging.handlers.SysLogHandler\n" +
                        std::string(keys));
  };
  EXPECT_THAT(error("      facility: lcoal0\n"),
              HasSubstr("logging.handlers.s.facility: unknown syslog facility 'lcoal0' (did you "
                        "mean 'local0'?)"));
  EXPECT_THAT(error("      address: [localhost]\n"),
              HasSubstr("logging.handlers.s.address: address is a socket path (/dev/log) or "
                        "[host, port]"));
  EXPECT_THAT(error("      address: [localhost, not-a-port]\n"),
              HasSubstr("logging.handlers.s.address: syslog: cannot resolve localhost:not-a-port"));
  EXPECT_THAT(error("      socktype: ext://socket.SOCK_RAW\n"),
              HasSubstr("unknown socktype 'ext://socket.SOCK_RAW'"));
  EXPECT_THAT(error("      adress: /dev/log\n"),
              HasSubstr("unknown key 'adress' in a SysLogHandler (did you mean 'address'?)"));
  int closed_port = 0;
  {
    TestSocket gone = TestSocket::loopback(SOCK_STREAM);
    closed_port = gone.port();
  }
  EXPECT_THAT(error("      address: [127.0.0.1, " + std::to_string(closed_port) +
                    "]\n      socktype: ext://socket.SOCK_STREAM\n"),
              HasSubstr("syslog: cannot connect to 127.0.0.1:" + std::to_string(closed_port)));
  // Python's default, ('localhost', 514) over UDP, needs nobody listening.
  EXPECT_EQ(error("      level: INFO\n"), "");
}

}  // namespace
}  // namespace immp
