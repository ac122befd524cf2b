// The config tree itself: marks, errors, typed access and paths.
#include "immp/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include "core/config_formats.hpp"
#include "immp/log.hpp"

namespace immp {

namespace {

std::string join_error(const Mark& mark, const std::string& path, const std::string& problem) {
  std::string out;
  for (const std::string& part : {mark.str(), path, problem}) {
    if (part.empty()) continue;
    if (!out.empty()) out += ": ";
    out += part;
  }
  return out;
}

}  // namespace

std::string Mark::str() const {
  std::string out = file ? *file : std::string();
  if (line <= 0) return out;
  if (!out.empty()) out += ':';
  out += std::to_string(line);
  if (column > 0) out += ':' + std::to_string(column);
  return out;
}

ConfigError::ConfigError(const Mark& mark, std::string path, std::string problem)
    : std::runtime_error(join_error(mark, path, problem)),
      mark_(mark),
      path_(std::move(path)),
      problem_(std::move(problem)) {}

std::string ConfigWarning::str() const { return join_error(mark, path, problem); }

namespace {
thread_local ConfigWarningScope* innermost_scope = nullptr;
}

ConfigWarningScope::ConfigWarningScope() : outer_(innermost_scope) { innermost_scope = this; }

ConfigWarningScope::~ConfigWarningScope() { innermost_scope = outer_; }

void ConfigWarningScope::report(ConfigWarning warning) {
  if (innermost_scope != nullptr) {
    innermost_scope->warnings_.push_back(std::move(warning));
  } else {
    logger("immp.config")->warn("{}", warning.str());
  }
}

std::string_view Node::kind_name(Kind kind) {
  switch (kind) {
    case Kind::null: return "null";
    case Kind::boolean: return "a boolean";
    case Kind::integer: return "an integer";
    case Kind::real: return "a real number";
    case Kind::string: return "a string";
    case Kind::list: return "a list";
    case Kind::map: return "a map";
  }
  return "an unknown value";
}

std::optional<bool> Node::yaml11_bool() const {
  if (!is_string() || !plain_) return std::nullopt;
  // PyYAML's resolver, word for word: three spellings of each, no others
  // ("yEs" is a string there too, and so are y and n).
  static constexpr std::pair<std::string_view, bool> kWords[] = {
      {"yes", true},   {"Yes", true},   {"YES", true},   {"no", false},  {"No", false},
      {"NO", false},   {"true", true},  {"True", true},  {"TRUE", true}, {"false", false},
      {"False", false}, {"FALSE", false}, {"on", true},   {"On", true},   {"ON", true},
      {"off", false},  {"Off", false},  {"OFF", false},
  };
  const std::string& text = std::get<std::string>(value_);
  for (const auto& [word, value] : kWords) {
    if (text == word) return value;
  }
  return std::nullopt;
}

bool Node::as_bool() const {
  if (auto yaml11 = yaml11_bool()) return *yaml11;
  if (!is_bool()) fail("expected a boolean, got " + std::string(kind_name(kind())));
  return std::get<bool>(value_);
}

std::int64_t Node::as_int() const {
  if (!is_int()) fail("expected an integer, got " + std::string(kind_name(kind())));
  return std::get<std::int64_t>(value_);
}

double Node::as_double() const {
  if (is_int()) return static_cast<double>(std::get<std::int64_t>(value_));
  if (kind() != Kind::real) fail("expected a number, got " + std::string(kind_name(kind())));
  return std::get<double>(value_);
}

const std::string& Node::as_string() const {
  if (!is_string()) fail("expected a string, got " + std::string(kind_name(kind())));
  return std::get<std::string>(value_);
}

const NodeList& Node::as_list() const {
  if (!is_list()) fail("expected a list, got " + std::string(kind_name(kind())));
  return std::get<NodeList>(value_);
}

const NodeMap& Node::as_map() const {
  if (!is_map()) fail("expected a map, got " + std::string(kind_name(kind())));
  return std::get<NodeMap>(value_);
}

NodeList& Node::as_list() {
  if (!is_list()) fail("expected a list, got " + std::string(kind_name(kind())));
  return std::get<NodeList>(value_);
}

NodeMap& Node::as_map() {
  if (!is_map()) fail("expected a map, got " + std::string(kind_name(kind())));
  return std::get<NodeMap>(value_);
}

std::string Node::as_text() const {
  switch (kind()) {
    case Kind::string: return std::get<std::string>(value_);
    case Kind::integer: return std::to_string(std::get<std::int64_t>(value_));
    case Kind::real: return config_detail::format_real(std::get<double>(value_));
    case Kind::boolean: return std::get<bool>(value_) ? "true" : "false";
    default: break;
  }
  fail("expected a string or a number, got " + std::string(kind_name(kind())));
}

const Node* Node::find(std::string_view key) const {
  if (!is_map()) return nullptr;
  for (const auto& [k, v] : std::get<NodeMap>(value_)) {
    if (k == key) return &v;
  }
  return nullptr;
}

Node* Node::find(std::string_view key) {
  return const_cast<Node*>(std::as_const(*this).find(key));
}

const Node& Node::at(std::string_view key) const {
  const NodeMap& map = as_map();
  for (const auto& [k, v] : map) {
    if (k == key) return v;
  }
  fail("missing required key '" + std::string(key) + "'");
}

Node& Node::set(std::string_view key, Node value) {
  if (is_null()) value_ = NodeMap{};
  NodeMap& map = as_map();
  value.set_path(config_detail::child_path(path_, key));
  value.repath();
  for (auto& [k, v] : map) {
    if (k == key) {
      v = std::move(value);
      return v;
    }
  }
  map.emplace_back(std::string(key), std::move(value));
  return map.back().second;
}

bool Node::erase(std::string_view key) {
  if (!is_map()) return false;
  NodeMap& map = std::get<NodeMap>(value_);
  auto it = std::find_if(map.begin(), map.end(), [&](const auto& kv) { return kv.first == key; });
  if (it == map.end()) return false;
  map.erase(it);
  return true;
}

std::size_t Node::size() const {
  if (is_list()) return std::get<NodeList>(value_).size();
  if (is_map()) return std::get<NodeMap>(value_).size();
  return 0;
}

void Node::repath() {
  if (is_list()) {
    NodeList& list = std::get<NodeList>(value_);
    for (std::size_t i = 0; i < list.size(); ++i) {
      list[i].path_ = config_detail::item_path(path_, i);
      list[i].repath();
    }
  } else if (is_map()) {
    for (auto& [k, v] : std::get<NodeMap>(value_)) {
      v.path_ = config_detail::child_path(path_, k);
      v.repath();
    }
  }
}

void Node::fail(std::string problem) const { throw ConfigError(mark_, path_, std::move(problem)); }

void Node::warn(std::string problem) const {
  ConfigWarningScope::report(ConfigWarning{mark_, path_, std::move(problem)});
}

// Maps compare as sets of entries: the same keys with equal values, in any
// order (a format may force its own order, as TOML does for sub-tables).
bool Node::operator==(const Node& other) const {
  if (kind() != other.kind()) return false;
  switch (kind()) {
    case Kind::null: return true;
    case Kind::boolean: return std::get<bool>(value_) == std::get<bool>(other.value_);
    case Kind::integer:
      return std::get<std::int64_t>(value_) == std::get<std::int64_t>(other.value_);
    case Kind::real: return std::get<double>(value_) == std::get<double>(other.value_);
    case Kind::string: return std::get<std::string>(value_) == std::get<std::string>(other.value_);
    case Kind::list: {
      const NodeList& a = std::get<NodeList>(value_);
      const NodeList& b = std::get<NodeList>(other.value_);
      return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
    }
    case Kind::map: {
      const NodeMap& a = std::get<NodeMap>(value_);
      const NodeMap& b = std::get<NodeMap>(other.value_);
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i) {
        const Node* match = nullptr;
        if (b[i].first == a[i].first) {
          match = &b[i].second;  // the common case: same order
        } else {
          match = other.find(a[i].first);
        }
        if (match == nullptr || !(a[i].second == *match)) return false;
      }
      return true;
    }
  }
  return false;
}

// ---- nearest -------------------------------------------------------------

namespace {

// Optimal string alignment distance (Damerau-Levenshtein where a
// transposition counts as one edit), ASCII case-insensitive.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); };
  const std::size_t n = a.size();
  const std::size_t m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

}  // namespace

std::optional<std::string> nearest(std::string_view word,
                                   const std::vector<std::string>& candidates) {
  const std::size_t limit = std::max<std::size_t>(1, word.size() / 3);
  std::optional<std::string> best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (const std::string& candidate : candidates) {
    const std::size_t distance = edit_distance(word, candidate);
    if (distance <= limit && distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

// ---- helpers shared by the formats ---------------------------------------

namespace config_detail {

std::string child_path(std::string_view parent, std::string_view key) {
  std::string out(parent);
  if (!out.empty()) out += '.';
  out += key;
  return out;
}

std::string item_path(std::string_view parent, std::size_t index) {
  return std::string(parent) + '[' + std::to_string(index) + ']';
}

void append_quoted(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04X", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

std::string format_real(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  std::string out(buf, ec == std::errc() ? end : buf);
  if (out.find_first_of(".e") == std::string::npos) out += ".0";
  return out;
}

bool parse_int64(std::string_view text, std::int64_t& out) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

LineIndex::LineIndex(std::string_view text) : text_(text) {
  starts_.push_back(0);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') starts_.push_back(i + 1);
  }
}

namespace {

// Code points in a run of UTF-8 bytes: every byte that is not a
// continuation byte starts one.
int count_code_points(std::string_view bytes) {
  int n = 0;
  for (char c : bytes) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

}  // namespace

void LineIndex::locate(std::size_t offset, int& line, int& column) const {
  offset = std::min(offset, text_.size());
  auto it = std::upper_bound(starts_.begin(), starts_.end(), offset);
  const std::size_t line0 = static_cast<std::size_t>(it - starts_.begin()) - 1;
  line = static_cast<int>(line0) + 1;
  column = count_code_points(text_.substr(starts_[line0], offset - starts_[line0])) + 1;
}

int LineIndex::column_for(int line0, int byte_column) const {
  if (line0 < 0 || static_cast<std::size_t>(line0) >= starts_.size() || byte_column < 0) {
    return byte_column + 1;
  }
  const std::size_t start = starts_[static_cast<std::size_t>(line0)];
  const std::size_t len = std::min<std::size_t>(static_cast<std::size_t>(byte_column),
                                                text_.size() - start);
  return count_code_points(text_.substr(start, len)) + 1;
}

std::string_view strip_bom(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  return text;
}

void report_duplicate(const Mark& again, const std::string& path, const std::string& key,
                      int first_line) {
  ConfigWarningScope::report(ConfigWarning{
      again, path,
      "duplicate key '" + key + "' (first written on line " + std::to_string(first_line) +
          ", again on line " + std::to_string(again.line) + "): the last one is used"});
}

void check_depth(int depth, const Mark& mark) {
  if (depth > kMaxDepth) {
    throw ConfigError(mark, "", "nesting too deep (more than " + std::to_string(kMaxDepth) +
                                    " levels)");
  }
}

}  // namespace config_detail

}  // namespace immp
