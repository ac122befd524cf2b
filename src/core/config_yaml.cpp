// YAML reading (through yaml-cpp) and writing (by hand, so that every
// string is quoted exactly when a reader would otherwise take it for
// something else).
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <unordered_map>

#include "core/config_formats.hpp"

namespace immp::config_detail {

namespace {

// Aliases let a small file expand into a huge tree ("billion laughs"); a
// real config never comes near this many values.
constexpr std::size_t kMaxNodes = 1'000'000;

bool is_digits(std::string_view s, bool (*digit)(char)) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!digit(c)) return false;
  }
  return true;
}

bool dec(char c) { return c >= '0' && c <= '9'; }
bool oct(char c) { return c >= '0' && c <= '7'; }
bool hex(char c) { return dec(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool is_core_float(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  std::size_t int_digits = 0;
  while (i < s.size() && dec(s[i])) ++i, ++int_digits;
  std::size_t frac_digits = 0;
  bool dot = false;
  if (i < s.size() && s[i] == '.') {
    dot = true;
    ++i;
    while (i < s.size() && dec(s[i])) ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (int_digits == 0 && !dot) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (!is_digits(s.substr(std::min(i, s.size())), dec)) return false;
    return true;
  }
  return i == s.size();
}

// What a plain (unquoted) scalar means under the YAML 1.2 core schema.
// nullopt: the text is not a valid number of the kind it looks like (an
// integer too big for 64 bits), reported by the caller.
std::optional<Node> resolve_plain(std::string_view s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return Node();
  if (s == "true" || s == "True" || s == "TRUE") return Node(true);
  if (s == "false" || s == "False" || s == "FALSE") return Node(false);
  std::string_view body = s;
  bool negative = false;
  if (body.front() == '-' || body.front() == '+') {
    negative = body.front() == '-';
    body.remove_prefix(1);
  }
  if (is_digits(body, dec)) {
    std::int64_t v = 0;
    if (!parse_int64(s, v)) return std::nullopt;
    return Node(v);
  }
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
    const bool is_hex = s[1] == 'x';
    std::string_view digits = s.substr(2);
    if (is_digits(digits, is_hex ? hex : oct)) {
      std::uint64_t v = 0;
      auto [end, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), v, is_hex ? 16 : 8);
      if (ec != std::errc() || v > std::uint64_t(std::numeric_limits<std::int64_t>::max())) {
        return std::nullopt;
      }
      return Node(static_cast<std::int64_t>(v));
    }
  }
  if (body == ".inf" || body == ".Inf" || body == ".INF") {
    const double inf = std::numeric_limits<double>::infinity();
    return Node(negative ? -inf : inf);
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") {
    return Node(std::numeric_limits<double>::quiet_NaN());
  }
  if (is_core_float(s)) {
    std::string_view t = s.front() == '+' ? s.substr(1) : s;
    double v = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec == std::errc() && end == t.data() + t.size()) return Node(v);
    if (ec == std::errc::result_out_of_range) return std::nullopt;
    // "1." and ".5" are YAML floats that from_chars may not take whole.
    return Node(std::strtod(std::string(t).c_str(), nullptr));
  }
  return Node(std::string(s));
}

constexpr std::string_view kTagPrefix = "tag:yaml.org,2002:";

// Whether `tag` is the core schema's tag `name` ("str" for !!str).
bool is_core_tag(std::string_view tag, std::string_view name) {
  return tag.starts_with(kTagPrefix) && tag.substr(kTagPrefix.size()) == name;
}

class YamlReader {
 public:
  YamlReader(std::string_view text, FileName file) : index_(text), file_(std::move(file)) {}

  Mark mark(const YAML::Mark& m) const {
    if (m.is_null() || m.line < 0) return Mark{file_, 0, 0};
    return Mark{file_, m.line + 1, index_.column_for(m.line, m.column)};
  }

  // `where` is the mark the node gets: its own for items and the root,
  // its key's for map values.
  Node convert(const YAML::Node& in, const Mark& where, const std::string& path, int depth) {
    check_depth(depth, where);
    if (++count_ > kMaxNodes) {
      throw ConfigError(where, path, "too many values (more than " + std::to_string(kMaxNodes) +
                                         "; is an alias expanding without end?)");
    }
    Node out;
    const std::string& tag = in.Tag();
    switch (in.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        if (is_core_tag(tag, "str")) out = Node(std::string());
        break;
      case YAML::NodeType::Scalar: out = scalar(in, where, path); break;
      case YAML::NodeType::Sequence: {
        check_collection_tag(tag, "seq", where, path);
        NodeList list;
        list.reserve(in.size());
        for (const YAML::Node& item : in) {
          std::string item_at = item_path(path, list.size());
          list.push_back(convert(item, mark(item.Mark()), item_at, depth + 1));
        }
        out = Node(std::move(list));
        break;
      }
      case YAML::NodeType::Map: {
        check_collection_tag(tag, "map", where, path);
        out = Node(convert_map(in, path, depth));
        break;
      }
    }
    out.set_mark(where);
    out.set_path(path);
    return out;
  }

 private:
  // A map's entries. Merge keys (`<<: *base`, `<<: [*a, *b]`) are YAML 1.1
  // and PyYAML, not YAML 1.2, but IMMP's users write them, so they are read
  // as PyYAML reads them: the merged entries come first, then the map's
  // own; a key keeps the place it first had and takes the value it was
  // given last, so the map's own keys override merged ones, and within a
  // list of maps the first map wins. Merged values keep the marks of where
  // they are written (inside the anchored map).
  NodeMap convert_map(const YAML::Node& in, const std::string& path, int depth) {
    NodeMap merged;
    NodeMap own;
    // key -> line it was first written on, and its place in `own`
    std::unordered_map<std::string, std::pair<int, std::size_t>> lines;
    for (auto it = in.begin(); it != in.end(); ++it) {
      // Copies: yaml-cpp's iterator hands out a temporary pair.
      const YAML::Node key = it->first;
      const YAML::Node yaml_value = it->second;
      const Mark key_mark = mark(key.Mark());
      if (!key.IsScalar()) {
        throw ConfigError(key_mark, path,
                          key.IsNull() ? "a map key must not be empty or null"
                                       : "a map key must be a plain string, not a " +
                                             std::string(key.IsMap() ? "map" : "list"));
      }
      const std::string& name = key.Scalar();
      if (name == "<<" && key.Tag() == "?") {
        merge_into(merged, yaml_value, key_mark, path, depth);
        continue;
      }
      std::string child = child_path(path, name);
      Node value = convert(yaml_value, key_mark, child, depth + 1);
      auto [seen, fresh] = lines.emplace(name, std::pair(key_mark.line, own.size()));
      if (!fresh) {
        // PyYAML (so IMMP) takes the last one: a warning, not an error.
        report_duplicate(key_mark, path, name, seen->second.first);
        own[seen->second.second].second = std::move(value);
        continue;
      }
      own.emplace_back(name, std::move(value));
    }
    if (merged.empty()) return own;
    NodeMap out;
    std::unordered_map<std::string, std::size_t> index;
    for (NodeMap* part : {&merged, &own}) {
      for (auto& [name, value] : *part) {
        auto [at, fresh] = index.emplace(name, out.size());
        if (fresh) {
          out.emplace_back(name, std::move(value));
        } else {
          out[at->second].second = std::move(value);
        }
      }
    }
    return out;
  }

  // Appends what one merge key brings, in PyYAML's order: a list of maps is
  // taken last to first, so that the first map's values are assigned last.
  void merge_into(NodeMap& merged, const YAML::Node& value, const Mark& key_mark,
                  const std::string& path, int depth) {
    check_depth(depth + 1, key_mark);
    const std::string problem =
        "a merge key ('<<') takes a map or a list of maps (`<<: *base`, `<<: [*a, *b]`)";
    if (value.IsMap()) {
      for (auto& entry : convert_map(value, path, depth + 1)) merged.push_back(std::move(entry));
      return;
    }
    if (!value.IsSequence()) throw ConfigError(key_mark, path, problem + ", got " + describe(value));
    std::vector<NodeMap> maps;
    for (const YAML::Node& item : value) {
      if (!item.IsMap()) {
        throw ConfigError(mark(item.Mark()), path, problem + ", got a list holding " + describe(item));
      }
      maps.push_back(convert_map(item, path, depth + 2));
    }
    for (auto it = maps.rbegin(); it != maps.rend(); ++it) {
      for (auto& entry : *it) merged.push_back(std::move(entry));
    }
  }

  static std::string describe(const YAML::Node& n) {
    if (n.IsSequence()) return "a list";
    if (n.IsMap()) return "a map";
    if (n.IsNull()) return "null";
    return "a scalar ('" + n.Scalar() + "')";
  }

  void check_collection_tag(const std::string& tag, std::string_view expected, const Mark& where,
                            const std::string& path) {
    if (tag.empty() || tag == "?" || tag == "!" || is_core_tag(tag, expected)) {
      return;
    }
    throw ConfigError(where, path, "unsupported YAML tag '" + tag + "'");
  }

  Node scalar(const YAML::Node& in, const Mark& where, const std::string& path) {
    const std::string& text = in.Scalar();
    const std::string& tag = in.Tag();
    // "!" is yaml-cpp's tag for quoted and block scalars: always strings.
    if (tag == "!" || is_core_tag(tag, "str")) return Node(text);
    std::optional<Node> resolved = resolve_plain(text);
    if (tag == "?" || tag.empty()) {
      if (!resolved) throw ConfigError(where, path, "number '" + text + "' is out of range");
      // A plain `yes` is a string here (YAML 1.2) but a boolean to PyYAML:
      // the schema decides (Node::yaml11_bool()).
      if (resolved->is_string()) resolved->set_plain(true);
      return *resolved;
    }
    if (tag.rfind(kTagPrefix, 0) == 0) {
      const std::string_view want = std::string_view(tag).substr(kTagPrefix.size());
      const bool ok = resolved && ((want == "int" && resolved->is_int()) ||
                                   (want == "float" && resolved->is_number()) ||
                                   (want == "bool" && resolved->is_bool()) ||
                                   (want == "null" && resolved->is_null()));
      if (ok) {
        if (want == "float" && resolved->is_int()) return Node(resolved->as_double());
        return *resolved;
      }
      throw ConfigError(where, path, "'" + text + "' is not a valid !!" + std::string(want));
    }
    throw ConfigError(where, path, "unsupported YAML tag '" + tag + "'");
  }

  LineIndex index_;
  FileName file_;
  std::size_t count_ = 0;
};

// ---- writing ---------------------------------------------------------------

// True when `s` can be written without quotes and reads back as the same
// string. Conservative: anything unusual is quoted.
bool plain_ok(std::string_view s) {
  if (s.empty()) return false;
  std::optional<Node> resolved = resolve_plain(s);
  if (!resolved || !resolved->is_string()) return false;
  static constexpr std::string_view kIndicators = "-?:,[]{}#&*!|>'\"%@`. ";
  if (kIndicators.find(s.front()) != std::string_view::npos) {
    // A leading '.' is fine unless it could start "..." (end of document).
    if (s.front() != '.' || s.substr(0, 3) == "...") return false;
  }
  if (s.back() == ' ' || s.back() == ':') return false;
  // A plain "<<" key is a merge key (YAML 1.1, and this reader).
  if (s == "<<") return false;
  // Readers of YAML 1.1 (PyYAML, so IMMP itself) take these for booleans,
  // and numbers in forms 1.2 does not know ("1_000", "0b1", "1:30"): quote
  // them all so the file means the same everywhere.
  std::string lower(s);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::string_view word : {"y", "n", "yes", "no", "on", "off"}) {
    if (lower == word) return false;
  }
  const char lead = s.front() == '+' || s.front() == '-' || s.front() == '.' ? s[1 % s.size()]
                                                                           : s.front();
  if (lead >= '0' && lead <= '9') return false;
  if (s.find(": ") != std::string_view::npos || s.find(" #") != std::string_view::npos) {
    return false;
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return false;
  }
  // Line breaks and the byte order mark outside ASCII.
  for (std::string_view bad : {"\xC2\x85", "\xE2\x80\xA8", "\xE2\x80\xA9", "\xEF\xBB\xBF"}) {
    if (s.find(bad) != std::string_view::npos) return false;
  }
  return true;
}

std::string double_quoted(std::string_view s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\t': out += "\\t"; continue;
      case '\r': out += "\\r"; continue;
      default: break;
    }
    if (c < 0x20 || c == 0x7F) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
      continue;
    }
    std::string_view rest = s.substr(i);
    if (rest.substr(0, 2) == "\xC2\x85") {
      out += "\\u0085";
      i += 1;
    } else if (rest.substr(0, 3) == "\xE2\x80\xA8") {
      out += "\\u2028";
      i += 2;
    } else if (rest.substr(0, 3) == "\xE2\x80\xA9") {
      out += "\\u2029";
      i += 2;
    } else if (rest.substr(0, 3) == "\xEF\xBB\xBF") {
      out += "\\uFEFF";
      i += 2;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

std::string yaml_string(std::string_view s) {
  return plain_ok(s) ? std::string(s) : double_quoted(s);
}

bool is_inline(const Node& n) { return !(n.is_map() || n.is_list()) || n.size() == 0; }

std::string inline_value(const Node& n) {
  switch (n.kind()) {
    case Node::Kind::null: return "null";
    case Node::Kind::boolean: return n.as_bool() ? "true" : "false";
    case Node::Kind::integer: return std::to_string(n.as_int());
    case Node::Kind::real: {
      const double v = n.as_double();
      if (std::isnan(v)) return ".nan";
      if (std::isinf(v)) return v < 0 ? "-.inf" : ".inf";
      return format_real(v);
    }
    case Node::Kind::string:
      // Written as it was read, so that `enabled: yes` keeps meaning true.
      if (n.yaml11_bool()) return n.as_string();
      return yaml_string(n.as_string());
    case Node::Kind::list: return "[]";
    case Node::Kind::map: return "{}";
  }
  return "null";
}

constexpr std::size_t kMaxImplicitKey = 1000;

void emit_block(std::string& out, const Node& n, int indent, bool first_inline);

// Writes what follows "key:" or "-" and ends the line(s).
void emit_after_indicator(std::string& out, const Node& v, int indent, bool compact) {
  if (is_inline(v)) {
    out += ' ';
    out += inline_value(v);
    out += '\n';
  } else if (compact) {
    out += ' ';
    emit_block(out, v, indent + 2, true);
  } else {
    out += '\n';
    emit_block(out, v, indent + 2, false);
  }
}

// A non-empty map or list in block style at `indent`; when first_inline,
// the first line's indentation is already written.
void emit_block(std::string& out, const Node& n, int indent, bool first_inline) {
  bool first = true;
  auto pad = [&] {
    if (!(first && first_inline)) out.append(static_cast<std::size_t>(indent), ' ');
    first = false;
  };
  if (n.is_map()) {
    for (const auto& [key, value] : n.as_map()) {
      pad();
      const std::string written = yaml_string(key);
      if (written.size() > kMaxImplicitKey) {
        // YAML limits "key:" to 1024 characters; longer keys need "? key".
        out += "? " + written + "\n";
        out.append(static_cast<std::size_t>(indent), ' ');
      } else {
        out += written;
      }
      out += ':';
      emit_after_indicator(out, value, indent, false);
    }
  } else {
    for (const Node& item : n.as_list()) {
      pad();
      out += '-';
      emit_after_indicator(out, item, indent, true);
    }
  }
}

}  // namespace

Node parse_yaml(std::string_view text, const FileName& file) {
  text = strip_bom(text);
  YamlReader reader(text, file);
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    throw ConfigError(reader.mark(e.mark), "", "YAML syntax error: " + e.msg);
  }
  if (docs.empty()) return Node();
  if (docs.size() > 1) {
    throw ConfigError(reader.mark(docs[1].Mark()), "",
                      "a config file holds one YAML document, but a second one starts here");
  }
  Mark root_mark = reader.mark(docs[0].Mark());
  if (root_mark.line == 0) root_mark = Mark{file, 1, 1};
  return reader.convert(docs[0], root_mark, "", 0);
}

std::string dump_yaml(const Node& root) {
  std::string out;
  if (is_inline(root)) {
    out = inline_value(root) + "\n";
  } else {
    emit_block(out, root, 0, false);
  }
  return out;
}

}  // namespace immp::config_detail
