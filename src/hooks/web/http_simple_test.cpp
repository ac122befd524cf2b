#include "hooks/web/http_simple.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "hooks/web/http_simple_oracle.hpp"

namespace immp::web {
namespace {

using testing::beast_parse;
using testing::simple_parse;

Limits small_limits() {
  Limits l;
  l.max_body = 1000;
  l.max_header_bytes = 512;
  return l;
}

const std::string kPost =
    "POST /api/v1/channels/lobby/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    "Authorization: Bearer abc\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
    "{\"text\":\"hi!\"}\n";

// Taken by the fast path, with what Beast reads from the same bytes.
void expect_same(const std::string& in, const Limits& limits = small_limits()) {
  auto simple = simple_parse(in, limits);
  auto beast = beast_parse(in, limits);
  ASSERT_TRUE(simple.has_value()) << in;
  ASSERT_TRUE(beast.has_value()) << in;
  EXPECT_EQ(*simple, *beast) << in;
}

// Left to Beast.
void expect_left(const std::string& in, const Limits& limits = small_limits()) {
  EXPECT_FALSE(simple_parse(in, limits).has_value()) << in;
}

TEST(HttpSimple, UsualRequestsReadAsBeastReadsThem) {
  expect_same(kPost);
  expect_same("GET /hello/a?x=1&y=%20 HTTP/1.1\r\nHost: a\r\n\r\n");
  expect_same("GET / HTTP/1.0\r\n\r\n");
  expect_same("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  expect_same("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
  expect_same(
      "DELETE /x HTTP/1.1\r\nX-Odd_Name-1: \t spaced  value \t\r\nContent-Length: 0\r\n\r\n");
  expect_same("GET /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
  auto r = simple_parse(kPost, small_limits());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->target, "/api/v1/channels/lobby/messages");
  EXPECT_EQ(r->body, "{\"text\":\"hi!\"}\n");
  EXPECT_EQ(r->headers.size(), 4u);
  EXPECT_TRUE(r->keep_alive);
  EXPECT_EQ(r->consumed, kPost.size());
}

TEST(HttpSimple, KeepAliveAsHttpSays) {
  EXPECT_FALSE(simple_parse("GET / HTTP/1.0\r\n\r\n", small_limits())->keep_alive);
  EXPECT_TRUE(
      simple_parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", small_limits())->keep_alive);
  EXPECT_FALSE(
      simple_parse("GET / HTTP/1.1\r\nConnection: CLOSE\r\n\r\n", small_limits())->keep_alive);
  EXPECT_TRUE(simple_parse("GET / HTTP/1.1\r\n\r\n", small_limits())->keep_alive);
}

TEST(HttpSimple, PipelinedRequestsAreTakenOneAtATime) {
  std::string two = kPost + "GET /next HTTP/1.1\r\n\r\n";
  expect_same(two);
  EXPECT_EQ(simple_parse(two, small_limits())->consumed, kPost.size());
}

TEST(HttpSimple, IncompleteRequestsAreLeftToBeast) {
  for (std::size_t n = 0; n < kPost.size(); ++n) expect_left(kPost.substr(0, n));
}

TEST(HttpSimple, AnythingUnusualIsLeftToBeast) {
  const std::string get = "GET / HTTP/1.1\r\n";
  expect_left(get + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  expect_left(get + "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n");
  expect_left(get + "Upgrade: websocket\r\n\r\n");
  expect_left(get + "Connection: keep-alive, close\r\n\r\n");
  expect_left(get + "Connection: close\r\nConnection: close\r\n\r\n");
  expect_left(get + "Proxy-Connection: close\r\n\r\n");
  expect_left(get + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc");
  expect_left(get + "Content-Length: 03\r\n\r\nabc");
  expect_left(get + "Content-Length: +3\r\n\r\nabc");
  expect_left(get + "Content-Length: 1234567890\r\n\r\n");
  expect_left(get + "X-Folded: a\r\n b\r\n\r\n");
  expect_left(get + "X-Empty:\r\n\r\n");
  expect_left(get + "X-Bare: a\nY: b\r\n\r\n");
  expect_left(get + "X-Nul: a" + std::string(1, '\0') + "b\r\n\r\n");
  expect_left(get + "X-Del: a\x7f\r\n\r\n");
  expect_left(get + "X-Utf8: \xc3\xa9\r\n\r\n");
  expect_left(get + "X Space: a\r\n\r\n");
  expect_left(get + ": no name\r\n\r\n");
  expect_left(get + "X-Colon : a\r\n\r\n");
  expect_left("get / HTTP/1.1\r\n\r\n");
  expect_left("GET http://a/ HTTP/1.1\r\n\r\n");
  expect_left("GET * HTTP/1.1\r\n\r\n");
  expect_left("GET /a b HTTP/1.1\r\n\r\n");
  expect_left("GET  / HTTP/1.1\r\n\r\n");
  expect_left("GET / HTTP/2.0\r\n\r\n");
  expect_left("GET / HTTP/1.1 \r\n\r\n");
  expect_left("\r\nGET / HTTP/1.1\r\n\r\n");
  expect_left("GET /\x80 HTTP/1.1\r\n\r\n");
  std::string many = get;
  for (int i = 0; i < 40; ++i) many += "X-" + std::to_string(i) + ": 1\r\n";
  expect_left(many + "\r\n");
}

TEST(HttpSimple, LimitsAreLeftToBeast) {
  Limits l = small_limits();
  // A body over the limit: Beast refuses it (413).
  expect_left("POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n" + std::string(1001, 'x'), l);
  expect_same("POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'x'), l);
  // A head near or over the limit (431 is Beast's call).
  expect_left("GET / HTTP/1.1\r\nX: " + std::string(500, 'a') + "\r\n\r\n", l);
  expect_left("GET / HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n", l);
}

// Random edits of real requests: whatever the fast path takes, Beast takes
// the same way (the fuzz target does this without bounds).
TEST(HttpSimple, RandomEditsNeverDisagreeWithBeast) {
  const std::string seeds[] = {
      kPost,
      "GET /a?b HTTP/1.0\r\nConnection: keep-alive\r\nX: y\r\n\r\nGET / HTTP/1.1\r\n\r\n",
      "PUT /x HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
  };
  const char alphabet[] = "\r\n :\t/0123456789aZ-_,\x7f\x80\0HTP.";
  std::mt19937 rng(12);
  Limits l = small_limits();
  int taken = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s = seeds[i % 3];
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      std::size_t at = rng() % s.size();
      char c = alphabet[rng() % (sizeof alphabet - 1)];
      switch (rng() % 3) {
        case 0: s[at] = c; break;
        case 1: s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), c); break;
        default: s.erase(at, 1 + rng() % 4); break;
      }
    }
    auto simple = simple_parse(s, l);
    if (!simple) continue;
    ++taken;
    auto beast = beast_parse(s, l);
    ASSERT_TRUE(beast.has_value()) << "Beast refuses what the fast path took: " << s;
    ASSERT_EQ(*simple, *beast) << s;
  }
  EXPECT_GT(taken, 1000);  // the check saw plenty of accepted requests
}

}  // namespace
}  // namespace immp::web
