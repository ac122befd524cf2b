#include "immp/config.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace immp {
namespace {

using ::testing::HasSubstr;

}  // namespace

// Failures print the tree as YAML.
void PrintTo(const Node& node, std::ostream* out) { *out << "\n" << dump_config(node, ConfigFormat::yaml); }

namespace {

// The message a user would see for a config problem.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

Node parse(std::string_view text, ConfigFormat format, const std::string& name = "config") {
  return parse_config(text, format, name);
}

const Node& walk(const Node& root, std::initializer_list<std::string_view> keys) {
  const Node* n = &root;
  for (std::string_view key : keys) {
    n = n->find(key);
    if (n == nullptr) throw std::runtime_error("missing " + std::string(key));
  }
  return *n;
}

std::string position(const Node& n) {
  return std::to_string(n.mark().line) + ":" + std::to_string(n.mark().column);
}

// A temporary directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "immp-config-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_)) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::filesystem::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

// ---- one document, three formats ------------------------------------------

constexpr std::string_view kYaml = R"(plugs:
  irc:
    path: immp.plug.irc.IRCPlug
    config:
      server:
        host: irc.example.org
        port: 6697
        ssl: true
      nick: "bot"
      ratio: 0.5
hooks:
  sync:
    path: immp.hook.sync.SyncHook
    config:
      channels:
        foo: [irc-main, tg, "12345"]
      empty: {}
      none: []
)";

constexpr std::string_view kJson = R"({
  "plugs": {
    "irc": {
      "path": "immp.plug.irc.IRCPlug",
      "config": {
        "server": {"host": "irc.example.org", "port": 6697, "ssl": true},
        "nick": "bot",
        "ratio": 0.5
      }
    }
  },
  "hooks": {
    "sync": {
      "path": "immp.hook.sync.SyncHook",
      "config": {
        "channels": {"foo": ["irc-main", "tg", "12345"]},
        "empty": {},
        "none": []
      }
    }
  }
}
)";

constexpr std::string_view kToml = R"([plugs.irc]
path = "immp.plug.irc.IRCPlug"

[plugs.irc.config]
nick = "bot"
ratio = 0.5

[plugs.irc.config.server]
host = "irc.example.org"
port = 6697
ssl = true

[hooks.sync]
path = "immp.hook.sync.SyncHook"

[hooks.sync.config]
empty = {}
none = []

[hooks.sync.config.channels]
foo = ["irc-main", "tg", "12345"]
)";

TEST(ConfigFormats, SameDocumentGivesTheSameTree) {
  const Node yaml = parse(kYaml, ConfigFormat::yaml);
  const Node json = parse(kJson, ConfigFormat::json);
  const Node toml = parse(kToml, ConfigFormat::toml);
  EXPECT_EQ(yaml, json);
  EXPECT_EQ(yaml, toml);

  const Node& port = walk(yaml, {"plugs", "irc", "config", "server", "port"});
  EXPECT_EQ(port.as_int(), 6697);
  EXPECT_TRUE(walk(toml, {"plugs", "irc", "config", "server", "ssl"}).as_bool());
  EXPECT_DOUBLE_EQ(walk(json, {"plugs", "irc", "config", "ratio"}).as_double(), 0.5);
  // A quoted number is a string.
  EXPECT_TRUE(walk(yaml, {"hooks", "sync", "config", "channels", "foo"}).as_list()[2].is_string());
}

TEST(ConfigFormats, KeyOrderIsKept) {
  auto keys = [](const Node& n) {
    std::vector<std::string> out;
    for (const auto& [k, v] : n.as_map()) out.push_back(k);
    return out;
  };
  const std::vector<std::string> expected = {"zeta", "alpha", "mid"};
  EXPECT_EQ(keys(parse("zeta: 1\nalpha: 2\nmid: 3\n", ConfigFormat::yaml)), expected);
  EXPECT_EQ(keys(parse(R"({"zeta": 1, "alpha": 2, "mid": 3})", ConfigFormat::json)), expected);
  // toml++ sorts keys; the reader restores the written order.
  EXPECT_EQ(keys(parse("zeta = 1\nalpha = 2\nmid = 3\n", ConfigFormat::toml)), expected);
  const Node tree = parse("zeta: 1\nalpha: {b: 1, a: 2}\nmid: 3\n", ConfigFormat::yaml);
  for (ConfigFormat f : {ConfigFormat::yaml, ConfigFormat::json}) {
    EXPECT_EQ(keys(parse(dump_config(tree, f), f)), expected);
  }
}

TEST(ConfigFormats, MarksAndPaths) {
  const Node yaml = parse(kYaml, ConfigFormat::yaml, "config.yaml");
  const Node& host = walk(yaml, {"plugs", "irc", "config", "server", "host"});
  EXPECT_EQ(host.path(), "plugs.irc.config.server.host");
  EXPECT_EQ(host.mark().str(), "config.yaml:6:9");  // the key's position
  const Node& foo = walk(yaml, {"hooks", "sync", "config", "channels", "foo"});
  EXPECT_EQ(foo.as_list()[2].path(), "hooks.sync.config.channels.foo[2]");
  EXPECT_EQ(position(foo.as_list()[2]), "16:29");  // the item's own position
  EXPECT_EQ(walk(yaml, {"plugs"}).path(), "plugs");
  EXPECT_EQ(yaml.path(), "");

  const Node json = parse(kJson, ConfigFormat::json, "config.json");
  const Node& jhost = walk(json, {"plugs", "irc", "config", "server", "host"});
  EXPECT_EQ(jhost.mark().str(), "config.json:6:20");
  EXPECT_EQ(jhost.path(), "plugs.irc.config.server.host");
  EXPECT_EQ(position(walk(json, {"hooks", "sync", "config", "channels", "foo"}).as_list()[1]),
            "16:42");

  const Node toml = parse(kToml, ConfigFormat::toml, "config.toml");
  const Node& thost = walk(toml, {"plugs", "irc", "config", "server", "host"});
  EXPECT_EQ(thost.mark().str(), "config.toml:9:1");
  EXPECT_EQ(position(walk(toml, {"hooks", "sync", "config", "channels", "foo"}).as_list()[1]),
            "21:20");
  EXPECT_EQ(walk(toml, {"hooks", "sync", "config", "none"}).path(), "hooks.sync.config.none");
}

TEST(ConfigFormats, ColumnsCountCharactersNotBytes) {
  // "ä" is two bytes; editors show one column for it.
  EXPECT_EQ(position(parse("x: [ä, b]\n", ConfigFormat::yaml).at("x").as_list()[1]), "1:8");
  EXPECT_EQ(position(parse(R"({"x": ["ä", "b"]})", ConfigFormat::json).at("x").as_list()[1]),
            "1:13");
  EXPECT_EQ(position(parse("x = [\"ä\", \"b\"]\n", ConfigFormat::toml).at("x").as_list()[1]),
            "1:11");
}

TEST(ConfigFormats, YamlScalarsFollowTheCoreSchema) {
  const Node n = parse(R"(a: true
b: True
c: FALSE
d: yes
e: no
f: 12
g: -3
h: 0x1F
i: 0o17
j: 1.5
k: 1e3
l: .inf
m: ~
n: null
o:
p: "true"
q: '12'
r: !!str 12
s: on
t: 012
u: |
  two
  lines
v: 1_000
)",
                     ConfigFormat::yaml);
  EXPECT_EQ(n.at("a"), Node(true));
  EXPECT_EQ(n.at("b"), Node(true));
  EXPECT_EQ(n.at("c"), Node(false));
  EXPECT_EQ(n.at("d"), Node("yes"));
  EXPECT_EQ(n.at("e"), Node("no"));
  EXPECT_EQ(n.at("f"), Node(12));
  EXPECT_EQ(n.at("g"), Node(-3));
  EXPECT_EQ(n.at("h"), Node(31));
  EXPECT_EQ(n.at("i"), Node(15));
  EXPECT_EQ(n.at("j"), Node(1.5));
  EXPECT_EQ(n.at("k"), Node(1000.0));
  EXPECT_TRUE(std::isinf(n.at("l").as_double()));
  EXPECT_TRUE(n.at("m").is_null());
  EXPECT_TRUE(n.at("n").is_null());
  EXPECT_TRUE(n.at("o").is_null());
  EXPECT_EQ(n.at("p"), Node("true"));
  EXPECT_EQ(n.at("q"), Node("12"));
  EXPECT_EQ(n.at("r"), Node("12"));
  EXPECT_EQ(n.at("s"), Node("on"));
  EXPECT_EQ(n.at("t"), Node(12));
  EXPECT_EQ(n.at("u"), Node("two\nlines\n"));
  EXPECT_EQ(n.at("v"), Node("1_000"));
}

std::vector<std::string> keys_of(const Node& map) {
  std::vector<std::string> out;
  for (const auto& [key, value] : map.as_map()) out.push_back(key);
  return out;
}

// Merge keys, as IMMP's users write them and as PyYAML reads them (each
// expectation below is PyYAML 6's result): merged entries come first, the
// map's own keys override them, in a list of maps the first map wins, and
// of two merge keys the second wins.
TEST(ConfigFormats, YamlMergeKeysAsPyYamlReadsThem) {
  const Node n = parse(R"(base: &base
  host: irc.example.org
  port: 6667
  ssl: false
tls: &tls
  port: 6697
  ssl: true
one:
  <<: *base
  nick: bot
  port: 7000
two:
  nick: bot2
  <<: [*tls, *base]
three:
  <<: *base
  <<: *tls
nested:
  <<: {inner: &in {a: 1}, b: 2}
  c: {<<: *in, d: 3}
quoted:
  "<<": *base
)",
                       ConfigFormat::yaml, "c.yaml");
  const Node& one = n.at("one");
  EXPECT_EQ(keys_of(one), (std::vector<std::string>{"host", "port", "ssl", "nick"}));
  EXPECT_EQ(one.at("host"), Node("irc.example.org"));
  EXPECT_EQ(one.at("port"), Node(7000)) << "the map's own key overrides";
  EXPECT_EQ(one.at("ssl"), Node(false));
  const Node& two = n.at("two");
  EXPECT_EQ(keys_of(two), (std::vector<std::string>{"host", "port", "ssl", "nick"}));
  EXPECT_EQ(two.at("port"), Node(6697)) << "the first map of the list wins";
  EXPECT_EQ(two.at("ssl"), Node(true));
  const Node& three = n.at("three");
  EXPECT_EQ(keys_of(three), (std::vector<std::string>{"host", "port", "ssl"}));
  EXPECT_EQ(three.at("port"), Node(6697)) << "the second merge key wins";
  EXPECT_EQ(n.at("nested").at("inner"), Node(NodeMap{{"a", 1}}));
  EXPECT_EQ(n.at("nested").at("b"), Node(2));
  EXPECT_EQ(n.at("nested").at("c"), Node(NodeMap{{"a", 1}, {"d", 3}}));
  // A quoted "<<" is an ordinary key.
  EXPECT_EQ(keys_of(n.at("quoted")), std::vector<std::string>{"<<"});

  // Positions: a merged value is where it is written (in the anchored
  // map); its path is where it is used.
  EXPECT_EQ(one.at("host").mark().str(), "c.yaml:2:3");
  EXPECT_EQ(one.at("host").path(), "one.host");
  EXPECT_EQ(one.at("port").mark().str(), "c.yaml:11:3");
  EXPECT_EQ(two.at("port").mark().str(), "c.yaml:6:3");
  EXPECT_EQ(two.at("host").path(), "two.host");
  EXPECT_EQ(n.at("nested").at("c").at("a").path(), "nested.c.a");
  EXPECT_EQ(n.at("nested").at("c").at("a").mark().str(), "c.yaml:19:20");
}

TEST(ConfigErrors, YamlMergeKeyProblems) {
  EXPECT_EQ(error_of([] { parse("a:\n  <<: 1\n", ConfigFormat::yaml, "c.yaml"); }),
            "c.yaml:2:3: a: a merge key ('<<') takes a map or a list of maps (`<<: *base`, "
            "`<<: [*a, *b]`), got a scalar ('1')");
  EXPECT_EQ(error_of([] { parse("x: &x {a: 1}\ny:\n  <<: [*x, 2]\n", ConfigFormat::yaml, "c.yaml"); }),
            "c.yaml:3:12: y: a merge key ('<<') takes a map or a list of maps (`<<: *base`, "
            "`<<: [*a, *b]`), got a list holding a scalar ('2')");
  // The map's own keys are still checked for duplicates; merged ones are
  // not duplicates of them.
  ConfigWarningScope scope;
  const Node dup = parse("x: &x {a: 1}\ny:\n  <<: *x\n  a: 2\n  a: 3\n", ConfigFormat::yaml, "c.yaml");
  EXPECT_EQ(dup.at("y").at("a"), Node(3));
  ASSERT_EQ(scope.warnings().size(), 1u);
  EXPECT_EQ(scope.warnings()[0].str(),
            "c.yaml:5:3: y: duplicate key 'a' (first written on line 4, again on line 5): the last "
            "one is used");
  // A map that merges itself must not recurse for ever.
  EXPECT_THAT(error_of([] { parse("x: &a {<<: *a}\n", ConfigFormat::yaml, "c.yaml"); }),
              HasSubstr("nesting too deep"));
}

// YAML 1.1 booleans stay strings in the tree (YAML 1.2), remember that they
// were plain, and are written back plain, so `enabled: yes` keeps its
// meaning through -w.
TEST(ConfigWrite, PlainYaml11BooleansAreWrittenBackPlain) {
  const Node n = parse("a: yes\nb: 'yes'\nc: Off\n", ConfigFormat::yaml, "c.yaml");
  EXPECT_EQ(n.at("a"), Node("yes"));
  EXPECT_TRUE(n.at("a").plain());
  EXPECT_FALSE(n.at("b").plain());
  const std::string text = dump_config(n, ConfigFormat::yaml);
  EXPECT_EQ(text, "a: yes\nb: \"yes\"\nc: Off\n");
  const Node back = parse(text, ConfigFormat::yaml, "c.yaml");
  EXPECT_EQ(back.at("a").yaml11_bool(), true);
  EXPECT_EQ(back.at("b").yaml11_bool(), std::nullopt);
  EXPECT_EQ(back.at("c").yaml11_bool(), false);
}

TEST(ConfigFormats, TomlDatesBecomeText) {
  const Node n = parse("when = 1979-05-27T07:32:00Z\nday = 1979-05-27\n", ConfigFormat::toml);
  EXPECT_EQ(n.at("when"), Node("1979-05-27T07:32:00Z"));
  EXPECT_EQ(n.at("day"), Node("1979-05-27"));
}

TEST(ConfigFormats, EmptyYamlIsNull) {
  EXPECT_TRUE(parse("", ConfigFormat::yaml).is_null());
  EXPECT_TRUE(parse("# only a comment\n", ConfigFormat::yaml).is_null());
}

TEST(ConfigFormats, ByteOrderMarkIsSkipped) {
  const Node n = parse("\xEF\xBB\xBF{\"a\": 1}", ConfigFormat::json);
  EXPECT_EQ(n.at("a"), Node(1));
  EXPECT_EQ(position(n.at("a")), "1:2");
  EXPECT_EQ(parse("\xEF\xBB\xBF" "a: 1\n", ConfigFormat::yaml).at("a"), Node(1));
}

TEST(ConfigFormats, JsonStringEscapes) {
  const Node n = parse(R"(["a\"b\\c\/\n\t", "\u00e9\ud83d\ude00"])", ConfigFormat::json);
  EXPECT_EQ(n.as_list()[0], Node("a\"b\\c/\n\t"));
  EXPECT_EQ(n.as_list()[1], Node("\xC3\xA9\xF0\x9F\x98\x80"));
}

// ---- errors ------------------------------------------------------------------

TEST(ConfigErrors, WhatJoinsMarkPathAndProblem) {
  auto file = std::make_shared<const std::string>("config.yaml");
  EXPECT_EQ(std::string(ConfigError(Mark{file, 14, 7}, "hooks.sync", "bad").what()),
            "config.yaml:14:7: hooks.sync: bad");
  EXPECT_EQ(std::string(ConfigError(Mark{file, 1, 2}, "", "bad").what()), "config.yaml:1:2: bad");
  EXPECT_EQ(std::string(ConfigError(Mark{file, 0, 0}, "", "bad").what()), "config.yaml: bad");
  EXPECT_EQ(std::string(ConfigError(Mark{}, "a.b", "bad").what()), "a.b: bad");
  EXPECT_EQ(std::string(ConfigError(Mark{}, "", "bad").what()), "bad");
  EXPECT_EQ(Mark{}.str(), "");
  EXPECT_EQ((Mark{file, 0, 0}.str()), "config.yaml");
}

TEST(ConfigErrors, SyntaxErrorsNamePosition) {
  EXPECT_EQ(error_of([] { parse("a: [1\nb: 2\n", ConfigFormat::yaml, "c.yaml"); }),
            "c.yaml:2:2: YAML syntax error: end of sequence flow not found");
  EXPECT_EQ(error_of([] { parse("a: 1\n b: 2\n", ConfigFormat::yaml, "c.yaml"); }),
            "c.yaml:2:3: YAML syntax error: illegal map value");
  EXPECT_EQ(error_of([] { parse("{\"a\": 1,\n  \"b\" 2}", ConfigFormat::json, "c.json"); }),
            "c.json:2:7: expected ':' after the key 'b', got '2'");
  EXPECT_EQ(error_of([] { parse("[1, 2,]", ConfigFormat::json, "c.json"); }),
            "c.json:1:7: a trailing comma is not allowed in JSON");
  EXPECT_EQ(error_of([] { parse("{\"a\": 1} x", ConfigFormat::json, "c.json"); }),
            "c.json:1:10: unexpected 'x' after the JSON value");
  EXPECT_EQ(error_of([] { parse("{\"a\": 01}", ConfigFormat::json, "c.json"); }),
            "c.json:1:7: invalid number: JSON numbers cannot have leading zeros");
  EXPECT_EQ(error_of([] { parse("{\"a\": \"x\n\"}", ConfigFormat::json, "c.json"); }),
            "c.json:1:9: unterminated string (a line break inside a string must be written as "
            "\\n)");
  EXPECT_EQ(error_of([] { parse("{\n  // note\n}", ConfigFormat::json, "c.json"); }),
            "c.json:2:3: JSON does not allow comments");
  EXPECT_EQ(error_of([] { parse("", ConfigFormat::json, "c.json"); }),
            "c.json:1:1: the file is empty: expected a JSON value");
  EXPECT_EQ(error_of([] { parse("[99999999999999999999]", ConfigFormat::json, "c.json"); }),
            "c.json:1:2: integer 99999999999999999999 does not fit in 64 bits");
  EXPECT_THAT(error_of([] { parse("a = [1,\nb", ConfigFormat::toml, "c.toml"); }),
              HasSubstr("c.toml:2:1: TOML syntax error while parsing"));
  EXPECT_EQ(error_of([] { parse("a: 99999999999999999999\n", ConfigFormat::yaml, "c.yaml"); }),
            "c.yaml:1:1: a: number '99999999999999999999' is out of range");
}

// PyYAML and Python's json keep the last of a key written twice, so IMMP
// loads such a file: here it is a warning naming both lines, and the last
// value counts (in the first one's place). TOML forbids it: an error.
TEST(ConfigErrors, DuplicateKeysWarnNamingBothLines) {
  {
    ConfigWarningScope scope;
    const Node n = parse("plugs:\n  irc: 1\n  tg: 2\n  irc: 3\n", ConfigFormat::yaml, "c.yaml");
    EXPECT_EQ(n.at("plugs"), Node(NodeMap{{"irc", 3}, {"tg", 2}}));
    EXPECT_EQ(keys_of(n.at("plugs")), (std::vector<std::string>{"irc", "tg"}));
    EXPECT_EQ(n.at("plugs").at("irc").mark().line, 4);
    ASSERT_EQ(scope.warnings().size(), 1u);
    EXPECT_EQ(scope.warnings()[0].str(),
              "c.yaml:4:3: plugs: duplicate key 'irc' (first written on line 2, again on line 4): "
              "the last one is used");
  }
  {
    ConfigWarningScope scope;
    const Node n = parse("{\"a\": 1,\n\"a\": 2}", ConfigFormat::json, "c.json");
    EXPECT_EQ(n, Node(NodeMap{{"a", 2}}));
    ASSERT_EQ(scope.warnings().size(), 1u);
    EXPECT_EQ(scope.warnings()[0].str(),
              "c.json:2:1: duplicate key 'a' (first written on line 1, again on line 2): the last "
              "one is used");
  }
  EXPECT_THAT(error_of([] { parse("a = 1\na = 2\n", ConfigFormat::toml, "c.toml"); }),
              HasSubstr("c.toml:2:"));
}

TEST(ConfigErrors, YamlOddities) {
  EXPECT_EQ(error_of([] { parse("a: 1\n---\nb: 2\n", ConfigFormat::yaml, "c.yaml"); }),
            "c.yaml:3:1: a config file holds one YAML document, but a second one starts here");
  EXPECT_EQ(error_of([] { parse("? [a]\n: 1\n", ConfigFormat::yaml, "c.yaml"); }),
            "c.yaml:1:3: a map key must be a plain string, not a list");
  EXPECT_EQ(error_of([] { parse("a: !secret x\n", ConfigFormat::yaml, "c.yaml"); }),
            "c.yaml:1:1: a: unsupported YAML tag '!secret'");
  // A self-referencing alias must not recurse for ever.
  EXPECT_THAT(error_of([] { parse("x: &a [*a]\n", ConfigFormat::yaml, "c.yaml"); }),
              HasSubstr("nesting too deep"));
}

TEST(ConfigErrors, DeepNestingIsRefused) {
  const std::string deep = std::string(1000, '[') + std::string(1000, ']');
  EXPECT_THAT(error_of([&] { parse(deep, ConfigFormat::json, "c.json"); }),
              HasSubstr("nesting too deep"));
}

TEST(ConfigErrors, Files) {
  TempDir dir;
  const auto missing = dir.path() / "nope.yaml";
  EXPECT_EQ(error_of([&] { load_config_file(missing); }),
            missing.string() + ": cannot open config file: No such file or directory");
  EXPECT_EQ(error_of([] { format_for("immp.ini"); }),
            "immp.ini: unsupported config format '.ini': use .yaml, .yml, .json or .toml");
  EXPECT_THAT(error_of([] { format_for("immp"); }), HasSubstr("immp: config file has no extension"));
  const auto subdir = dir.path() / "dir.yaml";
  std::filesystem::create_directory(subdir);
  EXPECT_EQ(error_of([&] { load_config_file(subdir); }),
            subdir.string() + ": cannot read config file: Is a directory");

  const auto bad = dir.path() / "bad.yaml";
  write_file(bad, "plugs:\n  - [\n");
  EXPECT_THAT(error_of([&] { load_config_file(bad); }), HasSubstr(bad.string() + ":3:"));
}

TEST(ConfigErrors, TypedAccessNamesMarkAndPath) {
  const Node n = parse("hooks:\n  sync:\n    config:\n      channels: foo\n", ConfigFormat::yaml,
                       "config.yaml");
  const Node& channels = walk(n, {"hooks", "sync", "config", "channels"});
  EXPECT_EQ(error_of([&] { channels.as_list(); }),
            "config.yaml:4:7: hooks.sync.config.channels: expected a list, got a string");
  EXPECT_EQ(error_of([&] { channels.as_int(); }),
            "config.yaml:4:7: hooks.sync.config.channels: expected an integer, got a string");
  EXPECT_EQ(error_of([&] { n.at("plugs"); }), "config.yaml:1:1: missing required key 'plugs'");
  EXPECT_EQ(error_of([&] { walk(n, {"hooks"}).at("sync").at("config").at("host"); }),
            "config.yaml:3:5: hooks.sync.config: missing required key 'host'");
}

// ---- the Node API ------------------------------------------------------------

TEST(ConfigNode, TypedAccess) {
  EXPECT_DOUBLE_EQ(Node(3).as_double(), 3.0);
  EXPECT_EQ(Node(12345).as_text(), "12345");
  EXPECT_EQ(Node(1.5).as_text(), "1.5");
  EXPECT_EQ(Node(true).as_text(), "true");
  EXPECT_EQ(Node("x").as_text(), "x");
  EXPECT_EQ(error_of([] { Node::list().as_text(); }), "expected a string or a number, got a list");
  EXPECT_EQ(error_of([] { Node(1.5).as_int(); }), "expected an integer, got a real number");
  EXPECT_EQ(error_of([] { Node().as_bool(); }), "expected a boolean, got null");
  EXPECT_EQ(Node::kind_name(Node::Kind::map), "a map");
}

TEST(ConfigNode, SetFindEraseAndPaths) {
  Node root;
  Node& plugs = root.set("plugs", Node::map());
  EXPECT_TRUE(root.is_map());
  EXPECT_EQ(plugs.path(), "plugs");
  Node irc = Node::map();
  irc.set("config", Node(NodeMap{{"channels", Node(NodeList{Node("a"), Node("b")})}}));
  Node& placed = plugs.set("irc", irc);
  EXPECT_EQ(placed.path(), "plugs.irc");
  EXPECT_EQ(walk(root, {"plugs", "irc", "config", "channels"}).as_list()[1].path(),
            "plugs.irc.config.channels[1]");
  plugs.set("irc", Node(5));  // replaces, keeps one entry
  EXPECT_EQ(plugs.size(), 1u);
  EXPECT_EQ(plugs.at("irc"), Node(5));
  EXPECT_EQ(root.find("nope"), nullptr);
  EXPECT_EQ(Node(3).find("x"), nullptr);
  EXPECT_TRUE(plugs.erase("irc"));
  EXPECT_FALSE(plugs.erase("irc"));
  EXPECT_EQ(plugs.size(), 0u);
  EXPECT_EQ(error_of([] { Node(3).set("x", Node(1)); }), "expected a map, got an integer");

  Node moved = parse("a:\n  b: [1, {c: 2}]\n", ConfigFormat::yaml);
  moved.set_path("x.y");
  moved.repath();
  EXPECT_EQ(walk(moved, {"a", "b"}).as_list()[1].at("c").path(), "x.y.a.b[1].c");
}

TEST(ConfigNode, EqualityIgnoresMarksPathsAndMapOrder) {
  const Node a = parse("x: 1\ny: [1, 2]\n", ConfigFormat::yaml);
  const Node b = parse("{\"y\": [1, 2], \"x\": 1}", ConfigFormat::json);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, parse("x: 1\ny: [2, 1]\n", ConfigFormat::yaml));
  EXPECT_NE(Node(1), Node(1.0));
  EXPECT_NE(Node("1"), Node(1));
  EXPECT_NE(a, parse("x: 1\ny: [1, 2]\nz: 3\n", ConfigFormat::yaml));
}

// ---- writing -------------------------------------------------------------------

const std::vector<std::string>& tricky_strings() {
  static const std::vector<std::string> strings = {
      "", " ", "yes", "no", "Yes", "on", "off", "y", "n", "true", "True", "FALSE", "null", "Null",
      "~", "123", "-7", "+7", "0x1F", "0o17", "012", "1.5", ".5", "1e5", ".inf", "-.inf", ".nan",
      "1_000", "12:30", ":", "#", "a: b", "a #b", "a#b", "- x", "-", "--", "---", "...", "?",
      "? x", ",", "[x]", "{y}", "*alias", "&anchor", "!tag", "%dir", "@at", "`tick", "'single'",
      "\"double\"", "|", ">", "line\nbreak", "\r\n", "tab\there", "trailing ", " leading",
      "back\\slash", "unicode \xE2\x9C\x93 \xC3\xBC \xF0\x9F\x98\x80", "\x01\x1F\x7F",
      "ends with colon:", "key: value", "a=b", "[[x]]", "\xE2\x80\xA8", "\xC2\x85",
      "\xEF\xBB\xBF" "bom", "<<", "=", "inf", "nan", "0", "-0", "1.0", "C:\\path", "http://x/y#z",
      "@everyone", "%", "!important"};
  return strings;
}

Node tricky_tree(bool with_nulls) {
  NodeMap strings;
  NodeList as_items;
  for (std::size_t i = 0; i < tricky_strings().size(); ++i) {
    const std::string& s = tricky_strings()[i];
    strings.emplace_back(s, Node(s));  // as key and as value
    as_items.push_back(Node(s));
  }
  NodeMap numbers = {{"zero", Node(0)},
                     {"max", Node(std::numeric_limits<std::int64_t>::max())},
                     {"min", Node(std::numeric_limits<std::int64_t>::min())},
                     {"tenth", Node(0.1)},
                     {"two", Node(2.0)},
                     {"negzero", Node(-0.0)},
                     {"big", Node(1e300)},
                     {"small", Node(1e-7)},
                     {"t", Node(true)},
                     {"f", Node(false)}};
  NodeList list_of_maps = {Node(NodeMap{{"name", Node("a")}, {"tags", Node(NodeList{Node(1)})}}),
                           Node(NodeMap{}),
                           Node(NodeMap{{"nested", Node(NodeMap{{"deep", Node("x")}})}})};
  NodeList mixed = {Node(1), Node("two"), Node(NodeList{Node(NodeList{}), Node(NodeMap{})}),
                    Node(NodeMap{{"k", Node(NodeList{Node(NodeMap{{"z", Node(1)}})})}})};
  NodeMap root = {{"strings", Node(std::move(strings))},
                  {"items", Node(std::move(as_items))},
                  {"numbers", Node(std::move(numbers))},
                  {"empty_map", Node::map()},
                  {"empty_list", Node::list()},
                  {"list_of_maps", Node(std::move(list_of_maps))},
                  {"mixed", Node(std::move(mixed))},
                  {"list_of_lists", Node(NodeList{Node(NodeList{Node(1), Node(2)}),
                                                  Node(NodeList{Node("a")})})},
                  {"after_tables", Node("a plain value after tables")}};
  if (with_nulls) {
    root.emplace_back("null_value", Node());
    root.emplace_back("null_items", Node(NodeList{Node(), Node(1), Node()}));
  }
  return Node(std::move(root));
}

class RoundTrip : public ::testing::TestWithParam<ConfigFormat> {};

TEST_P(RoundTrip, TrickyTree) {
  const ConfigFormat format = GetParam();
  const Node tree = tricky_tree(format != ConfigFormat::toml);
  const std::string text = dump_config(tree, format);
  Node back;
  ASSERT_NO_THROW(back = parse(text, format)) << text;
  EXPECT_EQ(back, tree) << text;
  // Writing again gives the same text: the writer is deterministic.
  EXPECT_EQ(dump_config(back, format), text);
}

TEST_P(RoundTrip, EveryStringAlone) {
  const ConfigFormat format = GetParam();
  for (const std::string& s : tricky_strings()) {
    const Node tree(NodeMap{{"v", Node(s)}, {s, Node(NodeList{Node(s)})}});
    const std::string text = dump_config(tree, format);
    Node back;
    ASSERT_NO_THROW(back = parse(text, format)) << text;
    EXPECT_EQ(back, tree) << "string: '" << s << "'\n" << text;
  }
}

// YAML allows at most 1024 characters in a plain "key:".
TEST_P(RoundTrip, LongKeys) {
  const ConfigFormat format = GetParam();
  Node inner = Node::map();
  inner.set(std::string(2000, 'k'), Node(std::string(5000, 'v')));
  inner.set(std::string(1500, ' ') + "x", Node(NodeMap{{"a", Node(NodeList{Node(1)})}}));
  const Node tree(NodeMap{{"top", inner}, {"items", Node(NodeList{inner})}});
  const std::string text = dump_config(tree, format);
  Node back;
  ASSERT_NO_THROW(back = parse(text, format));
  EXPECT_EQ(back, tree);
}

// Random trees of random strings: the writer must quote whatever needs it.
TEST_P(RoundTrip, RandomTrees) {
  const ConfigFormat format = GetParam();
  std::mt19937 rng(1234);
  const std::string alphabet = std::string("abyn01:#- .,[]{}'\"\\\n\t!&*?|>%@`~=+eE_x") +
                               "\xC3\xBC" + "\x01";
  auto random_string = [&] {
    std::string s;
    const int len = static_cast<int>(rng() % 6);
    for (int i = 0; i < len; ++i) s += alphabet[rng() % alphabet.size()];
    // Do not cut the two-byte "ü" in half.
    if (!s.empty() && static_cast<unsigned char>(s.back()) == 0xC3) s.pop_back();
    std::string clean;
    for (std::size_t i = 0; i < s.size(); ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c == 0xC3) {
        clean += "\xC3\xBC";
        if (i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xBC) ++i;
      } else if (c != 0xBC) {
        clean += s[i];
      }
    }
    return clean;
  };
  std::function<Node(int)> random_node = [&](int depth) -> Node {
    switch (rng() % (depth > 3 ? 5 : 7)) {
      case 0: return Node(static_cast<std::int64_t>(rng()) - 1000000);
      case 1: return Node(static_cast<double>(rng() % 10000) / 64.0);
      case 2: return Node(rng() % 2 == 0);
      case 3:
      case 4: return Node(random_string());
      case 5: {
        NodeList list;
        for (int i = 0, n = static_cast<int>(rng() % 4); i < n; ++i) {
          list.push_back(random_node(depth + 1));
        }
        return Node(std::move(list));
      }
      default: {
        Node map = Node::map();
        for (int i = 0, n = static_cast<int>(rng() % 4); i < n; ++i) {
          map.set(random_string(), random_node(depth + 1));
        }
        return map;
      }
    }
  };
  for (int i = 0; i < 300; ++i) {
    Node tree = Node::map();
    for (int j = 0; j < 4; ++j) tree.set(random_string(), random_node(0));
    const std::string text = dump_config(tree, format);
    Node back;
    ASSERT_NO_THROW(back = parse(text, format)) << text;
    ASSERT_EQ(back, tree) << text;
  }
}

INSTANTIATE_TEST_SUITE_P(AllFormats, RoundTrip,
                         ::testing::Values(ConfigFormat::yaml, ConfigFormat::json,
                                           ConfigFormat::toml),
                         [](const auto& info) {
                           switch (info.param) {
                             case ConfigFormat::yaml: return std::string("yaml");
                             case ConfigFormat::json: return std::string("json");
                             case ConfigFormat::toml: return std::string("toml");
                           }
                           return std::string("unknown");
                         });

TEST(ConfigWrite, RootScalarsAndListsInYamlAndJson) {
  for (ConfigFormat f : {ConfigFormat::yaml, ConfigFormat::json}) {
    for (const Node& n : {Node(), Node("yes"), Node(3), Node(NodeList{Node(1), Node::map()})}) {
      EXPECT_EQ(parse(dump_config(n, f), f), n) << dump_config(n, f);
    }
  }
}

TEST(ConfigWrite, ReadableYaml) {
  const Node tree = parse(kYaml, ConfigFormat::yaml);
  EXPECT_EQ(dump_config(tree, ConfigFormat::yaml), R"(plugs:
  irc:
    path: immp.plug.irc.IRCPlug
    config:
      server:
        host: irc.example.org
        port: 6697
        ssl: true
      nick: bot
      ratio: 0.5
hooks:
  sync:
    path: immp.hook.sync.SyncHook
    config:
      channels:
        foo:
          - irc-main
          - tg
          - "12345"
      empty: {}
      none: []
)");
}

TEST(ConfigWrite, TomlLimits) {
  // Null map entries are left out: TOML has no null.
  const Node with_null(NodeMap{{"a", Node(1)}, {"b", Node()}});
  EXPECT_EQ(dump_config(with_null, ConfigFormat::toml), "a = 1\n");
  const Node list_null = parse("x:\n  - 1\n  - ~\n", ConfigFormat::yaml, "c.yaml");
  EXPECT_EQ(error_of([&] { dump_config(list_null, ConfigFormat::toml); }),
            "c.yaml:3:5: x[1]: TOML cannot hold null inside a list");
  EXPECT_EQ(error_of([] { dump_config(Node(NodeList{}), ConfigFormat::toml); }),
            "TOML needs a map at the top level, not a list");
  EXPECT_EQ(error_of([] { dump_config(Node(NodeMap{{"x", Node(NAN)}}), ConfigFormat::json); }),
            "JSON cannot hold nan");
}

TEST(ConfigWrite, WritesEachFormatByExtension) {
  TempDir dir;
  const Node tree = parse(kYaml, ConfigFormat::yaml);
  for (const char* name : {"out.yaml", "out.yml", "out.json", "out.toml", "OUT.JSON"}) {
    const auto file = dir.path() / name;
    write_config_file(file, tree);
    EXPECT_EQ(read_file(file), dump_config(tree, format_for(file))) << name;
    EXPECT_EQ(load_config_file(file), tree) << name;
  }
}

TEST(ConfigWrite, ReplacesAtomicallyAndLeavesNoTempFiles) {
  TempDir dir;
  const auto file = dir.path() / "immp.yaml";
  // Two large contents so that a torn write would be visible to a reader.
  auto make = [](const std::string& tag) {
    Node n = Node::map();
    for (int i = 0; i < 3000; ++i) n.set("key" + std::to_string(i), Node(tag));
    return n;
  };
  const Node a = make("aaaaaaaaaaaaaaaa");
  const Node b = make("bbbbbbbbbbbbbbbb");
  write_config_file(file, a);
  const std::string text_a = read_file(file);
  const std::string text_b = dump_config(b, ConfigFormat::yaml);

  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!done) {
      const std::string seen = read_file(file);
      if (seen != text_a && seen != text_b) ++torn;
      ++reads;
    }
  });
  for (int i = 0; i < 20; ++i) write_config_file(file, i % 2 == 0 ? b : a);
  done = true;
  reader.join();
  EXPECT_EQ(torn, 0) << "out of " << reads << " reads";
  EXPECT_EQ(read_file(file), text_a);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"immp.yaml"});
}

TEST(ConfigWrite, FailureLeavesTheOldFile) {
  TempDir dir;
  const auto file = dir.path() / "immp.toml";
  write_file(file, "old = 1\n");
  const Node bad(NodeMap{{"x", Node(NodeList{Node()})}});
  EXPECT_THAT(error_of([&] { write_config_file(file, bad); }),
              HasSubstr("TOML cannot hold null inside a list"));
  EXPECT_EQ(read_file(file), "old = 1\n");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"immp.toml"});

  const auto nowhere = dir.path() / "missing" / "immp.yaml";
  EXPECT_THAT(error_of([&] { write_config_file(nowhere, Node(1)); }),
              HasSubstr(nowhere.string() + ": cannot create a temporary file"));
}

TEST(ConfigWrite, KeepsPermissionsAndSymlinks) {
  TempDir dir;
  const auto real = dir.path() / "real.yaml";
  const auto link = dir.path() / "link.yaml";
  write_file(real, "a: 1\n");
  ::chmod(real.c_str(), 0640);
  std::filesystem::create_symlink(real, link);
  write_config_file(link, Node(NodeMap{{"a", Node(2)}}));
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_EQ(read_file(real), "a: 2\n");
  struct stat st {};
  ASSERT_EQ(::stat(real.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"link.yaml", "real.yaml"}));
}

}  // namespace
}  // namespace immp
