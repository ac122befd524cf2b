#include "hooks/web/web_hook.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <optional>

#include "immp/host.hpp"
#include "net/http.hpp"
#include "net/websocket.hpp"
#include "support/async.hpp"
#include "support/hooks.hpp"
#include "support/process.hpp"
#include "support/web_client.hpp"
#include "support/web_server.hpp"

namespace immp::web {
namespace {

using namespace std::chrono_literals;

// One host with two servers (plain with short limits, and TLS) for the
// whole program.
struct Env {
  asio::io_context io;
  test::TempDir dir{"immp-web"};
  test::SelfSigned cert = test::make_self_signed("localhost");
  std::unique_ptr<Host> host;
  WebHook* web = nullptr;
  WebHook* secure = nullptr;

  Env() {
    std::ofstream(dir.path() / "cert.pem") << cert.cert_pem;
    std::ofstream(dir.path() / "key.pem") << cert.key_pem;
    HostOptions o;
    o.base_dir = dir.path();
    host = std::make_unique<Host>(io.get_executor(), o);
    web = &test::add_hook<WebHook>(*host, "web",
                                   "port: 0\nmax-body: 1000\nmax-header: 2000\nmax-headers: 20\n"
                                   "timeout: 0.5\n");
    secure =
        &test::add_hook<WebHook>(*host, "secure", "port: 0\ntls: {cert: cert.pem, key: key.pem}\n");
    test::run(io, host->open());
  }
};

Env& env() {
  static Env* e = new Env();  // lives to the end of the program
  return *e;
}

class WebHookTest : public ::testing::Test {
 protected:
  Env& e = env();
  WebHook& web = *e.web;
  std::string url(const std::string& path) { return web.base_url() + path; }
};

Route hello_route(WebHook& web) {
  return Route(web, "GET", "/hello/{name}", [](Request& r) -> Task<Response> {
    co_return Response::text(
        200, "hello " + r.params.at("name") + " " + r.query_param("x").value_or("-"));
  });
}

TEST_F(WebHookTest, BindsLoopbackByDefaultAndRoutesWithParams) {
  EXPECT_EQ(web.config().at("host").as_string(), "127.0.0.1");
  Route route = hello_route(web);
  net::HttpClient http(e.io.get_executor());
  auto r = test::run(e.io, http.get(url("/hello/ann%20b?x=a+b")));
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "hello ann b a b");
  auto missing = test::run(e.io, http.get(url("/nowhere")));
  EXPECT_EQ(missing.status, 404u);
  auto wrong = test::run(e.io, http.send_json("POST", url("/hello/x"), boost::json::object{}));
  EXPECT_EQ(wrong.status, 405u);
}

TEST_F(WebHookTest, RouteGoesWithItsOwner) {
  net::HttpClient http(e.io.get_executor());
  {
    Route route = hello_route(web);
    EXPECT_EQ(test::run(e.io, http.get(url("/hello/a"))).status, 200u);
  }
  EXPECT_EQ(test::run(e.io, http.get(url("/hello/a"))).status, 404u);
}

TEST_F(WebHookTest, CurlKeepsTheConnectionAlive) {
  Route route = hello_route(web);
  std::size_t before = 0;
  int code = -1;
  std::string out = test::curl(e.io, {url("/hello/a"), url("/hello/b")}, &code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(out, "hello a -hello b -");
  (void)before;
}

TEST_F(WebHookTest, HandlerErrorIs500AndTheServerCarriesOn) {
  Route route(web, "GET", "/boom", [](Request&) -> Task<Response> {
    throw std::runtime_error("boom");
    co_return Response::text(200, "never");
  });
  Route ok = hello_route(web);
  net::HttpClient http(e.io.get_executor());
  EXPECT_EQ(test::run(e.io, http.get(url("/boom"))).status, 500u);
  EXPECT_EQ(test::run(e.io, http.get(url("/hello/x"))).status, 200u);
}

TEST_F(WebHookTest, MalformedRequestGets400AndIsClosed) {
  auto r = test::run(e.io, test::raw_exchange(web.port(), "NOT HTTP AT ALL\r\n\r\n"));
  EXPECT_EQ(test::status_of(r.reply), 400) << r.reply;
  EXPECT_TRUE(r.closed);
  auto bad_length = test::run(
      e.io,
      test::raw_exchange(web.port(), "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: zz\r\n\r\n"));
  EXPECT_EQ(test::status_of(bad_length.reply), 400) << bad_length.reply;
}

TEST_F(WebHookTest, OversizedBodyGets413BeforeItIsRead) {
  Route route(web, "POST", "/in", [](Request& r) -> Task<Response> {
    co_return Response::text(200, std::to_string(r.body.size()));
  });
  // Announced too large: refused without reading the body.
  auto r = test::run(
      e.io, test::raw_exchange(web.port(),
                               "POST /in HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n"));
  EXPECT_EQ(test::status_of(r.reply), 413) << r.reply;
  EXPECT_TRUE(r.closed);
  // Chunked, growing past the limit.
  std::string chunked = "POST /in HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 5; ++i) chunked += "190\r\n" + std::string(400, 'x') + "\r\n";
  chunked += "0\r\n\r\n";
  auto c = test::run(e.io, test::raw_exchange(web.port(), chunked));
  EXPECT_EQ(test::status_of(c.reply), 413) << c.reply;
  // Within the limit it is fine.
  net::HttpClient http(e.io.get_executor());
  net::HttpRequest req;
  req.method = "POST";
  req.url = url("/in");
  req.body = std::string(900, 'y');
  req.content_type = "text/plain";
  auto ok = test::run(e.io, http.request(req));
  EXPECT_EQ(ok.status, 200u);
  EXPECT_EQ(ok.body, "900");
}

TEST_F(WebHookTest, OversizedOrTooManyHeadersGet431) {
  auto big =
      test::run(e.io, test::raw_exchange(web.port(), "GET / HTTP/1.1\r\nHost: a\r\nX: " +
                                                         std::string(3000, 'h') + "\r\n\r\n"));
  EXPECT_EQ(test::status_of(big.reply), 431) << big.reply;
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 30; ++i) many += "X-" + std::to_string(i) + ": 1\r\n";
  auto m = test::run(e.io, test::raw_exchange(web.port(), many + "\r\n"));
  EXPECT_EQ(test::status_of(m.reply), 431) << m.reply;
}

TEST_F(WebHookTest, PipelinedRequestsAreAnsweredInOrder) {
  Route route = hello_route(web);
  // Three requests in one write: the fast path, a chunked body (Beast's
  // parser) and the fast path again, answered in order on one connection.
  Route post(web, "POST", "/in",
             [](Request& r) -> Task<Response> { co_return Response::text(200, "got " + r.body); });
  auto r = test::run(
      e.io,
      test::raw_exchange(web.port(),
                         "GET /hello/a HTTP/1.1\r\nHost: a\r\n\r\n"
                         "POST /in HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "3\r\nabc\r\n0\r\n\r\n"
                         "GET /hello/b?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
  EXPECT_TRUE(r.closed);
  std::size_t a = r.reply.find("hello a -");
  std::size_t chunked = r.reply.find("got abc");
  std::size_t b = r.reply.find("hello b 1");
  ASSERT_NE(a, std::string::npos) << r.reply;
  ASSERT_NE(chunked, std::string::npos) << r.reply;
  ASSERT_NE(b, std::string::npos) << r.reply;
  EXPECT_LT(a, chunked);
  EXPECT_LT(chunked, b);
  EXPECT_NE(r.reply.find("Connection: close"), std::string::npos) << r.reply;
}

// The answers in `reply`, one after another, framed by their
// Content-Length: (status, body) each.
std::vector<std::pair<int, std::string>> answers_in(const std::string& reply) {
  std::vector<std::pair<int, std::string>> out;
  std::size_t at = 0;
  while (at < reply.size()) {
    std::size_t end = reply.find("\r\n\r\n", at);
    if (end == std::string::npos) break;
    std::string head = reply.substr(at, end - at);
    std::size_t l = head.find("Content-Length: ");
    if (l == std::string::npos) break;
    std::size_t length = std::stoul(head.substr(l + 16));
    out.emplace_back(test::status_of(head), reply.substr(end + 4, length));
    at = end + 4 + length;
  }
  return out;
}

TEST_F(WebHookTest, EachRequestOnAConnectionSeesOnlyItsOwnParts) {
  // One connection's requests share the server's storage for them: what
  // one request had (a header, a query, a body, a parameter) must not
  // show in the next, and each answer's length is its own.
  Route echo(web, "POST", "/echo/{name}", [](Request& r) -> Task<Response> {
    const std::string* auth = r.header("Authorization");
    co_return Response::text(
        200, "name=" + r.params.at("name") + " x=" + r.query_param("x").value_or("-") +
                 " auth=" + (auth ? *auth : "-") + " fields=" + std::to_string(r.headers.size()) +
                 " body=" + r.body);
  });
  auto r = test::run(
      e.io,
      test::raw_exchange(web.port(),
                         "POST /echo/first?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer one\r\n"
                         "Content-Length: 3\r\n\r\nabc"
                         "POST /echo/b HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"
                         "POST /echo/c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "2\r\nde\r\n0\r\n\r\n"
                         "POST /echo/d HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer two\r\n"
                         "Content-Length: 0\r\nConnection: close\r\n\r\n"));
  EXPECT_TRUE(r.closed);
  auto answers = answers_in(r.reply);
  ASSERT_EQ(answers.size(), 4u) << r.reply;
  EXPECT_EQ(answers[0].second, "name=first x=1 auth=Bearer one fields=3 body=abc");
  EXPECT_EQ(answers[1].second, "name=b x=- auth=- fields=2 body=");
  EXPECT_EQ(answers[2].second, "name=c x=- auth=- fields=2 body=de");
  EXPECT_EQ(answers[3].second, "name=d x=- auth=Bearer two fields=4 body=");
  for (const auto& [status, body] : answers) EXPECT_EQ(status, 200);
}

TEST_F(WebHookTest, AConnectionFollowsRoutesThatChangeBetweenItsRequests) {
  // The server remembers the route a connection's last request matched:
  // a route replaced or removed meanwhile must not answer.
  std::optional<Route> x;
  auto answer = [](std::string text) {
    return [text](Request&) -> Task<Response> { co_return Response::text(200, text); };
  };
  x.emplace(web, "GET", "/x", answer("A"));
  Route swap(web, "GET", "/swap", [&](Request&) -> Task<Response> {
    x.reset();
    x.emplace(web, "GET", "/x", answer("B"));
    co_return Response::text(200, "swapped");
  });
  Route drop(web, "GET", "/drop", [&](Request&) -> Task<Response> {
    x.reset();
    co_return Response::text(200, "dropped");
  });
  auto r = test::run(e.io, test::raw_exchange(web.port(),
                                              "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
                                              "GET /swap HTTP/1.1\r\nHost: a\r\n\r\n"
                                              "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
                                              "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
                                              "GET /drop HTTP/1.1\r\nHost: a\r\n\r\n"
                                              "GET /x HTTP/1.1\r\nHost: a\r\n"
                                              "Connection: close\r\n\r\n"));
  auto answers = answers_in(r.reply);
  ASSERT_EQ(answers.size(), 6u) << r.reply;
  EXPECT_EQ(answers[0].second, "A");
  EXPECT_EQ(answers[1].second, "swapped");
  EXPECT_EQ(answers[2].second, "B");
  EXPECT_EQ(answers[3].second, "B");
  EXPECT_EQ(answers[4].second, "dropped");
  EXPECT_EQ(answers[5].first, 404);
}

TEST_F(WebHookTest, SlowClientIsCutOffAndOthersAreServedMeanwhile) {
  Route route = hello_route(web);
  bool slow_done = false;
  test::RawExchange slow;
  auto slow_client = [&]() -> Task<> {
    // Headers that never end: the server's 0.5 s request timeout closes it.
    slow = co_await test::raw_exchange(web.port(), "GET /hello/a HTTP/1.1\r\nHost: a\r\n");
    slow_done = true;
  };
  asio::co_spawn(e.io, slow_client(), asio::detached);
  net::HttpClient http(e.io.get_executor());
  auto r = test::run(e.io, http.get(url("/hello/b")));
  EXPECT_EQ(r.status, 200u);
  EXPECT_FALSE(slow_done);
  auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(test::run_until(
      e.io, [&] { return slow_done; }, 5s));
  EXPECT_TRUE(slow.closed);
  EXPECT_EQ(slow.reply, "");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}

TEST_F(WebHookTest, WebSocketRoute) {
  Route route(
      web, "GET", "/ws", [](Request&) -> Task<Response> { co_return Response::text(200, "plain"); },
      [](Request& r, WebSocketSession& s) -> Task<> {
        std::string who = r.query_param("who").value_or("?");
        while (auto m = co_await s.read()) {
          if (!co_await s.send(who + ":" + *m)) break;
        }
      });
  net::WebSocket ws(e.io.get_executor(), {});
  std::string ws_url = "ws" + url("/ws?who=ann").substr(4);
  test::run(e.io, ws.connect(ws_url));
  test::run(e.io, ws.send("hi"));
  auto m = test::run(e.io, ws.read());
  EXPECT_EQ(m.data, "ann:hi");
  test::run(e.io, ws.close());
  // The same over TLS.
  Route secure_route(*e.secure, "GET", "/ws", {}, [](Request&, WebSocketSession& s) -> Task<> {
    while (auto m = co_await s.read()) {
      if (!co_await s.send("tls:" + *m)) break;
    }
  });
  net::WebSocketOptions o;
  o.tls.fingerprint = e.cert.fingerprint;
  net::WebSocket wss(e.io.get_executor(), o);
  test::run(e.io, wss.connect("wss" + e.secure->base_url().substr(5) + "/ws"));
  test::run(e.io, wss.send(std::string(5000, 'x')));  // more than one TLS record's worth
  EXPECT_EQ(test::run(e.io, wss.read()).data, "tls:" + std::string(5000, 'x'));
  test::run(e.io, wss.close());
  // The same path without an upgrade goes to the plain handler.
  net::HttpClient http(e.io.get_executor());
  EXPECT_EQ(test::run(e.io, http.get(url("/ws"))).body, "plain");
}

// A client frame as a browser sends it: FIN and `opcode` in the first
// byte, masked.
std::string masked(std::uint8_t first, std::string_view payload) {
  const char key[4] = {0x12, 0x34, 0x56, 0x78};
  std::string out;
  out.push_back(static_cast<char>(first));
  out.push_back(static_cast<char>(0x80 | payload.size()));  // short payloads only
  out.append(key, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) out.push_back(payload[i] ^ key[i & 3]);
  return out;
}

std::string upgrade_request(std::string_view path, std::string_view version = "13") {
  return std::string("GET ") + std::string(path) +
         " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: " +
         std::string(version) + "\r\n\r\n";
}

TEST_F(WebHookTest, WebSocketOnTheWire) {
  Route route(web, "GET", "/echo", {}, [](Request&, WebSocketSession& s) -> Task<> {
    while (auto m = co_await s.read()) {
      if (!co_await s.send("echo:" + *m)) break;
    }
  });
  // A message in two fragments with a ping between them, then a close.
  std::string wire = upgrade_request("/echo") + masked(0x01, "he") + masked(0x89, "p") +
                     masked(0x80, "llo") + masked(0x88, "\x03\xE8");
  auto got = test::run(e.io, test::raw_exchange(web.port(), wire));
  EXPECT_EQ(test::status_of(got.reply), 101);
  EXPECT_NE(got.reply.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            std::string::npos);
  std::string frames = got.reply.substr(got.reply.find("\r\n\r\n") + 4);
  // The pong first (the ping came before the message was whole), then the
  // echo, then the close answering the client's.
  EXPECT_EQ(frames, std::string("\x8A\x01p\x81\x0A"
                                "echo:hello\x88\x02\x03\xE8",
                                19));
  EXPECT_TRUE(got.closed);
}

TEST_F(WebHookTest, WebSocketRefusals) {
  Route route(web, "GET", "/echo", {}, [](Request&, WebSocketSession& s) -> Task<> {
    while (co_await s.read()) {
    }
  });
  // More than max-body (1000 bytes) in one frame: closed with 1009 from
  // the header alone.
  std::string big("\x81\xFE\x07\xD0\x01\x02\x03\x04", 8);  // masked, 2000 bytes announced
  auto got = test::run(e.io, test::raw_exchange(web.port(), upgrade_request("/echo") + big));
  EXPECT_EQ(test::status_of(got.reply), 101);
  EXPECT_NE(got.reply.find("\x88\x11\x03\xF1message too big"), std::string::npos);
  EXPECT_TRUE(got.closed);
  // An unmasked frame breaks the protocol: 1002.
  got = test::run(e.io, test::raw_exchange(web.port(), upgrade_request("/echo") + "\x81\x01x"));
  EXPECT_NE(got.reply.find("\x88\x1F\x03\xEA"
                           "a client frame must be masked"),
            std::string::npos);
  // A text message split inside a character is whole once joined; one
  // with a stray continuation byte is not UTF-8: 1007.
  Route echo(web, "GET", "/echo-text", {}, [](Request&, WebSocketSession& s) -> Task<> {
    while (auto m = co_await s.read()) {
      if (!co_await s.send(*m)) break;
    }
  });
  std::string wire = upgrade_request("/echo-text") + masked(0x01, "caf\xC3") +
                     masked(0x80, "\xA9") + masked(0x81, "\xA9x");
  got = test::run(e.io, test::raw_exchange(web.port(), wire));
  std::string frames = got.reply.substr(got.reply.find("\r\n\r\n") + 4);
  EXPECT_EQ(frames, std::string("\x81\x05"
                                "caf\xC3\xA9"
                                "\x88\x22\x03\xEF"
                                "a text message that is not UTF-8"));
  EXPECT_TRUE(got.closed);
  // Another version of the protocol: 426, naming the one spoken.
  got = test::run(e.io, test::raw_exchange(web.port(), upgrade_request("/echo", "8")));
  EXPECT_EQ(test::status_of(got.reply), 426);
  EXPECT_NE(got.reply.find("Sec-WebSocket-Version: 13"), std::string::npos);
}

TEST_F(WebHookTest, StreamingResponse) {
  Route route(web, "GET", "/events", [](Request&) -> Task<Response> {
    Response r;
    r.content_type = "text/event-stream";
    r.stream = [](EventStream& out) -> Task<> {
      for (int i = 1; i <= 3; ++i) {
        if (!co_await out.write("data: " + std::to_string(i) + "\n\n")) co_return;
      }
    };
    co_return r;
  });
  int code = -1;
  std::string out = test::curl(e.io, {"-N", url("/events")}, &code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(out, "data: 1\n\ndata: 2\n\ndata: 3\n\n");
}

TEST_F(WebHookTest, ServesTls) {
  Route route = hello_route(*e.secure);
  EXPECT_EQ(e.secure->base_url().substr(0, 8), "https://");
  net::HttpOptions o;
  o.tls.fingerprint = e.cert.fingerprint;
  net::HttpClient http(e.io.get_executor(), o);
  auto r = test::run(e.io, http.get(e.secure->base_url() + "/hello/tls"));
  EXPECT_EQ(r.body, "hello tls -");
  // Plain HTTP to the TLS port is not answered as HTTP.
  auto plain = test::run(e.io, test::raw_exchange(e.secure->port(), "GET / HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(test::status_of(plain.reply), 0);
  EXPECT_TRUE(plain.closed);
}

TEST(WebHookConfig, BadValuesNameTheKey) {
  asio::io_context io;
  Host host(io.get_executor());
  EXPECT_THROW(test::add_hook<WebHook>(host, "w", "port: 70000\n"), ConfigError);
  try {
    test::add_hook<WebHook>(host, "w", "port: 1\ntls: {cert: /nonexistent.pem, key: k}\n");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("hooks.w.config.tls.cert"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace immp::web
