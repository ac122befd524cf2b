#include "immp/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace immp {
namespace {

using ::testing::HasSubstr;

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

Node yaml(std::string_view text) { return parse_config(text, ConfigFormat::yaml, "config.yaml"); }

// Validates, and returns the warnings as a user sees them.
std::vector<std::string> warnings_of(Node& node, const Spec& spec) {
  ConfigWarningScope scope;
  validate(node, spec);
  std::vector<std::string> out;
  for (const ConfigWarning& w : scope.warnings()) out.push_back(w.str());
  return out;
}

using Warnings = std::vector<std::string>;

// The shape of the IRC plug's config, as a plug would declare it.
SpecPtr irc_spec() {
  return object({
      {"server", object({{"host", str(), required, "server name"},
                         {"port", integer(), 6667},
                         {"ssl", boolean(), false},
                         {"password", str(), Node()}}),
       required},
      {"nick", str(), required},
      {"channels", list_of(text()), Node::list()},
      {"timeout", real(), 30.0},
      {"extra", object({{"flag", boolean(), true}}), Node::map()},
  });
}

TEST(ConfigSchema, FillsDefaultsInPlace) {
  Node config = yaml(R"(plugs:
  irc:
    config:
      server:
        host: irc.example.org
      nick: bot
)");
  Node& section = *config.find("plugs")->find("irc")->find("config");
  validate(section, *irc_spec());
  const Node& server = section.at("server");
  EXPECT_EQ(server.at("port"), Node(6667));
  EXPECT_EQ(server.at("ssl"), Node(false));
  // An optional key without a value is present and null after validation.
  ASSERT_NE(server.find("password"), nullptr);
  EXPECT_TRUE(server.at("password").is_null());
  EXPECT_EQ(section.at("channels"), Node::list());
  EXPECT_DOUBLE_EQ(section.at("timeout").as_double(), 30.0);
  // Defaults nested in a default are filled too.
  EXPECT_EQ(section.at("extra").at("flag"), Node(true));

  // A default carries the path it lives at and the mark of its map.
  const Node& port = server.at("port");
  EXPECT_EQ(port.path(), "plugs.irc.config.server.port");
  EXPECT_EQ(port.mark().str(), "config.yaml:4:7");
  EXPECT_EQ(section.at("extra").at("flag").path(), "plugs.irc.config.extra.flag");
  EXPECT_EQ(section.at("extra").at("flag").mark().str(), "config.yaml:3:5");
}

TEST(ConfigSchema, KeepsGivenValues) {
  Node config = yaml("server: {host: h, port: 7000, ssl: true}\nnick: n\ntimeout: 5\n");
  validate(config, *irc_spec());
  EXPECT_EQ(config.at("server").at("port"), Node(7000));
  EXPECT_EQ(config.at("server").at("ssl"), Node(true));
  // A real accepts an integer as written.
  EXPECT_DOUBLE_EQ(config.at("timeout").as_double(), 5.0);
}

TEST(ConfigSchema, EmptySectionTakesDefaults) {
  // YAML `config:` with nothing under it is null.
  Node config = yaml("config:\nother:\n");
  const SpecPtr spec = object({{"config", object({{"size", integer(), 10}}), required},
                               {"other", list_of(str()), Node::list()}});
  validate(config, *spec);
  EXPECT_EQ(config.at("config").at("size"), Node(10));
  EXPECT_EQ(config.at("config").at("size").path(), "config.size");
  EXPECT_EQ(config.at("other"), Node::list());
  EXPECT_EQ(config.at("other").mark().str(), "config.yaml:2:1");
}

TEST(ConfigSchema, MissingRequiredKey) {
  Node config = yaml("plugs:\n  irc:\n    config:\n      server:\n        port: 1\n      nick: b\n");
  Node& section = *config.find("plugs")->find("irc")->find("config");
  EXPECT_EQ(error_of([&] { validate(section, *irc_spec()); }),
            "config.yaml:4:7: plugs.irc.config.server: missing required key 'host'");
  Node empty = yaml("config:\n");
  EXPECT_EQ(error_of([&] { validate(*empty.find("config"), *irc_spec()); }),
            "config.yaml:1:1: config: missing required key 'server'");
}

// IMMP's validator passes unknown keys through, so they are warnings here
// (with the nearest known key), and the key stays in the tree.
TEST(ConfigSchema, UnknownKeyIsAWarningThatSuggestsTheNearest) {
  Node config = yaml(R"(hooks:
  sync:
    config:
      plug: irc
      chanels:
        foo: [a]
)");
  const SpecPtr sync = object({{"plug", str(), required}, {"channels", map_of(list_of(str())), Node::map()}});
  Node& section = *config.find("hooks")->find("sync")->find("config");
  EXPECT_EQ(warnings_of(section, *sync),
            Warnings{"config.yaml:5:7: hooks.sync.config: unknown key 'chanels' (did you mean "
                     "'channels'?)"});
  EXPECT_EQ(section.at("chanels").at("foo"), Node(NodeList{Node("a")})) << "passed through";
  EXPECT_EQ(section.at("channels"), Node::map()) << "the known key still takes its default";

  Node far = yaml("plug: irc\nzzz: 1\n");
  EXPECT_EQ(warnings_of(far, *sync),
            Warnings{"config.yaml:2:1: unknown key 'zzz' (known keys: plug, channels)"});
  Node none = yaml("x: 1\ny: 2\n");
  EXPECT_EQ(warnings_of(none, *object({})),
            (Warnings{"config.yaml:1:1: unknown key 'x' (no keys are allowed here)",
                      "config.yaml:2:1: unknown key 'y' (no keys are allowed here)"}));
  // Open objects take any extra key without a word.
  Node open = yaml("plug: irc\nzzz: 1\n");
  EXPECT_EQ(warnings_of(open, *object({{"plug", str(), required}}, true)), Warnings{});
  EXPECT_EQ(open.at("zzz"), Node(1));
  // Nested: every level reports its own, in file order.
  Node nested = yaml("server: {host: h, prot: 1}\nnick: n\nextra: {flg: true}\n");
  EXPECT_EQ(warnings_of(nested, *irc_spec()),
            (Warnings{"config.yaml:1:19: server: unknown key 'prot' (did you mean 'port'?)",
                      "config.yaml:3:9: extra: unknown key 'flg' (did you mean 'flag'?)"}));
}

// A misspelt required key is both unknown and missing: the error points at
// the misspelling.
TEST(ConfigSchema, MisspeltRequiredKeyIsAnErrorAtTheMisspelling) {
  Node config = yaml("server: {host: h}\nnikc: bot\n");
  EXPECT_EQ(error_of([&] { validate(config, *irc_spec()); }),
            "config.yaml:2:1: missing required key 'nick': is 'nikc' a misspelling of it?");
}

// Without a scope, warnings go to the log; scopes nest, the innermost
// collects.
TEST(ConfigSchema, WarningScopesNest) {
  ConfigWarningScope outer;
  yaml("a: 1\n").at("a").warn("first");
  {
    ConfigWarningScope inner;
    yaml("a: 1\n").at("a").warn("second");
    EXPECT_EQ(inner.warnings().size(), 1u);
    EXPECT_EQ(inner.warnings()[0].str(), "config.yaml:1:1: a: second");
  }
  yaml("a: 1\n").at("a").warn("third");
  ASSERT_EQ(outer.warnings().size(), 2u);
  EXPECT_EQ(outer.warnings()[1].problem, "third");
}

// A plain YAML `yes`/`off` is a string in YAML 1.2 but a boolean to
// PyYAML, so to IMMP: where a boolean is expected it is one. Quoted, it
// stays a string; y/n and odd cases are strings to PyYAML too.
TEST(ConfigSchema, Yaml11BooleansWhereABooleanIsExpected) {
  const SpecPtr flags = map_of(boolean());
  Node n = yaml("a: yes\nb: No\nc: ON\nd: off\ne: Off\nf: YES\ng: true\nh: False\n");
  validate(n, *flags);
  EXPECT_EQ(n, Node(NodeMap{{"a", true}, {"b", false}, {"c", true}, {"d", false}, {"e", false},
                            {"f", true}, {"g", true}, {"h", false}}));
  EXPECT_EQ(n.at("a").mark().str(), "config.yaml:1:1");
  EXPECT_EQ(n.at("a").path(), "a");
  for (const char* body : {"a: 'yes'\n", "a: \"on\"\n", "a: y\n", "a: n\n", "a: yEs\n",
                           "a: !!str yes\n"}) {
    Node bad = yaml(body);
    EXPECT_EQ(error_of([&] { validate(bad, *flags); }),
              "config.yaml:1:1: a: expected a boolean, got a string")
        << body;
  }
  // Elsewhere they stay the strings they are in YAML 1.2.
  Node source = yaml("source: yes\n");
  validate(source, *object({{"source", text(), required}}));
  EXPECT_EQ(source.at("source"), Node("yes"));
  // Code that reads a boolean without a schema (the logging section) reads
  // them too.
  EXPECT_TRUE(yaml("a: on\n").at("a").as_bool());
  EXPECT_EQ(error_of([] { yaml("a: 'on'\n").at("a").as_bool(); }),
            "config.yaml:1:1: a: expected a boolean, got a string");
  // JSON and TOML strings are never YAML 1.1 booleans.
  Node json = parse_config(R"({"a": "yes"})", ConfigFormat::json, "c.json");
  EXPECT_FALSE(json.at("a").yaml11_bool());
  // Under either(), the boolean alternative takes them.
  Node mixed = yaml("a: off\n");
  validate(*mixed.find("a"), *either({boolean(), str()}));
  EXPECT_EQ(mixed.at("a"), Node(false));
}

// A hook reference is a string to validate(); for_each_hook_ref() finds
// every one, wherever the schema nests it, for the runner to check once
// all hooks exist.
TEST(ConfigSchema, HookRefsAreFoundWhereverTheyAre) {
  const SpecPtr spec = object({
      {"identities", hook_ref("an identity provider hook"), Node()},
      {"backups", list_of(hook_ref("a hook")), Node::list()},
      {"per", map_of(object({{"db", hook_ref("a database"), required}})), Node::map()},
      {"name", str(), "x"},
  });
  Node n = yaml("identities: ids\nbackups: [b1, b2]\nper: {p: {db: d}}\n");
  validate(n, *spec);
  std::vector<std::string> found;
  for_each_hook_ref(n, *spec, [&](const Node& ref, const HookRef& want) {
    found.push_back(ref.path() + "=" + ref.as_string() + " (" + want.what + ")");
  });
  EXPECT_EQ(found, (std::vector<std::string>{"identities=ids (an identity provider hook)",
                                             "backups[0]=b1 (a hook)", "backups[1]=b2 (a hook)",
                                             "per.p.db=d (a database)"}));
  Node empty = yaml("{}\n");
  validate(empty, *spec);
  found.clear();
  for_each_hook_ref(empty, *spec, [&](const Node& ref, const HookRef&) { found.push_back(ref.path()); });
  EXPECT_TRUE(found.empty()) << "a left-out reference is not checked";
  Node wrong = yaml("identities: 3\n");
  EXPECT_EQ(error_of([&] { validate(wrong, *spec); }),
            "config.yaml:1:1: identities: expected a string, got an integer");
}

TEST(ConfigSchema, TypeErrorsNameWhatWasExpected) {
  Node config = yaml("server:\n  host: h\n  port: '6667'\nnick: n\n");
  EXPECT_EQ(error_of([&] { validate(config, *irc_spec()); }),
            "config.yaml:3:3: server.port: expected an integer, got a string");
  Node channels = yaml("server: {host: h}\nnick: n\nchannels: foo\n");
  EXPECT_EQ(error_of([&] { validate(channels, *irc_spec()); }),
            "config.yaml:3:1: channels: expected a list, got a string");
  Node item = yaml("server: {host: h}\nnick: n\nchannels:\n  - a\n  - [b]\n");
  EXPECT_EQ(error_of([&] { validate(item, *irc_spec()); }),
            "config.yaml:5:5: channels[1]: expected a string or a number, got a list");
  Node ssl = yaml("server: {host: h, ssl: 'yes'}\nnick: n\n");
  EXPECT_EQ(error_of([&] { validate(ssl, *irc_spec()); }),
            "config.yaml:1:19: server.ssl: expected a boolean, got a string");
  Node real_text = yaml("server: {host: h}\nnick: n\ntimeout: soon\n");
  EXPECT_EQ(error_of([&] { validate(real_text, *irc_spec()); }),
            "config.yaml:3:1: timeout: expected a number, got a string");
  Node not_map = yaml("- 1\n");
  EXPECT_EQ(error_of([&] { validate(not_map, *irc_spec()); }),
            "config.yaml:1:1: expected a map, got a list");
  Node map_values = yaml("a: 1\nb: x\n");
  EXPECT_EQ(error_of([&] { validate(map_values, *map_of(integer())); }),
            "config.yaml:2:1: b: expected an integer, got a string");
}

TEST(ConfigSchema, TextConvertsNumbers) {
  Node config = yaml("source: 12345\nname: general\nratio: 1.5\n");
  const SpecPtr spec =
      object({{"source", text(), required}, {"name", text(), required}, {"ratio", text(), required}});
  validate(config, *spec);
  EXPECT_EQ(config.at("source"), Node("12345"));
  EXPECT_EQ(config.at("source").path(), "source");
  EXPECT_EQ(config.at("source").mark().str(), "config.yaml:1:1");
  EXPECT_EQ(config.at("name"), Node("general"));
  EXPECT_EQ(config.at("ratio"), Node("1.5"));
  Node flag = yaml("source: true\n");
  EXPECT_EQ(error_of([&] { validate(flag, *object({{"source", text(), required}})); }),
            "config.yaml:1:1: source: expected a string or a number, got a boolean");
}

TEST(ConfigSchema, EitherTakesTheFirstThatFits) {
  const SpecPtr channels = either({text(), list_of(text())});
  Node one = yaml("12\n");
  validate(one, *channels);
  EXPECT_EQ(one, Node("12"));  // the text alternative converted it
  Node many = yaml("[a, 3]\n");
  validate(many, *channels);
  EXPECT_EQ(many, Node(NodeList{Node("a"), Node("3")}));

  Node wrong = yaml("{a: 1}\n");
  EXPECT_EQ(error_of([&] { validate(wrong, *channels); }),
            "config.yaml:1:1: expected a string or a number or a list, got a map");
  const SpecPtr three = either({boolean(), integer(), str()});
  Node list = yaml("[1]\n");
  EXPECT_EQ(error_of([&] { validate(list, *three); }),
            "config.yaml:1:1: expected a boolean, an integer or a string, got a list");

  // When only one alternative has the right shape, its own error is the one
  // that helps.
  const SpecPtr server = either({str(), object({{"host", str(), required}})});
  Node partial = yaml("server:\n  port: 1\n");
  EXPECT_EQ(error_of([&] { validate(*partial.find("server"), *server); }),
            "config.yaml:1:1: server: missing required key 'host'");
  // Only the alternative taken reports its unknown keys.
  const SpecPtr two =
      either({object({{"host", str(), required}}), object({{"path", str(), required}})});
  Node second = yaml("{path: p, zzz: 2}\n");
  EXPECT_EQ(warnings_of(second, *two),
            Warnings{"config.yaml:1:11: unknown key 'zzz' (known keys: path)"});

  // A failed alternative leaves no trace on the node.
  const SpecPtr fallback = either({object({{"a", integer(), 1}, {"b", integer(), required}}), any()});
  Node untouched = yaml("{}\n");
  validate(untouched, *fallback);
  EXPECT_EQ(untouched, Node::map());
}

TEST(ConfigSchema, AnyAcceptsEverything) {
  for (const char* text : {"1\n", "[1]\n", "{a: b}\n", "~\n", "x\n"}) {
    Node n = yaml(text);
    const Node before = n;
    EXPECT_NO_THROW(validate(n, *any()));
    EXPECT_EQ(n, before);
  }
}

TEST(ConfigSchema, NearestIsCaseInsensitiveWithTransposition) {
  const std::vector<std::string> keys = {"channels", "plug", "joins", "host", "Port"};
  EXPECT_EQ(nearest("chanels", keys), "channels");
  EXPECT_EQ(nearest("chnanels", keys), "channels");  // transposition counts once
  EXPECT_EQ(nearest("CHANNELS", keys), "channels");
  EXPECT_EQ(nearest("port", keys), "Port");
  EXPECT_EQ(nearest("hots", keys), "host");
  EXPECT_EQ(nearest("xyz", keys), std::nullopt);
  EXPECT_EQ(nearest("pl", keys), std::nullopt);  // two edits away from "plug"
  EXPECT_EQ(nearest("a", {"b", "c"}), "b");      // ties go to the first
  EXPECT_EQ(nearest("anything", {}), std::nullopt);
  // Limit: len/3 edits, at least one.
  EXPECT_EQ(nearest("chaels", keys), "channels");   // 6/3 = 2 edits allowed
  EXPECT_EQ(nearest("chls", keys), std::nullopt);   // 4 edits away
}

}  // namespace
}  // namespace immp
