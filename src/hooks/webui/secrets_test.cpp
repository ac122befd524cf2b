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

}  // namespace
}  // namespace immp::webui
