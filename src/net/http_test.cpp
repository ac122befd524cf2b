// The HTTP client against a real Beast server on loopback (plain and TLS,
// tests/support/web_server.hpp): keep-alive, JSON, multipart, streaming
// downloads with a limit, redirects, timeouts, TLS verification and pins.
#include "net/http.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/json/parse.hpp>

#include "net/rate_limit.hpp"
#include "support/async.hpp"
#include "support/irc_server.hpp"
#include "support/web_server.hpp"

namespace immp::net {
namespace {

using namespace std::chrono_literals;

struct HttpTest : ::testing::Test {
  test::WebServer& server = test::shared_web_server();
  asio::io_context io;

  static HttpOptions options() {
    HttpOptions o;
    o.timeout = 5s;
    return o;
  }
  // The error `task` ends with; fails the test if it succeeds.
  HttpError error_of(Task<HttpResponse> task) {
    try {
      auto r = test::run(io, std::move(task));
      ADD_FAILURE() << "succeeded with status " << r.status;
    } catch (const HttpError& e) {
      return e;
    }
    return HttpError(HttpErrorKind::protocol, "", 0, "no error");
  }
  static bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  }
};

TEST_F(HttpTest, KeepAliveSendsManyRequestsOverOneConnection) {
  HttpClient http(io.get_executor(), options());
  const auto before = server.connections();
  const std::string url = server.url("/text");
  test::run(io, [&]() -> Task<> {
    for (int i = 0; i < 10; ++i) {
      HttpResponse r = co_await http.get(url);
      EXPECT_EQ(r.status, 200u);
      EXPECT_EQ(r.body, "hello");
    }
  }());
  EXPECT_EQ(http.connections_opened(), 1u);
  EXPECT_EQ(server.connections() - before, 1u) << "the server saw one connection for ten requests";
  EXPECT_EQ(http.idle_connections(), 1u);
}

TEST_F(HttpTest, AKeptConnectionTheServerClosedIsReplacedUnnoticed) {
  HttpClient http(io.get_executor(), options());
  auto first = test::run(io, http.get(server.url("/close-quietly")));
  EXPECT_EQ(first.body, "hello");
  EXPECT_EQ(http.idle_connections(), 1u) << "kept: the server did not say it would close";
  auto second = test::run(io, http.get(server.url("/text")));
  EXPECT_EQ(second.body, "hello") << "the request was sent again on a new connection";
  EXPECT_EQ(http.connections_opened(), 2u);
}

TEST_F(HttpTest, JsonGoesOutAndComesBack) {
  HttpClient http(io.get_executor(), options());
  auto sent = boost::json::parse(R"({"text": "héllo\n", "n": [1, 2.5, null], "ok": true})");
  auto r = test::run(io, http.send_json("POST", server.url("/json"), sent));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.expect_ok().json().at("got"), sent);
  auto echo = test::run(io, http.send_json("POST", server.url("/echo"), sent)).json();
  EXPECT_EQ(echo.at("content_type"), "application/json");
}

TEST_F(HttpTest, TheClientsHeadersGoWithEveryRequest) {
  HttpOptions o = options();
  o.headers = {{"Authorization", "Bot secret"}};
  HttpClient http(io.get_executor(), o);
  auto echo = test::run(io, http.get(server.url("/echo"))).json();
  EXPECT_EQ(echo.at("authorization"), "Bot secret");
  EXPECT_EQ(echo.at("method"), "GET");
}

TEST_F(HttpTest, AMultipartUploadArrivesIntact) {
  HttpClient http(io.get_executor(), options());
  // Bytes that break naive encoders: NUL, CR LF, dashes, a fake boundary.
  std::string binary;
  for (int i = 0; i < 70000; ++i) binary += static_cast<char>(i * 7 % 256);
  binary += "\r\n--immp-0-0--\r\n\0end";
  Multipart form;
  form.add_field("caption", "a \"quoted\" caption\nover two lines");
  form.add_file("file", "cat picture.png", "image/png", binary);
  auto r = test::run(io, http.upload(server.url("/upload"), form));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json().at("parts"), 2);
  auto parts = server.last_upload();
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].name, "caption");
  EXPECT_EQ(parts[0].data, "a \"quoted\" caption\nover two lines");
  EXPECT_EQ(parts[1].name, "file");
  EXPECT_EQ(parts[1].filename, "cat picture.png");
  EXPECT_EQ(parts[1].content_type, "image/png");
  EXPECT_EQ(parts[1].data, binary) << "the file's bytes changed on the way";
}

TEST_F(HttpTest, ADownloadStreamsItsBodyToTheSink) {
  HttpClient http(io.get_executor(), options());
  std::string got;
  int chunks = 0;
  HttpRequest req;
  req.url = server.url("/chunked/200000");
  auto r = test::run(io, http.download(
                             req,
                             [&](std::string_view c) {
                               got += c;
                               ++chunks;
                             },
                             1 << 20));
  EXPECT_EQ(r.status, 200u);
  EXPECT_TRUE(r.body.empty()) << "the body went to the sink, not to memory";
  EXPECT_EQ(r.body_size, 200000u);
  ASSERT_EQ(got.size(), 200000u);
  EXPECT_GT(chunks, 1) << "streamed in pieces";
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(got[i], static_cast<char>(i % 251)) << "byte " << i;
}

TEST_F(HttpTest, ADownloadPastItsLimitStopsWithAClearError) {
  HttpClient http(io.get_executor(), options());
  std::size_t received = 0;
  auto sink = [&](std::string_view c) { received += c.size(); };
  // Announced by Content-Length: refused before any byte is taken.
  HttpRequest announced;
  announced.url = server.url("/bytes/100000");
  HttpError e = error_of(http.download(announced, sink, 1000));
  EXPECT_EQ(e.kind(), HttpErrorKind::too_large);
  EXPECT_TRUE(contains(e.what(), announced.url)) << e.what();
  EXPECT_TRUE(contains(e.what(), "limit of 1000 bytes")) << e.what();
  EXPECT_EQ(received, 0u);
  // Chunked, no length: stopped as the count passes the limit.
  HttpRequest chunked;
  chunked.url = server.url("/chunked/100000");
  e = error_of(http.download(chunked, sink, 50000));
  EXPECT_EQ(e.kind(), HttpErrorKind::too_large) << e.what();
  EXPECT_LE(received, 50000u) << "the sink got bytes past the limit";
  // The aborted connection was not kept; the next request works.
  auto r = test::run(io, http.get(server.url("/text")));
  EXPECT_EQ(r.body, "hello");
  // request() has its limit too.
  HttpOptions small = options();
  small.max_body = 10;
  HttpClient strict(io.get_executor(), small);
  EXPECT_EQ(error_of(strict.get(server.url("/bytes/11"))).kind(), HttpErrorKind::too_large);
}

TEST_F(HttpTest, RedirectsAreFollowedUpToTheLimit) {
  HttpClient http(io.get_executor(), options());
  auto r = test::run(io, http.get(server.url("/redirect/3")));
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "arrived");
  EXPECT_EQ(r.url, server.url("/redirect/0"));
  HttpError e = error_of(http.get(server.url("/redirect/6")));
  EXPECT_EQ(e.kind(), HttpErrorKind::redirects);
  EXPECT_TRUE(contains(e.what(), "more than 5 redirects")) << e.what();
}

TEST_F(HttpTest, CredentialsFollowARedirectOnlyWithinTheirOrigin) {
  HttpOptions o = options();
  o.tls.fingerprint = server.certificate().fingerprint;
  HttpClient http(io.get_executor(), o);
  const Headers auth = {{"Authorization", "Bearer secret"}};
  auto same = test::run(io, http.get(server.url("/to-echo"), auth));
  EXPECT_EQ(same.url, server.url("/echo"));
  EXPECT_EQ(same.json().at("authorization"), "Bearer secret");
  auto other = test::run(io, http.get(server.url("/to-tls-echo"), auth));
  EXPECT_EQ(other.url, server.tls_url("/echo"));
  EXPECT_EQ(other.json().at("authorization"), "") << "the token went to another origin";
}

TEST_F(HttpTest, ErrorsNameTheUrlAndTheStatus) {
  HttpClient http(io.get_executor(), options());
  const std::string url = server.url("/status/404");
  auto r = test::run(io, http.get(url));
  EXPECT_EQ(r.status, 404u) << "a status is an answer, not a failure";
  try {
    r.expect_ok();
    FAIL() << "expect_ok() accepted a 404";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.kind(), HttpErrorKind::status);
    EXPECT_EQ(e.status(), 404u);
    EXPECT_EQ(std::string(e.what()), "GET " + url + ": 404 Not Found: status 404");
  }
  const std::string text_url = server.url("/text");
  EXPECT_EQ(error_of([&]() -> Task<HttpResponse> {
              auto text = co_await http.get(text_url);
              text.json();
              co_return text;
            }())
                .kind(),
            HttpErrorKind::protocol)
      << "a body that is not JSON";
  const std::string closed = "http://127.0.0.1:" + std::to_string(test::free_port()) + "/x";
  HttpError refused = error_of(http.get(closed));
  EXPECT_EQ(refused.kind(), HttpErrorKind::connect);
  EXPECT_TRUE(contains(refused.what(), closed)) << refused.what();
  EXPECT_EQ(error_of(http.get("ftp://example.com/")).kind(), HttpErrorKind::bad_url);
}

TEST_F(HttpTest, AServerThatNeverAnswersTimesOut) {
  HttpOptions o = options();
  o.timeout = 300ms;
  HttpClient http(io.get_executor(), o);
  HttpError e = error_of(http.get(server.url("/hang")));
  EXPECT_EQ(e.kind(), HttpErrorKind::timeout);
  EXPECT_TRUE(contains(e.what(), "no answer within 300 ms")) << e.what();
}

TEST_F(HttpTest, ACancelledRequestEndsAsCancelledNotAsAFailure) {
  HttpClient http(io.get_executor(), options());
  asio::cancellation_signal cancel;
  std::exception_ptr ended;
  bool done = false;
  asio::co_spawn(
      io, http.get(server.url("/hang")),
      asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, HttpResponse) {
        ended = e;
        done = true;
      }));
  // Waiting for the server to have the request in hand: then the client
  // is reading the answer.
  const auto answered = server.requests();
  const auto before = server.connections();
  ASSERT_TRUE(test::run_until(io, [&] { return server.connections() > before; }));
  test::poll(io);
  cancel.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(test::run_until(io, [&] { return done; }));
  EXPECT_EQ(server.requests(), answered);
  ASSERT_TRUE(ended) << "a hanging request succeeded";
  try {
    std::rethrow_exception(ended);
  } catch (const boost::system::system_error& e) {
    EXPECT_EQ(e.code(), asio::error::operation_aborted) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "ended with " << e.what();
  }
}

TEST_F(HttpTest, RetryAfterFromTheServerPausesTheRateLimiter) {
  HttpClient http(io.get_executor(), options());
  auto r = test::run(io, http.get(server.url("/retry-after")));
  EXPECT_EQ(r.status, 429u);
  ASSERT_NE(r.header("retry-after"), nullptr);
  auto pause = parse_retry_after(*r.header("Retry-After"));
  ASSERT_TRUE(pause);
  EXPECT_EQ(*pause, 7s);
  RateLimiter limiter(steady_clock(), 10ms, 5);
  limiter.retry_after(*pause);
  EXPECT_FALSE(limiter.try_acquire());
  EXPECT_GT(limiter.wait(), 6s);
}

// ---- https ----

TEST_F(HttpTest, HttpsRefusesACertificateItCannotVerify) {
  HttpClient http(io.get_executor(), options());  // the system's CAs only
  HttpError e = error_of(http.get(server.tls_url("/text")));
  EXPECT_EQ(e.kind(), HttpErrorKind::tls);
  EXPECT_TRUE(contains(e.what(), "cannot be verified")) << e.what();
  EXPECT_TRUE(contains(e.what(), server.certificate().fingerprint))
      << "the message offers the fingerprint to pin: " << e.what();
}

TEST_F(HttpTest, HttpsWithTheCaFileConnectsAndKeepsTheConnection) {
  HttpOptions o = options();
  o.tls.ca_file = server.ca_file();
  HttpClient http(io.get_executor(), o);
  const auto before = server.connections();
  const std::string url = server.tls_url("/text");
  test::run(io, [&]() -> Task<> {
    for (int i = 0; i < 5; ++i) {
      HttpResponse r = co_await http.get(url);
      EXPECT_EQ(r.body, "hello");
    }
  }());
  EXPECT_EQ(server.connections() - before, 1u);
}

TEST_F(HttpTest, HttpsChecksTheNameToo) {
  HttpOptions o = options();
  o.tls.ca_file = server.ca_file();
  HttpClient http(io.get_executor(), o);
  // The certificate names localhost; 127.0.0.1 is the same server under a
  // name it does not carry.
  std::string url = "https://127.0.0.1:" + std::to_string(server.tls_port()) + "/text";
  HttpError e = error_of(http.get(url));
  EXPECT_EQ(e.kind(), HttpErrorKind::tls) << e.what();
}

TEST_F(HttpTest, HttpsWithThePinnedFingerprintConnects) {
  HttpOptions o = options();
  o.tls.fingerprint = server.certificate().fingerprint;  // no CA file
  HttpClient http(io.get_executor(), o);
  auto r = test::run(io, http.get(server.tls_url("/text")));
  EXPECT_EQ(r.body, "hello");
}

TEST_F(HttpTest, HttpsRefusesAWrongPin) {
  HttpOptions o = options();
  o.tls.ca_file = server.ca_file();  // the chain is fine: only the pin is wrong
  o.tls.fingerprint = test::make_self_signed().fingerprint;
  HttpClient http(io.get_executor(), o);
  HttpError e = error_of(http.get(server.tls_url("/text")));
  EXPECT_EQ(e.kind(), HttpErrorKind::tls);
  EXPECT_TRUE(contains(e.what(), "not the pinned " + o.tls.fingerprint)) << e.what();
  EXPECT_TRUE(contains(e.what(), server.certificate().fingerprint)) << e.what();
}

}  // namespace
}  // namespace immp::net
