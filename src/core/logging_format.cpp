// Python's three format styles compiled into one list of parts: literal
// text, and fields with the way Python would render them. Rendering a
// record walks the list; nothing is parsed per record.
#include "core/logging_format.hpp"

#include <fmt/format.h>
#include <spdlog/details/log_msg.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <optional>
#include <variant>

namespace immp {

using Clock = std::chrono::system_clock;
using spdlog::level::level_enum;

// The pieces of a compiled format; see compile_format. (A named namespace:
// CompiledFormat, declared in the header, holds them.)
namespace log_format_detail {

enum class RecordField {
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
  constant,  // a formatter `defaults` entry
};

// A field's value as Python's LogRecord holds it: text, int or float.
using Value = std::variant<std::string_view, std::int64_t, double>;
using Constant = std::variant<std::string, std::int64_t, double>;

struct FormatPart {
  enum class Render {
    literal,  // `literal` as is
    text,     // Python's str() (or repr()), cut to `precision`, padded to `width`
    spec,     // fmt with `spec` ("{:>05d}"), after `coerce`
  };
  enum class Coerce { none, integer, real };

  Render render = Render::literal;
  std::string literal;
  RecordField field = RecordField::message;
  Constant constant;  // RecordField::constant
  bool repr = false;  // text: %r, %a; spec: {x!r}, {x!a}
  bool str = false;   // spec: {x!s}, or a float shown without a type (Python's str())
  bool left = false;
  int width = 0;
  int precision = -1;
  std::string spec;
  Coerce coerce = Coerce::none;
};

}  // namespace log_format_detail

using namespace log_format_detail;

struct CompiledFormat {
  std::vector<FormatPart> parts;
};

namespace {

// Python's relativeCreated counts from when logging was loaded.
const Clock::time_point kStartTime = Clock::now();

struct FieldInfo {
  std::string_view key;
  RecordField field;
  bool numeric;
};

// The LogRecord attributes immp fills in.
constexpr FieldInfo kFields[] = {
    {"name", RecordField::name, false},
    {"levelname", RecordField::levelname, false},
    {"levelno", RecordField::levelno, true},
    {"message", RecordField::message, false},
    {"msg", RecordField::message, false},
    {"asctime", RecordField::asctime, false},
    {"created", RecordField::created, true},
    {"msecs", RecordField::msecs, true},
    {"relativeCreated", RecordField::relative_created, true},
    {"process", RecordField::process, true},
    {"processName", RecordField::process_name, false},
    {"thread", RecordField::thread, true},
    {"threadName", RecordField::thread_name, false},
    {"module", RecordField::module, false},
    {"filename", RecordField::filename, false},
    {"pathname", RecordField::pathname, false},
    {"lineno", RecordField::lineno, true},
    {"funcName", RecordField::func_name, false},
};

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

std::int64_t python_number(level_enum level) {
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
      return 0;
  }
}

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

// Python's str() of a value; `scratch` backs built text.
std::string_view python_str(const Value& value, std::string& scratch) {
  if (const auto* text = std::get_if<std::string_view>(&value)) return *text;
  if (const auto* n = std::get_if<std::int64_t>(&value)) return scratch = fmt::format("{}", *n);
  // fmt's shortest round-trip form is Python's repr of a float, except that
  // Python keeps ".0" on whole numbers.
  scratch = fmt::format("{}", std::get<double>(value));
  if (scratch.find_first_of(".ein") == std::string::npos) scratch += ".0";
  return scratch;
}

bool is_number(const Value& value) { return !std::holds_alternative<std::string_view>(value); }

// ---- compiling -----------------------------------------------------------

class Compiler {
 public:
  Compiler(std::string_view text, const std::vector<std::pair<std::string, Node>>& defaults,
           const Node* where)
      : text_(text), defaults_(defaults), where_(where) {}

  [[noreturn]] void fail(std::size_t at, const std::string& problem) const {
    const std::string message =
        problem + " (at character " + std::to_string(at + 1) + " of the format)";
    if (where_) where_->fail(message);
    throw ConfigError(Mark{}, "logging", message);
  }

  // A part for the field `key`, whose reference starts at `at`; `numeric`
  // tells whether the field holds a number.
  FormatPart field(std::string_view key, std::size_t at, std::string_view shown, bool& numeric) {
    FormatPart part;
    ++fields_;
    for (const FieldInfo& f : kFields) {
      if (f.key == key) {
        part.field = f.field;
        numeric = f.numeric;
        return part;
      }
    }
    for (const auto& [name, value] : defaults_) {
      if (name != key) continue;
      part.field = RecordField::constant;
      if (value.is_int()) {
        part.constant = value.as_int();
      } else if (value.is_number()) {
        part.constant = value.as_double();
      } else {
        part.constant = value.as_text();
      }
      numeric = value.is_number();
      return part;
    }
    std::vector<std::string> keys;
    for (const FieldInfo& f : kFields) keys.emplace_back(f.key);
    for (const auto& entry : defaults_) keys.push_back(entry.first);
    std::string hint;
    if (auto near = nearest(key, keys)) {
      std::string suggestion(shown);
      suggestion.replace(suggestion.find("KEY"), 3, *near);
      hint = " (did you mean '" + suggestion + "'?)";
    }
    std::string unknown(shown);
    unknown.replace(unknown.find("KEY"), 3, key);
    fail(at, "unknown field '" + unknown + "'" + hint);
  }

  void literal(std::string_view text) {
    if (text.empty()) return;
    if (!parts_.empty() && parts_.back().render == FormatPart::Render::literal) {
      parts_.back().literal += text;
      return;
    }
    FormatPart part;
    part.literal = std::string(text);
    parts_.push_back(std::move(part));
  }

  void percent();
  void brace();
  void dollar();

  std::vector<FormatPart> finish(bool validate, std::string_view style_name) {
    if (validate && fields_ == 0) {
      const std::string problem = "the format has no field, so every line would be the same; add "
                                  "one (" + std::string(style_name) +
                                  ") or set validate: false";
      if (where_) where_->fail(problem);
      throw ConfigError(Mark{}, "logging", problem);
    }
    return std::move(parts_);
  }

 private:
  std::string_view text_;
  const std::vector<std::pair<std::string, Node>>& defaults_;
  const Node* where_;
  std::vector<FormatPart> parts_;
  int fields_ = 0;
};

// Python's %-style: %(key)[flags][width][.precision][length]type, and %%.
void Compiler::percent() {
  std::size_t i = 0;
  const std::string_view format = text_;
  while (i < format.size()) {
    const std::size_t next = format.find('%', i);
    literal(format.substr(i, next == std::string_view::npos ? next : next - i));
    if (next == std::string_view::npos) break;
    const std::size_t start = next;
    i = next + 1;
    if (i < format.size() && format[i] == '%') {
      literal("%");
      ++i;
      continue;
    }
    if (i >= format.size() || format[i] != '(') {
      fail(start, "expected a field like %(message)s after '%' (write %% for a percent sign)");
    }
    const std::size_t close = format.find(')', i);
    if (close == std::string_view::npos) fail(start, "unclosed '%('");
    const std::string_view key = format.substr(i + 1, close - i - 1);
    i = close + 1;
    bool numeric = false;
    FormatPart part = field(key, start, "%(KEY)s", numeric);
    bool zero = false;
    bool alternate = false;
    std::string sign;
    for (; i < format.size() && std::string_view("-+ #0").find(format[i]) != std::string_view::npos;
         ++i) {
      switch (format[i]) {
        case '-':
          part.left = true;
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
    auto digits = [&] {
      if (i < format.size() && format[i] == '*') fail(start, "'*' widths are not supported");
      int n = 0;
      while (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i]))) {
        n = std::min(n * 10 + (format[i++] - '0'), 1000);
      }
      return n;
    };
    part.width = digits();
    if (i < format.size() && format[i] == '.') {
      ++i;
      part.precision = digits();
    }
    while (i < format.size() && (format[i] == 'h' || format[i] == 'l' || format[i] == 'L')) ++i;
    if (i >= format.size()) {
      fail(start, "missing conversion type after '%(" + std::string(key) + ")'");
    }
    const char type = format[i++];
    if (type == 's' || type == 'r' || type == 'a') {
      part.render = FormatPart::Render::text;
      part.repr = type != 's';
    } else if (std::string_view("diuoxXeEfFgG").find(type) != std::string_view::npos) {
      if (!numeric) {
        fail(start, "'%(" + std::string(key) + ")" + type + "' needs a number, but " +
                        std::string(key) + " is text: use %(" + std::string(key) + ")s");
      }
      const bool integral = std::string_view("diuoxX").find(type) != std::string_view::npos;
      std::string spec = "{:";
      if (part.left) spec += '<';
      spec += sign;
      if (alternate) spec += '#';
      if (zero && !part.left) spec += '0';
      if (part.width > 0) spec += std::to_string(part.width);
      if (!integral && part.precision >= 0) spec += "." + std::to_string(part.precision);
      spec += (type == 'i' || type == 'u') ? 'd' : type;
      spec += '}';
      part.render = FormatPart::Render::spec;
      // Python's %d truncates a float; %f takes an integer as a float.
      part.coerce = integral ? FormatPart::Coerce::integer : FormatPart::Coerce::real;
      part.spec = std::move(spec);
    } else {
      fail(start, std::string("unsupported conversion type '") + type + "'");
    }
    parts_.push_back(std::move(part));
  }
}

// Python's str.format style: {key}, {key!r}, {key:spec}, {{ and }}. The spec
// mini-language is fmt's, which is Python's but for '=' alignment, ',' and
// '_' grouping, 'z', 'n' and '%': those are refused when compiling.
void Compiler::brace() {
  const std::string_view format = text_;
  std::size_t i = 0;
  std::string text;
  while (i < format.size()) {
    const char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') {
        text += '}';
        i += 2;
        continue;
      }
      fail(i, "single '}' in the format (write }} for a brace)");
    }
    if (c != '{') {
      text += c;
      ++i;
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      text += '{';
      i += 2;
      continue;
    }
    literal(text);
    text.clear();
    const std::size_t start = i;
    const std::size_t close = format.find('}', i);
    if (close == std::string_view::npos) fail(start, "unclosed '{'");
    const std::string_view inside = format.substr(i + 1, close - i - 1);
    if (inside.find('{') != std::string_view::npos) {
      fail(start, "nested fields in a format spec are not supported");
    }
    i = close + 1;
    const std::size_t colon = inside.find(':');
    std::string_view head = inside.substr(0, colon);
    const std::string_view spec =
        colon == std::string_view::npos ? std::string_view() : inside.substr(colon + 1);
    char conversion = 0;
    if (const std::size_t bang = head.find('!'); bang != std::string_view::npos) {
      const std::string_view conv = head.substr(bang + 1);
      if (conv.size() != 1 || std::string_view("rsa").find(conv[0]) == std::string_view::npos) {
        fail(start, "invalid conversion '!" + std::string(conv) + "': use !s, !r or !a");
      }
      conversion = conv[0];
      head = head.substr(0, bang);
    }
    if (head.empty()) fail(start, "a field needs a name, like {message}");
    if (head.find_first_of(".[") != std::string_view::npos) {
      fail(start, "'{" + std::string(head) +
                      "}': attribute and index access in fields is not supported");
    }
    bool numeric = false;
    FormatPart part = field(head, start, "{KEY}", numeric);
    part.repr = conversion == 'r' || conversion == 'a';
    if (conversion != 0) numeric = false;  // a conversion makes text
    if (spec.empty()) {
      part.render = FormatPart::Render::text;
      parts_.push_back(std::move(part));
      continue;
    }
    part.str = conversion == 's';
    // The presentation type, if any, is the spec's last character (a fill
    // character is always followed by an alignment, so it is never last).
    const char type = spec.back();
    const bool has_type = std::string_view("bcdeEfFgGnosxX%").find(type) != std::string_view::npos;
    const std::string spec_text = "'{" + std::string(inside) + "}'";
    if (has_type && (type == 'n' || type == '%')) {
      fail(start, "format type '" + std::string(1, type) + "' in " + spec_text +
                      " is not supported: use d, f, e, g, x or s");
    }
    const bool integral = has_type && std::string_view("bcdoxX").find(type) != std::string_view::npos;
    const bool real = has_type && std::string_view("eEfFgG").find(type) != std::string_view::npos;
    if ((integral || real) && !numeric) {
      fail(start, spec_text + " formats a number, but " + std::string(head) + " is text");
    }
    if (has_type && type == 's' && numeric) {
      fail(start, spec_text + " formats text, but " + std::string(head) +
                      " is a number: leave out the 's'");
    }
    part.render = FormatPart::Render::spec;
    part.coerce = integral ? FormatPart::Coerce::integer
                  : real   ? FormatPart::Coerce::real
                           : FormatPart::Coerce::none;
    part.spec = "{:" + std::string(spec) + "}";
    // A float shown without a type is Python's str() of it, padded: 123.0.
    const bool real_field =
        part.field == RecordField::created || part.field == RecordField::msecs ||
        part.field == RecordField::relative_created ||
        (part.field == RecordField::constant && std::holds_alternative<double>(part.constant));
    if (numeric && !has_type && real_field) part.str = true;
    // Try the spec once now, so a spec fmt cannot render fails at start-up.
    try {
      if (integral) {
        (void)fmt::format(fmt::runtime(part.spec), std::int64_t{1});
      } else if (real) {
        (void)fmt::format(fmt::runtime(part.spec), 1.5);
      } else if (numeric && !part.str) {
        (void)fmt::format(fmt::runtime(part.spec), std::int64_t{1});
      } else {
        (void)fmt::format(fmt::runtime(part.spec), std::string_view("x"));
      }
    } catch (const fmt::format_error& e) {
      fail(start, "format spec " + spec_text + " is not supported (" + e.what() +
                      "); Python's '=' alignment, ',' and '_' grouping and 'z' are not available");
    }
    parts_.push_back(std::move(part));
  }
  literal(text);
}

bool identifier_start(char c) { return c == '_' || std::isalpha(static_cast<unsigned char>(c)); }
bool identifier_char(char c) { return c == '_' || std::isalnum(static_cast<unsigned char>(c)); }

// Python's string.Template: $key, ${key}, $$.
void Compiler::dollar() {
  const std::string_view format = text_;
  std::size_t i = 0;
  while (i < format.size()) {
    const std::size_t next = format.find('$', i);
    literal(format.substr(i, next == std::string_view::npos ? next : next - i));
    if (next == std::string_view::npos) break;
    const std::size_t start = next;
    i = next + 1;
    std::string_view key;
    if (i < format.size() && format[i] == '$') {
      literal("$");
      ++i;
      continue;
    }
    if (i < format.size() && format[i] == '{') {
      const std::size_t close = format.find('}', i);
      if (close == std::string_view::npos) fail(start, "unclosed '${'");
      key = format.substr(i + 1, close - i - 1);
      if (key.empty() || !identifier_start(key[0]) ||
          !std::all_of(key.begin(), key.end(), identifier_char)) {
        fail(start, "'${" + std::string(key) + "}' is not a field name");
      }
      i = close + 1;
    } else {
      const std::size_t begin = i;
      if (i < format.size() && identifier_start(format[i])) {
        while (i < format.size() && identifier_char(format[i])) ++i;
      }
      key = format.substr(begin, i - begin);
      if (key.empty()) fail(start, "a bare '$' (write $$ for a dollar sign)");
    }
    bool numeric = false;
    FormatPart part = field(key, start, "${KEY}", numeric);
    part.render = FormatPart::Render::text;
    parts_.push_back(std::move(part));
  }
}

// ---- rendering -----------------------------------------------------------

// Renders records the way Python's logging.Formatter does, then the
// handler's terminator. Not thread-safe (it caches asctime): each sink owns
// a clone and calls it under its own mutex.
class PyFormatter final : public spdlog::formatter {
 public:
  PyFormatter(std::shared_ptr<const CompiledFormat> format, std::string datefmt,
              std::string terminator)
      : format_(std::move(format)), datefmt_(std::move(datefmt)),
        terminator_(std::move(terminator)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    for (const FormatPart& part : format_->parts) {
      switch (part.render) {
        case FormatPart::Render::literal:
          dest.append(part.literal.data(), part.literal.data() + part.literal.size());
          break;
        case FormatPart::Render::text:
          append_text(part, msg, dest);
          break;
        case FormatPart::Render::spec:
          append_spec(part, msg, dest);
          break;
      }
    }
    dest.append(terminator_.data(), terminator_.data() + terminator_.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<PyFormatter>(format_, datefmt_, terminator_);
  }

 private:
  static std::string_view source_path(const spdlog::details::log_msg& msg) {
    return msg.source.filename ? std::string_view(msg.source.filename) : "(unknown file)";
  }

  static std::string_view basename(std::string_view path) {
    const std::size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
  }

  // The value of a part's field for `msg`; `scratch` backs built text.
  Value value(const FormatPart& part, const spdlog::details::log_msg& msg,
              std::string& scratch) {
    switch (part.field) {
      case RecordField::name:
        return std::string_view(msg.logger_name.data(), msg.logger_name.size());
      case RecordField::levelname:
        return python_name(msg.level);
      case RecordField::levelno:
        return python_number(msg.level);
      case RecordField::message:
        return std::string_view(msg.payload.data(), msg.payload.size());
      case RecordField::asctime:
        return asctime(msg.time);
      case RecordField::created:
        return std::chrono::duration<double>(msg.time.time_since_epoch()).count();
      case RecordField::msecs:
        // A float in Python, whole milliseconds: 123.0.
        return static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       msg.time.time_since_epoch() % std::chrono::seconds(1))
                                       .count());
      case RecordField::relative_created:
        return std::chrono::duration<double, std::milli>(msg.time - kStartTime).count();
      case RecordField::process:
        return std::int64_t{::getpid()};
      case RecordField::process_name:
        return std::string_view("MainProcess");
      case RecordField::thread:
        return static_cast<std::int64_t>(msg.thread_id);
      case RecordField::thread_name:
        return std::string_view(scratch = std::to_string(msg.thread_id));
      case RecordField::pathname:
        return source_path(msg);
      case RecordField::filename:
        return basename(source_path(msg));
      case RecordField::module: {
        const std::string_view file = basename(source_path(msg));
        if (!msg.source.filename) return file;
        return file.substr(0, std::min(file.size(), file.rfind('.')));
      }
      case RecordField::lineno:
        return std::int64_t{msg.source.line};
      case RecordField::func_name:
        return msg.source.funcname ? std::string_view(msg.source.funcname)
                                   : std::string_view("(unknown function)");
      case RecordField::constant:
        return std::visit(
            [](const auto& v) -> Value {
              if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::string>) {
                return std::string_view(v);
              } else {
                return v;
              }
            },
            part.constant);
    }
    return std::int64_t{0};
  }

  // Python's repr() of text: quoted. (Escapes inside are not reproduced.)
  static std::string_view quote(std::string_view text, std::string& scratch) {
    scratch = "'" + std::string(text) + "'";
    return scratch;
  }

  void append_text(const FormatPart& part, const spdlog::details::log_msg& msg,
                   spdlog::memory_buf_t& dest) {
    std::string scratch;
    std::string quoted;
    const Value v = value(part, msg, scratch);
    std::string_view text = python_str(v, scratch);
    if (part.repr && !is_number(v)) text = quote(text, quoted);
    if (part.precision >= 0) text = utf8_prefix(text, static_cast<std::size_t>(part.precision));
    const std::size_t length = part.width > 0 ? utf8_length(text) : 0;
    const std::size_t pad =
        length < static_cast<std::size_t>(part.width) ? part.width - length : 0;
    if (!part.left) dest.append(std::string(pad, ' '));
    dest.append(text.data(), text.data() + text.size());
    if (part.left) dest.append(std::string(pad, ' '));
  }

  void append_spec(const FormatPart& part, const spdlog::details::log_msg& msg,
                   spdlog::memory_buf_t& dest) {
    auto out = std::back_inserter(dest);
    std::string scratch;
    const Value v = value(part, msg, scratch);
    const auto spec = fmt::runtime(part.spec);
    if (part.coerce == FormatPart::Coerce::integer) {
      fmt::format_to(out, spec, std::visit([](auto n) -> std::int64_t {
        if constexpr (std::is_same_v<decltype(n), std::string_view>) {
          return 0;
        } else {
          return static_cast<std::int64_t>(n);
        }
      }, v));
    } else if (part.coerce == FormatPart::Coerce::real) {
      fmt::format_to(out, spec, std::visit([](auto n) -> double {
        if constexpr (std::is_same_v<decltype(n), std::string_view>) {
          return 0;
        } else {
          return static_cast<double>(n);
        }
      }, v));
    } else if (const auto* n = std::get_if<std::int64_t>(&v); n && !part.repr && !part.str) {
      fmt::format_to(out, spec, *n);
    } else {
      // Text, a conversion, or a float without a type: Python pads its str().
      std::string text_scratch;
      std::string_view text = python_str(v, text_scratch);
      std::string quoted;
      if (part.repr && !is_number(v)) text = quote(text, quoted);
      fmt::format_to(out, spec, text);
    }
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

  std::shared_ptr<const CompiledFormat> format_;
  std::string datefmt_;
  std::string terminator_;
  Clock::time_point cached_second_{};
  std::string cached_time_;
  std::string with_msecs_;
};

}  // namespace

std::string_view default_format(FormatStyle style) {
  switch (style) {
    case FormatStyle::brace:
      return "{message}";
    case FormatStyle::dollar:
      return "${message}";
    default:
      return "%(message)s";
  }
}

std::shared_ptr<const CompiledFormat> compile_format(
    std::string_view text, FormatStyle style,
    const std::vector<std::pair<std::string, Node>>& defaults, bool validate, const Node* where) {
  Compiler compiler(text, defaults, where);
  auto format = std::make_shared<CompiledFormat>();
  switch (style) {
    case FormatStyle::percent:
      compiler.percent();
      format->parts = compiler.finish(validate, "%(message)s");
      break;
    case FormatStyle::brace:
      compiler.brace();
      format->parts = compiler.finish(validate, "{message}");
      break;
    case FormatStyle::dollar:
      compiler.dollar();
      format->parts = compiler.finish(validate, "${message}");
      break;
  }
  return format;
}

std::unique_ptr<spdlog::formatter> make_formatter(std::shared_ptr<const CompiledFormat> format,
                                                  std::string datefmt, std::string terminator) {
  return std::make_unique<PyFormatter>(std::move(format), std::move(datefmt),
                                       std::move(terminator));
}

}  // namespace immp
