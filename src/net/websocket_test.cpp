// The WebSocket client against the real Beast server on loopback: echo over
// ws and wss, keepalive pings answered, a dead peer detected, and the
// reconnecting runner coming back after the server drops the link, after
// the backoff delay on a manual clock.
#include "net/websocket.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "immp/log.hpp"
#include "net/manual_clock.hpp"
#include "support/async.hpp"
#include "support/irc_server.hpp"
#include "support/web_server.hpp"

namespace immp::net {
namespace {

using namespace std::chrono_literals;

struct WebSocketTest : ::testing::Test {
  test::WebServer& server = test::shared_web_server();
  asio::io_context io;

  static WebSocketOptions options() {
    WebSocketOptions o;
    o.handshake_timeout = 5s;
    return o;
  }
  static bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  }
};

// Sends `text` and returns the echo.
Task<WebSocketMessage> round_trip(WebSocket& ws, std::string text, bool as_text) {
  co_await ws.send(std::move(text), as_text);
  co_return co_await ws.read();
}

TEST_F(WebSocketTest, EchoOverWs) {
  WebSocket ws(io.get_executor(), options());
  test::run(io, ws.connect(server.ws_url("/ws")));
  EXPECT_TRUE(ws.is_open());
  auto m = test::run(io, round_trip(ws, "hello", true));
  EXPECT_EQ(m.data, "hello");
  EXPECT_TRUE(m.text);
  std::string bytes("\0\1\2\xff", 4);
  m = test::run(io, round_trip(ws, bytes, false));
  EXPECT_EQ(m.data, bytes);
  EXPECT_FALSE(m.text);
  test::run(io, ws.close());
  EXPECT_FALSE(ws.is_open());
}

TEST_F(WebSocketTest, EchoOverWssWithAPinnedCertificate) {
  WebSocketOptions o = options();
  o.tls.fingerprint = server.certificate().fingerprint;
  WebSocket ws(io.get_executor(), o);
  test::run(io, ws.connect(server.wss_url("/ws")));
  EXPECT_EQ(test::run(io, round_trip(ws, "over tls", true)).data, "over tls");
}

TEST_F(WebSocketTest, WssRefusesACertificateItCannotVerify) {
  WebSocket ws(io.get_executor(), options());
  try {
    test::run(io, ws.connect(server.wss_url("/ws")));
    FAIL() << "connected to a server whose certificate nobody vouches for";
  } catch (const WebSocketError& e) {
    EXPECT_TRUE(contains(e.what(), server.wss_url("/ws"))) << e.what();
    EXPECT_TRUE(contains(e.what(), "cannot be verified")) << e.what();
  }
}

TEST_F(WebSocketTest, KeepalivePingsAreAnsweredAndTheLinkStaysUp) {
  WebSocketOptions o = options();
  o.idle_timeout = 200ms;  // a ping after 100 ms of silence
  WebSocket ws(io.get_executor(), o);
  test::run(io, ws.connect(server.ws_url("/ws")));
  // Pings go only while a read is pending, as in every real client.
  std::optional<std::string> got;
  auto reader = [&]() -> Task<> { got = (co_await ws.read()).data; };  // outlives its task
  asio::co_spawn(io, reader(), asio::detached);
  const auto pings_before = server.pings();
  ASSERT_TRUE(test::run_until(
      io, [&] { return ws.pongs() >= 3; }, 10s))
      << "pongs: " << ws.pongs();
  EXPECT_GE(server.pings() - pings_before, 3u);
  EXPECT_TRUE(ws.is_open()) << "several idle periods passed, each rescued by a pong";
  test::run(io, ws.send("still here"));
  ASSERT_TRUE(test::run_until(io, [&] { return got.has_value(); }));
  EXPECT_EQ(*got, "still here");
}

TEST_F(WebSocketTest, APeerThatStopsAnsweringIsDeclaredDead) {
  WebSocketOptions o = options();
  o.idle_timeout = 300ms;
  WebSocket ws(io.get_executor(), o);
  test::run(io, ws.connect(server.ws_url("/ws-deaf")));
  auto started = std::chrono::steady_clock::now();
  try {
    test::run(io, ws.read(), 10s);
    FAIL() << "a read from a deaf server returned";
  } catch (const WebSocketError& e) {
    EXPECT_TRUE(contains(e.what(), "not even to a ping")) << e.what();
  }
  EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms) << "declared dead too early";
  EXPECT_FALSE(ws.is_open());
}

// Records what the reconnecting runner does; says hello on each connection.
struct Recorder final : WebSocketHandler {
  std::vector<std::string> messages;
  std::vector<std::string> closes;
  int opens = 0;
  Task<> on_open(WebSocket& ws) override {
    ++opens;
    std::string hello = "hello " + std::to_string(opens);  // named: GCC 12 (DESIGN.md)
    co_await ws.send(std::move(hello));
  }
  Task<> on_message(WebSocket&, WebSocketMessage m) override {
    messages.push_back(std::move(m.data));
    co_return;
  }
  void on_close(const std::string& why) override { closes.push_back(why); }
};

TEST_F(WebSocketTest, ReconnectsAfterTheServerDropsTheConnection) {
  auto clock = std::make_shared<ManualClock>(io.get_executor());
  WebSocketOptions o = options();
  o.clock = clock;
  o.reconnect_first = 10s;
  o.reconnect_max = 60s;
  Recorder recorder;
  ReconnectingWebSocket rws(io.get_executor(), server.ws_url("/ws"), o, recorder,
                            immp::logger("test.websocket"));
  asio::cancellation_signal stop;
  bool ended = false;
  asio::co_spawn(io, rws.run(), asio::bind_cancellation_slot(stop.slot(), [&](std::exception_ptr) {
                   ended = true;
                 }));
  auto has = [&](const std::string& m) {
    return std::find(recorder.messages.begin(), recorder.messages.end(), m) !=
           recorder.messages.end();
  };
  ASSERT_TRUE(test::run_until(io, [&] { return has("hello 1"); }));
  EXPECT_EQ(rws.opened(), 1u);
  ASSERT_NE(rws.current(), nullptr);

  server.drop_websockets();
  ASSERT_TRUE(test::run_until(io, [&] { return clock->sleepers() == 1; }))
      << "the runner did not notice the drop";
  ASSERT_EQ(recorder.closes.size(), 1u);
  EXPECT_EQ(rws.current(), nullptr);
  EXPECT_EQ(rws.opened(), 1u) << "no reconnect before the backoff delay";
  clock->advance(10s);  // the first step, jittered within [5 s, 10 s]
  ASSERT_TRUE(test::run_until(io, [&] { return has("hello 2"); }))
      << "no reconnect after the backoff delay";
  EXPECT_EQ(rws.opened(), 2u);
  EXPECT_EQ(recorder.opens, 2);

  stop.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(test::run_until(io, [&] { return ended; }));
}

TEST_F(WebSocketTest, FailedConnectsBackOff) {
  auto clock = std::make_shared<ManualClock>(io.get_executor());
  WebSocketOptions o = options();
  o.clock = clock;
  o.reconnect_first = 1s;
  o.reconnect_max = 4s;
  Recorder recorder;
  ReconnectingWebSocket rws(io.get_executor(),
                            "ws://127.0.0.1:" + std::to_string(test::free_port()) + "/ws", o,
                            recorder, immp::logger("test.websocket"));
  asio::cancellation_signal stop;
  bool ended = false;
  asio::co_spawn(io, rws.run(), asio::bind_cancellation_slot(stop.slot(), [&](std::exception_ptr) {
                   ended = true;
                 }));
  for (std::size_t i = 1; i <= 4; ++i) {
    ASSERT_TRUE(
        test::run_until(io, [&] { return recorder.closes.size() == i && clock->sleepers() == 1; }));
    EXPECT_TRUE(contains(recorder.closes.back(), "cannot connect")) << recorder.closes.back();
    clock->advance(4s);
  }
  EXPECT_EQ(rws.opened(), 0u);
  stop.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(test::run_until(io, [&] { return ended; }));
}

}  // namespace
}  // namespace immp::net
