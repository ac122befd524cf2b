#include "net/websocket.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "immp/backoff.hpp"
#include "immp/tasks.hpp"
#include "net/url.hpp"

namespace immp::net {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

std::string duration_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

// Cancellation of the calling task is not a failure of the connection: it
// leaves as operation_aborted, which reconnecting loops let through.
void throw_if_aborted(const error_code& ec) {
  if (ec == asio::error::operation_aborted) throw boost::system::system_error(ec);
}

}  // namespace

struct WebSocket::Impl {
  explicit Impl(Executor ex) : write_free(std::move(ex)) {}
  virtual ~Impl() = default;
  // Throws WebSocketError.
  virtual Task<> connect(const Url& u, const std::string& url, const WebSocketOptions& o) = 0;
  virtual Task<error_code> read(WebSocketMessage& into) = 0;
  virtual Task<error_code> write(const std::string& data, bool text) = 0;
  virtual Task<error_code> close(std::uint16_t code, const std::string& reason) = 0;
  virtual void abort() = 0;
  // The server's close frame, as "code 1001 (going away)".
  virtual std::string close_reason() = 0;

  bool open = false;
  bool writing = false;
  Signal write_free;
  std::size_t pongs = 0;
};

namespace {

template <typename Next>
class ImplOf final : public WebSocket::Impl {
 public:
  template <typename... A>
  explicit ImplOf(Executor ex, A&&... a) : Impl(ex), ws_(ex, std::forward<A>(a)...) {}

  Task<> connect(const Url& u, const std::string& url, const WebSocketOptions& o) override {
    auto& lowest = beast::get_lowest_layer(ws_);
    tcp::resolver resolver(co_await asio::this_coro::executor);
    auto [rec, endpoints] = co_await resolver.async_resolve(u.host, u.port, kTuple);
    throw_if_aborted(rec);
    if (rec) throw WebSocketError(url + ": cannot resolve " + u.host + ": " + rec.message());
    lowest.expires_after(o.handshake_timeout);
    auto [cec, ep] = co_await lowest.async_connect(endpoints, kTuple);
    throw_if_aborted(cec);
    if (cec == beast::error::timeout)
      throw WebSocketError(url + ": no connection within " + duration_text(o.handshake_timeout));
    if (cec) throw WebSocketError(url + ": cannot connect: " + cec.message());
    lowest.socket().set_option(tcp::no_delay(true), cec);
    if constexpr (!std::is_same_v<Next, beast::tcp_stream>) {
      TlsVerifier verifier(u.host, o.tls);
      prepare_tls(ws_.next_layer(), verifier);
      auto [hec] =
          co_await ws_.next_layer().async_handshake(asio::ssl::stream_base::client, kTuple);
      throw_if_aborted(hec);
      if (hec) throw WebSocketError(url + ": " + tls_failure(hec, verifier, u.authority));
    }
    // From here on the WebSocket's own timers: the handshake deadline, then
    // keepalive pings and the idle limit.
    lowest.expires_never();
    websocket::stream_base::timeout timeouts{o.handshake_timeout, o.idle_timeout, true};
    ws_.set_option(timeouts);
    Headers headers = o.headers;
    std::string agent = o.user_agent;
    ws_.set_option(
        websocket::stream_base::decorator([headers, agent](websocket::request_type& req) {
          req.set(beast::http::field::user_agent, agent);
          for (const auto& [k, v] : headers) req.set(k, v);
        }));
    ws_.read_message_max(o.max_message);
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::pong) ++pongs;
    });
    websocket::response_type res;
    auto [wec] = co_await ws_.async_handshake(res, u.authority, u.target, kTuple);
    throw_if_aborted(wec);
    if (wec == websocket::error::upgrade_declined)
      throw WebSocketError(url + ": the server declined the upgrade (" +
                           std::to_string(res.result_int()) + " " + std::string(res.reason()) +
                           ")");
    if (wec) throw WebSocketError(url + ": WebSocket handshake failed: " + wec.message());
    open = true;
  }

  Task<error_code> read(WebSocketMessage& into) override {
    auto [ec, n] = co_await ws_.async_read(buffer_, kTuple);
    if (!ec) {
      into.data = beast::buffers_to_string(buffer_.data());
      into.text = ws_.got_text();
    } else {
      open = false;
    }
    buffer_.consume(buffer_.size());
    co_return ec;
  }

  Task<error_code> write(const std::string& data, bool text) override {
    ws_.text(text);
    auto [ec, n] = co_await ws_.async_write(asio::buffer(data), kTuple);
    if (ec) open = false;
    co_return ec;
  }

  Task<error_code> close(std::uint16_t code, const std::string& reason) override {
    websocket::close_reason why(static_cast<websocket::close_code>(code), reason);
    auto [ec] = co_await ws_.async_close(why, kTuple);
    open = false;
    co_return ec;
  }

  void abort() override {
    open = false;
    beast::get_lowest_layer(ws_).close();
  }

  std::string close_reason() override {
    const auto& r = ws_.reason();
    std::string out = "code " + std::to_string(r.code);
    if (!r.reason.empty()) out += " (" + std::string(r.reason.data(), r.reason.size()) + ")";
    return out;
  }

 private:
  websocket::stream<Next> ws_;
  beast::flat_buffer buffer_;
};

using PlainImpl = ImplOf<beast::tcp_stream>;
using SecureImpl = ImplOf<beast::ssl_stream<beast::tcp_stream>>;

}  // namespace

WebSocket::WebSocket(Executor ex, WebSocketOptions options)
    : ex_(std::move(ex)), options_(std::move(options)) {}

WebSocket::~WebSocket() {
  if (impl_) impl_->abort();
}

bool WebSocket::is_open() const { return impl_ && impl_->open; }
std::size_t WebSocket::pongs() const { return impl_ ? impl_->pongs : 0; }

Task<> WebSocket::connect(std::string url) {
  if (impl_) throw std::logic_error("WebSocket::connect() called twice");
  url_ = std::move(url);
  Url u;
  try {
    u = parse_url(url_);
  } catch (const std::invalid_argument& e) {
    throw WebSocketError(e.what());
  }
  if (u.scheme != "ws" && u.scheme != "wss")
    throw WebSocketError("\"" + url_ + "\" is not a ws or wss URL");
  if (u.tls()) {
    tls_ = make_tls_context(options_.tls);
    impl_ = std::make_unique<SecureImpl>(ex_, *tls_);
  } else {
    impl_ = std::make_unique<PlainImpl>(ex_);
  }
  co_await impl_->connect(u, url_, options_);
}

Task<WebSocketMessage> WebSocket::read() {
  if (!impl_) throw WebSocketError("read() before connect()");
  WebSocketMessage m;
  error_code ec = co_await impl_->read(m);
  throw_if_aborted(ec);
  if (ec == websocket::error::closed)
    throw WebSocketError(url_ + ": closed by the server, " + impl_->close_reason());
  if (ec == beast::error::timeout)
    throw WebSocketError(url_ + ": no answer for " + duration_text(options_.idle_timeout) +
                         ", not even to a ping: the server is gone");
  if (ec) throw WebSocketError(url_ + ": connection lost: " + ec.message());
  co_return m;
}

Task<> WebSocket::send(std::string data, bool text) {
  if (!impl_ || !impl_->open) throw WebSocketError(url_ + ": not connected");
  // One write at a time on the stream; writers wait their turn.
  while (impl_->writing) co_await impl_->write_free.wait();
  if (!impl_->open) throw WebSocketError(url_ + ": connection lost before sending");
  impl_->writing = true;
  error_code ec = co_await impl_->write(data, text);
  impl_->writing = false;
  impl_->write_free.notify();
  throw_if_aborted(ec);
  if (ec) throw WebSocketError(url_ + ": sending failed: " + ec.message());
}

Task<> WebSocket::close(std::uint16_t code, std::string reason) {
  if (!impl_ || !impl_->open) co_return;
  error_code ec = co_await impl_->close(code, reason);
  if (ec) impl_->abort();
}

void WebSocket::abort() {
  if (impl_) impl_->abort();
}

Task<> WebSocketHandler::on_open(WebSocket&) { co_return; }
void WebSocketHandler::on_close(const std::string&) {}

ReconnectingWebSocket::ReconnectingWebSocket(Executor ex, std::string url, WebSocketOptions options,
                                             WebSocketHandler& handler, LoggerPtr log)
    : ex_(std::move(ex)),
      url_(std::move(url)),
      options_(std::move(options)),
      handler_(handler),
      log_(std::move(log)) {}

ReconnectingWebSocket::~ReconnectingWebSocket() = default;

Task<> ReconnectingWebSocket::run() {
  std::shared_ptr<Clock> clock = options_.clock ? options_.clock : steady_clock();
  Backoff backoff(options_.reconnect_first, options_.reconnect_max);
  for (;;) {
    std::string why;
    {
      WebSocket ws(ex_, options_);
      bool opened = false;
      try {
        co_await ws.connect(url_);
        opened = true;
        ++opened_;
        current_ = &ws;
        backoff.reset();
        log_->info("connected to {}", url_);
        co_await handler_.on_open(ws);
        for (;;) {
          WebSocketMessage m = co_await ws.read();
          co_await handler_.on_message(ws, std::move(m));
        }
      } catch (const boost::system::system_error& e) {
        current_ = nullptr;
        if (e.code() == asio::error::operation_aborted) throw;
        why = e.what();
      } catch (const std::exception& e) {
        current_ = nullptr;
        why = e.what();
      }
      if (!opened) why = "cannot connect: " + why;
    }
    handler_.on_close(why);
    auto delay = backoff.next();
    log_->warn("{}; reconnecting in {} ms", why, delay.count());
    co_await clock->sleep(delay);
  }
}

}  // namespace immp::net
