#include "text/template.hpp"

#include <unicode/ucasemap.h>
#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <optional>

namespace immp::jinja {

// ---- Value ----------------------------------------------------------------

Value Value::of(bool b) {
  Value v(Kind::boolean);
  v.boolean_ = b;
  return v;
}

Value Value::of(std::int64_t i) {
  Value v(Kind::integer);
  v.integer_ = i;
  return v;
}

Value Value::of(double d) {
  Value v(Kind::real);
  v.real_ = d;
  return v;
}

Value Value::of(std::string_view s) {
  Value v(Kind::string);
  v.view_ = s;
  return v;
}

Value Value::of(const Object& o) {
  Value v(Kind::object);
  v.object_ = &o;
  return v;
}

Value Value::owned(std::string s) {
  Value v(Kind::string);
  v.owns_ = true;
  v.owned_ = std::move(s);
  return v;
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::undefined:
    case Kind::none: return false;
    case Kind::boolean: return boolean_;
    case Kind::integer: return integer_ != 0;
    case Kind::real: return real_ != 0.0;
    case Kind::string: return !str().empty();
    case Kind::object: return object_->truthy();
  }
  return false;
}

namespace {

// Python's repr() of a float: fixed notation between 1e-4 and 1e16 (with
// ".0" when whole), scientific outside.
void append_real(std::string& out, double d) {
  if (std::isnan(d)) {
    out += "nan";
    return;
  }
  if (std::isinf(d)) {
    out += d < 0 ? "-inf" : "inf";
    return;
  }
  std::array<char, 64> buf;
  double a = std::fabs(d);
  bool fixed = a == 0.0 || (a >= 1e-4 && a < 1e16);
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), d,
                                 fixed ? std::chars_format::fixed : std::chars_format::scientific);
  std::string_view text(buf.data(), end - buf.data());
  out += text;
  if (fixed && text.find('.') == std::string_view::npos) out += ".0";
}

}  // namespace

void Value::render(std::string& out) const {
  switch (kind_) {
    case Kind::string: out += str(); break;
    case Kind::boolean: out += boolean_ ? "True" : "False"; break;
    case Kind::integer: {
      std::array<char, 24> buf;
      auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), integer_);
      out.append(buf.data(), end);
      break;
    }
    case Kind::real: append_real(out, real_); break;
    case Kind::object: object_->render(out); break;
    // Jinja2 prints "None" for none; a name reading "None" is never what
    // a name-format meant, so none prints nothing, like undefined.
    case Kind::undefined:
    case Kind::none: break;
  }
}

bool Value::equals(const Value& other) const {
  auto numeric = [](const Value& v) {
    return v.kind_ == Kind::boolean || v.kind_ == Kind::integer || v.kind_ == Kind::real;
  };
  if (numeric(*this) && numeric(other)) {
    auto as_int = [](const Value& v) {
      return v.kind_ == Kind::boolean ? std::int64_t{v.boolean_} : v.integer_;
    };
    auto as_real = [&](const Value& v) {
      return v.kind_ == Kind::real ? v.real_ : static_cast<double>(as_int(v));
    };
    if (kind_ != Kind::real && other.kind_ != Kind::real) return as_int(*this) == as_int(other);
    return as_real(*this) == as_real(other);
  }
  if (kind_ != other.kind_) return false;
  switch (kind_) {
    case Kind::string: return str() == other.str();
    case Kind::object: return object_ == other.object_;
    default: return true;  // undefined, none
  }
}

// ---- errors ---------------------------------------------------------------

namespace {

std::string locate(int line, int column) {
  std::string at = line > 1 ? "line " + std::to_string(line) + ", " : std::string();
  return at + "column " + std::to_string(column);
}

}  // namespace

TemplateError::TemplateError(int line, int column, std::string problem)
    : std::runtime_error(locate(line, column) + ": " + problem),
      line_(line),
      column_(column),
      problem_(std::move(problem)) {}

// ---- Unicode --------------------------------------------------------------

namespace {

// The code point at `i`, advancing `i`; negative for an ill-formed byte
// sequence (which counts as one character).
UChar32 next_code_point(std::string_view s, std::size_t& i) {
  UChar32 c;
  auto at = static_cast<std::int32_t>(i);
  U8_NEXT(s.data(), at, static_cast<std::int32_t>(s.size()), c);
  i = static_cast<std::size_t>(at);
  return c;
}

UChar32 previous_code_point(std::string_view s, std::size_t& i) {
  UChar32 c;
  auto at = static_cast<std::int32_t>(i);
  U8_PREV(s.data(), 0, at, c);
  i = static_cast<std::size_t>(at);
  return c;
}

std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++n) next_code_point(s, i);
  return n;
}

// The byte length of the first `n` code points of `s`.
std::size_t prefix_bytes(std::string_view s, std::size_t n) {
  std::size_t i = 0;
  for (; n > 0 && i < s.size(); --n) next_code_point(s, i);
  return i;
}

// Python's str.isspace() (close enough: Unicode White_Space).
bool is_space(UChar32 c) { return c >= 0 && u_isUWhiteSpace(c); }

// Python's str.strip(): whitespace, or any of `chars` when given.
std::string_view strip(std::string_view s, bool left, bool right,
                       std::optional<std::string_view> chars = std::nullopt) {
  auto strippable = [&](UChar32 c) {
    if (!chars) return is_space(c);
    for (std::size_t k = 0; k < chars->size();) {
      if (next_code_point(*chars, k) == c) return true;
    }
    return false;
  };
  std::size_t begin = 0;
  std::size_t end = s.size();
  while (left && begin < end) {
    std::size_t next = begin;
    if (!strippable(next_code_point(s, next))) break;
    begin = next;
  }
  while (right && end > begin) {
    std::size_t previous = end;
    if (!strippable(previous_code_point(s, previous))) break;
    end = previous;
  }
  return s.substr(begin, end - begin);
}

const UCaseMap* case_map() {
  static const UCaseMap* map = [] {
    UErrorCode error = U_ZERO_ERROR;
    return ucasemap_open("", 0, &error);  // root locale: Python's mapping
  }();
  return map;
}

// Appends `in` upper- or lower-cased with Unicode's full case mapping (as
// Python's str.upper() and str.lower() do: "ß" becomes "SS").
void append_case(std::string& out, std::string_view in, bool upper) {
  if (std::all_of(in.begin(), in.end(), [](char c) { return (c & 0x80) == 0; })) {
    for (char c : in) {  // the usual case, without ICU
      if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      out.push_back(c);
    }
    return;
  }
  std::size_t base = out.size();
  auto capacity = static_cast<std::int32_t>(in.size() + 16);
  const UCaseMap* map = case_map();
  for (int attempt = 0; map && attempt < 2; ++attempt) {
    out.resize(base + static_cast<std::size_t>(capacity));
    UErrorCode error = U_ZERO_ERROR;
    auto convert = upper ? ucasemap_utf8ToUpper : ucasemap_utf8ToLower;
    std::int32_t n = convert(map, out.data() + base, capacity, in.data(),
                             static_cast<std::int32_t>(in.size()), &error);
    if (error == U_BUFFER_OVERFLOW_ERROR) {
      capacity = n;  // the length needed
      continue;
    }
    if (U_SUCCESS(error)) {
      out.resize(base + static_cast<std::size_t>(n));
      return;
    }
    break;
  }
  out.resize(base);
  out += in;  // unmappable: leave it as it was
}

// Jinja2's title: each run between -, whitespace, (, {, [ and < gets its
// first character upper-cased and the rest lower-cased.
void append_title(std::string& out, std::string_view in) {
  auto separator = [](UChar32 c) {
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || is_space(c);
  };
  for (std::size_t i = 0; i < in.size();) {
    std::size_t start = i;
    if (separator(next_code_point(in, i))) {
      out += in.substr(start, i - start);
      continue;
    }
    std::size_t first_end = i;
    std::size_t end = i;
    while (end < in.size()) {
      std::size_t next = end;
      if (separator(next_code_point(in, next))) break;
      end = next;
    }
    append_case(out, in.substr(start, first_end - start), true);
    append_case(out, in.substr(first_end, end - first_end), false);
    i = end;
  }
}

// Python's str.replace(old, new, count); a negative count replaces all.
void append_replaced(std::string& out, std::string_view s, std::string_view old,
                     std::string_view replacement, std::int64_t count) {
  if (old.empty()) {  // Python inserts between characters, and at both ends
    std::size_t i = 0;
    while (count != 0) {
      out += replacement;
      --count;
      if (i >= s.size()) break;
      std::size_t start = i;
      next_code_point(s, i);
      out += s.substr(start, i - start);
    }
    out += s.substr(i);
    return;
  }
  std::size_t from = 0;
  for (std::size_t at; count != 0 && (at = s.find(old, from)) != std::string_view::npos; --count) {
    out += s.substr(from, at - from);
    out += replacement;
    from = at + old.size();
  }
  out += s.substr(from);
}

}  // namespace

// ---- the compiled form ----------------------------------------------------

namespace {

enum class FilterId : std::uint8_t { default_value, upper, lower, title, trim, truncate, replace };

struct FilterSpec {
  std::string_view name;
  FilterId id;
  std::vector<std::string_view> params;
  std::size_t required;
};

const std::vector<FilterSpec>& filter_specs() {
  static const std::vector<FilterSpec> specs = {
      {"default", FilterId::default_value, {"default_value", "boolean"}, 0},
      {"d", FilterId::default_value, {"default_value", "boolean"}, 0},
      {"upper", FilterId::upper, {}, 0},
      {"lower", FilterId::lower, {}, 0},
      {"title", FilterId::title, {}, 0},
      {"trim", FilterId::trim, {"chars"}, 0},
      {"truncate", FilterId::truncate, {"length", "killwords", "end", "leeway"}, 0},
      {"replace", FilterId::replace, {"old", "new", "count"}, 2},
  };
  return specs;
}

struct Expr {
  enum class Op : std::uint8_t {
    none,
    boolean,
    integer,
    real,
    string,
    variable,
    attr,
    logical_or,
    logical_and,
    logical_not,
    compare,
    concat,
    conditional,
    filter,
  };
  Op op;
  bool flag = false;  // boolean literal
  std::int64_t integer = 0;
  double real = 0;
  std::string text;  // string literal, variable, attribute or filter name
  // Operands. attr: the object; compare and concat: each side; conditional:
  // value, condition, else (may be null); filter: the input, then one per
  // parameter of the filter (null where not given).
  std::vector<std::unique_ptr<Expr>> args;
  std::vector<bool> not_equal;  // compare: per operator, != rather than ==
  FilterId filter = FilterId::upper;
};
using ExprPtr = std::unique_ptr<Expr>;

struct Node;
struct Branch {
  ExprPtr condition;  // null for else
  std::vector<Node> body;
};
struct Node {
  enum class Kind : std::uint8_t { text, output, branch };
  Kind kind;
  std::string text;
  ExprPtr expr;
  std::vector<Branch> branches;
};

}  // namespace

struct Template::Compiled {
  std::vector<Node> body;
  std::vector<Variable> variables;
};

// ---- parsing --------------------------------------------------------------

namespace {

enum class Tok : std::uint8_t { name, integer, real, string, op, end, eof };

struct Token {
  Tok kind = Tok::eof;
  std::size_t pos = 0;
  std::string_view text;  // as written (op: the operator; name: the name)
  std::string value;      // a string literal, decoded
  std::int64_t integer = 0;
  double real = 0;
  bool strip = false;  // end: written with '-' (strip the whitespace after)
};

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

const char* const kSubset = "only if, elif, else and endif are supported";

class Parser {
 public:
  explicit Parser(std::string_view source) : src_(source) {}

  Template::Compiled parse() {
    Template::Compiled out;
    std::size_t tag = 0;
    std::string_view stop = parse_body(out.body, false, tag);
    (void)stop;  // only EOF stops the top level
    out.variables = std::move(variables_);
    return out;
  }

 private:
  [[noreturn]] void fail(std::size_t at, std::string problem) const {
    int line = 1;
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < at && i < src_.size(); ++i) {
      if (src_[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    }
    auto column = static_cast<int>(code_points(src_.substr(line_start, at - line_start))) + 1;
    throw TemplateError(line, column, std::move(problem));
  }

  // Text and tags up to EOF, or in an if up to its elif/else/endif, whose
  // keyword is returned (its position in `tag`), leaving pos_ after it.
  std::string_view parse_body(std::vector<Node>& body, bool in_if, std::size_t& tag) {
    for (;;) {
      std::size_t open = find_open();
      std::string_view text = src_.substr(pos_, open - pos_);
      if (strip_next_) text = strip(text, true, false);
      strip_next_ = false;
      if (open < src_.size() && open + 2 < src_.size() && src_[open + 2] == '-') {
        text = strip(text, false, true);
      }
      if (!text.empty()) {
        if (!body.empty() && body.back().kind == Node::Kind::text) {
          body.back().text += text;
        } else {
          body.push_back(Node{Node::Kind::text, std::string(text), nullptr, {}});
        }
      }
      if (open >= src_.size()) {
        pos_ = src_.size();
        return {};
      }
      char kind = src_[open + 1];
      tag_open_ = open;
      pos_ = open + 2;
      // '-' strips (done above); '+' (keep the whitespace) is the default here.
      if (pos_ < src_.size() && (src_[pos_] == '-' || (src_[pos_] == '+' && kind != '{'))) ++pos_;
      if (kind == '#') {
        skip_comment(open);
      } else if (kind == '{') {
        close_ = '}';
        ExprPtr e = parse_expression();
        expect_end();
        body.push_back(Node{Node::Kind::output, {}, std::move(e), {}});
      } else {
        close_ = '%';
        Token word = next();
        if (word.kind != Tok::name) fail(word.pos, "expected a tag name after '{%'");
        if (word.text == "if") {
          body.push_back(parse_if(open));
        } else if (word.text == "elif" || word.text == "else" || word.text == "endif") {
          if (!in_if) fail(word.pos, "'" + std::string(word.text) + "' without an 'if' before it");
          tag = word.pos;
          return word.text;
        } else {
          fail(word.pos, "'{% " + std::string(word.text) + " %}' is not supported: " + kSubset);
        }
      }
    }
  }

  Node parse_if(std::size_t if_open) {
    Node node{Node::Kind::branch, {}, nullptr, {}};
    ExprPtr condition = parse_expression();
    expect_end();
    bool seen_else = false;
    for (;;) {
      Branch branch{std::move(condition), {}};
      std::size_t tag = 0;
      std::string_view stop = parse_body(branch.body, true, tag);
      node.branches.push_back(std::move(branch));
      if (stop.empty()) fail(if_open, "this 'if' is not closed with '{% endif %}'");
      if (stop == "endif") {
        expect_end();
        return node;
      }
      if (seen_else) fail(tag, "'" + std::string(stop) + "' after 'else'");
      if (stop == "else") {
        seen_else = true;
        condition = nullptr;
      } else {
        condition = parse_expression();
      }
      expect_end();
    }
  }

  // The next "{{", "{%" or "{#" from pos_; the end of the source if none.
  std::size_t find_open() const {
    for (std::size_t i = src_.find('{', pos_); i != std::string_view::npos;
         i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) {
        return i;
      }
    }
    return src_.size();
  }

  void skip_comment(std::size_t open) {
    std::size_t close = src_.find("#}", pos_);
    if (close == std::string_view::npos) fail(open, "this comment is not closed with '#}'");
    strip_next_ = close > pos_ && src_[close - 1] == '-';
    pos_ = close + 2;
  }

  // ---- tokens ----

  void skip_space() {
    while (pos_ < src_.size() &&
           (src_[pos_] == ' ' || src_[pos_] == '\t' || src_[pos_] == '\n' || src_[pos_] == '\r')) {
      ++pos_;
    }
  }

  Token peek() {
    std::size_t saved = pos_;
    Token t = next();
    pos_ = saved;
    return t;
  }

  bool peek_is(Tok kind, std::string_view text) {
    Token t = peek();
    return t.kind == kind && t.text == text;
  }

  bool at_end_of_tag(std::size_t at) const {
    return src_.compare(at, 2, close_ == '}' ? "}}" : "%}") == 0;
  }

  Token next() {
    skip_space();
    Token t;
    t.pos = pos_;
    if (pos_ >= src_.size()) return t;  // eof
    char c = src_[pos_];
    if (c == '-' && at_end_of_tag(pos_ + 1)) {
      t.kind = Tok::end;
      t.strip = true;
      pos_ += 3;
    } else if (at_end_of_tag(pos_)) {
      t.kind = Tok::end;
      pos_ += 2;
    } else if (is_name_start(c)) {
      std::size_t start = pos_;
      while (pos_ < src_.size() && is_name_char(src_[pos_])) ++pos_;
      t.kind = Tok::name;
      t.text = src_.substr(start, pos_ - start);
      return t;
    } else if (is_digit(c)) {
      return number();
    } else if (c == '"' || c == '\'') {
      return string_literal();
    } else {
      static constexpr std::array<std::string_view, 6> kLong = {"==", "!=", "<=", ">=", "//", "**"};
      std::size_t len = 1;
      for (auto op : kLong) {
        if (src_.compare(pos_, op.size(), op) == 0) len = op.size();
      }
      if (len == 1 && std::string_view("<>+-*/%~|.,()[]{}:=!").find(c) == std::string_view::npos) {
        std::size_t end = pos_;
        next_code_point(src_, end);
        fail(pos_, "unexpected character '" + std::string(src_.substr(pos_, end - pos_)) + "'");
      }
      t.kind = Tok::op;
      t.text = src_.substr(pos_, len);
      pos_ += len;
      return t;
    }
    t.text = src_.substr(t.pos, pos_ - t.pos);
    return t;
  }

  Token number() {
    Token t;
    t.pos = pos_;
    std::string digits;
    auto run = [&] {
      while (pos_ < src_.size() && (is_digit(src_[pos_]) || src_[pos_] == '_')) {
        if (src_[pos_] != '_') digits.push_back(src_[pos_]);
        ++pos_;
      }
    };
    run();
    bool real = false;
    if (pos_ + 1 < src_.size() && src_[pos_] == '.' && is_digit(src_[pos_ + 1])) {
      real = true;
      digits.push_back('.');
      ++pos_;
      run();
    }
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      std::size_t e = pos_ + 1;
      if (e < src_.size() && (src_[e] == '+' || src_[e] == '-')) ++e;
      if (e < src_.size() && is_digit(src_[e])) {
        real = true;
        digits += src_.substr(pos_, e - pos_);
        pos_ = e;
        run();
      }
    }
    t.text = src_.substr(t.pos, pos_ - t.pos);
    const char* first = digits.data();
    const char* last = digits.data() + digits.size();
    if (real) {
      t.kind = Tok::real;
      auto [end, ec] = std::from_chars(first, last, t.real);
      if (ec != std::errc()) fail(t.pos, "number out of range");
    } else {
      t.kind = Tok::integer;
      auto [end, ec] = std::from_chars(first, last, t.integer);
      if (ec != std::errc()) fail(t.pos, "number out of range");
    }
    return t;
  }

  Token string_literal() {
    Token t;
    t.kind = Tok::string;
    t.pos = pos_;
    char quote = src_[pos_++];
    for (;;) {
      if (pos_ >= src_.size()) fail(t.pos, "this string is not closed");
      char c = src_[pos_++];
      if (c == quote) break;
      if (c != '\\' || pos_ >= src_.size()) {
        t.value.push_back(c);
        continue;
      }
      char e = src_[pos_++];
      switch (e) {
        case 'n': t.value.push_back('\n'); break;
        case 't': t.value.push_back('\t'); break;
        case 'r': t.value.push_back('\r'); break;
        case '\\':
        case '\'':
        case '"': t.value.push_back(e); break;
        case 'x':
        case 'u':
        case 'U': {
          std::size_t len = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          std::uint32_t cp = 0;
          auto [end, ec] = std::from_chars(src_.data() + pos_,
                                           src_.data() + std::min(src_.size(), pos_ + len), cp, 16);
          if (ec != std::errc() || end != src_.data() + pos_ + len || cp > 0x10FFFF) {
            fail(pos_ - 2, "bad \\" + std::string(1, e) + " escape");
          }
          pos_ += len;
          char buf[4];
          std::int32_t n = 0;
          UBool error = false;
          U8_APPEND(buf, n, 4, static_cast<UChar32>(cp), error);
          if (error) fail(pos_ - len - 2, "bad \\" + std::string(1, e) + " escape");
          t.value.append(buf, static_cast<std::size_t>(n));
          break;
        }
        default:  // Python keeps unknown escapes as written
          t.value.push_back('\\');
          t.value.push_back(e);
      }
    }
    t.text = src_.substr(t.pos, pos_ - t.pos);
    return t;
  }

  std::string describe(const Token& t) const {
    switch (t.kind) {
      case Tok::eof: return "the end of the template";
      case Tok::end: return std::string("'") + (close_ == '}' ? "}}" : "%}") + "'";
      default: return "'" + std::string(t.text) + "'";
    }
  }

  void expect_end() {
    Token t = next();
    if (t.kind == Tok::end) {
      strip_next_ = t.strip;
      return;
    }
    const char* close = close_ == '}' ? "}}" : "%}";
    if (t.kind == Tok::eof) {
      fail(tag_open_, std::string("this tag is not closed with '") + close + "'");
    }
    fail(t.pos, std::string("expected '") + close + "', found " + describe(t));
  }

  // ---- expressions ----

  static ExprPtr make(Expr::Op op) {
    auto e = std::make_unique<Expr>();
    e->op = op;
    return e;
  }

  ExprPtr parse_expression() {
    ExprPtr value = parse_or();
    while (peek_is(Tok::name, "if")) {
      next();
      ExprPtr condition = parse_or();
      ExprPtr otherwise;
      if (peek_is(Tok::name, "else")) {
        next();
        otherwise = parse_expression();
      }
      ExprPtr e = make(Expr::Op::conditional);
      e->args.push_back(std::move(value));
      e->args.push_back(std::move(condition));
      e->args.push_back(std::move(otherwise));
      value = std::move(e);
    }
    return value;
  }

  ExprPtr binary(Expr::Op op, ExprPtr left, ExprPtr right) {
    ExprPtr e = make(op);
    e->args.push_back(std::move(left));
    e->args.push_back(std::move(right));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (peek_is(Tok::name, "or")) {
      next();
      left = binary(Expr::Op::logical_or, std::move(left), parse_and());
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (peek_is(Tok::name, "and")) {
      next();
      left = binary(Expr::Op::logical_and, std::move(left), parse_not());
    }
    return left;
  }

  ExprPtr parse_not() {
    if (peek_is(Tok::name, "not")) {
      next();
      ExprPtr e = make(Expr::Op::logical_not);
      e->args.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    ExprPtr first = parse_concat();
    ExprPtr e;
    for (;;) {
      Token t = peek();
      if (t.kind == Tok::op && (t.text == "==" || t.text == "!=")) {
        next();
        if (!e) {
          e = make(Expr::Op::compare);
          e->args.push_back(std::move(first));
        }
        e->not_equal.push_back(t.text == "!=");
        e->args.push_back(parse_concat());
      } else if (t.kind == Tok::op &&
                 (t.text == "<" || t.text == ">" || t.text == "<=" || t.text == ">=")) {
        fail(t.pos, "'" + std::string(t.text) + "' is not supported: compare with == or !=");
      } else if (t.kind == Tok::name && (t.text == "in" || t.text == "not")) {
        fail(t.pos, "'" + std::string(t.text) + "' is not supported here");
      } else {
        return e ? std::move(e) : std::move(first);
      }
    }
  }

  void refuse_arithmetic() {
    static constexpr std::array<std::string_view, 7> kArithmetic = {"+",  "-", "*", "/",
                                                                    "//", "%", "**"};
    Token t = peek();
    if (t.kind == Tok::op &&
        std::find(kArithmetic.begin(), kArithmetic.end(), t.text) != kArithmetic.end()) {
      fail(t.pos,
           "arithmetic ('" + std::string(t.text) + "') is not supported: join text with '~'");
    }
  }

  ExprPtr parse_concat() {
    ExprPtr first = parse_unary();
    refuse_arithmetic();
    if (!peek_is(Tok::op, "~")) return first;
    ExprPtr e = make(Expr::Op::concat);
    e->args.push_back(std::move(first));
    while (peek_is(Tok::op, "~")) {
      next();
      e->args.push_back(parse_unary());
      refuse_arithmetic();
    }
    return e;
  }

  ExprPtr parse_unary() {
    Token t = peek();
    ExprPtr e;
    if (t.kind == Tok::op && t.text == "-") {
      next();
      Token n = next();
      if (n.kind == Tok::integer) {
        e = make(Expr::Op::integer);
        e->integer = -n.integer;
      } else if (n.kind == Tok::real) {
        e = make(Expr::Op::real);
        e->real = -n.real;
      } else {
        fail(t.pos, "arithmetic ('-') is not supported: only a number may be negative");
      }
    } else {
      e = parse_postfix(parse_primary());
    }
    return parse_filters(std::move(e));
  }

  void note_variable(const Token& t) {
    for (const auto& v : variables_) {
      if (v.name == t.text) return;
    }
    std::size_t line_start = src_.rfind('\n', t.pos);
    line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
    int line = static_cast<int>(std::count(src_.begin(), src_.begin() + t.pos, '\n')) + 1;
    int column = static_cast<int>(code_points(src_.substr(line_start, t.pos - line_start))) + 1;
    variables_.push_back({std::string(t.text), line, column});
  }

  ExprPtr parse_primary() {
    Token t = next();
    switch (t.kind) {
      case Tok::name: {
        if (t.text == "true" || t.text == "True" || t.text == "false" || t.text == "False") {
          ExprPtr e = make(Expr::Op::boolean);
          e->flag = t.text[0] == 't' || t.text[0] == 'T';
          return e;
        }
        if (t.text == "none" || t.text == "None") return make(Expr::Op::none);
        static constexpr std::array<std::string_view, 7> kReserved = {"and",  "or", "not", "if",
                                                                      "else", "in", "is"};
        if (std::find(kReserved.begin(), kReserved.end(), t.text) != kReserved.end()) {
          fail(t.pos, "expected a value, found '" + std::string(t.text) + "'");
        }
        note_variable(t);
        ExprPtr e = make(Expr::Op::variable);
        e->text = t.text;
        return e;
      }
      case Tok::integer: {
        ExprPtr e = make(Expr::Op::integer);
        e->integer = t.integer;
        return e;
      }
      case Tok::real: {
        ExprPtr e = make(Expr::Op::real);
        e->real = t.real;
        return e;
      }
      case Tok::string: {
        ExprPtr e = make(Expr::Op::string);
        e->text = std::move(t.value);
        while (peek().kind == Tok::string) e->text += next().value;  // "a" "b" is "ab"
        return e;
      }
      case Tok::op:
        if (t.text == "(") {
          ExprPtr e = parse_expression();
          Token close = next();
          if (close.kind == Tok::op && close.text == ",") {
            fail(close.pos, "tuples are not supported");
          }
          if (close.kind != Tok::op || close.text != ")") {
            fail(close.pos, "expected ')', found " + describe(close));
          }
          return e;
        }
        if (t.text == "[" || t.text == "{") {
          fail(t.pos, "lists and dicts are not supported");
        }
        break;
      default: break;
    }
    fail(t.pos, "expected a value, found " + describe(t));
  }

  ExprPtr parse_postfix(ExprPtr e) {
    for (;;) {
      Token t = peek();
      if (t.kind != Tok::op) return e;
      if (t.text == ".") {
        next();
        Token name = next();
        if (name.kind != Tok::name) fail(name.pos, "expected an attribute name after '.'");
        ExprPtr a = make(Expr::Op::attr);
        a->text = name.text;
        a->args.push_back(std::move(e));
        e = std::move(a);
      } else if (t.text == "[") {
        next();
        Token key = next();
        if (key.kind != Tok::string) fail(key.pos, "only ['name'] subscripts are supported");
        Token close = next();
        if (close.kind != Tok::op || close.text != "]") {
          fail(close.pos, "expected ']', found " + describe(close));
        }
        ExprPtr a = make(Expr::Op::attr);
        a->text = std::move(key.value);
        a->args.push_back(std::move(e));
        e = std::move(a);
      } else if (t.text == "(") {
        fail(t.pos, "calling functions or methods is not supported; use a filter");
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_filters(ExprPtr e) {
    for (;;) {
      Token t = peek();
      if (t.kind == Tok::name && t.text == "is") {
        fail(t.pos, "tests ('is ...') are not supported: use 'if x', 'x == none' or 'default'");
      }
      if (t.kind != Tok::op || t.text != "|") return e;
      next();
      Token name = next();
      if (name.kind != Tok::name) fail(name.pos, "expected a filter name after '|'");
      const auto& specs = filter_specs();
      auto spec = std::find_if(specs.begin(), specs.end(),
                               [&](const FilterSpec& s) { return s.name == name.text; });
      if (spec == specs.end()) {
        fail(name.pos, "unknown filter '" + std::string(name.text) +
                           "' (supported: default, d, upper, lower, title, trim, truncate, "
                           "replace)");
      }
      ExprPtr f = make(Expr::Op::filter);
      f->filter = spec->id;
      f->text = spec->name;
      f->args.push_back(std::move(e));
      f->args.resize(1 + spec->params.size());
      if (peek_is(Tok::op, "(")) parse_arguments(*spec, *f);
      for (std::size_t k = 0; k < spec->required; ++k) {
        if (!f->args[1 + k]) {
          fail(name.pos, "'" + std::string(spec->name) + "' needs the arguments old and new");
        }
      }
      check_literals(*f, name.pos);
      e = std::move(f);
    }
  }

  void parse_arguments(const FilterSpec& spec, Expr& f) {
    Token open = next();
    std::size_t positional = 0;
    bool keywords = false;
    std::string filter(spec.name);
    if (peek_is(Tok::op, ")")) {
      next();
      return;
    }
    for (;;) {
      Token t = peek();
      std::size_t saved = pos_;
      std::size_t slot = spec.params.size();
      if (t.kind == Tok::name) {
        next();
        if (peek_is(Tok::op, "=")) {
          next();
          auto it = std::find(spec.params.begin(), spec.params.end(), t.text);
          if (it == spec.params.end()) {
            fail(t.pos, "'" + filter + "' has no argument '" + std::string(t.text) + "'");
          }
          slot = static_cast<std::size_t>(it - spec.params.begin());
          keywords = true;
        } else {
          pos_ = saved;
        }
      }
      if (slot == spec.params.size()) {
        if (keywords) fail(t.pos, "a positional argument after a keyword argument");
        if (positional >= spec.params.size()) {
          fail(t.pos, "too many arguments for '" + filter + "'");
        }
        slot = positional++;
      }
      if (f.args[1 + slot]) {
        fail(t.pos, "'" + filter + "' got argument '" + std::string(spec.params[slot]) + "' twice");
      }
      f.args[1 + slot] = parse_expression();
      Token sep = next();
      if (sep.kind == Tok::op && sep.text == ",") {
        if (peek_is(Tok::op, ")")) {
          next();
          return;
        }
        continue;
      }
      if (sep.kind == Tok::op && sep.text == ")") return;
      if (sep.kind == Tok::eof) fail(open.pos, "this '(' is not closed");
      fail(sep.pos, "expected ',' or ')', found " + describe(sep));
    }
  }

  // Literal arguments of the wrong kind fail here rather than per message.
  void check_literals(const Expr& f, std::size_t at) {
    auto whole = [&](std::size_t slot, std::string_view what, bool none_ok) {
      const Expr* a = f.args[1 + slot].get();
      if (!a) return;
      bool literal = a->op == Expr::Op::boolean || a->op == Expr::Op::real ||
                     a->op == Expr::Op::string || a->op == Expr::Op::none;
      if (literal && !(none_ok && a->op == Expr::Op::none)) {
        fail(at, "'" + f.text + "' wants a whole number for " + std::string(what));
      }
    };
    if (f.filter == FilterId::truncate) {
      whole(0, "length", false);
      whole(3, "leeway", true);
      const Expr* length = f.args[1].get();
      const Expr* end = f.args[3].get();
      std::size_t end_length = end && end->op == Expr::Op::string ? code_points(end->text) : 3;
      if (length && length->op == Expr::Op::integer &&
          (length->integer < 0 || static_cast<std::size_t>(length->integer) < end_length)) {
        fail(at, "'truncate' wants a length of at least the length of its end (" +
                     std::to_string(end_length) + ")");
      }
      const Expr* leeway = f.args[4].get();
      if (leeway && leeway->op == Expr::Op::integer && leeway->integer < 0) {
        fail(at, "'truncate' wants a leeway of 0 or more");
      }
    } else if (f.filter == FilterId::replace) {
      whole(2, "count", true);
    }
  }

  std::string_view src_;
  std::size_t pos_ = 0;
  std::size_t tag_open_ = 0;
  char close_ = '}';         // the tag being read: '}' for {{ }}, '%' for {% %}
  bool strip_next_ = false;  // the previous tag ended with '-'
  std::vector<Template::Variable> variables_;
};

// Jinja2 reads the source line by line: \r\n and \r become \n, and one
// newline at the very end is dropped.
std::string normalise(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (std::size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// ---- rendering ------------------------------------------------------------

Value eval(const Expr& e, const Object& context);

// The text of `v` as Jinja2's str() gives it (none: nothing, see render()).
std::string_view text_of(const Value& v, std::string& scratch) {
  if (v.kind() == Value::Kind::string) return v.str();
  v.render(scratch);
  return scratch;
}

std::int64_t whole_of(const Value& v, std::int64_t fallback) {
  if (v.kind() == Value::Kind::integer) return v.integer();
  if (v.kind() == Value::Kind::boolean) return v.boolean() ? 1 : 0;
  return fallback;
}

Value apply_filter(const Expr& e, const Object& context) {
  Value in = eval(*e.args[0], context);
  auto arg = [&](std::size_t k) -> Value {
    const Expr* a = e.args[1 + k].get();
    return a ? eval(*a, context) : Value();
  };
  if (e.filter == FilterId::default_value) {
    bool boolean = e.args[2] && arg(1).truthy();
    if (in.is_undefined() || (boolean && !in.truthy())) {
      return e.args[1] ? arg(0) : Value::of(std::string_view());
    }
    return in;
  }
  std::string scratch;
  std::string_view s = text_of(in, scratch);
  std::string out;
  switch (e.filter) {
    case FilterId::default_value: break;
    case FilterId::upper: append_case(out, s, true); break;
    case FilterId::lower: append_case(out, s, false); break;
    case FilterId::title: append_title(out, s); break;
    case FilterId::trim: {
      Value chars = arg(0);
      std::string chars_scratch;
      bool given = chars.kind() != Value::Kind::undefined && chars.kind() != Value::Kind::none;
      std::optional<std::string_view> set;
      if (given) set = text_of(chars, chars_scratch);
      out = strip(s, true, true, set);
      break;
    }
    case FilterId::truncate: {
      std::int64_t length = e.args[1] ? whole_of(arg(0), 255) : 255;
      bool killwords = e.args[2] && arg(1).truthy();
      Value end_value = e.args[3] ? arg(2) : Value::of(std::string_view("..."));
      std::string end_scratch;
      std::string_view end = text_of(end_value, end_scratch);
      std::int64_t leeway = e.args[4] ? whole_of(arg(3), 5) : 5;
      auto n = static_cast<std::int64_t>(code_points(s));
      if (n <= length + std::max<std::int64_t>(leeway, 0)) {
        if (in.kind() == Value::Kind::string) return in;
        out = s;
        break;
      }
      std::int64_t keep =
          std::max<std::int64_t>(length - static_cast<std::int64_t>(code_points(end)), 0);
      std::string_view prefix = s.substr(0, prefix_bytes(s, static_cast<std::size_t>(keep)));
      if (!killwords) {
        if (std::size_t space = prefix.rfind(' '); space != std::string_view::npos) {
          prefix = prefix.substr(0, space);
        }
      }
      out.reserve(prefix.size() + end.size());
      out += prefix;
      out += end;
      break;
    }
    case FilterId::replace: {
      Value old_value = arg(0);
      Value new_value = arg(1);
      std::string old_scratch;
      std::string new_scratch;
      std::int64_t count = e.args[3] ? whole_of(arg(2), -1) : -1;
      append_replaced(out, s, text_of(old_value, old_scratch), text_of(new_value, new_scratch),
                      count);
      break;
    }
  }
  return Value::owned(std::move(out));
}

Value eval(const Expr& e, const Object& context) {
  switch (e.op) {
    case Expr::Op::none: return Value::none();
    case Expr::Op::boolean: return Value::of(e.flag);
    case Expr::Op::integer: return Value::of(e.integer);
    case Expr::Op::real: return Value::of(e.real);
    case Expr::Op::string: return Value::of(std::string_view(e.text));
    case Expr::Op::variable: return context.attr(e.text);
    case Expr::Op::attr: {
      Value object = eval(*e.args[0], context);
      const Object* o = object.object();
      return o ? o->attr(e.text) : Value();
    }
    case Expr::Op::logical_or: {
      Value left = eval(*e.args[0], context);
      return left.truthy() ? left : eval(*e.args[1], context);
    }
    case Expr::Op::logical_and: {
      Value left = eval(*e.args[0], context);
      return left.truthy() ? eval(*e.args[1], context) : left;
    }
    case Expr::Op::logical_not: return Value::of(!eval(*e.args[0], context).truthy());
    case Expr::Op::compare: {
      Value left = eval(*e.args[0], context);
      for (std::size_t k = 1; k < e.args.size(); ++k) {
        Value right = eval(*e.args[k], context);
        if (left.equals(right) == e.not_equal[k - 1]) return Value::of(false);
        left = std::move(right);
      }
      return Value::of(true);
    }
    case Expr::Op::concat: {
      std::string out;
      for (const auto& a : e.args) eval(*a, context).render(out);
      return Value::owned(std::move(out));
    }
    case Expr::Op::conditional:
      if (eval(*e.args[1], context).truthy()) return eval(*e.args[0], context);
      return e.args[2] ? eval(*e.args[2], context) : Value();
    case Expr::Op::filter: return apply_filter(e, context);
  }
  return {};
}

void render_nodes(const std::vector<Node>& nodes, const Object& context, std::string& out) {
  for (const Node& node : nodes) {
    switch (node.kind) {
      case Node::Kind::text: out += node.text; break;
      case Node::Kind::output:
        if (node.expr->op == Expr::Op::concat) {  // straight into `out`, no temporary
          for (const auto& a : node.expr->args) eval(*a, context).render(out);
        } else {
          eval(*node.expr, context).render(out);
        }
        break;
      case Node::Kind::branch:
        for (const Branch& b : node.branches) {
          if (!b.condition || eval(*b.condition, context).truthy()) {
            render_nodes(b.body, context, out);
            break;
          }
        }
        break;
    }
  }
}

}  // namespace

// ---- Template -------------------------------------------------------------

Template Template::compile(std::string_view source) {
  std::string text = normalise(source);
  Parser parser(text);
  return Template(std::make_shared<const Compiled>(parser.parse()));
}

void Template::render(const Object& context, std::string& out) const {
  render_nodes(compiled_->body, context, out);
}

std::string Template::render(const Object& context) const {
  std::string out;
  render(context, out);
  return out;
}

const std::vector<Template::Variable>& Template::variables() const { return compiled_->variables; }

}  // namespace immp::jinja
