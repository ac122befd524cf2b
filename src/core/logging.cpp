// Python's logging.config.dictConfig onto spdlog.
//
// Shape of the mapping:
// - Each configured handler is one spdlog sink (with its own level and a
//   formatter that renders Python formats, core/logging_format.hpp), shared
//   by every logger that reaches it. Sinks spdlog has no equivalent for are
//   in core/logging_sinks.hpp.
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

#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

#include "core/logging_format.hpp"
#include "core/logging_sinks.hpp"

namespace immp {

namespace {

using spdlog::level::level_enum;
using SinkPtr = std::shared_ptr<spdlog::sinks::sink>;

constexpr int kWarning = 30;  // Python's default level of the root logger.

// Problems Python passes over silently (an unknown key in a logger, a
// formatter or the section itself). Collected while the registry is locked
// and reported once the new configuration is in force: reporting may log,
// and logging takes the registry's lock.
using Warnings = ConfigWarnings;

void warn(Warnings& warnings, const Node& node, const std::string& problem) {
  warnings.push_back(ConfigWarning{node.mark(), node.path(), problem});
}

std::string hint_for(std::string_view word, const std::vector<std::string>& names) {
  if (auto near = nearest(word, names)) return " (did you mean '" + *near + "'?)";
  return "";
}

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

// A level as Python's dictConfig takes it: a name, a number, or
// ext://logging.<NAME>.
int parse_level(const Node& node) {
  if (node.is_int()) {
    if (node.as_int() < 0) node.fail("a level number can't be negative");
    return static_cast<int>(std::min<std::int64_t>(node.as_int(), 1000));
  }
  if (!node.is_string()) {
    node.fail("expected a level name (DEBUG, INFO, WARNING, ERROR, CRITICAL), got " +
              std::string(Node::kind_name(node.kind())));
  }
  std::string_view text = node.as_string();
  if (text.starts_with("ext://logging.")) text.remove_prefix(14);
  // Python only takes upper case; lower case is accepted here as a courtesy.
  const std::string name = upper(text);
  for (const LevelName& level : kLevelNames) {
    if (level.name == name) return level.number;
  }
  std::vector<std::string> names;
  for (const LevelName& level : kLevelNames) names.emplace_back(level.name);
  node.fail("unknown level '" + node.as_string() + "'" + hint_for(name, names) +
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

// ---- routing -------------------------------------------------------------

using Targets = std::vector<SinkPtr>;

// A handler that fails (a full disk, a syslog daemon gone) must not keep
// the record from the others, nor flood stderr: like Python's handleError,
// say so on stderr, here at most once a second.
void report_handler_error(const char* what) {
  static std::atomic<std::int64_t> last{0};
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  std::int64_t previous = last.load();
  if (now - previous < 1 || !last.compare_exchange_strong(previous, now)) return;
  std::fprintf(stderr, "immp: a log handler failed: %s\n", what);
}

// The one sink of each logger: forwards to the handler sinks the logger's
// name reaches. The list is swapped whole on reconfigure, so logging from
// other threads never sees a half-built list, and an old list (with its
// files) lives on only until the records already using it are written.
// The sinks add_log_tap() added, for every logger. The flag spares the
// lock while there are none (the usual case).
struct Taps {
  std::atomic<bool> any{false};
  std::mutex mutex;
  std::shared_ptr<const std::vector<SinkPtr>> list = std::make_shared<std::vector<SinkPtr>>();

  static Taps& instance() {
    static Taps* taps = new Taps;  // leaked: loggers may run in static destructors
    return *taps;
  }
  std::shared_ptr<const std::vector<SinkPtr>> get() {
    if (!any.load(std::memory_order_acquire)) return nullptr;
    std::lock_guard lock(mutex);
    return list;
  }
};

class RouterSink final : public spdlog::sinks::sink {
 public:
  void log(const spdlog::details::log_msg& msg) override {
    const std::shared_ptr<const Targets> list = targets();
    for (const SinkPtr& target : *list) {
      if (!target->should_log(msg.level)) continue;
      try {
        target->log(msg);
      } catch (const std::exception& e) {
        report_handler_error(e.what());
      }
    }
    if (auto taps = Taps::instance().get()) {
      for (const SinkPtr& tap : *taps) {
        try {
          tap->log(msg);
        } catch (const std::exception& e) {
          report_handler_error(e.what());
        }
      }
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

// One applied configuration. Immutable once published.
struct State {
  std::vector<std::unique_ptr<Handler>> handlers;
  std::map<std::string, Handler*, std::less<>> handler_names;
  std::map<std::string, LoggerConfig, std::less<>> loggers;  // "" is the root
  // Python's logging.lastResort: WARNING and above, the message alone, to
  // stderr, for a logger that reaches no handler at all.
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

// Keys a map may hold. Python refuses unknown keyword arguments of a handler
// class (an error here too) but passes over unknown keys anywhere else (a
// warning here).
enum class Unknown { error, warning };

void check_keys(const Node& map, std::initializer_list<std::string_view> known,
                std::string_view what, Unknown unknown, Warnings& warnings) {
  for (const auto& [key, value] : map.as_map()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    const std::string problem = "unknown key '" + key + "' in " + std::string(what) +
                                hint_for(key, std::vector<std::string>(known.begin(), known.end()));
    if (unknown == Unknown::error) value.fail(problem);
    // As the config reader's warnings: the key's place, the map's path.
    warnings.push_back(ConfigWarning{value.mark(), map.path(), problem});
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
  std::string hint = hint_for(name, names);
  if (hint.empty() && names.empty()) {
    hint = " (nothing is defined under logging." + std::string(section) + ")";
  }
  ref.fail("unknown " + std::string(what) + " '" + name + "'" + hint);
}

struct FormatterSpec {
  std::shared_ptr<const CompiledFormat> format;
  std::string datefmt;
};

std::unique_ptr<spdlog::formatter> message_only(std::string terminator) {
  static const auto format = compile_format("%(message)s", FormatStyle::percent, {}, true, nullptr);
  return make_formatter(format, "", std::move(terminator));
}

FormatterSpec parse_formatter(const Node& node, Warnings& warnings) {
  if (node.is_null()) return {compile_format("%(message)s", FormatStyle::percent, {}, true, nullptr), ""};
  if (const Node* factory = node.find("()")) {
    factory->fail("custom formatter factories ('()') name Python code, which immp cannot run; "
                  "describe the formatter with format, datefmt and style");
  }
  check_keys(node, {"format", "datefmt", "style", "validate", "class", "defaults"}, "a formatter",
             Unknown::warning, warnings);
  if (const Node* cls = node.find("class"); cls && !cls->is_null()) {
    const std::string& name = cls->as_string();
    if (name != "logging.Formatter" && name != "Formatter") {
      cls->fail("unsupported formatter class '" + name + "': only logging.Formatter is available");
    }
  }
  FormatStyle style = FormatStyle::percent;
  if (const Node* node_style = node.find("style"); node_style && !node_style->is_null()) {
    const std::string& s = node_style->as_string();
    if (s == "{") {
      style = FormatStyle::brace;
    } else if (s == "$") {
      style = FormatStyle::dollar;
    } else if (s != "%") {
      node_style->fail("unknown style '" + s + "': use '%', '{' or '$'");
    }
  }
  bool validate = true;
  if (const Node* v = node.find("validate"); v && !v->is_null()) validate = v->as_bool();
  std::vector<std::pair<std::string, Node>> defaults;
  if (const Node* d = node.find("defaults"); d && !d->is_null()) {
    for (const auto& [key, value] : d->as_map()) {
      if (value.is_list() || value.is_map()) value.fail("a default field value must be a scalar");
      defaults.emplace_back(key, value);
    }
  }
  FormatterSpec spec;
  const Node* format = node.find("format");
  if (format && format->is_null()) format = nullptr;
  spec.format = compile_format(format ? std::string_view(format->as_string()) : default_format(style),
                               style, defaults, validate, format);
  if (const Node* datefmt = node.find("datefmt"); datefmt && !datefmt->is_null()) {
    spec.datefmt = datefmt->as_string();
  }
  return spec;
}

Filter parse_filter(const Node& node, Warnings& warnings) {
  Filter filter;
  if (node.is_null()) return filter;
  if (const Node* factory = node.find("()")) {
    const std::string& name = factory->as_string();
    if (name.ends_with("LocalFilter")) {
      check_keys(node, {"()"}, "a LocalFilter", Unknown::error, warnings);
      filter.kind = Filter::Kind::local;
      return filter;
    }
    if (name != "logging.Filter") {
      factory->fail("unknown filter factory '" + name +
                    "': custom factories name Python code, which immp cannot run; immp provides "
                    "logging.Filter (`name: prefix`) and IMMP's runner LocalFilter "
                    "(`(): __main__.LocalFilter`)");
    }
    check_keys(node, {"()", "name"}, "a filter", Unknown::error, warnings);
  } else {
    check_keys(node, {"name"}, "a filter", Unknown::warning, warnings);
  }
  if (const Node* name = node.find("name"); name && !name->is_null()) filter.name = name->as_text();
  return filter;
}

std::vector<Filter> filter_refs(const Node* list,
                                const std::map<std::string, Filter, std::less<>>& filters) {
  std::vector<Filter> out;
  if (!list || list->is_null()) return out;
  for (const Node& ref : list->as_list()) out.push_back(lookup(filters, ref, "filter", "filters"));
  return out;
}

// ---- handlers ------------------------------------------------------------

enum class HandlerClass { stream, file, rotating, timed, syslog, null };

struct HandlerSpec {
  const Node* node = nullptr;
  HandlerClass cls = HandlerClass::stream;
  std::optional<int> level;
  const FormatterSpec* formatter = nullptr;
  std::vector<Filter> filters;
  std::string terminator = "\n";
  // StreamHandler
  bool to_stdout = false;
  // file handlers
  std::filesystem::path file;
  const Node* file_node = nullptr;
  bool truncate = false;
  std::uint64_t max_bytes = 0;
  int backup_count = 0;
  RotationSchedule schedule;
  // SysLogHandler
  SyslogAddress address;
  const Node* address_node = nullptr;
  int facility = 1;  // LOG_USER
  std::string ident;
  bool append_nul = true;
};

struct HandlerClassName {
  std::string_view name;
  HandlerClass cls;
};
// Python's names, and the bare class names as a courtesy.
constexpr HandlerClassName kHandlerClasses[] = {
    {"logging.StreamHandler", HandlerClass::stream},
    {"StreamHandler", HandlerClass::stream},
    {"logging.FileHandler", HandlerClass::file},
    {"FileHandler", HandlerClass::file},
    {"logging.handlers.RotatingFileHandler", HandlerClass::rotating},
    {"handlers.RotatingFileHandler", HandlerClass::rotating},
    {"RotatingFileHandler", HandlerClass::rotating},
    {"logging.handlers.TimedRotatingFileHandler", HandlerClass::timed},
    {"handlers.TimedRotatingFileHandler", HandlerClass::timed},
    {"TimedRotatingFileHandler", HandlerClass::timed},
    {"logging.handlers.SysLogHandler", HandlerClass::syslog},
    {"handlers.SysLogHandler", HandlerClass::syslog},
    {"SysLogHandler", HandlerClass::syslog},
    {"logging.NullHandler", HandlerClass::null},
    {"NullHandler", HandlerClass::null},
};
constexpr std::string_view kHandlerList =
    "logging.StreamHandler, logging.FileHandler, logging.handlers.RotatingFileHandler, "
    "logging.handlers.TimedRotatingFileHandler, logging.handlers.SysLogHandler and "
    "logging.NullHandler";

// Python's SysLogHandler.facility_names.
struct FacilityName {
  std::string_view name;
  int number;
};
constexpr FacilityName kFacilities[] = {
    {"kern", 0},     {"user", 1},         {"mail", 2},    {"daemon", 3},   {"auth", 4},
    {"syslog", 5},   {"lpr", 6},          {"news", 7},    {"uucp", 8},     {"cron", 9},
    {"authpriv", 10}, {"ftp", 11},        {"ntp", 12},    {"security", 13}, {"console", 14},
    {"solaris-cron", 15}, {"local0", 16}, {"local1", 17}, {"local2", 18},  {"local3", 19},
    {"local4", 20},  {"local5", 21},      {"local6", 22}, {"local7", 23},
};

// A facility as a number, a name ("local0") or Python's constant
// (ext://logging.handlers.SysLogHandler.LOG_LOCAL0).
int parse_facility(const Node& node) {
  if (node.is_int()) {
    if (node.as_int() < 0 || node.as_int() > 127) node.fail("a facility number is 0 to 127");
    return static_cast<int>(node.as_int());
  }
  std::string name = node.as_string();
  constexpr std::string_view kConstant = "ext://logging.handlers.SysLogHandler.LOG_";
  if (name.starts_with(kConstant)) {
    name = name.substr(kConstant.size());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == "solcron") name = "solaris-cron";
  }
  std::vector<std::string> names;
  for (const FacilityName& f : kFacilities) {
    if (f.name == name) return f.number;
    names.emplace_back(f.name);
  }
  node.fail("unknown syslog facility '" + node.as_string() + "'" + hint_for(name, names) +
            "; facilities are user, daemon, local0 ... local7 and the others of syslog(3)");
}

// Python's `when` and `interval`, checked as Python checks them.
RotationSchedule parse_schedule(const Node& handler) {
  RotationSchedule schedule;
  if (const Node* when = handler.find("when"); when && !when->is_null()) {
    const std::string w = upper(when->as_string());
    using Unit = RotationSchedule::Unit;
    if (w == "S") {
      schedule.unit = Unit::seconds;
    } else if (w == "M") {
      schedule.unit = Unit::minutes;
    } else if (w == "H") {
      schedule.unit = Unit::hours;
    } else if (w == "D") {
      schedule.unit = Unit::days;
    } else if (w == "MIDNIGHT") {
      schedule.unit = Unit::midnight;
    } else if (w.size() == 2 && w[0] == 'W' && w[1] >= '0' && w[1] <= '6') {
      schedule.unit = Unit::weekday;
      schedule.weekday = w[1] - '0';
    } else {
      when->fail("unknown rotation '" + when->as_string() +
                 "': use S, M, H, D (seconds, minutes, hours, days), midnight, or W0 to W6 "
                 "(a weekday, W0 is Monday)");
    }
  }
  if (const Node* interval = handler.find("interval"); interval && !interval->is_null()) {
    if (!interval->is_int() || interval->as_int() < 1 || interval->as_int() > 1000000) {
      interval->fail("interval must be a whole number of units, 1 or more");
    }
    schedule.interval = static_cast<int>(interval->as_int());
  }
  if (const Node* utc = handler.find("utc"); utc && !utc->is_null()) schedule.utc = utc->as_bool();
  if (const Node* at = handler.find("atTime"); at && !at->is_null()) {
    // Python wants a datetime.time, which a config file cannot hold; immp
    // takes "HH:MM" or "HH:MM:SS".
    const std::string text = at->is_string() ? at->as_string() : "";
    int h = -1, m = -1, s = 0;
    char extra = 0;
    const int n = std::sscanf(text.c_str(), "%d:%d:%d%c", &h, &m, &s, &extra);
    if ((n != 2 && n != 3) || h < 0 || h > 23 || m < 0 || m > 59 || s < 0 || s > 59) {
      at->fail("atTime must be a time of day as \"HH:MM\" or \"HH:MM:SS\" (quoted), e.g. "
               "atTime: \"04:30\"");
    }
    schedule.at_time = h * 3600 + m * 60 + s;
  }
  return schedule;
}

// Python's `address`: a Unix socket path, or [host, port].
SyslogAddress parse_address(const Node& node, const std::filesystem::path& base_dir) {
  SyslogAddress address;
  if (node.is_string()) {
    const std::filesystem::path path(node.as_string());
    address.path = (path.is_absolute() ? path : base_dir / path).string();
    return address;
  }
  if (!node.is_list() || node.as_list().size() != 2) {
    node.fail("address is a socket path (/dev/log) or [host, port], e.g. [localhost, 514]");
  }
  address.host = node.as_list()[0].as_text();
  const Node& port = node.as_list()[1];
  address.port = port.as_text();
  if (port.is_int() && (port.as_int() < 1 || port.as_int() > 65535)) {
    port.fail("a port is 1 to 65535");
  }
  return address;
}

// The `.` key: attributes Python sets on the handler after making it.
void parse_properties(const Node& props, HandlerSpec& spec, Warnings& warnings) {
  for (const auto& [key, value] : props.as_map()) {
    if (key == "terminator" && spec.cls != HandlerClass::syslog && spec.cls != HandlerClass::null) {
      spec.terminator = value.as_string();
    } else if (key == "ident" && spec.cls == HandlerClass::syslog) {
      spec.ident = value.as_string();
    } else if (key == "append_nul" && spec.cls == HandlerClass::syslog) {
      spec.append_nul = value.as_bool();
    } else {
      warnings.push_back(ConfigWarning{
          value.mark(), spec.node->path(),
          "attribute '" + key + "' under '.' means nothing to immp's " +
              (spec.cls == HandlerClass::syslog ? "SysLogHandler (it knows ident and append_nul)"
                                                : "handler (it knows terminator)") +
              "; ignored"});
    }
  }
}

HandlerSpec parse_handler(const Node& node, const std::filesystem::path& base_dir,
                          const std::map<std::string, FormatterSpec, std::less<>>& formatters,
                          const std::map<std::string, Filter, std::less<>>& filters,
                          Warnings& warnings) {
  HandlerSpec spec;
  spec.node = &node;
  node.as_map();
  if (const Node* factory = node.find("()")) {
    factory->fail("custom handler factories ('()') name Python code, which immp cannot run; use "
                  "class: with one of " + std::string(kHandlerList));
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
    cls.fail("unsupported handler class '" + cls_name + "'" + hint_for(cls_name, names) +
             "; immp provides " + std::string(kHandlerList));
  }
  spec.cls = known->cls;
  switch (spec.cls) {
    case HandlerClass::stream:
      check_keys(node, {"class", "level", "formatter", "filters", ".", "stream"},
                 "a StreamHandler", Unknown::error, warnings);
      break;
    case HandlerClass::file:
      check_keys(node,
                 {"class", "level", "formatter", "filters", ".", "filename", "mode", "encoding",
                  "errors", "delay"},
                 "a FileHandler", Unknown::error, warnings);
      break;
    case HandlerClass::rotating:
      check_keys(node,
                 {"class", "level", "formatter", "filters", ".", "filename", "mode", "encoding",
                  "errors", "delay", "maxBytes", "backupCount"},
                 "a RotatingFileHandler", Unknown::error, warnings);
      break;
    case HandlerClass::timed:
      check_keys(node,
                 {"class", "level", "formatter", "filters", ".", "filename", "when", "interval",
                  "backupCount", "encoding", "delay", "utc", "atTime", "errors"},
                 "a TimedRotatingFileHandler", Unknown::error, warnings);
      break;
    case HandlerClass::syslog:
      check_keys(node,
                 {"class", "level", "formatter", "filters", ".", "address", "facility",
                  "socktype"},
                 "a SysLogHandler", Unknown::error, warnings);
      spec.terminator = "";
      break;
    case HandlerClass::null:
      check_keys(node, {"class", "level", "formatter", "filters", "."}, "a NullHandler",
                 Unknown::error, warnings);
      break;
  }
  if (const Node* level = node.find("level"); level && !level->is_null()) {
    spec.level = parse_level(*level);
  }
  if (const Node* formatter = node.find("formatter"); formatter && !formatter->is_null()) {
    spec.formatter = &lookup(formatters, *formatter, "formatter", "formatters");
  }
  spec.filters = filter_refs(node.find("filters"), filters);
  if (const Node* props = node.find("."); props && !props->is_null()) {
    parse_properties(*props, spec, warnings);
  }
  if (const Node* stream = node.find("stream"); stream && !stream->is_null()) {
    const std::string& name = stream->as_string();
    if (name == "ext://sys.stdout") {
      spec.to_stdout = true;
    } else if (name != "ext://sys.stderr") {
      stream->fail("unsupported stream '" + name + "': use ext://sys.stdout or ext://sys.stderr");
    }
  }
  const bool to_file = spec.cls == HandlerClass::file || spec.cls == HandlerClass::rotating ||
                       spec.cls == HandlerClass::timed;
  if (to_file) {
    spec.file_node = node.find("filename");
    if (!spec.file_node || spec.file_node->is_null()) {
      node.fail(std::string(known->name) +
                " needs a 'filename': the log file, relative to the config file's folder");
    }
    const std::filesystem::path file(spec.file_node->as_string());
    spec.file = file.is_absolute() ? file : base_dir / file;
    if (const Node* mode = node.find("mode"); mode && !mode->is_null()) {
      const std::string& m = mode->as_string();
      if (m != "a" && m != "w")
        mode->fail("unsupported mode '" + m + "': use 'a' (append) or 'w' (truncate)");
      spec.truncate = m == "w";
    }
    for (const char* ignored : {"encoding", "errors"}) {
      if (const Node* n = node.find(ignored); n && !n->is_null()) n->as_text();  // always UTF-8
    }
    if (const Node* delay = node.find("delay"); delay && !delay->is_null()) delay->as_bool();
    if (const Node* backups = node.find("backupCount"); backups && !backups->is_null()) {
      if (backups->as_int() < 0 || backups->as_int() > 100000) {
        backups->fail("backupCount must be between 0 and 100000");
      }
      spec.backup_count = static_cast<int>(backups->as_int());
    }
  }
  if (spec.cls == HandlerClass::rotating) {
    if (const Node* max_bytes = node.find("maxBytes"); max_bytes && !max_bytes->is_null()) {
      if (max_bytes->as_int() < 0) max_bytes->fail("maxBytes can't be negative");
      spec.max_bytes = static_cast<std::uint64_t>(max_bytes->as_int());
      // Python forces append mode when rotating.
      if (spec.max_bytes > 0) spec.truncate = false;
    }
  }
  if (spec.cls == HandlerClass::timed) spec.schedule = parse_schedule(node);
  if (spec.cls == HandlerClass::syslog) {
    spec.address.host = "localhost";  // Python's default: ('localhost', 514), UDP
    spec.address.port = "514";
    spec.address_node = &node;
    if (const Node* address = node.find("address"); address && !address->is_null()) {
      spec.address = parse_address(*address, base_dir);
      spec.address_node = address;
    }
    if (const Node* facility = node.find("facility"); facility && !facility->is_null()) {
      spec.facility = parse_facility(*facility);
    }
    if (const Node* socktype = node.find("socktype"); socktype && !socktype->is_null()) {
      // Linux's numbers: SOCK_STREAM is 1, SOCK_DGRAM 2.
      const std::string t = socktype->as_text();
      if (t == "ext://socket.SOCK_STREAM" || t == "1") {
        spec.address.stream = true;
      } else if (t == "ext://socket.SOCK_DGRAM" || t == "2") {
        spec.address.stream = false;
      } else {
        socktype->fail("unknown socktype '" + t +
                       "': use ext://socket.SOCK_DGRAM or ext://socket.SOCK_STREAM");
      }
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

// Makes the sink of a parsed handler; fails on its node when the file or
// socket cannot be opened.
SinkPtr make_sink(const HandlerSpec& spec, const Console& console) {
  switch (spec.cls) {
    case HandlerClass::stream:
      return console_sink(spec.to_stdout, console);
    case HandlerClass::file:
    case HandlerClass::rotating:
      try {
        return std::make_shared<FileSink>(spec.file, spec.truncate, spec.max_bytes,
                                          spec.backup_count);
      } catch (const spdlog::spdlog_ex& e) {
        spec.file_node->fail("cannot open the log file: " + std::string(e.what()));
      }
    case HandlerClass::timed:
      try {
        return std::make_shared<TimedFileSink>(spec.file, spec.schedule, spec.backup_count);
      } catch (const spdlog::spdlog_ex& e) {
        spec.file_node->fail("cannot open the log file: " + std::string(e.what()));
      }
    case HandlerClass::syslog:
      try {
        return std::make_shared<SyslogSink>(spec.address, spec.facility, spec.ident,
                                            spec.append_nul);
      } catch (const std::runtime_error& e) {
        spec.address_node->fail("syslog: " + std::string(e.what()));
      }
    case HandlerClass::null:
      break;
  }
  return nullptr;
}

// What reading a section does with its handlers' files and sockets.
enum class Sinks { open, skip };

// Reads a whole (not incremental) section; opens files only once everything
// else is known to be valid, so a bad config never truncates a log file.
// With Sinks::skip nothing is opened and the state is only good for checking.
std::shared_ptr<State> build_state(const Node& section, const std::filesystem::path& base_dir,
                                   const Console& console, Warnings& warnings, Sinks sinks) {
  std::map<std::string, FormatterSpec, std::less<>> formatters;
  if (const Node* node = section.find("formatters"); node && !node->is_null()) {
    for (const auto& [name, value] : node->as_map()) {
      formatters[name] = parse_formatter(value, warnings);
    }
  }
  std::map<std::string, Filter, std::less<>> filters;
  if (const Node* node = section.find("filters"); node && !node->is_null()) {
    for (const auto& [name, value] : node->as_map()) filters[name] = parse_filter(value, warnings);
  }
  std::vector<std::pair<std::string, HandlerSpec>> handler_specs;
  std::map<std::string, std::size_t, std::less<>> handler_index;
  if (const Node* node = section.find("handlers"); node && !node->is_null()) {
    for (const auto& [name, value] : node->as_map()) {
      handler_index[name] = handler_specs.size();
      handler_specs.emplace_back(name, parse_handler(value, base_dir, formatters, filters, warnings));
    }
  }

  auto state = std::make_shared<State>();
  for (std::size_t i = 0; i < handler_specs.size(); ++i) {
    state->handlers.push_back(std::make_unique<Handler>());
    state->handler_names[handler_specs[i].first] = state->handlers.back().get();
  }
  auto logger_config = [&](const Node& node, bool root) {
    if (root) {
      check_keys(node, {"level", "handlers", "filters"}, "the root logger", Unknown::warning,
                 warnings);
    } else {
      check_keys(node, {"level", "handlers", "propagate", "filters"}, "a logger",
                 Unknown::warning, warnings);
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
    if (const Node* propagate = node.find("propagate"); propagate && !propagate->is_null()) {
      config.propagate = propagate->as_bool();
    }
    config.filters = filter_refs(node.find("filters"), filters);
    return config;
  };
  if (const Node* node = section.find("loggers"); node && !node->is_null()) {
    for (const auto& [name, value] : node->as_map()) {
      if (name.empty())
        value.fail("a logger name can't be empty: configure the root logger under 'root'");
      // Python's getLogger("root") is the root logger; `root:` still wins.
      state->loggers[name == "root" ? "" : name] =
          value.is_null() ? LoggerConfig{} : logger_config(value, false);
    }
  }
  if (const Node* node = section.find("root"); node && !node->is_null()) {
    state->loggers[""] = logger_config(*node, true);
  }

  if (sinks == Sinks::skip) return state;
  for (std::size_t i = 0; i < handler_specs.size(); ++i) {
    const HandlerSpec& spec = handler_specs[i].second;
    Handler& handler = *state->handlers[i];
    handler.filters = spec.filters;
    handler.sink = make_sink(spec, console);
    if (!handler.sink) continue;
    handler.sink->set_level(spec.level ? threshold(*spec.level) : level_enum::trace);
    // Without a formatter Python prints the message alone.
    handler.sink->set_formatter(
        spec.formatter ? make_formatter(spec.formatter->format, spec.formatter->datefmt,
                                        spec.terminator)
                       : message_only(spec.terminator));
  }
  state->last_resort = console_sink(false, console);
  state->last_resort->set_level(level_enum::warn);
  state->last_resort->set_formatter(message_only("\n"));
  return state;
}

// Python's incremental configuration: only the levels of handlers that
// exist, and the levels and propagation of loggers, change; handlers,
// formatters and filters are not replaced. Applied to `state` in place,
// before it is published.
void apply_incremental(State& state, const Node& section, Warnings& warnings) {
  for (const char* ignored : {"formatters", "filters"}) {
    if (const Node* node = section.find(ignored); node && !node->is_null() && node->size() > 0) {
      warn(warnings, *node,
           std::string(ignored) + " are not read with incremental: true (Python does not "
                                  "read them either); ignored");
    }
  }
  if (const Node* node = section.find("handlers"); node && !node->is_null()) {
    for (const auto& [name, value] : node->as_map()) {
      auto it = state.handler_names.find(name);
      if (it == state.handler_names.end()) {
        std::vector<std::string> names;
        for (const auto& entry : state.handler_names) names.push_back(entry.first);
        std::string list;
        for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
        value.fail("no handler '" + name + "' to change" + hint_for(name, names) +
                   ": incremental: true only changes the levels of the handlers immp has "
                   "without a logging section (" + list + ")");
      }
      value.as_map();
      for (const auto& [key, setting] : value.as_map()) {
        if (key != "level") {
          warn(warnings, setting,
               "only a handler's level changes with incremental: true; '" + key + "' is ignored");
        }
      }
      const Node* level = value.find("level");
      if (level && !level->is_null() && it->second->sink) {
        it->second->sink->set_level(threshold(parse_level(*level)));
      }
    }
  }
  auto change = [&](LoggerConfig& config, const Node& node, bool root) {
    if (node.is_null()) return;
    for (const auto& [key, setting] : node.as_map()) {
      if (key == "level" || (!root && key == "propagate")) continue;
      warn(warnings, setting,
           (root ? "only the root's level changes with incremental: true; '"
                 : "only a logger's level and propagate change with incremental: true; '") +
               key + "' is ignored");
    }
    if (const Node* level = node.find("level"); level && !level->is_null()) {
      config.level = parse_level(*level);
    }
    if (const Node* propagate = node.find("propagate"); !root && propagate && !propagate->is_null()) {
      config.propagate = propagate->as_bool();
    }
  };
  if (const Node* node = section.find("loggers"); node && !node->is_null()) {
    for (const auto& [name, value] : node->as_map()) {
      change(state.loggers[name == "root" ? "" : name], value, false);
    }
  }
  if (const Node* node = section.find("root"); node && !node->is_null()) {
    change(state.loggers[""], *node, true);
  }
}

// The configuration without a `logging` section, as IMMP's runner sets it
// up (logging.basicConfig(level=INFO), then the root at WARNING and `immp`
// at INFO): immp's own records at INFO and above, everything else at
// WARNING and above, to stderr in Python's basic format.
Node default_section() {
  Node basic = Node::map();
  basic.set("format", "%(levelname)s:%(name)s:%(message)s");
  Node console = Node::map();
  console.set("class", "logging.StreamHandler");
  console.set("formatter", "basic");
  Node immp_logger = Node::map();
  immp_logger.set("level", "INFO");
  Node root = Node::map();
  root.set("level", "WARNING");
  root.set("handlers", NodeList{Node("console")});
  Node section = Node::map();
  section.set("version", 1);
  section.set("formatters", NodeMap{{"basic", basic}});
  section.set("handlers", NodeMap{{"console", console}});
  section.set("loggers", NodeMap{{"immp", immp_logger}});
  section.set("root", root);
  return section;
}

// Reads a `logging` section (null: the defaults) into a new configuration.
std::shared_ptr<const State> read_section(const Node* section, const std::filesystem::path& base_dir,
                                          const Console& console, Warnings& warnings,
                                          Sinks sinks) {
  if (!section || section->is_null()) {
    return build_state(default_section(), base_dir, console, warnings, sinks);
  }
  section->as_map();
  check_keys(*section,
             {"version", "formatters", "filters", "handlers", "loggers", "root", "incremental",
              "disable_existing_loggers"},
             "the logging section", Unknown::warning, warnings);
  const Node& version = section->at("version");
  if (!version.is_int() || version.as_int() != 1) {
    version.fail("unsupported logging config version " + version.as_text() +
                 ": only version 1 exists");
  }
  // Python disables loggers created before the configuration; immp's are made
  // after it or updated in place, so there is nothing to disable.
  if (const Node* disable = section->find("disable_existing_loggers"); disable && !disable->is_null()) {
    disable->as_bool();
  }
  const Node* incremental = section->find("incremental");
  if (incremental && !incremental->is_null() && incremental->as_bool()) {
    // immp reads the whole file at start-up and on every reload, so what an
    // incremental section changes is always the same thing: the defaults.
    Warnings ignored;
    auto state = build_state(default_section(), base_dir, console, ignored, sinks);
    apply_incremental(*state, *section, warnings);
    return state;
  }
  return build_state(*section, base_dir, console, warnings, sinks);
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

  Warnings configure(const Node* section, const std::filesystem::path& base_dir) {
    std::lock_guard lock(mutex_);
    Warnings warnings;
    state_ = read_section(section, base_dir, console_, warnings, Sinks::open);
    for (auto& [name, entry] : entries_) apply(name, entry);
    return warnings;
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
    Warnings none;
    state_ = read_section(nullptr, {}, console_, none, Sinks::open);
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
  Warnings warnings = Registry::instance().configure(section, base_dir);
  // Once the registry is unlocked: to the caller's ConfigWarningScope, or
  // logged through the new configuration.
  for (ConfigWarning& warning : warnings) ConfigWarningScope::report(std::move(warning));
}

void check_logging(const Node* section, const std::filesystem::path& base_dir) {
  Warnings warnings;
  read_section(section, base_dir, Console{}, warnings, Sinks::skip);
  for (ConfigWarning& warning : warnings) ConfigWarningScope::report(std::move(warning));
}

void shutdown_logging() { Registry::instance().flush(); }

void add_log_tap(std::shared_ptr<spdlog::sinks::sink> tap) {
  Taps& taps = Taps::instance();
  std::lock_guard lock(taps.mutex);
  auto list = std::make_shared<std::vector<SinkPtr>>(*taps.list);
  list->push_back(std::move(tap));
  taps.list = std::move(list);
  taps.any.store(true, std::memory_order_release);
}

void remove_log_tap(const std::shared_ptr<spdlog::sinks::sink>& tap) {
  Taps& taps = Taps::instance();
  std::lock_guard lock(taps.mutex);
  auto list = std::make_shared<std::vector<SinkPtr>>(*taps.list);
  std::erase(*list, tap);
  taps.any.store(!list->empty(), std::memory_order_release);
  taps.list = std::move(list);
}

void redirect_console_for_testing(std::ostream* out, std::ostream* err) {
  Registry::instance().redirect(out, err);
}

}  // namespace immp
