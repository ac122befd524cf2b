#include "hooks/webui/secrets.hpp"

#include <gtest/gtest.h>

#include "immp/config.hpp"

namespace immp::webui {
namespace {

TEST(Secrets, KeysThatHoldSecrets) {
  for (const char* key : {"password", "token", "tokens", "secret", "api-key", "key",
                          "sasl-password", "client_secret", "Token", "oauth"}) {
    EXPECT_TRUE(is_secret_key(key)) << key;
  }
  for (const char* key : {"route", "name", "channels", "url", "nick", "author-format"}) {
    EXPECT_FALSE(is_secret_key(key)) << key;
  }
}

TEST(Secrets, EverySecretOfAConfigIsHiddenInText) {
  Node config = Node::map();
  config.set("route", "/admin");
  config.set("password", "hunter2hunter2");
  Node token = Node::map();
  token.set("name", "bot");
  token.set("token", "tok-0123456789");
  config.set("tokens", Node(NodeList{token}));
  config.set("url", "postgresql://immp:db-pass-42@db.example/immp");
  config.set("server", Node(NodeMap{{"password", "ab"}}));  // too short to hide
  Redactor r;
  r.learn(config);
  EXPECT_EQ(r.redact("login hunter2hunter2 with tok-0123456789 and db-pass-42 at /admin ab"),
            "login [hidden] with [hidden] and [hidden] at /admin ab");
  // The token's name is not a secret; its value is, wherever it appears.
  EXPECT_EQ(r.redact("bot: xtok-0123456789x"), "bot: x[hidden]x");
  EXPECT_EQ(r.redact("nothing here"), "nothing here");
}

Node yaml(const char* text) { return parse_config(text, ConfigFormat::yaml, "test"); }

TEST(Secrets, AFormShowsSecretsHiddenAndKeepsThoseLeftHidden) {
  Node stored = yaml(
      "nick: bridge\n"
      "password: hunter2hunter2\n"
      "port: 6697\n"
      "api-key: 123456\n"
      "database: postgresql://immp:dbpass@localhost/immp\n"
      "tokens: [{name: bot, token: tok-one}, {name: ci, token: tok-two}]\n");
  Node shown = mask_secrets(stored);
  std::string text = dump_config(shown, ConfigFormat::yaml);
  for (const char* secret : {"hunter2", "123456", "dbpass", "tok-one", "tok-two"}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in\n" << text;
  }
  for (const char* kept : {"bridge", "6697", "postgresql://immp:[hidden]@localhost/immp", "bot"}) {
    EXPECT_NE(text.find(kept), std::string::npos) << kept << " not in\n" << text;
  }
  EXPECT_EQ(find_hidden(stored), nullptr);
  ASSERT_NE(find_hidden(shown), nullptr);

  // Posted back as shown, with one token changed and the nick too.
  Node edited = parse_config(text, ConfigFormat::yaml, "form");
  edited.set("nick", "relay");
  edited.find("tokens")->as_list()[1].set("token", "tok-new");
  Node back = unmask_secrets(edited, stored);
  EXPECT_EQ(find_hidden(back), nullptr) << dump_config(back, ConfigFormat::yaml);
  Node expected = stored;
  expected.set("nick", "relay");
  expected.find("tokens")->as_list()[1].set("token", "tok-new");
  EXPECT_EQ(back, expected) << dump_config(back, ConfigFormat::yaml);

  // A [hidden] where nothing was stored stays, for the form to refuse.
  Node fresh = yaml("password: '[hidden]'\n");
  EXPECT_NE(find_hidden(unmask_secrets(fresh, Node::map())), nullptr);
}

}  // namespace
}  // namespace immp::webui
