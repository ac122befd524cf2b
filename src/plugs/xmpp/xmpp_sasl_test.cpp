#include "plugs/xmpp/xmpp_sasl.hpp"

#include <gtest/gtest.h>

namespace immp::xmpp {
namespace {

// RFC 5802 §5's example exchange (SCRAM-SHA-1, user "user", password
// "pencil"), and RFC 7677 §3's for SCRAM-SHA-256.
TEST(XmppSasl, ScramSha1MatchesRfc5802) {
  auto c = make_sasl_client(Mechanism::scram_sha_1, "user", "pencil",
                            [] { return std::string("fyko+d2lbbFgONRv9qkxdawL"); });
  EXPECT_EQ(c->initial(), "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
  auto step = c->respond(
      "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096");
  ASSERT_TRUE(step.response) << step.error;
  EXPECT_EQ(*step.response,
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
  EXPECT_EQ(c->finish("v=rmF9pqV8S7suAoZWja4dJRkFsKQ="), "");
}

TEST(XmppSasl, ScramSha256MatchesRfc7677) {
  auto c = make_sasl_client(Mechanism::scram_sha_256, "user", "pencil",
                            [] { return std::string("rOprNGfwEbeRWgbNEkqO"); });
  EXPECT_EQ(c->initial(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  auto step = c->respond(
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
  ASSERT_TRUE(step.response) << step.error;
  EXPECT_EQ(*step.response,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  EXPECT_EQ(c->finish("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="), "");
}

TEST(XmppSasl, AnImpostorsSignatureIsRefused) {
  auto c = make_sasl_client(Mechanism::scram_sha_1, "user", "pencil",
                            [] { return std::string("fyko+d2lbbFgONRv9qkxdawL"); });
  auto step = c->respond(
      "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096");
  ASSERT_TRUE(step.response);
  EXPECT_NE(c->finish("v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=").find("impostor"), std::string::npos);
}

TEST(XmppSasl, HostileChallengesAreRefused) {
  auto make = [] {
    return make_sasl_client(Mechanism::scram_sha_256, "u", "p", [] { return std::string("abc"); });
  };
  EXPECT_FALSE(make()->respond("r=xyz,s=QSXCR+Q6sek8bf92,i=4096").response);  // not our nonce
  EXPECT_FALSE(make()->respond("r=abcd,s=QSXCR+Q6sek8bf92,i=1").response);    // too few rounds
  EXPECT_FALSE(make()->respond("r=abcd,s=QSXCR+Q6sek8bf92,i=99999999999").response);
  EXPECT_FALSE(make()->respond("garbage").response);
  // Success before the proof: nothing verified.
  EXPECT_FALSE(make()->finish("").empty());
}

TEST(XmppSasl, PlainSendsAnEmptyAuthzid) {
  auto c = make_sasl_client(Mechanism::plain, "alice", "secret");
  EXPECT_EQ(c->initial(), std::string("\0alice\0secret", 13));
}

TEST(XmppSasl, Base64RoundTrips) {
  for (std::string s : {std::string(), std::string("a"), std::string("ab"), std::string("abc"),
                        std::string("abcd"), std::string("\0\xff\x10", 3)}) {
    EXPECT_EQ(base64_decode(base64_encode(s)), s);
  }
  EXPECT_EQ(base64_decode("="), "");
  EXPECT_FALSE(base64_decode("abc"));
  EXPECT_FALSE(base64_decode("ab!="));
}

}  // namespace
}  // namespace immp::xmpp
