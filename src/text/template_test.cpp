#include "text/template.hpp"

#include <gtest/gtest.h>

#include <map>

namespace immp::jinja {
namespace {

// Attributes from a map; what the name-format context looks like.
class Fields final : public Object {
 public:
  Fields& set(std::string name, Value v) {
    fields_[std::move(name)] = std::move(v);
    return *this;
  }
  Value attr(std::string_view name) const override {
    auto it = fields_.find(name);
    return it == fields_.end() ? Value() : it->second;
  }

 private:
  std::map<std::string, Value, std::less<>> fields_;
};

class TemplateTest : public ::testing::Test {
 protected:
  TemplateTest() {
    plug.set("name", Value::of("irc")).set("network_name", Value::of("IRC"));
    user.set("id", Value::of("ally!a@host"))
        .set("username", Value::of("ally"))
        .set("real_name", Value::none())
        .set("plug", Value::of(plug));
    context.set("user", Value::of(user))
        .set("identity", Value::none())
        .set("channel", Value::of("Lobby"));
  }

  std::string render(std::string_view source) { return Template::compile(source).render(context); }

  // The error compile() gives, as "line:column: problem".
  std::string error(std::string_view source) {
    try {
      Template::compile(source);
    } catch (const TemplateError& e) {
      return std::to_string(e.line()) + ":" + std::to_string(e.column()) + ": " + e.problem();
    }
    return "compiled";
  }

  Fields plug;
  Fields user;
  Fields context;
};

TEST_F(TemplateTest, ImmpNameFormats) {
  EXPECT_EQ(render("{{ user.real_name or user.username }} ({{ user.plug.network_name }})"),
            "ally (IRC)");
  user.set("real_name", Value::of("Alice"));
  EXPECT_EQ(render("{{ user.real_name or user.username }} ({{ user.plug.network_name }})"),
            "Alice (IRC)");
  EXPECT_EQ(render("{{ user.real_name }} in {{ channel }}"), "Alice in Lobby");
  EXPECT_EQ(render("{{ user['username'] }}"), "ally");
}

TEST_F(TemplateTest, UndefinedAndNoneRenderNothing) {
  EXPECT_EQ(render("[{{ nothing }}]"), "[]");
  EXPECT_EQ(render("[{{ user.nothing }}]"), "[]");
  EXPECT_EQ(render("[{{ identity.name }}]"), "[]") << "an attribute of none is undefined";
  EXPECT_EQ(render("[{{ nothing.deeper.still }}]"), "[]");
  EXPECT_EQ(render("[{{ none }}{{ user.real_name }}]"), "[]") << "Jinja2 would print None";
  EXPECT_EQ(render("[{{ user }}]"), "[]") << "objects print nothing";
}

TEST_F(TemplateTest, Literals) {
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ true ~ 2.5 ~ False }}"), "a1True2.5False");
  EXPECT_EQ(render("{{ 1.0 }} {{ -3 }} {{ 1_000 }} {{ 1e3 }} {{ 0.5e-5 }}"),
            "1.0 -3 1000 1000.0 5e-06");
  EXPECT_EQ(render(R"({{ "x" 'y' }})"), "xy");
  EXPECT_EQ(render(R"({{ 'it\'s' ~ "\u00e9\n" }})"), "it's\xC3\xA9\n");
  EXPECT_EQ(render("{ a } }} %}"), "{ a } }} %}") << "lone braces are text";
}

TEST_F(TemplateTest, LogicKeepsOperandsAsJinjaDoes) {
  EXPECT_EQ(render("{{ '' or 'b' }}|{{ 'a' or 'b' }}|{{ 0 or none or 'x' }}"), "b|a|x");
  EXPECT_EQ(render("{{ 'a' and 'b' }}|{{ '' and 'b' }}|{{ 0 and 'b' }}"), "b||0");
  EXPECT_EQ(render("{{ not '' }}|{{ not user }}|{{ not not 'x' }}"), "True|False|True");
  EXPECT_EQ(render("{{ not identity and 'anon' or 'known' }}"), "anon");
  EXPECT_EQ(render("{{ 'x' if user else 'y' }}|{{ 'x' if none }}|{{ 'x' if 0 else 'z' }}"), "x||z");
}

TEST_F(TemplateTest, Comparisons) {
  EXPECT_EQ(render("{{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' != 'b' }} {{ none == none }}"),
            "True True True True");
  EXPECT_EQ(render("{{ nothing == none }} {{ '' == none }} {{ 1 == '1' }}"), "False False False");
  EXPECT_EQ(render("{{ 1 == 1 == 1 }} {{ 1 == 1 != 1 }}"), "True False");
  EXPECT_EQ(render("{{ user.plug.network_name == 'IRC' }} {{ user == user }}"), "True True");
  EXPECT_EQ(render("{{ not user.username == 'ally' }}"), "False") << "not binds looser than ==";
}

TEST_F(TemplateTest, DefaultFilter) {
  EXPECT_EQ(render("{{ nothing | default('x') }}|{{ nothing|d('x') }}|{{ nothing|default }}"),
            "x|x|");
  EXPECT_EQ(render("[{{ '' | default('x') }}]"), "[]") << "only undefined, unless boolean";
  EXPECT_EQ(render("{{ '' | default('x', true) }}|{{ user.real_name|d('x', boolean=true) }}"),
            "x|x");
  EXPECT_EQ(render("{{ user.real_name | default(user.username, true) | upper }}"), "ALLY");
}

TEST_F(TemplateTest, CaseFilters) {
  EXPECT_EQ(render("{{ 'hello world' | upper }}|{{ 'HeLLo' | lower }}"), "HELLO WORLD|hello");
  EXPECT_EQ(render("{{ '\u00c9COLE stra\u00dfe' | lower }}"), "\u00e9cole stra\u00dfe");
  EXPECT_EQ(render("{{ 'stra\u00dfe \u00e9t\u00e9' | upper }}"), "STRASSE \u00c9T\u00c9")
      << "Unicode's full mapping, as Python";
  EXPECT_EQ(render("{{ 'hello wORLD-foo (bar) x' | title }}"), "Hello World-Foo (Bar) X");
  EXPECT_EQ(render("{{ \"o'neil mcDONALD\" | title }}"), "O'neil Mcdonald")
      << "Jinja2's title, not Python's str.title";
  EXPECT_EQ(render("{{ '\u00e9mile zola' | title }}"), "\u00c9mile Zola");
  EXPECT_EQ(render("{{ 12 | replace('1', 'x') }}"), "x2") << "non-strings become text";
}

TEST_F(TemplateTest, TrimTruncateReplace) {
  EXPECT_EQ(render("[{{ '  a b \n' | trim }}]|{{ 'xxaxx' | trim('x') }}"), "[a b]|a");
  EXPECT_EQ(render("{{ 'Alexander the Great' | truncate(9) }}"), "Alexan...");
  EXPECT_EQ(render("{{ 'foo bar baz qux' | truncate(9) }}"), "foo...");
  EXPECT_EQ(render("{{ 'foo bar baz qux' | truncate(9, true) }}"), "foo ba...");
  EXPECT_EQ(render("{{ 'foo bar baz qux' | truncate(9, true, '!') }}"), "foo bar !");
  EXPECT_EQ(render("{{ 'abcdefghij' | truncate(9) }}"), "abcdefghij") << "within the leeway";
  EXPECT_EQ(render("{{ 'abcdefghij' | truncate(9, leeway=0) }}"), "abcdef...");
  EXPECT_EQ(render("{{ '\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9' | truncate(4, leeway=0) }}"),
            "\u00e9...")
      << "counts characters, not bytes";
  EXPECT_EQ(render("{{ 'a-b-c' | replace('-', '+') }}|{{ 'a-b-c' | replace('-', '', 1) }}"),
            "a+b+c|ab-c");
  EXPECT_EQ(render("{{ 'ab' | replace('', '.') }}"), ".a.b.");
  EXPECT_EQ(render("{{ 'a' ~ 'b' | upper }}"), "aB") << "filters bind tighter than ~";
}

TEST_F(TemplateTest, IfElifElse) {
  const char* source =
      "{% if identity %}{{ identity.name }}{% elif user.real_name %}{{ user.real_name }}"
      "{% else %}@{{ user.username }}{% endif %}";
  EXPECT_EQ(render(source), "@ally");
  user.set("real_name", Value::of("Alice"));
  EXPECT_EQ(render(source), "Alice");
  Fields identity;
  identity.set("name", Value::of("Alice A."));
  context.set("identity", Value::of(identity));
  EXPECT_EQ(render(source), "Alice A.");
  EXPECT_EQ(
      render("{% if 0 %}a{% endif %}b{% if 1 %}{% if '' %}c{% else %}d{% endif %}{% endif %}"),
      "bd");
}

TEST_F(TemplateTest, WhitespaceControlCommentsAndNewlines) {
  EXPECT_EQ(render("a  {%- if true -%}  b  {%- endif -%}  c"), "abc");
  EXPECT_EQ(render("a \n {{- ' x ' -}} \n b"), "a x b");
  EXPECT_EQ(render("a {# a comment #}b {#- trimmed -#} c"), "a bc");
  EXPECT_EQ(render("a\n{% if true %}\nb\n{% endif %}\n"), "a\n\nb\n")
      << "no trim_blocks; one final newline dropped";
  EXPECT_EQ(render("x\r\ny\n\n"), "x\ny\n");
}

TEST_F(TemplateTest, ErrorsSayWhere) {
  EXPECT_EQ(error("{{ user.name }} {% for x in y %}{% endfor %}"),
            "1:20: '{% for %}' is not supported: only if, elif, else and endif are supported");
  EXPECT_EQ(error("{{ user | capitalize }}"),
            "1:11: unknown filter 'capitalize' (supported: default, d, upper, lower, title, trim, "
            "truncate, replace)");
  EXPECT_EQ(error("ab {{ user.name"), "1:4: this tag is not closed with '}}'");
  EXPECT_EQ(error("{% if a %}x"), "1:1: this 'if' is not closed with '{% endif %}'");
  EXPECT_EQ(error("x{% endif %}"), "1:5: 'endif' without an 'if' before it");
  EXPECT_EQ(error("{% if a %}{% else %}{% elif b %}{% endif %}"), "1:24: 'elif' after 'else'");
  EXPECT_EQ(error("{{ a + b }}"), "1:6: arithmetic ('+') is not supported: join text with '~'");
  EXPECT_EQ(error("{{ a < b }}"), "1:6: '<' is not supported: compare with == or !=");
  EXPECT_EQ(error("{% if a is defined %}{% endif %}"),
            "1:9: tests ('is ...') are not supported: use 'if x', 'x == none' or 'default'");
  EXPECT_EQ(error("{{ 'abc }}"), "1:4: this string is not closed");
  EXPECT_EQ(error("{{ f() }}"), "1:5: calling functions or methods is not supported; use a filter");
  EXPECT_EQ(error("{{ }}"), "1:4: expected a value, found '}}'");
  EXPECT_EQ(error("{{ [1] }}"), "1:4: lists and dicts are not supported");
  EXPECT_EQ(error("{{ a b }}"), "1:6: expected '}}', found 'b'");
  EXPECT_EQ(error("{{ a }}\n  {% set x = 1 %}"),
            "2:6: '{% set %}' is not supported: only if, elif, else and endif are supported");
  EXPECT_EQ(error("{{ '\u00e9\u00e9' ~ a | nope }}"),
            "1:15: unknown filter 'nope' (supported: "
            "default, d, upper, lower, title, trim, "
            "truncate, replace)")
      << "columns count characters";
}

TEST_F(TemplateTest, FilterArgumentsAreCheckedAtCompile) {
  EXPECT_EQ(error("{{ x | replace('a') }}"), "1:8: 'replace' needs the arguments old and new");
  EXPECT_EQ(error("{{ x | truncate(foo=1) }}"), "1:17: 'truncate' has no argument 'foo'");
  EXPECT_EQ(error("{{ x | upper(1) }}"), "1:14: too many arguments for 'upper'");
  EXPECT_EQ(error("{{ x | truncate(5, length=3) }}"),
            "1:20: 'truncate' got argument 'length' twice");
  EXPECT_EQ(error("{{ x | truncate(end='', 5) }}"),
            "1:25: a positional argument after a keyword argument");
  EXPECT_EQ(error("{{ x | truncate('5') }}"), "1:8: 'truncate' wants a whole number for length");
  EXPECT_EQ(error("{{ x | truncate(2) }}"),
            "1:8: 'truncate' wants a length of at least the length of its end (3)");
  EXPECT_EQ(error("{{ x | truncate(2, end='') }}"), "compiled");
}

TEST_F(TemplateTest, ErrorMessageCarriesThePosition) {
  try {
    Template::compile("{{ a }}\n{{ a | x }}");
    FAIL() << "compiled";
  } catch (const TemplateError& e) {
    EXPECT_STREQ(e.what(),
                 "line 2, column 8: unknown filter 'x' (supported: default, d, upper, "
                 "lower, title, trim, truncate, replace)");
  }
}

TEST_F(TemplateTest, VariablesListsTopLevelNamesOnce) {
  auto t = Template::compile("{{ user.name }}{% if identity %}{{ usr }}{{ user }}{% endif %}");
  ASSERT_EQ(t.variables().size(), 3u);
  EXPECT_EQ(t.variables()[0].name, "user");
  EXPECT_EQ(t.variables()[1].name, "identity");
  EXPECT_EQ(t.variables()[2].name, "usr");
  EXPECT_EQ(t.variables()[2].column, 36);
}

TEST_F(TemplateTest, RenderAppendsAndCopiesShareTheCompiledForm) {
  Template t = Template::compile("{{ user.username }}!");
  Template copy = t;
  std::string out = "> ";
  copy.render(context, out);
  t.render(context, out);
  EXPECT_EQ(out, "> ally!ally!");
}

}  // namespace
}  // namespace immp::jinja
