// Python's logging.config.dictConfig onto spdlog.
//
// Shape of the mapping:
// - Each configured handler is one spdlog sink (with its own level and a
//   formatter that renders Python %-style formats), shared by every logger
//   that reaches it.
// - Each logger handed out by logger() has exactly one sink of its own, a
//   RouterSink, holding the handler sinks its name reaches (its own handlers,
//   then its ancestors' while `propagate` holds). A reconfigure swaps that list
//   atomically and resets the logger's level, so cached LoggerPtrs follow it.
// - Everything Python decides per record that depends only on the logger name
//   (effective level, propagation, logger and handler filters: Filter(name)
//   and LocalFilter look at nothing but the name) is decided once per logger
//   at configure time. A record then costs spdlog's level check when disabled
//   and one sink-level check per handler when enabled.
#include "core/logging.hpp"

#include <fmt/format.h>
#include <spdlog/details/file_helper.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

namespace immp {

namespace {

using spdlog::level::level_enum;
using SinkPtr = std::shared_ptr<spdlog::sinks::sink>;
using Clock = std::chrono::system_clock;

// Python's relativeCreated counts from when logging was loaded.
const Clock::time_point kStartTime = Clock::now();

constexpr int kWarning = 30;  // Python's default level of the root logger.
constexpr std::string_view kBasicFormat = "%(levelname)s:%(name)s:%(message)s";

// ---- levels --------------------------------------------------------------

// Python's level numbers. TRACE (5) is immp's own level below DEBUG, for
// spdlog's trace.
struct LevelName {
  std::string_view name;
  int number;
};
constexpr LevelName kLevelNames[] = {
    {"NOTSET", 0}, {"TRACE", 5},  {"DEBUG", 10},    {"INFO", 20},  {"WARNING", 30},
    {"WARN", 30},  {"ERROR", 40}, {"CRITICAL", 50}, {"FATAL", 50},
};

int python_number(level_enum level) {
  switch (level) {
    case level_enum::trace:
      return 5;
    case level_enum::debug:
      return 10;
    case level_enum::info:
      return 20;
    case level_enum::warn:
      return 30;
    case level_enum::err:
      return 40;
    case level_enum::critical:
      return 50;
    default:
      return 60;
  }
}

std::string_view python_name(level_enum level) {
  switch (level) {
    case level_enum::trace:
      return "TRACE";
    case level_enum::debug:
      return "DEBUG";
    case level_enum::info:
      return "INFO";
    case level_enum::warn:
      return "WARNING";
    case level_enum::err:
      return "ERROR";
    case level_enum::critical:
      return "CRITICAL";
    default:
      return "NOTSET";
  }
}

// The spdlog threshold that passes exactly the records a Python threshold
// `number` passes.
level_enum threshold(int number) {
  if (number <= 5) return level_enum::trace;
  if (number <= 10) return level_enum::debug;
  if (number <= 20) return level_enum::info;
  if (number <= 30) return level_enum::warn;
  if (number <= 40) return level_enum::err;
  if (number <= 50) return level_enum::critical;
  return level_enum::off;
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// A level as Python's dictConfig takes it: a name or a number.
int parse_level(const Node& node) {
  if (node.is_int()) {
    if (node.as_int() < 0) node.fail("a level number can't be negative");
    return static_cast<int>(std::min<std::int64_t>(node.as_int(), 1000));
  }
  if (!node.is_string()) {
    node.fail("expected a level name (DEBUG, INFO, WARNING, ERROR, CRITICAL), got " +
              std::string(Node::kind_name(node.kind())));
  }
  // Python only takes upper case; lower case is accepted here as a courtesy.
  const std::string name = upper(node.as_string());
  for (const LevelName& level : kLevelNames) {
    if (level.name == name) return level.number;
  }
  std::vector<std::string> names;
  for (const LevelName& level : kLevelNames) names.emplace_back(level.name);
  std::string hint;
  if (auto near = nearest(name, names)) hint = " (did you mean '" + *near + "'?)";
  node.fail("unknown level '" + node.as_string() + "'" + hint +
            "; levels are DEBUG, INFO, WARNING, ERROR, CRITICAL and NOTSET");
}

// ---- filters -------------------------------------------------------------

// Python's logging.Filter(name), or IMMP's runner LocalFilter.
struct Filter {
  enum class Kind { name, local };
  Kind kind = Kind::name;
  std::string name;  // Kind::name: "" passes everything

  static bool under(std::string_view logger, std::string_view prefix) {
    return logger == prefix || (logger.size() > prefix.size() && logger.starts_with(prefix) &&
                                logger[prefix.size()] == '.');
  }
  bool passes(std::string_view logger) const {
    if (kind == Kind::local) return under(logger, "__main__") || under(logger, "immp");
    return name.empty() || under(logger, name);
  }
};

bool all_pass(const std::vector<Filter>& filters, std::string_view logger) {
  return std::all_of(filters.begin(), filters.end(),
                     [&](const Filter& f) { return f.passes(logger); });
}

// ---- formatter -----------------------------------------------------------

enum class Field {
  name,
  levelname,
  levelno,
  message,
  asctime,
  created,
  msecs,
  relative_created,
  process,
  process_name,
  thread,
  thread_name,
  module,
  filename,
  pathname,
  lineno,
  func_name,
};

struct FieldInfo {
  std::string_view key;
  Field field;
  bool numeric;
};

constexpr FieldInfo kFields[] = {
    {"name", Field::name, false},
    {"levelname", Field::levelname, false},
    {"levelno", Field::levelno, true},
    {"message", Field::message, false},
    {"msg", Field::message, false},
    {"asctime", Field::asctime, false},
    {"created", Field::created, true},
    {"msecs", Field::msecs, true},
    {"relativeCreated", Field::relative_created, true},
    {"process", Field::process, true},
    {"processName", Field::process_name, false},
    {"thread", Field::thread, true},
    {"threadName", Field::thread_name, false},
    {"module", Field::module, false},
    {"filename", Field::filename, false},
    {"pathname", Field::pathname, false},
    {"lineno", Field::lineno, true},
    {"funcName", Field::func_name, false},
};

// One piece of a compiled format: literal text, or a field with its
// %-conversion (flags, width, precision, type).
struct FormatPart {
  std::string literal;
  std::optional<Field> field;
  bool numeric_value = false;    // the field holds a number
  bool numeric_convert = false;  // d, i, f, x, ...: rendered with number_spec
  bool integral = false;         // d, i, u, o, x, X: a float is truncated first
  bool repr = false;             // %r / %a: quoted
  bool left = false;
  int width = 0;
  int precision = -1;
  std::string number_spec;  // fmt spec, "{:>05d}"
};

std::size_t utf8_length(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// The prefix of `text` holding at most `chars` code points.
std::string_view utf8_prefix(std::string_view text, std::size_t chars) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      if (seen == chars) return text.substr(0, i);
      ++seen;
    }
  }
  return text;
}

// Compiles a Python %-style format; fails on `node` (the `format` value) for
// anything Python would reject or immp can't render.
std::vector<FormatPart> compile_format(std::string_view format, const Node* node) {
  auto fail = [&](std::size_t at, const std::string& problem) {
    const std::string where = " at character " + std::to_string(at + 1) + " of the format";
    if (node) node->fail(problem + where);
    throw ConfigError(Mark{}, "logging", problem + where);
  };
  std::vector<FormatPart> out;
  std::string literal;
  auto flush_literal = [&] {
    if (literal.empty()) return;
    out.emplace_back();
    out.back().literal = std::move(literal);
    literal.clear();
  };
  std::size_t i = 0;
  while (i < format.size()) {
    const char c = format[i];
    if (c != '%') {
      literal += c;
      ++i;
      continue;
    }
    const std::size_t start = i++;
    if (i < format.size() && format[i] == '%') {
      literal += '%';
      ++i;
      continue;
    }
    if (i >= format.size() || format[i] != '(') {
      fail(start, "expected a field like %(message)s after '%' (write %% for a percent sign)");
    }
    const std::size_t close = format.find(')', i);
    if (close == std::string_view::npos) fail(start, "unclosed '%(' ");
    const std::string_view key = format.substr(i + 1, close - i - 1);
    i = close + 1;
    FormatPart seg;
    const FieldInfo* info = nullptr;
    for (const FieldInfo& f : kFields) {
      if (f.key == key) info = &f;
    }
    if (!info) {
      std::vector<std::string> keys;
      for (const FieldInfo& f : kFields) keys.emplace_back(f.key);
      std::string hint;
      if (auto near = nearest(key, keys)) hint = " (did you mean '%(" + *near + ")s'?)";
      fail(start, "unknown field '%(" + std::string(key) + ")'" + hint);
    }
    seg.field = info->field;
    seg.numeric_value = info->numeric;
    bool zero = false;
    std::string sign;
    bool alternate = false;
    for (; i < format.size() && std::string_view("-+ #0").find(format[i]) != std::string_view::npos;
         ++i) {
      switch (format[i]) {
        case '-':
          seg.left = true;
          break;
        case '0':
          zero = true;
          break;
        case '#':
          alternate = true;
          break;
        default:
          sign = std::string(1, format[i]);
          break;
      }
    }
    auto digits = [&]() {
      int n = 0;
      if (i < format.size() && format[i] == '*') fail(start, "'*' widths are not supported");
      while (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i]))) {
        n = std::min(n * 10 + (format[i++] - '0'), 1000);
      }
      return n;
    };
    seg.width = digits();
    if (i < format.size() && format[i] == '.') {
      ++i;
      seg.precision = digits();
    }
    while (i < format.size() && (format[i] == 'h' || format[i] == 'l' || format[i] == 'L')) ++i;
    if (i >= format.size())
      fail(start, "missing conversion type after '%(" + std::string(key) + ")'");
    const char type = format[i++];
    switch (type) {
      case 's':
        break;
      case 'r':
      case 'a':
        seg.repr = true;
        break;
      case 'd':
      case 'i':
      case 'u':
      case 'o':
      case 'x':
      case 'X':
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G': {
        if (!info->numeric) {
          fail(start, "'%(" + std::string(key) + ")" + type + "' needs a number, but " +
                          std::string(key) + " is text: use %(" + std::string(key) + ")s");
        }
        const bool integral = std::string_view("diuoxX").find(type) != std::string_view::npos;
        std::string spec = "{:";
        if (seg.left) spec += '<';
        spec += sign;
        if (alternate) spec += '#';
        if (zero && !seg.left) spec += '0';
        if (seg.width > 0) spec += std::to_string(seg.width);
        if (!integral && seg.precision >= 0) spec += "." + std::to_string(seg.precision);
        spec += (type == 'i' || type == 'u') ? 'd' : type;
        spec += '}';
        seg.numeric_convert = true;
        seg.integral = integral;
        seg.number_spec = std::move(spec);
        break;
      }
      default:
        fail(start, std::string("unsupported conversion type '") + type + "'");
    }
    flush_literal();
    out.push_back(std::move(seg));
  }
  flush_literal();
  return out;
}

// Renders records the way Python's logging.Formatter does, plus the "\n"
// StreamHandler and FileHandler add. Not thread-safe: each sink owns a clone
// and calls it under its own mutex.
class PyFormatter final : public spdlog::formatter {
 public:
  PyFormatter(std::shared_ptr<const std::vector<FormatPart>> segments, std::string datefmt)
      : segments_(std::move(segments)), datefmt_(std::move(datefmt)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    for (const FormatPart& seg : *segments_) {
      if (!seg.field) {
        dest.append(seg.literal.data(), seg.literal.data() + seg.literal.size());
      } else if (seg.numeric_convert) {
        append_number(seg, number(*seg.field, msg), dest);
      } else {
        append_text(seg, msg, dest);
      }
    }
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<PyFormatter>(segments_, datefmt_);
  }

 private:
  using Number = std::variant<std::int64_t, double>;

  static double seconds(Clock::time_point t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
  }

  static std::string_view source_path(const spdlog::details::log_msg& msg) {
    return msg.source.filename ? std::string_view(msg.source.filename) : "(unknown file)";
  }

  static std::string_view basename(std::string_view path) {
    const std::size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
  }

  Number number(Field field, const spdlog::details::log_msg& msg) {
    switch (field) {
      case Field::levelno:
        return std::int64_t{python_number(msg.level)};
      case Field::created:
        return seconds(msg.time);
      case Field::msecs: {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
            msg.time.time_since_epoch() % std::chrono::seconds(1));
        return static_cast<double>(ms.count());
      }
      case Field::relative_created:
        return std::chrono::duration<double, std::milli>(msg.time - kStartTime).count();
      case Field::process:
        return std::int64_t{::getpid()};
      case Field::thread:
        return static_cast<std::int64_t>(msg.thread_id);
      case Field::lineno:
        return std::int64_t{msg.source.line};
      default:
        return std::int64_t{0};
    }
  }

  // A text field's value; `scratch` backs values that have to be built.
  std::string_view text(Field field, const spdlog::details::log_msg& msg, std::string& scratch) {
    switch (field) {
      case Field::name:
        return {msg.logger_name.data(), msg.logger_name.size()};
      case Field::levelname:
        return python_name(msg.level);
      case Field::message:
        return {msg.payload.data(), msg.payload.size()};
      case Field::asctime:
        return asctime(msg.time);
      case Field::process_name:
        return "MainProcess";
      case Field::thread_name:
        return scratch = std::to_string(msg.thread_id);
      case Field::pathname:
        return source_path(msg);
      case Field::filename:
        return basename(source_path(msg));
      case Field::module: {
        const std::string_view file = basename(source_path(msg));
        if (!msg.source.filename) return file;
        return file.substr(0, std::min(file.size(), file.rfind('.')));
      }
      case Field::func_name:
        return msg.source.funcname ? std::string_view(msg.source.funcname) : "(unknown function)";
      default: {
        // A number shown with %s: Python's str().
        std::visit([&](auto v) { scratch = fmt::format("{}", v); }, number(field, msg));
        if (std::holds_alternative<double>(number(field, msg)) &&
            scratch.find_first_of(".en") == std::string::npos) {
          scratch += ".0";
        }
        return scratch;
      }
    }
  }

  // Python's %d truncates a float; %f takes an integer as a float.
  static void append_number(const FormatPart& seg, Number value, spdlog::memory_buf_t& dest) {
    auto out = std::back_inserter(dest);
    if (seg.integral) {
      const auto n = std::visit([](auto v) { return static_cast<std::int64_t>(v); }, value);
      fmt::format_to(out, fmt::runtime(seg.number_spec), n);
    } else {
      const auto x = std::visit([](auto v) { return static_cast<double>(v); }, value);
      fmt::format_to(out, fmt::runtime(seg.number_spec), x);
    }
  }

  void append_text(const FormatPart& seg, const spdlog::details::log_msg& msg,
                   spdlog::memory_buf_t& dest) {
    std::string scratch;
    std::string_view value = text(*seg.field, msg, scratch);
    std::string quoted;
    if (seg.repr) {
      quoted = "'" + std::string(value) + "'";
      value = quoted;
    }
    if (seg.precision >= 0) value = utf8_prefix(value, static_cast<std::size_t>(seg.precision));
    const std::size_t length = seg.width > 0 ? utf8_length(value) : 0;
    const std::size_t pad = length < static_cast<std::size_t>(seg.width) ? seg.width - length : 0;
    if (!seg.left) dest.append(std::string(pad, ' '));
    dest.append(value.data(), value.data() + value.size());
    if (seg.left) dest.append(std::string(pad, ' '));
  }

  // Python's formatTime: strftime(datefmt) in local time, or without a
  // datefmt "%Y-%m-%d %H:%M:%S,mmm". The strftime part is cached per second.
  std::string_view asctime(Clock::time_point time) {
    const auto second = std::chrono::floor<std::chrono::seconds>(time);
    if (second != cached_second_ || cached_time_.empty()) {
      const std::time_t t = Clock::to_time_t(second);
      std::tm local{};
      ::localtime_r(&t, &local);
      const std::string& datefmt = datefmt_.empty() ? kDefaultDatefmt : datefmt_;
      std::string buffer(64 + datefmt.size() * 4, '\0');
      const std::size_t n = std::strftime(buffer.data(), buffer.size(), datefmt.c_str(), &local);
      buffer.resize(n);
      cached_time_ = std::move(buffer);
      cached_second_ = second;
    }
    if (!datefmt_.empty()) return cached_time_;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time - second).count();
    with_msecs_ = fmt::format("{},{:03d}", cached_time_, ms);
    return with_msecs_;
  }

  static inline const std::string kDefaultDatefmt = "%Y-%m-%d %H:%M:%S";

  std::shared_ptr<const std::vector<FormatPart>> segments_;
  std::string datefmt_;
  Clock::time_point cached_second_{};
  std::string cached_time_;
  std::string with_msecs_;
};

// ---- sinks ---------------------------------------------------------------

// logging.FileHandler, and logging.handlers.RotatingFileHandler when
// max_bytes and backup_count are both positive: Python's names (debug.log.1,
// debug.log.2, ...) and Python's rule (rotate before a record that would
// reach max_bytes). Flushes after every record, as Python does, so a crash
// loses nothing already logged.
class PyFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  PyFileSink(const std::filesystem::path& file, bool truncate, std::uint64_t max_bytes,
             int backup_count)
      : path_(file), max_bytes_(backup_count > 0 ? max_bytes : 0), backup_count_(backup_count) {
    file_.open(path_.string(), truncate);
    size_ = file_.size();
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    if (max_bytes_ > 0 && size_ > 0 && size_ + formatted.size() >= max_bytes_) rotate();
    file_.write(formatted);
    file_.flush();
    size_ += formatted.size();
  }

  void flush_() override { file_.flush(); }

 private:
  std::filesystem::path numbered(int n) const {
    std::filesystem::path p = path_;
    p += "." + std::to_string(n);
    return p;
  }

  // Python's doRollover. Rename failures are not fatal: logging carries on
  // in the reopened file.
  void rotate() {
    file_.close();
    std::error_code ec;
    for (int i = backup_count_ - 1; i > 0; --i) {
      if (std::filesystem::exists(numbered(i), ec)) {
        std::filesystem::remove(numbered(i + 1), ec);
        std::filesystem::rename(numbered(i), numbered(i + 1), ec);
      }
    }
    std::filesystem::remove(numbered(1), ec);
    std::filesystem::rename(path_, numbered(1), ec);
    file_.open(path_.string(), false);
    size_ = file_.size();
  }

  std::filesystem::path path_;
  std::uint64_t max_bytes_;
  int backup_count_;
  spdlog::details::file_helper file_;
  std::uint64_t size_ = 0;
};

using Targets = std::vector<SinkPtr>;

// The one sink of each logger: forwards to the handler sinks the logger's
// name reaches. The list is swapped whole on reconfigure, so logging from
// other threads never sees a half-built list, and an old list (with its
// files) lives on only until the records already using it are written.
class RouterSink final : public spdlog::sinks::sink {
 public:
  void log(const spdlog::details::log_msg& msg) override {
    const std::shared_ptr<const Targets> list = targets();
    for (const SinkPtr& target : *list) {
      if (target->should_log(msg.level)) target->log(msg);
    }
  }
  void flush() override {
    const std::shared_ptr<const Targets> list = targets();
    for (const SinkPtr& target : *list) target->flush();
  }
  // Formatting belongs to handlers; patterns set on the logger are ignored.
  void set_pattern(const std::string&) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

  void set_targets(std::shared_ptr<const Targets> list) {
    std::lock_guard lock(mutex_);
    targets_.swap(list);
  }

 private:
  // A mutex rather than std::atomic<std::shared_ptr>: GCC 12's version
  // unlocks a load with a relaxed store, which ThreadSanitizer reports, and
  // an uncontended lock costs little next to formatting the record.
  std::shared_ptr<const Targets> targets() {
    std::lock_guard lock(mutex_);
    return targets_;
  }

  std::mutex mutex_;
  std::shared_ptr<const Targets> targets_ = std::make_shared<const Targets>();
};

// ---- configuration -------------------------------------------------------

struct Handler {
  SinkPtr sink;  // null for NullHandler: it takes records and drops them
  std::vector<Filter> filters;
};

struct LoggerConfig {
  std::optional<int> level;  // Python number; absent: inherit
  std::vector<const Handler*> handlers;
  bool propagate = true;
  std::vector<Filter> filters;
};

// One applied configuration. Immutable once built.
struct State {
  std::vector<std::unique_ptr<Handler>> handlers;
  std::map<std::string, LoggerConfig, std::less<>> loggers;  // "" is the root
  // Python's logging.lastResort: WARNING and above to stderr for a logger
  // that reaches no handler at all.
  SinkPtr last_resort;
};

std::string_view parent(std::string_view name) {
  const std::size_t dot = name.rfind('.');
  return dot == std::string_view::npos ? std::string_view() : name.substr(0, dot);
}

struct Resolved {
  level_enum level = level_enum::off;
  std::shared_ptr<const Targets> targets;
};

// What Python would do with a record of logger `name` (root: ""), decided
// once: the handler sinks it reaches and the lowest level any of them takes.
Resolved resolve(const State& state, std::string_view name) {
  auto config = [&](std::string_view n) -> const LoggerConfig* {
    auto it = state.loggers.find(n);
    return it == state.loggers.end() ? nullptr : &it->second;
  };
  Resolved out;
  auto targets = std::make_shared<Targets>();
  out.targets = targets;
  if (const LoggerConfig* own = config(name); own && !all_pass(own->filters, name)) return out;

  int effective = kWarning;
  for (std::string_view n = name;; n = parent(n)) {
    const LoggerConfig* c = config(n);
    // NOTSET (0) means "inherit" everywhere but on the root.
    if (c && c->level && (*c->level > 0 || n.empty())) {
      effective = *c->level;
      break;
    }
    if (n.empty()) break;
  }

  std::size_t found = 0;
  for (std::string_view n = name;; n = parent(n)) {
    const LoggerConfig* c = config(n);
    if (c) {
      for (const Handler* handler : c->handlers) {
        ++found;
        if (handler->sink && all_pass(handler->filters, name)) targets->push_back(handler->sink);
      }
      if (!c->propagate) break;
    }
    if (n.empty()) break;
  }
  if (found == 0) targets->push_back(state.last_resort);

  if (targets->empty()) return out;
  level_enum lowest = level_enum::off;
  for (const SinkPtr& sink : *targets) lowest = std::min(lowest, sink->level());
  out.level = std::max(threshold(effective), lowest);
  return out;
}

void check_keys(const Node& map, std::initializer_list<std::string_view> known,
                std::string_view what) {
  for (const auto& [key, value] : map.as_map()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::vector<std::string> names(known.begin(), known.end());
    std::string hint;
    if (auto near = nearest(key, names)) hint = " (did you mean '" + *near + "'?)";
    value.fail("unknown key '" + key + "' in " + std::string(what) + hint);
  }
}

// Looks up a name defined under logging.<section>, failing on `ref` with the
// nearest defined name.
template <typename T>
const T& lookup(const std::map<std::string, T, std::less<>>& defined, const Node& ref,
                std::string_view what, std::string_view section) {
  const std::string& name = ref.as_string();
  auto it = defined.find(name);
  if (it != defined.end()) return it->second;
  std::vector<std::string> names;
  for (const auto& entry : defined) names.push_back(entry.first);
  std::string hint;
  if (auto near = nearest(name, names)) {
    hint = " (did you mean '" + *near + "'?)";
  } else if (names.empty()) {
    hint = " (nothing is defined under logging." + std::string(section) + ")";
  }
  ref.fail("unknown " + std::string(what) + " '" + name + "'" + hint);
}

struct FormatterSpec {
  std::shared_ptr<const std::vector<FormatPart>> segments;
  std::string datefmt;
  std::unique_ptr<spdlog::formatter> make() const {
    return std::make_unique<PyFormatter>(segments, datefmt);
  }
};

FormatterSpec parse_formatter(const Node& node) {
  check_keys(node, {"format", "datefmt", "style", "validate", "class", "defaults"}, "a formatter");
  if (const Node* cls = node.find("class")) {
    const std::string& name = cls->as_string();
    if (name != "logging.Formatter" && name != "Formatter") {
      cls->fail("unsupported formatter class '" + name + "': only logging.Formatter is available");
    }
  }
  if (const Node* style = node.find("style"); style && style->as_string() != "%") {
    style->fail("only %-style formats are supported (style: '%'), got style '" +
                style->as_string() + "'");
  }
  if (const Node* validate = node.find("validate")) validate->as_bool();
  if (const Node* defaults = node.find("defaults")) {
    defaults->fail("formatter defaults are not supported");
  }
  FormatterSpec spec;
  const Node* format = node.find("format");
  spec.segments = std::make_shared<const std::vector<FormatPart>>(
      compile_format(format ? std::string_view(format->as_string()) : kBasicFormat, format));
  if (const Node* datefmt = node.find("datefmt"); datefmt && !datefmt->is_null()) {
    spec.datefmt = datefmt->as_string();
  }
  return spec;
}

Filter parse_filter(const Node& node) {
  Filter filter;
  if (const Node* factory = node.find("()")) {
    const std::string& name = factory->as_string();
    if (name.ends_with("LocalFilter")) {
      check_keys(node, {"()"}, "a LocalFilter");
      filter.kind = Filter::Kind::local;
      return filter;
    }
    if (name != "logging.Filter") {
      factory->fail("unknown filter factory '" + name +
                    "': immp provides logging.Filter (`name: prefix`) and IMMP's runner "
                    "LocalFilter (`(): __main__.LocalFilter`)");
    }
  }
  check_keys(node, {"()", "name"}, "a filter");
  if (const Node* name = node.find("name")) filter.name = name->as_text();
  return filter;
}

std::vector<Filter> filter_refs(const Node* list,
                                const std::map<std::string, Filter, std::less<>>& filters) {
  std::vector<Filter> out;
  if (!list) return out;
  for (const Node& ref : list->as_list()) out.push_back(lookup(filters, ref, "filter", "filters"));
  return out;
}

enum class HandlerClass { stream, file, rotating, null };

struct HandlerSpec {
  const Node* node = nullptr;
  HandlerClass cls = HandlerClass::stream;
  bool to_stdout = false;
  std::filesystem::path file;
  const Node* file_node = nullptr;
  bool truncate = false;
  std::uint64_t max_bytes = 0;
  int backup_count = 0;
  std::optional<int> level;
  const FormatterSpec* formatter = nullptr;
  std::vector<Filter> filters;
};

struct HandlerClassName {
  std::string_view name;
  HandlerClass cls;
};
constexpr HandlerClassName kHandlerClasses[] = {
    {"logging.StreamHandler", HandlerClass::stream},
    {"StreamHandler", HandlerClass::stream},
    {"logging.FileHandler", HandlerClass::file},
    {"FileHandler", HandlerClass::file},
    {"logging.handlers.RotatingFileHandler", HandlerClass::rotating},
    {"handlers.RotatingFileHandler", HandlerClass::rotating},
    {"RotatingFileHandler", HandlerClass::rotating},
    {"logging.NullHandler", HandlerClass::null},
    {"NullHandler", HandlerClass::null},
};

HandlerSpec parse_handler(const Node& node, const std::filesystem::path& base_dir,
                          const std::map<std::string, FormatterSpec, std::less<>>& formatters,
                          const std::map<std::string, Filter, std::less<>>& filters) {
  HandlerSpec spec;
  spec.node = &node;
  node.as_map();
  if (const Node* factory = node.find("()")) {
    factory->fail(
        "custom handler factories are not supported; use class: with one of "
        "logging.StreamHandler, logging.FileHandler, "
        "logging.handlers.RotatingFileHandler, logging.NullHandler");
  }
  const Node& cls = node.at("class");
  const std::string& cls_name = cls.as_string();
  const HandlerClassName* known = nullptr;
  for (const HandlerClassName& c : kHandlerClasses) {
    if (c.name == cls_name) known = &c;
  }
  if (!known) {
    std::vector<std::string> names;
    for (const HandlerClassName& c : kHandlerClasses) names.emplace_back(c.name);
    std::string hint;
    if (auto near = nearest(cls_name, names)) hint = " (did you mean '" + *near + "'?)";
    cls.fail("unsupported handler class '" + cls_name + "'" + hint +
             "; immp provides logging.StreamHandler, logging.FileHandler, "
             "logging.handlers.RotatingFileHandler and logging.NullHandler");
  }
  spec.cls = known->cls;
  switch (spec.cls) {
    case HandlerClass::stream:
      check_keys(node, {"class", "level", "formatter", "filters", "stream"}, "a StreamHandler");
      break;
    case HandlerClass::file:
      check_keys(node,
                 {"class", "level", "formatter", "filters", "filename", "mode", "encoding",
                  "errors", "delay"},
                 "a FileHandler");
      break;
    case HandlerClass::rotating:
      check_keys(node,
                 {"class", "level", "formatter", "filters", "filename", "mode", "encoding",
                  "errors", "delay", "maxBytes", "backupCount"},
                 "a RotatingFileHandler");
      break;
    case HandlerClass::null:
      check_keys(node, {"class", "level", "formatter", "filters"}, "a NullHandler");
      break;
  }
  if (const Node* level = node.find("level")) spec.level = parse_level(*level);
  if (const Node* formatter = node.find("formatter")) {
    spec.formatter = &lookup(formatters, *formatter, "formatter", "formatters");
  }
  spec.filters = filter_refs(node.find("filters"), filters);
  if (const Node* stream = node.find("stream")) {
    const std::string& name = stream->as_string();
    if (name == "ext://sys.stdout") {
      spec.to_stdout = true;
    } else if (name != "ext://sys.stderr") {
      stream->fail("unsupported stream '" + name + "': use ext://sys.stdout or ext://sys.stderr");
    }
  }
  if (spec.cls == HandlerClass::file || spec.cls == HandlerClass::rotating) {
    spec.file_node = node.find("filename");
    if (!spec.file_node) {
      node.fail(std::string(known->name) +
                " needs a 'filename': the log file, relative to the config file's folder");
    }
    const std::filesystem::path file(spec.file_node->as_string());
    spec.file = file.is_absolute() ? file : base_dir / file;
    if (const Node* mode = node.find("mode")) {
      const std::string& m = mode->as_string();
      if (m != "a" && m != "w")
        mode->fail("unsupported mode '" + m + "': use 'a' (append) or 'w' (truncate)");
      spec.truncate = m == "w";
    }
    for (const char* ignored : {"encoding", "errors"}) {
      if (const Node* n = node.find(ignored)) n->as_text();  // always UTF-8
    }
    if (const Node* delay = node.find("delay")) delay->as_bool();
  }
  if (spec.cls == HandlerClass::rotating) {
    // Python forces append mode when rotating.
    if (const Node* max_bytes = node.find("maxBytes")) {
      if (max_bytes->as_int() < 0) max_bytes->fail("maxBytes can't be negative");
      spec.max_bytes = static_cast<std::uint64_t>(max_bytes->as_int());
      if (spec.max_bytes > 0) spec.truncate = false;
    }
    if (const Node* backups = node.find("backupCount")) {
      if (backups->as_int() < 0 || backups->as_int() > 100000) {
        backups->fail("backupCount must be between 0 and 100000");
      }
      spec.backup_count = static_cast<int>(backups->as_int());
    }
  }
  return spec;
}

// Where StreamHandlers write; see redirect_console_for_testing.
struct Console {
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
};

SinkPtr console_sink(bool to_stdout, const Console& console) {
  if (std::ostream* redirect = to_stdout ? console.out : console.err) {
    return std::make_shared<spdlog::sinks::ostream_sink_mt>(*redirect, true);
  }
  if (to_stdout) return std::make_shared<spdlog::sinks::stdout_sink_mt>();
  return std::make_shared<spdlog::sinks::stderr_sink_mt>();
}

std::unique_ptr<spdlog::formatter> basic_formatter() {
  static const auto segments =
      std::make_shared<const std::vector<FormatPart>>(compile_format(kBasicFormat, nullptr));
  return std::make_unique<PyFormatter>(segments, "");
}

// Reads a whole section; opens files only once everything else is known to
// be valid, so a bad config never truncates a log file.
std::shared_ptr<const State> build_state(const Node& section, const std::filesystem::path& base_dir,
                                         const Console& console) {
  section.as_map();
  check_keys(section,
             {"version", "formatters", "filters", "handlers", "loggers", "root", "incremental",
              "disable_existing_loggers"},
             "the logging section");
  const Node& version = section.at("version");
  if (!version.is_int() || version.as_int() != 1) {
    version.fail("unsupported logging config version " + version.as_text() +
                 ": only version 1 exists");
  }
  if (const Node* incremental = section.find("incremental");
      incremental && incremental->as_bool()) {
    incremental->fail(
        "incremental logging configuration is not supported: give the whole "
        "configuration and remove 'incremental' (or set it to false)");
  }
  // Python disables loggers created before the configuration; immp's are made
  // after it or updated in place, so there is nothing to disable.
  if (const Node* disable = section.find("disable_existing_loggers")) disable->as_bool();

  std::map<std::string, FormatterSpec, std::less<>> formatters;
  if (const Node* node = section.find("formatters"); node && !node->is_null()) {
    for (const auto& [name, value] : node->as_map()) formatters[name] = parse_formatter(value);
  }
  std::map<std::string, Filter, std::less<>> filters;
  if (const Node* node = section.find("filters"); node && !node->is_null()) {
    for (const auto& [name, value] : node->as_map()) filters[name] = parse_filter(value);
  }
  std::vector<std::pair<std::string, HandlerSpec>> handler_specs;
  std::map<std::string, std::size_t, std::less<>> handler_index;
  if (const Node* node = section.find("handlers"); node && !node->is_null()) {
    for (const auto& [name, value] : node->as_map()) {
      handler_index[name] = handler_specs.size();
      handler_specs.emplace_back(name, parse_handler(value, base_dir, formatters, filters));
    }
  }

  auto state = std::make_shared<State>();
  for (std::size_t i = 0; i < handler_specs.size(); ++i) {
    state->handlers.push_back(std::make_unique<Handler>());
  }
  auto logger_config = [&](const Node& node, bool root) {
    if (root) {
      check_keys(node, {"level", "handlers", "filters"}, "the root logger");
    } else {
      check_keys(node, {"level", "handlers", "propagate", "filters"}, "a logger");
    }
    LoggerConfig config;
    if (const Node* level = node.find("level"); level && !level->is_null()) {
      config.level = parse_level(*level);
    }
    if (const Node* list = node.find("handlers"); list && !list->is_null()) {
      for (const Node& ref : list->as_list()) {
        const std::size_t index = lookup(handler_index, ref, "handler", "handlers");
        config.handlers.push_back(state->handlers[index].get());
      }
    }
    if (const Node* propagate = node.find("propagate")) config.propagate = propagate->as_bool();
    config.filters = filter_refs(node.find("filters"), filters);
    return config;
  };
  if (const Node* node = section.find("loggers"); node && !node->is_null()) {
    for (const auto& [name, value] : node->as_map()) {
      if (name.empty())
        value.fail("a logger name can't be empty: configure the root logger under 'root'");
      state->loggers[name] = value.is_null() ? LoggerConfig{} : logger_config(value, false);
    }
  }
  if (const Node* node = section.find("root"); node && !node->is_null()) {
    state->loggers[""] = logger_config(*node, true);
  }

  for (std::size_t i = 0; i < handler_specs.size(); ++i) {
    const HandlerSpec& spec = handler_specs[i].second;
    Handler& handler = *state->handlers[i];
    handler.filters = spec.filters;
    switch (spec.cls) {
      case HandlerClass::stream:
        handler.sink = console_sink(spec.to_stdout, console);
        break;
      case HandlerClass::file:
      case HandlerClass::rotating:
        try {
          handler.sink = std::make_shared<PyFileSink>(spec.file, spec.truncate, spec.max_bytes,
                                                      spec.backup_count);
        } catch (const spdlog::spdlog_ex& e) {
          spec.file_node->fail("cannot open the log file: " + std::string(e.what()));
        }
        break;
      case HandlerClass::null:
        break;
    }
    if (!handler.sink) continue;
    handler.sink->set_level(spec.level ? threshold(*spec.level) : level_enum::trace);
    handler.sink->set_formatter(spec.formatter ? spec.formatter->make() : basic_formatter());
  }
  state->last_resort = console_sink(false, console);
  state->last_resort->set_level(level_enum::warn);
  state->last_resort->set_formatter(basic_formatter());
  return state;
}

// The configuration without a `logging` section: the runner's start-up and
// shutdown lines (INFO on immp.runner) and every warning, to stderr.
Node default_section() {
  Node formatter = Node::map();
  formatter.set("format", "[%(asctime)s] %(levelname)s %(name)s: %(message)s");
  formatter.set("datefmt", "%Y-%m-%d %H:%M:%S");
  Node console = Node::map();
  console.set("class", "logging.StreamHandler");
  console.set("formatter", "default");
  Node runner = Node::map();
  runner.set("level", "INFO");
  Node root = Node::map();
  root.set("level", "WARNING");
  root.set("handlers", NodeList{Node("console")});
  Node section = Node::map();
  section.set("version", 1);
  section.set("formatters", NodeMap{{"default", formatter}});
  section.set("handlers", NodeMap{{"console", console}});
  section.set("loggers", NodeMap{{"immp.runner", runner}});
  section.set("root", root);
  return section;
}

// Every logger ever handed out, and the configuration they follow. Leaked
// on purpose: loggers may be used from static destructors.
class Registry {
 public:
  static Registry& instance() {
    static Registry* registry = new Registry;
    return *registry;
  }

  LoggerPtr get(std::string_view name) {
    // Python's root logger is "" or "root".
    const std::string_view key = name == "root" ? std::string_view() : name;
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(key); it != entries_.end()) return it->second.logger;
    return add(key);
  }

  void configure(const Node* section, const std::filesystem::path& base_dir) {
    std::lock_guard lock(mutex_);
    std::shared_ptr<const State> state;
    if (section && !section->is_null()) {
      state = build_state(*section, base_dir, console_);
    } else {
      state = build_state(default_section(), base_dir, console_);
    }
    state_ = std::move(state);
    for (auto& [name, entry] : entries_) apply(name, entry);
  }

  void flush() {
    std::lock_guard lock(mutex_);
    for (const auto& handler : state_->handlers) {
      if (handler->sink) handler->sink->flush();
    }
    state_->last_resort->flush();
  }

  void redirect(std::ostream* out, std::ostream* err) {
    std::lock_guard lock(mutex_);
    console_ = Console{out, err};
  }

 private:
  struct Entry {
    LoggerPtr logger;
    std::shared_ptr<RouterSink> router;
  };

  Registry() {
    state_ = build_state(default_section(), {}, console_);
    // Stray spdlog::info(...) calls go through the root logger too.
    spdlog::set_default_logger(add(""));
  }

  LoggerPtr add(std::string_view key) {
    Entry entry;
    entry.router = std::make_shared<RouterSink>();
    entry.logger = std::make_shared<spdlog::logger>(
        key.empty() ? std::string("root") : std::string(key), entry.router);
    apply(key, entry);
    return entries_.emplace(std::string(key), std::move(entry)).first->second.logger;
  }

  void apply(std::string_view key, Entry& entry) {
    Resolved resolved = resolve(*state_, key);
    entry.router->set_targets(std::move(resolved.targets));
    entry.logger->set_level(resolved.level);
  }

  std::mutex mutex_;
  Console console_;
  std::shared_ptr<const State> state_;
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace

LoggerPtr logger(std::string_view name) { return Registry::instance().get(name); }

void configure_logging(const Node* section, const std::filesystem::path& base_dir) {
  Registry::instance().configure(section, base_dir);
}

void shutdown_logging() { Registry::instance().flush(); }

void redirect_console_for_testing(std::ostream* out, std::ostream* err) {
  Registry::instance().redirect(out, err);
}

}  // namespace immp
