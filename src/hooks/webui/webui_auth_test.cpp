#include "hooks/webui/webui_auth.hpp"

#include <gtest/gtest.h>

#include "hooks/identity/password.hpp"

namespace immp::webui {
namespace {

using namespace std::chrono_literals;

TEST(WebUIPassword, AConfigValueIsAHashOnlyWhenItLooksLikeOne) {
  std::string a = hooks::hash_password("open sesame");
  EXPECT_TRUE(is_password_hash(a)) << a;
  EXPECT_FALSE(is_password_hash("open sesame"));
  EXPECT_FALSE(is_password_hash(std::string(64, 'a')));  // not IMMP's SHA-256 here
}

TEST(WebUISecrets, TokensAreRandomHexAndComparedWhole) {
  std::string t = random_token();
  EXPECT_EQ(t.size(), 64u);
  EXPECT_EQ(t.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(t, random_token());
  EXPECT_TRUE(same_secret(t, t));
  EXPECT_FALSE(same_secret(t, t.substr(0, 63)));
  EXPECT_FALSE(same_secret(t, ""));
}

TEST(WebUISessions, ASessionLastsItsLifetime) {
  Sessions sessions(100s);
  auto start = Clock::now();
  auto [id, csrf] = sessions.create(start);
  ASSERT_NE(sessions.find(id, start + 99s), nullptr);
  EXPECT_EQ(sessions.find(id, start + 99s)->csrf, csrf);
  EXPECT_EQ(sessions.find("not" + id, start), nullptr);
  EXPECT_EQ(sessions.find("", start), nullptr);
  EXPECT_EQ(sessions.find(id, start + 100s), nullptr);
  EXPECT_EQ(sessions.size(), 0u);  // forgotten once expired
  auto [other, other_csrf] = sessions.create(start);
  EXPECT_NE(other_csrf, csrf);
  sessions.end(other);
  EXPECT_EQ(sessions.find(other, start), nullptr);
}

TEST(WebUILogins, FailuresPerAddressWithinTheWindow) {
  LoginLimiter limiter(3, 60s);
  auto t = Clock::now();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(limiter.wait("10.0.0.1", t), 0s);
    limiter.failed("10.0.0.1", t + std::chrono::seconds(i));
  }
  EXPECT_EQ(limiter.wait("10.0.0.1", t + 10s), 50s);
  EXPECT_EQ(limiter.wait("10.0.0.2", t + 10s), 0s);  // others are not held up
  EXPECT_EQ(limiter.wait("10.0.0.1", t + 60s), 0s);  // the first failure aged out
}

}  // namespace
}  // namespace immp::webui
