// Templates in the subset of Jinja2 that IMMP's name-format uses, compiled
// once (at config load) and rendered per message without re-parsing.
//
// The subset: {{ expr }}, {% if %} / {% elif %} / {% else %} / {% endif %},
// {# comments #}, whitespace control ({%- -%}, {{- -}}); expressions of
// variables, attributes (a.b, a['b']), string/number/true/false/none
// literals, `or`, `and`, `not`, `==`, `!=`, `~`, `x if c else y`, and the
// filters default (d), upper, lower, title, trim, truncate and replace.
// Anything else is refused by compile(), with the line and column.
//
// Semantics are Jinja2's (truthiness, `or` giving an operand, filter
// arguments), with two deliberate differences: none renders as nothing
// (Jinja2 prints "None"), and an attribute of something undefined is
// undefined (Jinja2 raises an error at render time).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace immp::jinja {

class Object;

// A value a template works with. A string is a view: what it points at
// (the context's data, the template's literals) must outlive the render.
// Strings that filters or `~` make are owned by the value.
class Value {
 public:
  enum class Kind : std::uint8_t { undefined, none, boolean, integer, real, string, object };

  Value() = default;  // undefined
  static Value none() { return Value(Kind::none); }
  static Value of(bool b);
  static Value of(std::int64_t i);
  static Value of(double d);
  static Value of(std::string_view s);
  static Value of(const char* s) { return of(std::string_view(s)); }
  static Value of(const Object& o);
  static Value owned(std::string s);
  // none for an empty string: how our models say "not set" where IMMP's
  // say None.
  static Value optional(std::string_view s) { return s.empty() ? none() : of(s); }

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::undefined; }
  // Jinja2's truth: undefined, none, false, 0, "" and empty objects are false.
  bool truthy() const;
  // The text of a string value; empty for other kinds.
  std::string_view str() const { return owns_ ? std::string_view(owned_) : view_; }
  const Object* object() const { return kind_ == Kind::object ? object_ : nullptr; }
  std::int64_t integer() const { return integer_; }
  double real() const { return real_; }
  bool boolean() const { return boolean_; }
  // Appends what {{ value }} prints: strings as they are, True/False,
  // numbers as Python prints them, nothing for undefined and none, and
  // Object::render() for objects.
  void render(std::string& out) const;
  // Python's ==, as Jinja2 compares: numbers by value (true == 1), strings
  // by content, objects by identity, undefined only equal to undefined.
  bool equals(const Value& other) const;

 private:
  explicit Value(Kind kind) : kind_(kind) {}

  Kind kind_ = Kind::undefined;
  bool owns_ = false;
  union {
    bool boolean_;
    std::int64_t integer_ = 0;
    double real_;
    const Object* object_;
  };
  std::string_view view_;
  std::string owned_;
};

// Something with attributes (`user`, `user.plug`), and the set of
// top-level variables. Implemented by the caller; must outlive the render.
class Object {
 public:
  virtual ~Object() = default;
  // The attribute `name`; undefined when there is none.
  virtual Value attr(std::string_view name) const = 0;
  // How `{% if x %}` sees it: a list-like object answers "not empty".
  virtual bool truthy() const { return true; }
  // What {{ x }} appends; nothing unless the object has a natural text
  // (Jinja2 would print Python's representation of the object).
  virtual void render(std::string& out) const { (void)out; }
};

// A template outside the subset, or malformed. line and column are 1-based
// and count characters of the template text.
class TemplateError : public std::runtime_error {
 public:
  TemplateError(int line, int column, std::string problem);
  int line() const { return line_; }
  int column() const { return column_; }
  // What is wrong, without the position.
  const std::string& problem() const { return problem_; }

 private:
  int line_;
  int column_;
  std::string problem_;
};

class Template {
 public:
  // A top-level variable the template reads, and where it first does.
  struct Variable {
    std::string name;
    int line;
    int column;
  };

  // Parses `source`. Throws TemplateError at the first thing outside the
  // subset or malformed.
  static Template compile(std::string_view source);

  // Appends the rendering to `out`. The attributes of `context` are the
  // top-level variables. Allocates only for filters and `~`.
  void render(const Object& context, std::string& out) const;
  std::string render(const Object& context) const;

  // Top-level variables the template reads, in order of first use (for a
  // caller to warn about names it does not provide).
  const std::vector<Variable>& variables() const;

  struct Compiled;

 private:
  explicit Template(std::shared_ptr<const Compiled> compiled) : compiled_(std::move(compiled)) {}
  // Immutable once compiled, so copies share it.
  std::shared_ptr<const Compiled> compiled_;
};

}  // namespace immp::jinja
