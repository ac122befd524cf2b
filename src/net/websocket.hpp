// A WebSocket client (ws and wss) for gateway-style APIs (Discord, Slack's
// Socket Mode, Matrix sync over WebSocket, XMPP over WebSocket):
// keepalive pings, detection of a dead peer, and a reconnecting runner on
// the shared backoff.
//
// Keepalive: after idle_timeout / 2 without a frame from the server the
// client sends a ping; when nothing at all (not even the pong) has come by
// idle_timeout, the peer is dead and read() fails. A read must be pending
// for this to run, which the reconnecting runner always has.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "immp/asio.hpp"
#include "immp/log.hpp"
#include "net/clock.hpp"
#include "net/http.hpp"
#include "net/tls.hpp"

namespace immp::net {

// A connection that could not be made or that ended; what() names the URL
// and the reason (refused, TLS refusal, dead peer, closed by the server
// with its code and reason).
class WebSocketError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct WebSocketOptions {
  TlsOptions tls;
  Headers headers;  // sent with the upgrade request (Authorization, ...)
  std::string user_agent = "immp";
  // Connecting, TLS and the upgrade must finish within this.
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(15)};
  // Silence after which the peer is dead; a ping goes after half of it.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  std::size_t max_message = 16 * 1024 * 1024;
  // Reconnecting (ReconnectingWebSocket): the shared backoff's bounds, and
  // the clock it waits on (null: the steady clock).
  std::chrono::milliseconds reconnect_first{std::chrono::seconds(1)};
  std::chrono::milliseconds reconnect_max{std::chrono::seconds(60)};
  std::shared_ptr<Clock> clock;
};

struct WebSocketMessage {
  std::string data;
  bool text = true;  // false: binary
};

// One connection. Every call on its executor. At most one read() at a
// time; send() may be called by several tasks at once (they go in turn).
class WebSocket {
 public:
  // Throws TlsError when options.tls cannot be set up.
  WebSocket(Executor ex, WebSocketOptions options);
  ~WebSocket();
  WebSocket(const WebSocket&) = delete;
  WebSocket& operator=(const WebSocket&) = delete;

  // Connects and upgrades; throws WebSocketError. Once per object.
  Task<> connect(std::string url);
  // The next message. Throws WebSocketError when the connection ends for
  // any reason (closed by either side, dead peer, error).
  Task<WebSocketMessage> read();
  // Sends one message; throws WebSocketError when the connection is gone.
  Task<> send(std::string data, bool text = true);
  // Closes politely (close frame, code 1000 unless given); a pending read()
  // then ends. Never throws.
  Task<> close(std::uint16_t code = 1000, std::string reason = "");
  // Drops the connection at once: pending operations end with an error.
  void abort();

  bool is_open() const;
  const std::string& url() const { return url_; }
  // Pongs received (answers to our keepalive pings).
  std::size_t pongs() const;

  struct Impl;

 private:
  Executor ex_;
  WebSocketOptions options_;
  std::string url_;
  std::shared_ptr<asio::ssl::context> tls_;  // outlives impl_, whose stream uses it
  std::unique_ptr<Impl> impl_;
};

// What a reconnecting WebSocket does with its connections. Its calls come
// from the runner's task, one at a time.
class WebSocketHandler {
 public:
  virtual ~WebSocketHandler() = default;
  // A new connection is up (say hello, identify, resume). A throw ends
  // this connection; the runner reconnects.
  virtual Task<> on_open(WebSocket& ws);
  // Each message in order. A throw ends this connection.
  virtual Task<> on_message(WebSocket& ws, WebSocketMessage message) = 0;
  // The connection ended (or could not be made), `why` says how; the
  // runner waits its backoff delay next.
  virtual void on_close(const std::string& why);
};

// Keeps one WebSocket connected to url() until cancelled: connects, hands
// messages to the handler, and after each failure waits the next delay of
// the shared backoff (reset by every connection that opened).
class ReconnectingWebSocket {
 public:
  // `handler` must outlive run().
  ReconnectingWebSocket(Executor ex, std::string url, WebSocketOptions options,
                        WebSocketHandler& handler, LoggerPtr log);
  ~ReconnectingWebSocket();

  // Runs until cancelled (then throws operation_aborted), on the executor.
  Task<> run();
  // The URL for the next connection (e.g. a gateway's resume URL).
  void set_url(std::string url) { url_ = std::move(url); }
  // The open connection, or null between connections.
  WebSocket* current() { return current_; }
  // Connections opened so far.
  std::size_t opened() const { return opened_; }

 private:
  Executor ex_;
  std::string url_;
  WebSocketOptions options_;
  WebSocketHandler& handler_;
  LoggerPtr log_;
  WebSocket* current_ = nullptr;
  std::size_t opened_ = 0;
};

}  // namespace immp::net
