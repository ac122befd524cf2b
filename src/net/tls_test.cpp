// TLS set-up: pins are read in the forms people paste, refused when they
// cannot be SHA-256, and a missing file is named. The handshakes themselves
// run against the real server in http_test.cpp and websocket_test.cpp.
#include "net/tls.hpp"

#include <gtest/gtest.h>

#include "support/web_server.hpp"

namespace immp::net {
namespace {

TEST(TlsTest, AFingerprintIsReadWithOrWithoutColonsInAnyCase) {
  const std::string hex(64, 'a');
  std::string colons;
  for (std::size_t i = 0; i < 64; i += 2) colons += i ? ":AA" : "AA";
  EXPECT_EQ(normalize_fingerprint(hex), hex);
  EXPECT_EQ(normalize_fingerprint(colons), hex);
  EXPECT_THROW(normalize_fingerprint("AA:BB"), TlsError) << "too short for SHA-256";
  EXPECT_THROW(normalize_fingerprint(std::string(40, 'a')), TlsError) << "a SHA-1 fingerprint";
  std::string not_hex(64, 'a');
  not_hex.back() = 'g';
  EXPECT_THROW(normalize_fingerprint(not_hex), TlsError);
}

TEST(TlsTest, TheFingerprintIsTheOneOpensslPrints) {
  // The certificate's own fingerprint, printed as `openssl x509
  // -fingerprint -sha256` does: 32 bytes, upper-case, colons.
  auto cert = test::make_self_signed();
  EXPECT_EQ(cert.fingerprint.size(), 32u * 3 - 1);
  EXPECT_EQ(normalize_fingerprint(cert.fingerprint).size(), 64u);
  EXPECT_NE(cert.fingerprint, test::make_self_signed().fingerprint) << "a new key each time";
}

TEST(TlsTest, AContextThatCannotWorkIsRefusedUpFront) {
  TlsOptions o;
  o.ca_file = "/nonexistent/ca.pem";
  try {
    make_tls_context(o);
    FAIL() << "a missing CA file was accepted";
  } catch (const TlsError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/ca.pem"), std::string::npos) << e.what();
  }
  TlsOptions pin;
  pin.fingerprint = "not-a-fingerprint";
  EXPECT_THROW(make_tls_context(pin), TlsError);
}

}  // namespace
}  // namespace immp::net
