#include "core/logging.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "immp/config.hpp"
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

TEST_F(LoggingTest, DefaultsShowRunnerLinesAndWarnings) {
  configure_logging(nullptr, dir_);
  logger("immp.runner")->info("started");
  logger("immp.host")->info("plug opened");
  logger("immp.host")->debug("details");
  logger("immp.plug.irc")->warn("reconnecting");
  spdlog::info("stray spdlog info");

  const std::string err = err_.str();
  EXPECT_TRUE(has_shape(err, "[####-##-## ##:##:##] INFO immp.runner: started\n*")) << err;
  EXPECT_THAT(err, HasSubstr("] WARNING immp.plug.irc: reconnecting\n"));
  EXPECT_THAT(err, Not(HasSubstr("plug opened")));
  EXPECT_THAT(err, Not(HasSubstr("details")));
  EXPECT_THAT(err, Not(HasSubstr("stray")));
  EXPECT_EQ(out_.str(), "");
}

TEST_F(LoggingTest, NullSectionMeansDefaults) {
  Node null_section;
  configure_logging(&null_section, dir_);
  logger("immp.runner")->info("started");
  EXPECT_THAT(err_.str(), HasSubstr("INFO immp.runner: started"));
}

TEST_F(LoggingTest, Example1SendsDebugToFileAndInfoToConsole) {
  configure_yaml(kExample1);
  logger("immp.host")->debug("routing detail");
  logger("immp.plug.irc")->info("connected");
  logger("asyncio")->warn("slow callback");
  logger("asyncio")->error("loop broke");
  logger("other.lib")->info("chatter");
  logger("other.lib")->warn("careful");
  shutdown_logging();

  const std::string console = err_.str();
  EXPECT_EQ(console,
            "INFO:immp.plug.irc:connected\n"
            "ERROR:asyncio:loop broke\n"
            "WARNING:other.lib:careful\n");
  EXPECT_EQ(read_file(dir_ / "debug.log"),
            "DEBUG:immp.host:routing detail\n"
            "INFO:immp.plug.irc:connected\n"
            "ERROR:asyncio:loop broke\n"
            "WARNING:other.lib:careful\n");
  EXPECT_EQ(out_.str(), "");
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
  cached->info("hidden by default");
  EXPECT_FALSE(cached->should_log(spdlog::level::info));

  configure_yaml(kExample1);
  EXPECT_EQ(logger("immp.hook.sync"), cached);
  EXPECT_TRUE(cached->should_log(spdlog::level::debug));
  cached->info("now visible");
  EXPECT_EQ(err_.str(), "INFO:immp.hook.sync:now visible\n");
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
      EXPECT_TRUE(has_shape(line, "INFO:immp.hook.sync:thread # line *")) << line;
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
  EXPECT_EQ(out_.str(), "INFO:immp.plug.irc:plug line\nINFO:immp.hook.sync:hook line\n");
  EXPECT_EQ(err_.str(), "INFO:immp.hook.sync:hook line\n");
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
  EXPECT_EQ(err_.str(), "INFO:immp.plug.irc:irc\nINFO:immp.plug.irc.conn:irc child\n");
  EXPECT_EQ(out_.str(),
            "INFO:immp.plug.irc:irc\nINFO:immp.plug.irc.conn:irc child\n"
            "INFO:immp.plug.ircx:not irc\nINFO:immp.hook.sync.child:child of a filtered logger\n");
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
  EXPECT_EQ(read_file(dir_ / "immp.log"), "DEBUG:immp.host:to the file\n");
  EXPECT_EQ(err_.str(), "WARNING:asyncio:last resort\n");
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
  EXPECT_EQ(read_file(dir_ / "append.log"), "old line\nINFO:immp:new line\n");
  EXPECT_EQ(read_file(dir_ / "truncate.log"), "INFO:immp:new line\n");
  EXPECT_EQ(read_file(absolute), "INFO:immp:new line\n");
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
  EXPECT_EQ(out_.str(), "DEBUG:immp.x:lower-case level names are accepted\n");
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
      config_error("logging:\n  version: 1\n  handlers:\n    x: {class: logging.SysLogHandler}\n"),
      HasSubstr("logging.handlers.x.class: unsupported handler class 'logging.SysLogHandler'"));
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
  EXPECT_THAT(config_error("logging:\n  version: 1\n  incremental: true\n"),
              HasSubstr("logging.incremental: incremental logging configuration is not supported"));
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
              HasSubstr("logging.filters.f.(): unknown filter factory 'mymodule.Custom'"));
  EXPECT_THAT(
      config_error(
          "logging:\n  version: 1\n  formatters:\n    f: {format: '%(levelnam)s %(message)s'}\n"),
      HasSubstr("logging.formatters.f.format: unknown field '%(levelnam)' (did you mean "
                "'%(levelname)s'?)"));
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
  EXPECT_THAT(config_error("logging:\n  version: 1\n  rooot: {}\n"),
              HasSubstr("(did you mean 'root'?)"));
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
  EXPECT_EQ(read_file(dir_ / "keep.log"), "INFO:immp:before\nINFO:immp:after\n");
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
  EXPECT_EQ(err_.str(), "TRACE:root:everything passes NOTSET\n");
}

}  // namespace
}  // namespace immp
