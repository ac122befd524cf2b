// A strict JSON (RFC 8259) reader that remembers positions, and a writer.
// Written by hand because boost::json keeps no line and column.
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>

#include "core/config_formats.hpp"

namespace immp::config_detail {

namespace {

class JsonReader {
 public:
  JsonReader(std::string_view text, FileName file)
      : text_(text), index_(text), file_(std::move(file)) {}

  Node document() {
    skip_space();
    if (at_end()) fail_here("the file is empty: expected a JSON value");
    Node root = value(mark_at(pos_), "", 0);
    skip_space();
    if (!at_end()) fail_here("unexpected " + describe_here() + " after the JSON value");
    return root;
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }

  Mark mark_at(std::size_t offset) const {
    Mark m{file_, 0, 0};
    index_.locate(offset, m.line, m.column);
    return m;
  }

  [[noreturn]] void fail_at(std::size_t offset, std::string problem,
                            const std::string& path = {}) const {
    throw ConfigError(mark_at(offset), path, std::move(problem));
  }
  [[noreturn]] void fail_here(std::string problem) const { fail_at(pos_, std::move(problem)); }

  std::string describe_here() const {
    if (at_end()) return "end of file";
    const auto c = static_cast<unsigned char>(peek());
    if (c >= 0x21 && c < 0x7F) return std::string("'") + static_cast<char>(c) + "'";
    if (c == ' ') return "a space";
    if (c == '\n' || c == '\r') return "a line break";
    if (c == '\t') return "a tab";
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02X", c);
    return std::string("byte ") + buf;
  }

  void skip_space() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) {
      ++pos_;
    }
  }

  void expect_value_start() {
    if (at_end()) fail_here("unexpected end of file: expected a value");
    if (peek() == '/') fail_here("JSON does not allow comments");
    if (peek() == ']' || peek() == '}') fail_here("expected a value, got " + describe_here());
    if (peek() == '\'') fail_here("JSON strings need double quotes");
  }

  // `where` is the mark the node gets: its own for items and the root,
  // its key's for object members.
  Node value(const Mark& where, const std::string& path, int depth) {
    check_depth(depth, where);
    expect_value_start();
    Node out;
    const char c = peek();
    if (c == '{') {
      out = object(path, depth);
    } else if (c == '[') {
      out = array(path, depth);
    } else if (c == '"') {
      out = Node(string());
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      out = number();
    } else if (literal("true")) {
      out = Node(true);
    } else if (literal("false")) {
      out = Node(false);
    } else if (literal("null")) {
      out = Node();
    } else {
      fail_here("expected a value, got " + describe_here());
    }
    out.set_mark(where);
    out.set_path(path);
    return out;
  }

  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    const std::size_t end = pos_ + word.size();
    if (end < text_.size() && std::isalnum(static_cast<unsigned char>(text_[end]))) return false;
    pos_ = end;
    return true;
  }

  Node object(const std::string& path, int depth) {
    ++pos_;  // '{'
    NodeMap map;
    // key -> line it was first written on, and its place in `map`
    std::unordered_map<std::string, std::pair<int, std::size_t>> lines;
    skip_space();
    if (!at_end() && peek() == '}') {
      ++pos_;
      return Node(std::move(map));
    }
    while (true) {
      skip_space();
      if (at_end()) fail_here("unexpected end of file inside an object: expected a key");
      if (peek() == '}') fail_here("a trailing comma is not allowed in JSON");
      if (peek() == '/') fail_here("JSON does not allow comments");
      if (peek() != '"') fail_here("expected a key in double quotes, got " + describe_here());
      const std::size_t key_at = pos_;
      std::string key = string();
      const Mark key_mark = mark_at(key_at);
      skip_space();
      if (at_end() || peek() != ':') {
        fail_here("expected ':' after the key '" + key + "', got " + describe_here());
      }
      ++pos_;
      skip_space();
      Node item = value(key_mark, child_path(path, key), depth + 1);
      auto [seen, fresh] = lines.emplace(key, std::pair(key_mark.line, map.size()));
      if (fresh) {
        map.emplace_back(std::move(key), std::move(item));
      } else {
        // Python's json (so IMMP) takes the last one: a warning.
        report_duplicate(key_mark, path, key, seen->second.first);
        map[seen->second.second].second = std::move(item);
      }
      skip_space();
      if (at_end()) fail_here("unexpected end of file inside an object: expected ',' or '}'");
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        return Node(std::move(map));
      }
      fail_here("expected ',' or '}' after an object member, got " + describe_here());
    }
  }

  Node array(const std::string& path, int depth) {
    ++pos_;  // '['
    NodeList list;
    skip_space();
    if (!at_end() && peek() == ']') {
      ++pos_;
      return Node(std::move(list));
    }
    while (true) {
      skip_space();
      if (!at_end() && peek() == ']') fail_here("a trailing comma is not allowed in JSON");
      Node item = value(mark_at(pos_), item_path(path, list.size()), depth + 1);
      list.push_back(std::move(item));
      skip_space();
      if (at_end()) fail_here("unexpected end of file inside a list: expected ',' or ']'");
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return Node(std::move(list));
      }
      fail_here("expected ',' or ']' after a list item, got " + describe_here());
    }
  }

  unsigned hex4() {
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      if (at_end() || !std::isxdigit(static_cast<unsigned char>(peek()))) {
        fail_here("a \\u escape needs four hex digits");
      }
      const char c = peek();
      v = v * 16 + static_cast<unsigned>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
      ++pos_;
    }
    return v;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string string() {
    const std::size_t start = pos_;
    ++pos_;  // '"'
    std::string out;
    while (true) {
      if (at_end()) fail_at(start, "unterminated string");
      const auto c = static_cast<unsigned char>(peek());
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) {
        fail_here(c == '\n' ? "unterminated string (a line break inside a string must be "
                              "written as \\n)"
                            : "control character in a string: escape it");
      }
      if (c != '\\') {
        out += static_cast<char>(c);
        ++pos_;
        continue;
      }
      const std::size_t escape_at = pos_;
      ++pos_;
      if (at_end()) fail_at(start, "unterminated string");
      const char e = peek();
      ++pos_;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (text_.substr(pos_, 2) != "\\u") {
              fail_at(escape_at, "a \\u escape of a high surrogate must be followed by a low one");
            }
            pos_ += 2;
            const unsigned low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) {
              fail_at(escape_at, "a \\u escape of a high surrogate must be followed by a low one");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail_at(escape_at, "a \\u escape of a low surrogate without a high one before it");
          }
          append_utf8(out, cp);
          break;
        }
        default:
          fail_at(escape_at, std::string("invalid escape '\\") + e + "' in a string");
      }
    }
  }

  Node number() {
    const std::size_t start = pos_;
    auto digits = [&] {
      const std::size_t from = pos_;
      while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
      return pos_ - from;
    };
    if (peek() == '-') ++pos_;
    if (at_end() || !(peek() >= '0' && peek() <= '9')) fail_at(start, "invalid number");
    if (peek() == '0') {
      ++pos_;
      if (!at_end() && peek() >= '0' && peek() <= '9') {
        fail_at(start, "invalid number: JSON numbers cannot have leading zeros");
      }
    } else {
      digits();
    }
    bool integral = true;
    if (!at_end() && peek() == '.') {
      integral = false;
      ++pos_;
      if (digits() == 0) fail_at(start, "invalid number: expected digits after '.'");
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      integral = false;
      ++pos_;
      if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
      if (digits() == 0) fail_at(start, "invalid number: expected digits in the exponent");
    }
    if (!at_end() && (std::isalpha(static_cast<unsigned char>(peek())) || peek() == '.')) {
      fail_at(start, "invalid number");
    }
    const std::string_view text = text_.substr(start, pos_ - start);
    if (integral) {
      std::int64_t v = 0;
      if (!parse_int64(text, v)) {
        fail_at(start, "integer " + std::string(text) + " does not fit in 64 bits");
      }
      return Node(v);
    }
    const double v = std::strtod(std::string(text).c_str(), nullptr);
    if (std::isinf(v)) fail_at(start, "number " + std::string(text) + " is out of range");
    return Node(v);
  }

  std::string_view text_;
  LineIndex index_;
  FileName file_;
  std::size_t pos_ = 0;
};


void emit(std::string& out, const Node& n, int indent) {
  auto newline = [&](int level) {
    out += '\n';
    out.append(static_cast<std::size_t>(level), ' ');
  };
  switch (n.kind()) {
    case Node::Kind::null: out += "null"; return;
    case Node::Kind::boolean: out += n.as_bool() ? "true" : "false"; return;
    case Node::Kind::integer: out += std::to_string(n.as_int()); return;
    case Node::Kind::real: {
      const double v = n.as_double();
      if (!std::isfinite(v)) n.fail("JSON cannot hold " + format_real(v));
      out += format_real(v);
      return;
    }
    case Node::Kind::string: append_quoted(out, n.as_string()); return;
    case Node::Kind::list: {
      if (n.size() == 0) {
        out += "[]";
        return;
      }
      out += '[';
      bool first = true;
      for (const Node& item : n.as_list()) {
        if (!first) out += ',';
        first = false;
        newline(indent + 2);
        emit(out, item, indent + 2);
      }
      newline(indent);
      out += ']';
      return;
    }
    case Node::Kind::map: {
      if (n.size() == 0) {
        out += "{}";
        return;
      }
      out += '{';
      bool first = true;
      for (const auto& [key, value] : n.as_map()) {
        if (!first) out += ',';
        first = false;
        newline(indent + 2);
        append_quoted(out, key);
        out += ": ";
        emit(out, value, indent + 2);
      }
      newline(indent);
      out += '}';
      return;
    }
  }
}

}  // namespace

Node parse_json(std::string_view text, const FileName& file) {
  JsonReader reader(strip_bom(text), file);
  return reader.document();
}

std::string dump_json(const Node& root) {
  std::string out;
  emit(out, root, 0);
  out += '\n';
  return out;
}

}  // namespace immp::config_detail
