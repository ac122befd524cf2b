// The socket transport's TLS (net/tls.hpp) against a real TLS server on
// loopback with a self-signed certificate: refused unless vouched for by
// its CA file or pinned by fingerprint, and a wrong pin names both
// fingerprints. (The IRC protocol over TLS runs against InspIRCd in
// tests/integration/irc_inspircd_test.cpp.)
#include "plugs/irc/irc_transport.hpp"

#include <gtest/gtest.h>

#include "plugs/irc/irc_connection.hpp"
#include "support/async.hpp"
#include "support/web_server.hpp"

namespace immp::irc {
namespace {

struct IrcTransportTls : ::testing::Test {
  test::WebServer& server = test::shared_web_server();
  asio::io_context io;

  ConnectionOptions options() const {
    ConnectionOptions o;
    o.host = "localhost";
    o.port = server.tls_port();
    o.tls = true;
    return o;
  }
  // What connect() throws, or "" when it connects.
  std::string connect_error(const ConnectionOptions& o) {
    auto t = make_socket_transport(io.get_executor(), o);
    try {
      test::run(io, t->connect());
      t->close();
      return "";
    } catch (const ConnectionError& e) {
      return e.what();
    }
  }
};

TEST_F(IrcTransportTls, ASelfSignedServerIsRefusedByDefault) {
  std::string e = connect_error(options());
  EXPECT_NE(e.find("cannot be verified"), std::string::npos) << e;
}

TEST_F(IrcTransportTls, ItsCaFileOrItsPinnedFingerprintIsTrusted) {
  ConnectionOptions with_ca = options();
  with_ca.ca = server.ca_file();
  EXPECT_EQ(connect_error(with_ca), "");
  ConnectionOptions pinned = options();
  pinned.fingerprint = server.certificate().fingerprint;
  EXPECT_EQ(connect_error(pinned), "");
}

TEST_F(IrcTransportTls, AWrongPinIsRefusedNamingBothFingerprints) {
  ConnectionOptions o = options();
  o.ca = server.ca_file();
  o.fingerprint = test::make_self_signed().fingerprint;
  std::string e = connect_error(o);
  EXPECT_NE(e.find("not the pinned " + o.fingerprint), std::string::npos) << e;
  EXPECT_NE(e.find(server.certificate().fingerprint), std::string::npos) << e;
}

TEST_F(IrcTransportTls, AMalformedPinIsAConnectionErrorBeforeAnyTraffic) {
  ConnectionOptions o = options();
  o.fingerprint = "AB:CD";
  EXPECT_THROW(make_socket_transport(io.get_executor(), o), ConnectionError);
}

}  // namespace
}  // namespace immp::irc
