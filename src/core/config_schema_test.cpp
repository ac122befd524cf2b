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

TEST(ConfigSchema, UnknownKeySuggestsTheNearest) {
  Node config = yaml(R"(hooks:
  sync:
    config:
      plug: irc
      chanels:
        foo: [a]
)");
  const SpecPtr sync = object({{"plug", str(), required}, {"channels", map_of(list_of(str())), Node::map()}});
  Node& section = *config.find("hooks")->find("sync")->find("config");
  EXPECT_EQ(error_of([&] { validate(section, *sync); }),
            "config.yaml:5:7: hooks.sync.config: unknown key 'chanels' (did you mean 'channels'?)");

  Node far = yaml("plug: irc\nzzz: 1\n");
  EXPECT_EQ(error_of([&] { validate(far, *sync); }),
            "config.yaml:2:1: unknown key 'zzz' (known keys: plug, channels)");
  Node none = yaml("x: 1\n");
  EXPECT_EQ(error_of([&] { validate(none, *object({})); }),
            "config.yaml:1:1: unknown key 'x' (no keys are allowed here)");
  // Open objects take any extra key.
  Node open = yaml("plug: irc\nzzz: 1\n");
  EXPECT_NO_THROW(validate(open, *object({{"plug", str(), required}}, true)));
  EXPECT_EQ(open.at("zzz"), Node(1));
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
            "config.yaml:2:3: server: unknown key 'port' (known keys: host)");

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
