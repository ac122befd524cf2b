#include "plugs/irc/irc_sasl.hpp"

#include <gtest/gtest.h>

#include "plugs/irc/irc_cap.hpp"

namespace immp::irc {
namespace {

// RFC 7677 §3: user "user", password "pencil".
constexpr std::string_view kNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

std::unique_ptr<SaslClient> scram(std::string password = "pencil") {
  return make_sasl_client(SaslMechanism::scram_sha_256, "user", std::move(password),
                          [] { return std::string(kNonce); });
}

TEST(IrcSasl, ScramSha256FollowsRfc7677sExchange) {
  auto c = scram();
  auto first = c->respond("");
  EXPECT_EQ(first.response, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  auto final = c->respond(kServerFirst);
  EXPECT_EQ(final.error, "");
  EXPECT_EQ(final.response, std::string(kClientFinal));
  EXPECT_FALSE(c->server_verified()) << "not before the server's signature";
  auto last = c->respond(kServerFinal);
  EXPECT_EQ(last.error, "");
  EXPECT_EQ(last.response, "") << "an empty answer (AUTHENTICATE +) ends the exchange";
  EXPECT_TRUE(c->server_verified());
}

TEST(IrcSasl, ScramRefusesAServerSignatureThatDoesNotProveThePassword) {
  auto c = scram();
  (void)c->respond("");
  (void)c->respond(kServerFirst);
  // The signature a server gets for a different password (it does not know ours).
  auto step = c->respond("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
  EXPECT_FALSE(step.response);
  EXPECT_EQ(step.error,
            "the server's SCRAM signature is wrong: it does not know our password (an impostor?)");
  EXPECT_FALSE(c->server_verified());
  auto missing = scram();
  (void)missing->respond("");
  (void)missing->respond(kServerFirst);
  EXPECT_FALSE(missing->respond("").response) << "no signature at all is no proof either";
  EXPECT_FALSE(missing->server_verified());
}

TEST(IrcSasl, ScramRefusesAHostileServerFirstMessage) {
  struct Case {
    std::string server_first;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
       "the server's SCRAM nonce does not extend ours"},
      {"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
       "the server's SCRAM nonce does not extend ours"},
      {"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1",
       "the server asks for 1 SCRAM iterations (we accept 4096 to 10000000)"},
      {"r=rOprNGfwEbeRWgbNEkqOxyz,s=!!!!,i=4096", "the server's SCRAM salt is not base64"},
      {"r=rOprNGfwEbeRWgbNEkqOxyz,i=4096", "malformed SCRAM server-first message"},
      {"m=ext,r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
       "the server requires a SCRAM extension we do not know"},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.server_first);
    auto c = scram();
    (void)c->respond("");
    auto step = c->respond(k.server_first);
    EXPECT_FALSE(step.response);
    EXPECT_EQ(step.error, k.error);
  }
}

TEST(IrcSasl, ScramEscapesCommasAndEqualsInTheUserName) {
  auto c = make_sasl_client(SaslMechanism::scram_sha_256, "a,b=c", "pw", [] { return "N"; });
  EXPECT_EQ(c->respond("").response, "n,,n=a=2Cb=3Dc,r=N");
}

TEST(IrcSasl, PlainSendsTheAccountAsAuthorisationIdentity) {
  auto c = make_sasl_client(SaslMechanism::plain, "acct", "s3cret");
  EXPECT_EQ(c->respond("").response, std::string("acct\0acct\0s3cret", 16));
  EXPECT_TRUE(c->server_verified());
  EXPECT_FALSE(c->respond("").response) << "PLAIN has one message";
}

TEST(IrcSasl, ExternalSendsAnEmptyAuthorisationIdentity) {
  auto c = make_sasl_client(SaslMechanism::external, "", "");
  EXPECT_EQ(c->respond("").response, "");
}

TEST(IrcSasl, MechanismNamesAreTheWireNames) {
  for (auto m : {SaslMechanism::plain, SaslMechanism::external, SaslMechanism::scram_sha_256}) {
    EXPECT_EQ(parse_sasl_mechanism(sasl_name(m)), m);
  }
  EXPECT_FALSE(parse_sasl_mechanism("SCRAM-SHA-1"));
}

TEST(IrcSasl, Base64RoundTripsAndRefusesGarbage) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd",
                                                       std::string("\0\xff\x10", 3)}) {
    EXPECT_EQ(base64_decode(base64(s)), s);
  }
  EXPECT_FALSE(base64_decode("abc"));
  EXPECT_FALSE(base64_decode("ab=c"));
  EXPECT_FALSE(base64_decode("a===")) << "at most two padding characters";
}

}  // namespace
}  // namespace immp::irc
