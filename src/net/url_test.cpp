// URLs as the clients connect with them: default ports, IPv6 hosts without
// brackets for the resolver and with them for the Host header, and
// Location headers resolved as browsers do.
#include "net/url.hpp"

#include <gtest/gtest.h>

namespace immp::net {
namespace {

TEST(UrlTest, ThePartsAClientConnectsWith) {
  Url u = parse_url("HTTPS://api.example.com/v10/users/@me?with=1#frag");
  EXPECT_EQ(u.scheme, "https");
  EXPECT_TRUE(u.tls());
  EXPECT_EQ(u.host, "api.example.com");
  EXPECT_EQ(u.port, "443");
  EXPECT_EQ(u.authority, "api.example.com");
  EXPECT_EQ(u.target, "/v10/users/@me?with=1") << "the fragment never goes to the server";
  EXPECT_EQ(parse_url("http://h").target, "/");
  EXPECT_EQ(parse_url("ws://h").port, "80");
  EXPECT_EQ(parse_url("wss://h:8443/gw").port, "8443");
  Url v6 = parse_url("http://[::1]:8080/x");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.authority, "[::1]:8080");
  EXPECT_EQ(v6.origin(), "http://::1:8080");
}

TEST(UrlTest, WhatIsNotAUsableUrlIsRefusedWithItsText) {
  for (const char* bad : {"", "api.example.com/x", "ftp://example.com/", "http:///path",
                          "https://user:secret@example.com/"}) {
    try {
      parse_url(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(UrlTest, LocationsResolveAgainstTheUrlTheyCameFrom) {
  EXPECT_EQ(resolve_url("https://a.example/x/y?q=1", "/z"), "https://a.example/z");
  EXPECT_EQ(resolve_url("https://a.example/x/y", "z?w=2"), "https://a.example/x/z?w=2");
  EXPECT_EQ(resolve_url("https://a.example/x", "https://cdn.example/f#top"),
            "https://cdn.example/f");
  EXPECT_EQ(resolve_url("https://a.example/x", "//b.example/y"), "https://b.example/y");
}

}  // namespace
}  // namespace immp::net
