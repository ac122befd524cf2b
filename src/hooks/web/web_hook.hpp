// WebHook: the host's one HTTP/1.1 and WebSocket server (IMMP's
// immp.hook.web.WebHook, keys `host` and `port`), a resource that plugs and
// hooks mount routes on:
//
//   web::WebHook& web = host().resource<web::WebHook>(*this);
//   route_ = web::Route(web, "POST", "/github", [this](web::Request& r) { return handle(r); });
//
// It binds 127.0.0.1 unless told otherwise, speaks TLS when given a
// certificate and key, and bounds what one client can cost: the size of
// the headers and the body, the number of header fields, the time a request
// may take to arrive and the time an idle keep-alive connection is kept. A
// request that breaks a limit gets a 4xx and its connection is closed.
//
// It is also where web clients find the host's message stream: the first
// stream() call makes a bus (src/bus) that this hook feeds from on_receive,
// with a ring of recent events for clients that resume from a cursor.
//
// Runs on the host's executor; nothing here is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hooks/web/web_metrics.hpp"
#include "immp/hook.hpp"
#include "immp/tasks.hpp"

namespace immp::bus {
class Bus;
class Subscriber;
}  // namespace immp::bus

namespace immp::web {

using Headers = std::vector<std::pair<std::string, std::string>>;

// What a handler may keep on a connection from one of its requests to the
// next (a keep-alive client's): the web plug remembers which token the
// connection's last bearer was, so that the same bearer again costs no
// digest. It lives as long as the connection; `owner` says whose it is
// (an id of the handler's own, never reused; 0: nobody's yet), and a
// handler that finds another owner's memo overwrites it.
struct ConnectionMemo {
  std::uint64_t owner = 0;
  std::string key;
  std::size_t value = 0;
};

// One request as a handler sees it; the body is complete.
struct Request {
  std::string method;  // "GET"
  std::string target;  // as sent: "/api/v1/x?after=3"
  std::string path;    // the target's path, percent-decoded: "/api/v1/x"
  std::string query;   // the raw query string, without '?': "after=3"
  Headers headers;     // names as sent
  std::string body;
  std::string remote;  // "127.0.0.1:51234"
  bool tls = false;
  // The values of the route pattern's {placeholders}, percent-decoded.
  std::map<std::string, std::string, std::less<>> params;
  // The connection's memo (see ConnectionMemo); null when there is none.
  ConnectionMemo* memo = nullptr;

  // The first header of that name (case-insensitive), or null.
  const std::string* header(std::string_view name) const;
  // A query parameter, percent-decoded ('+' is a space), or nullopt.
  std::optional<std::string> query_param(std::string_view name) const;
};

class EventStream;

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  Headers headers;
  // Set for a response that streams (Server-Sent Events): the head goes out
  // without a length, then `stream` writes until it returns or the client
  // leaves; the connection closes after it.
  std::function<Task<>(EventStream&)> stream;

  static Response text(int status, std::string body);
  static Response json(int status, std::string body);
  // {"error": message} with that status.
  static Response error(int status, std::string_view message);
};

// The body of a streaming response, written in pieces.
class EventStream {
 public:
  virtual ~EventStream() = default;
  // Writes `data` now. False once the client is gone (or too slow: a write
  // that makes no progress for the server's write timeout ends it).
  virtual Task<bool> write(std::string_view data) = 0;
};

// A WebSocket frame as sent: encoded once (hooks/web/ws_frame.hpp) and
// shared by every connection that writes it.
using FramePtr = std::shared_ptr<const std::string>;

// One accepted WebSocket connection. One read() may be in progress at once;
// sends may come from any coroutine of the connection and go out in the
// order they were made.
class WebSocketSession {
 public:
  virtual ~WebSocketSession() = default;
  // The next text or binary message; nullopt when the connection closed.
  virtual Task<std::optional<std::string>> read() = 0;
  // Sends one text message; completes once it is written. False once the
  // connection is gone.
  virtual Task<bool> send(std::string_view text) = 0;
  // Queues whole server frames (ws::encode) after what is queued and starts
  // writing them: at once, on this call, when nothing else is being
  // written. Never waits. False once the connection is gone (or closing).
  virtual bool send_frames(std::span<const FramePtr> frames) = 0;
  // Bytes queued and not written yet.
  virtual std::size_t backlog() const = 0;

  // send_frames() in three steps, so that the system calls can be made on
  // another thread (the web plug's stream writers; a write to a socket
  // costs microseconds in the kernel):
  // 1. On the connection's executor: direct() says whether the socket may
  //    be written straight away: plain TCP, nothing queued or being
  //    written, not closing. If not, use send_frames().
  // 2. On any thread, while the connection's executor runs none of this
  //    connection's code (the caller keeps it busy until step 3):
  //    write_direct() writes what the socket takes now, without waiting,
  //    and changes nothing in the session.
  // 3. On the executor: finish_direct() with the same frames and the
  //    result queues the rest (the session's own writer takes it from
  //    there). False once the connection is gone.
  struct Written {
    std::size_t frames = 0;  // whole frames written
    std::size_t bytes = 0;   // bytes of the next frame written
    bool failed = false;     // the connection is gone
  };
  virtual bool direct() const = 0;
  virtual Written write_direct(std::span<const FramePtr> frames) const = 0;
  virtual bool finish_direct(std::span<const FramePtr> frames, Written written) = 0;
  // `fn` runs (on the connection's executor) each time the backlog has
  // all been written; empty: nothing runs.
  virtual void on_drained(std::function<void()> fn) = 0;
  // Sends a close frame with `reason` (code 1000, or 1008 policy when
  // `policy`) after what is queued and waits until it is written. The
  // server then waits briefly for the client's close before hanging up.
  virtual Task<> close(std::string_view reason, bool policy = false) = 0;
};

using Handler = std::function<Task<Response>(Request&)>;
using SocketHandler = std::function<Task<>(Request&, WebSocketSession&)>;

class WebHook;

// A route while it lives: registered by the constructor, removed by the
// destructor. A pattern is a path whose segments may be {name} (one
// segment, given in Request::params) and whose last segment may be `*`
// (the rest of the path, given as params["*"]). The method "*" takes any.
// A route with a socket handler accepts WebSocket upgrades on its path;
// plain requests to it go to `handler` (if any; else 426).
class Route {
 public:
  Route() = default;
  Route(WebHook& web, std::string method, std::string pattern, Handler handler,
        SocketHandler socket = {});
  Route(Route&& other) noexcept;
  Route& operator=(Route&& other) noexcept;
  Route(const Route&) = delete;
  Route& operator=(const Route&) = delete;
  ~Route();

 private:
  void reset();
  WebHook* web_ = nullptr;
  std::uint64_t id_ = 0;
};

struct Limits {
  std::size_t max_body = 1 << 20;        // bytes of one request body (and WebSocket message)
  std::size_t max_header_bytes = 16384;  // bytes of the request line and headers
  std::size_t max_headers = 100;         // header fields
  std::size_t max_connections = 10000;
  std::chrono::milliseconds request_timeout{std::chrono::seconds(10)};  // to receive a request
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};     // keep-alive, WebSocket
  std::chrono::milliseconds write_timeout{std::chrono::seconds(10)};    // one write's progress
};

class WebHook final : public ResourceHook {
 public:
  static constexpr std::string_view kPath = "immp.hook.web.WebHook";
  static constexpr std::string_view kKind = "web server";
  static constexpr std::string_view kDescription =
      "An HTTP and WebSocket server that other plugs and hooks add routes to.";
  static SpecPtr schema();

  explicit WebHook(const Init& init);
  ~WebHook() override;

  Task<> start() override;
  Task<> stop() override;
  Task<> on_receive(const Received& received) override;
  bool wants(const Received& received) const override;
  // Counts what goes out, for /metrics; changes nothing.
  Task<std::optional<Outgoing>> before_send(Outgoing out) override;

  // The bound port (the configured one, or the one the system chose for 0);
  // 0 before start().
  int port() const { return port_; }
  // "http://127.0.0.1:8080" (https with TLS).
  std::string base_url() const;
  const Limits& limits() const { return limits_; }
  std::size_t connections() const { return connections_; }

  // The host's message stream, made on first use and fed from then on.
  // Valid as long as this hook.
  bus::Bus& stream();
  // A subscriber to the stream that takes every event, for a consumer that
  // only needs to wake when something arrived (the web plug's rounds). Not
  // counted among the stream's clients.
  std::shared_ptr<bus::Subscriber> stream_wake();

  struct Impl;

 private:
  friend class Route;
  struct Entry {
    std::uint64_t id;
    std::string method;
    std::vector<std::string> segments;
    // Shared, so that a request keeps its handler without copying it even
    // if the route goes meanwhile.
    std::shared_ptr<const Handler> handler;
    std::shared_ptr<const SocketHandler> socket;
  };
  std::uint64_t add(std::string method, std::string pattern, Handler handler, SocketHandler socket);
  void remove(std::uint64_t id);
  // Subscribers of the stream but the wake-ups.
  std::size_t stream_clients();
  // The route for a request, filling in its params; null when none. Sets
  // `path_known` when some route has this path with another method.
  const Entry* match(Request& request, bool& path_known) const;

  Task<> accept_loop();
  // Ends the waits of plain connections whose request is overdue.
  Task<> sweep();
  template <typename Stream>
  Task<> serve(Stream stream, std::string remote);

  std::string bind_host_;
  int config_port_;
  int port_ = 0;
  Limits limits_;
  std::size_t keep_;
  std::size_t connections_ = 0;
  std::list<Entry> routes_;
  std::uint64_t next_route_ = 0;
  // Counts changes to routes_ (added or removed): a connection's memo of
  // the route it matched last holds while this has not moved.
  std::uint64_t routes_changed_ = 0;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<bus::Bus> bus_;
  std::vector<std::weak_ptr<bus::Subscriber>> wakes_;
  Metrics metrics_;
  std::string metrics_path_;  // empty: no /metrics
  std::optional<Route> metrics_route_;
  TaskGroup tasks_;
};

// Percent-decodes `text` ('+' as a space when `form`). Malformed escapes
// are kept as they are.
std::string percent_decode(std::string_view text, bool form = false);

}  // namespace immp::web
