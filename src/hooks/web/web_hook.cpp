#include "hooks/web/web_hook.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/container/small_vector.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>

#include "bus/bus.hpp"
#include "hooks/web/http_simple.hpp"
#include "hooks/web/ws_frame.hpp"
#include "hooks/web/ws_session.hpp"
#include "immp/host.hpp"

namespace immp::web {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// ASCII only, as header names are; std::tolower is a call per character
// (and follows the locale).
char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i] && ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string read_file(const std::filesystem::path& path, const Node& where) {
  std::ifstream in(path, std::ios::binary);
  if (!in) where.fail("cannot read " + path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

template <typename Stream>
beast::tcp_stream& lowest(Stream& s) {
  return beast::get_lowest_layer(s);
}

// The body of a streaming response: raw writes on the connection, each
// bounded by the write timeout.
template <typename Stream>
class StreamWriter final : public EventStream {
 public:
  StreamWriter(Stream& stream, std::chrono::milliseconds timeout)
      : stream_(stream), timeout_(timeout) {}
  Task<bool> write(std::string_view data) override {
    if (gone_) co_return false;
    lowest(stream_).expires_after(timeout_);
    auto [ec, n] =
        co_await asio::async_write(stream_, asio::buffer(data.data(), data.size()), kTuple);
    if (ec) gone_ = true;
    co_return !gone_;
  }

 private:
  Stream& stream_;
  std::chrono::milliseconds timeout_;
  bool gone_ = false;
};

// A handler's headers replace the server's defaults of the same name, but
// Set-Cookie may come several times (one cookie each).
template <typename Message>
void add_headers(Message& m, const Headers& headers) {
  for (const auto& [k, v] : headers) {
    if (iequals(k, "Set-Cookie")) {
      m.insert(k, v);
    } else {
      m.set(k, v);
    }
  }
}

}  // namespace

// ---- Request / Response ---------------------------------------------------

const std::string* Request::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return &v;
  }
  return nullptr;
}

std::optional<std::string> Request::query_param(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    std::size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    std::size_t eq = pair.find('=');
    std::string key = percent_decode(pair.substr(0, eq), true);
    if (key != name) continue;
    return eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1), true);
  }
  return std::nullopt;
}

Response Response::text(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

Response Response::error(int status, std::string_view message) {
  boost::json::object o;
  o["error"] = message;
  return json(status, boost::json::serialize(o));
}

namespace {

void percent_decode_into(std::string& out, std::string_view text, bool form = false) {
  // Most paths have nothing to decode: copied into the storage `out` has.
  if (text.find('%') == std::string_view::npos &&
      (!form || text.find('+') == std::string_view::npos)) {
    out.assign(text);
    return;
  }
  out = percent_decode(text, form);
}

void recycle(Request& request) {
  request.method.clear();
  request.target.clear();
  request.path.clear();
  request.query.clear();
  // (The headers are overwritten by the next parse.)
  request.body.clear();
  // (The params are set when a route matches.)
  request.memo = nullptr;
}

}  // namespace

std::string percent_decode(std::string_view text, bool form) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  // Most paths have nothing to decode.
  if (text.find('%') == std::string_view::npos &&
      (!form || text.find('+') == std::string_view::npos)) {
    return std::string(text);
  }
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      int hi = hex(text[i + 1]);
      int lo = hex(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(form && c == '+' ? ' ' : c);
  }
  return out;
}

// ---- Route ----------------------------------------------------------------

Route::Route(WebHook& web, std::string method, std::string pattern, Handler handler,
             SocketHandler socket)
    : web_(&web),
      id_(web.add(std::move(method), std::move(pattern), std::move(handler), std::move(socket))) {}

Route::Route(Route&& other) noexcept
    : web_(std::exchange(other.web_, nullptr)), id_(std::exchange(other.id_, 0)) {}

Route& Route::operator=(Route&& other) noexcept {
  if (this != &other) {
    reset();
    web_ = std::exchange(other.web_, nullptr);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

Route::~Route() { reset(); }

void Route::reset() {
  if (web_) std::exchange(web_, nullptr)->remove(id_);
}

// ---- WebHook --------------------------------------------------------------

struct WebHook::Impl {
  std::unique_ptr<asio::ssl::context> tls;
  std::optional<tcp::acceptor> acceptor;
  // Closers of the open connections, for stop(): a connection blocked in
  // a read or write ends at once.
  std::map<std::uint64_t, std::function<void()>> open;
  std::uint64_t next_open = 0;
  // Plain connections while they wait for a request: serve() sets the
  // deadline, sweep() cancels the socket's wait once it passed. (Instead
  // of a timer armed and cancelled per request, as Beast's stream does:
  // that cost a timer-queue insert, a cancellation and a completion per
  // request.)
  struct Reading {
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
    tcp::socket* socket = nullptr;
    bool expired = false;
  };
  std::list<Reading> reading;
};

SpecPtr WebHook::schema() {
  return object({
      {"host", str(), "127.0.0.1", "address to listen on"},
      {"port", integer(), required, "port to listen on (0: any free port)"},
      {"tls",
       object({
           {"cert", str(), required, "PEM file of the certificate chain"},
           {"key", str(), required, "PEM file of the private key"},
       }),
       Node(), "serve HTTPS and WSS with this certificate"},
      {"max-body", integer(), 1 << 20, "largest request body (and WebSocket message), in bytes"},
      {"max-header", integer(), 16384, "largest request head (line and headers), in bytes"},
      {"max-headers", integer(), 100, "most header fields in one request"},
      {"max-connections", integer(), 10000, "most connections open at once"},
      {"timeout", real(), 30.0,
       "seconds a request may take to arrive, and an idle keep-alive connection is kept"},
      {"idle-timeout", real(), 300.0,
       "seconds a WebSocket may stay silent (pings are sent at half of it)"},
      {"write-timeout", real(), 10.0, "seconds a write to a client may make no progress"},
      {"keep", integer(), 10000, "recent stream events kept for clients that resume from a cursor"},
      {"metrics", str(), "/metrics", "the path of the Prometheus metrics (an empty string: none)"},
  });
}

WebHook::WebHook(const Init& init)
    : ResourceHook(init),
      bind_host_(config().at("host").as_string()),
      config_port_(static_cast<int>(config().at("port").as_int())),
      keep_(static_cast<std::size_t>(config().at("keep").as_int())),
      impl_(std::make_unique<Impl>()),
      metrics_path_(config().at("metrics").as_string()),
      tasks_(init.host.executor(), log()) {
  auto positive = [&](std::string_view key) {
    const Node& n = config().at(key);
    if (n.as_double() <= 0) n.fail("must be more than 0");
    return n;
  };
  auto seconds = [&](std::string_view key) {
    return std::chrono::milliseconds(static_cast<long>(positive(key).as_double() * 1000));
  };
  limits_.max_body = static_cast<std::size_t>(positive("max-body").as_int());
  limits_.max_header_bytes = static_cast<std::size_t>(positive("max-header").as_int());
  limits_.max_headers = static_cast<std::size_t>(positive("max-headers").as_int());
  limits_.max_connections = static_cast<std::size_t>(positive("max-connections").as_int());
  limits_.request_timeout = limits_.idle_timeout = seconds("timeout");
  limits_.idle_timeout = seconds("idle-timeout");
  limits_.write_timeout = seconds("write-timeout");
  const Node& port = config().at("port");
  if (config_port_ < 0 || config_port_ > 65535) port.fail("must be a port number (0 to 65535)");
  if (!metrics_path_.empty() && metrics_path_.front() != '/') {
    config().at("metrics").fail("must start with '/' (or be empty: no metrics)");
  }
  if (const Node* tls = config().find("tls"); tls && !tls->is_null()) {
    auto base = host().options().base_dir;
    auto resolve = [&](const Node& n) {
      std::filesystem::path p(n.as_string());
      return p.is_absolute() ? p : base / p;
    };
    std::string cert = read_file(resolve(tls->at("cert")), tls->at("cert"));
    std::string key = read_file(resolve(tls->at("key")), tls->at("key"));
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1);
    error_code ec;
    ctx->use_certificate_chain(asio::buffer(cert), ec);
    if (ec) tls->at("cert").fail("not a PEM certificate chain: " + ec.message());
    ctx->use_private_key(asio::buffer(key), asio::ssl::context::pem, ec);
    if (ec) tls->at("key").fail("not a PEM private key for the certificate: " + ec.message());
    impl_->tls = std::move(ctx);
  }
}

WebHook::~WebHook() = default;

std::string WebHook::base_url() const {
  std::string h = bind_host_ == "0.0.0.0" || bind_host_ == "::" ? "127.0.0.1" : bind_host_;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  return std::string(impl_->tls ? "https://" : "http://") + h + ":" + std::to_string(port_);
}

bus::Bus& WebHook::stream() {
  if (!bus_) bus_ = std::make_unique<bus::Bus>(host(), keep_);
  return *bus_;
}

std::shared_ptr<bus::Subscriber> WebHook::stream_wake() {
  bus::SubscriberOptions o;
  o.name = "web stream wake-up";
  o.capacity = 1;  // one is enough to wake; the rest are dropped
  o.overflow = Overflow::drop_oldest;
  o.own_events = true;
  auto sub = stream().subscribe(std::move(o));
  std::erase_if(wakes_, [](const auto& w) { return w.expired(); });
  wakes_.push_back(sub);
  return sub;
}

std::size_t WebHook::stream_clients() {
  if (!bus_) return 0;
  std::erase_if(wakes_, [](const auto& w) { return w.expired(); });
  return bus_->subscribers() - std::min(bus_->subscribers(), wakes_.size());
}

bool WebHook::wants(const Received&) const { return bus_ != nullptr || !metrics_path_.empty(); }

Task<> WebHook::on_receive(const Received& received) {
  // Our own posts' echoes were counted going out.
  if (!metrics_path_.empty() && received.sent && !received.origin) {
    metrics_.count_in(host(), received.sent->channel);
  }
  if (bus_) co_await bus_->publish(received.sent);
}

Task<std::optional<Outgoing>> WebHook::before_send(Outgoing out) {
  if (!metrics_path_.empty()) metrics_.count_out(host(), out.channel);
  co_return out;
}

std::uint64_t WebHook::add(std::string method, std::string pattern, Handler handler,
                           SocketHandler socket) {
  Entry e{++next_route_, std::move(method), split_path(pattern),
          handler ? std::make_shared<const Handler>(std::move(handler)) : nullptr,
          socket ? std::make_shared<const SocketHandler>(std::move(socket)) : nullptr};
  for (std::size_t i = 0; i + 1 < e.segments.size(); ++i) {
    if (e.segments[i] == "*") throw std::invalid_argument("route " + pattern + ": '*' not last");
  }
  routes_.push_back(std::move(e));
  ++routes_changed_;
  log()->debug("route {} {}", routes_.back().method, pattern);
  return next_route_;
}

void WebHook::remove(std::uint64_t id) {
  routes_.remove_if([id](const Entry& e) { return e.id == id; });
  ++routes_changed_;
}

const WebHook::Entry* WebHook::match(Request& request, bool& path_known) const {
  // The path's segments as views: nothing is allocated for the routes
  // that do not match.
  boost::container::small_vector<std::string_view, 8> segs;
  std::string_view path = request.path;
  for (std::size_t i = 0; i < path.size();) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    std::size_t j = std::min(path.find('/', i), path.size());
    segs.push_back(path.substr(i, j - i));
    i = j;
  }
  path_known = false;
  for (const Entry& e : routes_) {
    bool ok = true;
    std::size_t i = 0;
    for (; i < e.segments.size(); ++i) {
      const std::string& p = e.segments[i];
      if (p == "*") {
        i = segs.size();
        break;
      }
      if (i >= segs.size()) {
        ok = false;
        break;
      }
      bool placeholder = p.size() > 2 && p.front() == '{' && p.back() == '}';
      if (!placeholder && p != segs[i]) {
        ok = false;
        break;
      }
    }
    if (!ok || i != segs.size()) continue;
    if (e.method != "*" && e.method != request.method) {
      path_known = true;
      continue;
    }
    request.params.clear();
    for (std::size_t k = 0; k < e.segments.size(); ++k) {
      const std::string& p = e.segments[k];
      if (p == "*") {
        std::string rest;
        for (std::size_t j = k; j < segs.size(); ++j) {
          if (j > k) rest += '/';
          rest += segs[j];
        }
        request.params.emplace("*", std::move(rest));
        break;
      }
      if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
        request.params.emplace(p.substr(1, p.size() - 2), segs[k]);
      }
    }
    return &e;
  }
  return nullptr;
}

Task<> WebHook::start() {
  error_code ec;
  auto address = asio::ip::make_address(bind_host_, ec);
  if (ec) config().at("host").fail("not an IP address: " + bind_host_);
  tcp::endpoint ep(address, static_cast<unsigned short>(config_port_));
  tcp::acceptor acceptor(host().executor());
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error(
        fmt::format("cannot listen on {}:{}: {}", bind_host_, config_port_, ec.message()));
  }
  port_ = acceptor.local_endpoint().port();
  impl_->acceptor.emplace(std::move(acceptor));
  log()->info("listening on {}", base_url());
  if (!metrics_path_.empty()) {
    metrics_route_.emplace(*this, "GET", metrics_path_, [this](Request&) -> Task<Response> {
      Response res = Response::text(200, metrics_.render(host(), stream_clients(), connections_));
      res.content_type = "text/plain; version=0.0.4; charset=utf-8";
      co_return res;
    });
  }
  tasks_.spawn("accept", accept_loop());
  tasks_.spawn("sweep", sweep());
  co_return;
}

Task<> WebHook::sweep() {
  using std::chrono::milliseconds;
  // A request is cut off at most an eighth of the timeout late.
  const milliseconds tick =
      std::clamp<milliseconds>(limits_.request_timeout / 8, milliseconds(10), milliseconds(1000));
  asio::steady_timer timer(host().executor());
  for (;;) {
    timer.expires_after(tick);
    auto [ec] = co_await timer.async_wait(kTuple);
    if (ec) co_return;
    auto now = std::chrono::steady_clock::now();
    for (Impl::Reading& r : impl_->reading) {
      if (r.deadline > now) continue;
      r.deadline = std::chrono::steady_clock::time_point::max();
      r.expired = true;
      error_code ignored;
      r.socket->cancel(ignored);
    }
  }
}

Task<> WebHook::stop() {
  if (impl_->acceptor) {
    error_code ec;
    impl_->acceptor->close(ec);
  }
  // Wake every connection from its read or write; then wait for them.
  auto open = std::exchange(impl_->open, {});
  for (auto& [id, close] : open) close();
  co_await tasks_.stop();
  impl_->acceptor.reset();
  metrics_route_.reset();
  port_ = 0;
}

Task<> WebHook::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await impl_->acceptor->async_accept(kTuple);
    if (ec == asio::error::operation_aborted || !impl_->acceptor->is_open()) co_return;
    if (ec) {
      // Out of descriptors, most likely: say so and carry on.
      log()->warn("accept failed: {}", ec.message());
      continue;
    }
    if (connections_ >= limits_.max_connections) {
      log()->warn("refused a connection: {} are open (max-connections)", connections_);
      socket.close(ec);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    std::string remote;
    if (auto ep = socket.remote_endpoint(ec); !ec) {
      remote = ep.address().to_string() + ":" + std::to_string(ep.port());
    }
    if (impl_->tls) {
      beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)),
                                                  *impl_->tls);
      tasks_.spawn("connection", serve(std::move(stream), std::move(remote)));
    } else {
      tasks_.spawn("connection", serve(beast::tcp_stream(std::move(socket)), std::move(remote)));
    }
  }
}

namespace {

// Reads a request's head and body straight into a Request. Beast's
// request_parser keeps its own copy of every field (an allocation and a
// tree node each), which serve() then copied into the Request again.
class RequestParser final : public http::basic_parser<true> {
 public:
  // (Room for a usual request's fields: the vector grew three times.)
  explicit RequestParser(Request& request) : request_(request) { request_.headers.reserve(8); }
  // (A recycled Request's fields are dropped once Beast starts on a new
  // head: parse_simple_request() reuses them instead.)
  unsigned version() const { return version_; }
  std::size_t fields() const { return fields_; }
  // A WebSocket upgrade (as websocket::is_upgrade() says of a message):
  // GET, HTTP/1.1, Connection: upgrade and Upgrade: websocket.
  bool websocket_upgrade() const {
    if (version_ < 11 || request_.method != "GET") return false;
    const std::string* connection = request_.header("Connection");
    const std::string* to = request_.header("Upgrade");
    return connection && to && http::token_list(*connection).exists("upgrade") &&
           http::token_list(*to).exists("websocket");
  }

 private:
  void on_request_impl(http::verb, beast::string_view method, beast::string_view target,
                       int version, error_code&) override {
    request_.method.assign(method.data(), method.size());
    request_.target.assign(target.data(), target.size());
    request_.headers.clear();
    version_ = static_cast<unsigned>(version);
  }
  void on_response_impl(int, beast::string_view, int, error_code&) override {}
  void on_field_impl(http::field, beast::string_view name, beast::string_view value,
                     error_code&) override {
    ++fields_;
    request_.headers.emplace_back(std::string(name.data(), name.size()),
                                  std::string(value.data(), value.size()));
  }
  void on_header_impl(error_code&) override {}
  // The length was checked against the body limit.
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
    if (length) request_.body.reserve(static_cast<std::size_t>(*length));
  }
  std::size_t on_body_impl(beast::string_view body, error_code&) override {
    request_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, error_code&) override {
    request_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  Request& request_;
  unsigned version_ = 11;
  std::size_t fields_ = 0;
};

// The answer to a request that broke the rules; the connection closes after.
template <typename Stream>
Task<> refuse(Stream& stream, int status, std::string_view why, std::chrono::milliseconds timeout) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::server, "immp");
  res.set(http::field::content_type, "application/json");
  boost::json::object o;
  o["error"] = why;
  res.body() = boost::json::serialize(o);
  res.keep_alive(false);
  res.prepare_payload();
  lowest(stream).expires_after(timeout);
  auto [ec, n] = co_await http::async_write(stream, res, kTuple);
  (void)ec;
}

// Appends `text` with CR and LF made spaces: a handler's header value
// (a Location made from a request's path, say) can never end the head.
void append_field_text(std::string& out, std::string_view text) {
  bool clean = true;
  for (char c : text) clean = clean && c != '\r' && c != '\n';
  if (clean) {
    out.append(text);  // as nearly always: one copy, not a push per byte
    return;
  }
  for (char c : text) out.push_back(c == '\r' || c == '\n' ? ' ' : c);
}

// fmt's runtime format strings cost more than the rest of a small answer.
template <typename Int>
void append_number(std::string& out, Int n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out.append(digits, end);
}

// What the connection's last head was made of, when it can be made again
// by changing its Content-Length alone (an answer with no headers of the
// handler's own): a keep-alive client's answers are alike.
struct HeadMemo {
  bool valid = false;
  int status = 0;
  unsigned version = 0;
  bool keep_alive = false;
  std::string content_type;
  std::size_t prefix = 0;  // the head's bytes before the length's digits
};

void append_head_end(std::string& out, unsigned version, bool keep_alive) {
  if (version == 10 && keep_alive) out += "Connection: keep-alive\r\n";
  if (version != 10 && !keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
}

// The status line and headers of `res` for a request of HTTP `version`
// (11 for 1.1), with its Content-Length, into `out`, which holds the
// connection's last head as `memo` describes it.
void format_head(std::string& out, HeadMemo& memo, const Response& res, unsigned version,
                 bool keep_alive) {
  bool bodiless = res.status < 200 || res.status == 204 || res.status == 304;
  bool reusable = !bodiless && res.headers.empty();
  if (reusable && memo.valid && memo.status == res.status && memo.version == version &&
      memo.keep_alive == keep_alive && memo.content_type == res.content_type) {
    out.resize(memo.prefix);
    append_number(out, res.body.size());
    out += "\r\n";
    append_head_end(out, version, keep_alive);
    return;
  }
  memo.valid = false;
  out.clear();
  out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  append_number(out, res.status);
  out += ' ';
  out += http::obsolete_reason(static_cast<http::status>(res.status));
  out += "\r\nServer: immp\r\n";
  // A handler's Content-Type header wins over the response's type.
  bool type_set = false;
  for (const auto& [k, v] : res.headers) type_set = type_set || iequals(k, "Content-Type");
  if (!type_set) {
    out += "Content-Type: ";
    append_field_text(out, res.content_type);
    out += "\r\n";
  }
  for (const auto& [k, v] : res.headers) {
    if (iequals(k, "Server") || iequals(k, "Content-Length") || iequals(k, "Connection")) continue;
    append_field_text(out, k);
    out += ": ";
    append_field_text(out, v);
    out += "\r\n";
  }
  if (!bodiless) {
    out += "Content-Length: ";
    if (reusable) {
      memo = HeadMemo{true, res.status, version, keep_alive, res.content_type, out.size()};
    }
    append_number(out, res.body.size());
    out += "\r\n";
  }
  append_head_end(out, version, keep_alive);
}

template <typename Stream>
void shut(Stream& stream) {
  error_code ec;
  lowest(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
  lowest(stream).close();
}

}  // namespace

template <typename Stream>
Task<> WebHook::serve(Stream stream, std::string remote) {
  ++connections_;
  std::uint64_t open_id = ++impl_->next_open;
  // Whatever the stream becomes (a WebSocket), its lowest layer stays this
  // object until serve() returns.
  beast::tcp_stream* socket = &lowest(stream);
  impl_->open[open_id] = [socket] { socket->close(); };
  struct Leave {
    WebHook& web;
    std::uint64_t id;
    ~Leave() {
      --web.connections_;
      web.impl_->open.erase(id);
    }
  } leave{*this, open_id};
  // The sweeper's entry: plain connections' request deadlines.
  struct Unlist {
    std::list<Impl::Reading>& list;
    std::list<Impl::Reading>::iterator it;
    ~Unlist() { list.erase(it); }
  } reading{impl_->reading, impl_->reading.emplace(impl_->reading.end())};
  reading.it->socket = &lowest(stream).socket();

  constexpr bool kSecure = !std::is_same_v<Stream, beast::tcp_stream>;
  if constexpr (!kSecure) {
    // For the writes tried at once (answers, WebSocket frames); Asio's
    // asynchronous operations work the same either way.
    error_code ec;
    lowest(stream).socket().non_blocking(true, ec);
  }
  if constexpr (kSecure) {
    lowest(stream).expires_after(limits_.request_timeout);
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kTuple);
    if (ec) {
      log()->debug("TLS handshake with {} failed: {}", remote, ec.message());
      co_return;
    }
  }

  beast::flat_buffer buffer;
  std::string head;  // the last answer's head
  HeadMemo head_memo;
  ConnectionMemo memo;
  // One Request for all of the connection's requests: its strings keep
  // their storage from one to the next (a keep-alive client's requests
  // are alike), so that the usual request allocates nothing for them.
  Request request;
  // The route the connection's last request matched, for the next one
  // to the same path (a keep-alive client's usually is): its params as
  // match() made them.
  struct RouteMemo {
    const Entry* entry = nullptr;  // null: none
    std::uint64_t routes_changed = 0;
    std::string method;
    std::string path;
    std::map<std::string, std::string, std::less<>> params;
  } route_memo;
  for (;;) {
    recycle(request);
    request.memo = &memo;
    RequestParser parser(request);
    parser.header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
    parser.body_limit(limits_.max_body);
    // One bound for the whole request, so a client that trickles its
    // headers or body is cut off (and an idle keep-alive connection too).
    error_code ec;
    SimpleHead simple;
    bool simple_read = false;
    if constexpr (kSecure) {
      lowest(stream).expires_after(limits_.request_timeout);
      auto [rec, rn] = co_await http::async_read(stream, buffer, parser, kTuple);
      ec = rec;
    } else {
      // What http::async_read does (the same parser calls, the same
      // errors), on the socket: its composed operations and per-read
      // timer cost more than the parse.
      // The usual request, when it is all there, is read by
      // parse_simple_request(); Beast's parser reads the rest.
      tcp::socket& sock = lowest(stream).socket();
      reading.it->deadline = std::chrono::steady_clock::now() + limits_.request_timeout;
      bool parse = buffer.size() > 0;
      for (;;) {
        if (parse && !parser.got_some()) {
          auto data = buffer.data();
          std::size_t n = parse_simple_request(
              std::string_view(static_cast<const char*>(data.data()), data.size()), limits_,
              request, simple);
          if (n > 0) {
            buffer.consume(n);
            simple_read = true;
            break;
          }
        }
        if (parse) {
          std::size_t used = parser.put(buffer.data(), ec);
          buffer.consume(used);
          if (ec != http::error::need_more) {
            if (ec || parser.is_done()) break;
            // The head is done; the body is parsed next, from what is
            // buffered or else what comes.
            parse = buffer.size() > 0;
            if (parse) continue;
          }
          ec = {};
        }
        std::size_t size = beast::read_size(buffer, 65536);
        if (size == 0) {
          ec = http::error::buffer_overflow;
          break;
        }
        // (Asio reads at once and waits only if nothing is there.)
        auto space = buffer.prepare(size);
        auto [rec, got] = co_await sock.async_read_some(space, kTuple);
        ec = rec;
        if (ec == asio::error::operation_aborted && reading.it->expired) {
          ec = beast::error::timeout;
          break;
        }
        buffer.commit(got);
        parse = true;
        if (ec == asio::error::eof) {
          if (parser.got_some()) {
            // As Beast: a body that runs to the end of the connection.
            ec = {};
            parser.put_eof(ec);
          } else {
            ec = http::error::end_of_stream;
          }
          break;
        }
        if (ec) break;
      }
      reading.it->deadline = std::chrono::steady_clock::time_point::max();
    }
    if (ec) {
      if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
          ec == asio::error::operation_aborted || ec == asio::error::eof ||
          ec == asio::error::connection_reset || ec == asio::error::bad_descriptor) {
        if (ec == beast::error::timeout && (buffer.size() > 0 || parser.got_some())) {
          log()->debug("{}: request too slow, connection closed", remote);
        }
        co_return;
      }
      if (ec == http::error::body_limit) {
        co_await refuse(stream, 413, "request body too large", limits_.write_timeout);
      } else if (ec == http::error::header_limit) {
        co_await refuse(stream, 431, "request header too large", limits_.write_timeout);
      } else {
        log()->debug("{}: malformed request: {}", remote, ec.message());
        co_await refuse(stream, 400, "malformed request: " + ec.message(), limits_.write_timeout);
      }
      shut(stream);
      co_return;
    }
    const std::size_t fields = simple_read ? simple.fields : parser.fields();
    const unsigned version = simple_read ? simple.version : parser.version();
    if (fields > limits_.max_headers) {
      co_await refuse(stream, 431, "too many header fields", limits_.write_timeout);
      shut(stream);
      co_return;
    }

    std::string_view target = request.target;
    std::size_t q = target.find('?');
    percent_decode_into(request.path, target.substr(0, q));
    if (q != std::string_view::npos) request.query.assign(target.substr(q + 1));
    request.remote = remote;
    request.tls = kSecure;
    bool keep_alive = simple_read ? simple.keep_alive : parser.keep_alive();

    bool path_known = false;
    const Entry* route = nullptr;
    if (route_memo.entry && route_memo.routes_changed == routes_changed_ &&
        route_memo.path == request.path && route_memo.method == request.method) {
      route = route_memo.entry;
      request.params = route_memo.params;  // (std::map's assignment reuses its nodes)
    } else {
      route = match(request, path_known);
      route_memo.entry = route;
      if (route) {
        route_memo.routes_changed = routes_changed_;
        route_memo.method = request.method;
        route_memo.path = request.path;
        route_memo.params = request.params;
      }
    }
    // (An upgrade is never a simple request.)
    if (route && route->socket && !simple_read && parser.websocket_upgrade()) {
      // The route's handler may remove the route: keep what it needs.
      std::shared_ptr<const SocketHandler> handler = route->socket;
      const std::string* key_field = request.header("Sec-WebSocket-Key");
      std::string key = key_field ? *key_field : std::string();
      const std::string* version = request.header("Sec-WebSocket-Version");
      if (!version || *version != "13") {
        http::response<http::string_body> res{http::status::upgrade_required, 11};
        res.set(http::field::server, "immp");
        res.set(http::field::sec_websocket_version, "13");
        res.set(http::field::content_type, "application/json");
        res.body() = R"({"error":"WebSocket version 13 only"})";
        res.keep_alive(false);
        res.prepare_payload();
        lowest(stream).expires_after(limits_.write_timeout);
        auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
        if (!wec) shut(stream);
        co_return;
      }
      if (key.size() != 24) {
        co_await refuse(stream, 400, "Sec-WebSocket-Key: expected 16 bytes in base64",
                        limits_.write_timeout);
        shut(stream);
        co_return;
      }
      http::response<http::empty_body> res{http::status::switching_protocols, 11};
      res.set(http::field::server, "immp");
      res.set(http::field::upgrade, "websocket");
      res.set(http::field::connection, "upgrade");
      res.set(http::field::sec_websocket_accept, ws::accept_key(key));
      lowest(stream).expires_after(limits_.write_timeout);
      auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
      if (wec) co_return;
      lowest(stream).expires_never();
      WsSession<Stream> session(stream, std::move(buffer), limits_);
      try {
        auto run = (*handler)(request, session) || session.pump() || session.watch();
        co_await std::move(run);
      } catch (const boost::system::system_error& e) {
        if (e.code() == asio::error::operation_aborted) throw;
        log()->warn("WebSocket {} from {}: {}", request.path, remote, e.what());
      } catch (const std::exception& e) {
        log()->error("WebSocket {} from {}: {}", request.path, remote, e.what());
      }
      co_await session.finish("bye");
      shut(stream);
      co_return;
    }
    Response response;
    if (!route) {
      response = path_known ? Response::error(405, "method not allowed")
                            : Response::error(404, "no such route: " + request.path);
    } else if (!route->handler) {
      response = Response::error(426, "this route takes WebSocket connections only");
    } else {
      std::shared_ptr<const Handler> handler = route->handler;
      try {
        response = co_await (*handler)(request);
      } catch (const boost::system::system_error& e) {
        if (e.code() == asio::error::operation_aborted) throw;
        log()->error("{} {} from {}: {}", request.method, request.path, remote, e.what());
        response = Response::error(500, "internal error");
      } catch (const std::exception& e) {
        log()->error("{} {} from {}: {}", request.method, request.path, remote, e.what());
        response = Response::error(500, "internal error");
      }
    }

    if (response.stream) {
      http::response<http::empty_body> head{static_cast<http::status>(response.status), 11};
      head.set(http::field::server, "immp");
      head.set(http::field::content_type, response.content_type);
      head.set(http::field::cache_control, "no-cache");
      add_headers(head, response.headers);
      head.keep_alive(false);
      http::response_serializer<http::empty_body> sr(head);
      lowest(stream).expires_after(limits_.write_timeout);
      auto [wec, wn] = co_await http::async_write_header(stream, sr, kTuple);
      if (wec) co_return;
      StreamWriter<Stream> writer(stream, limits_.write_timeout);
      auto body = std::move(response.stream);
      co_await body(writer);
      shut(stream);
      co_return;
    }

    // The head is formatted by hand into a buffer the connection keeps,
    // and goes out with the body in one write: Beast's fields and
    // serializer cost more than the rest of a small request.
    bool keep = keep_alive && response.status < 500;
    format_head(head, head_memo, response, version, keep);
    std::array<asio::const_buffer, 2> out{asio::buffer(head), asio::buffer(response.body)};
    error_code wec;
    std::size_t sent = 0;
    if constexpr (!kSecure) {
      // Most answers fit in the socket's buffer: written now, without an
      // asynchronous operation and its timer.
      sent = lowest(stream).socket().write_some(out, wec);
      if (wec == asio::error::would_block || wec == asio::error::try_again) wec = {};
    }
    if (!wec && sent < head.size() + response.body.size()) {
      beast::buffers_suffix<std::array<asio::const_buffer, 2>> rest(out);
      rest.consume(sent);
      lowest(stream).expires_after(limits_.write_timeout);
      auto [ec2, n2] = co_await asio::async_write(stream, rest, kTuple);
      wec = ec2;
    }
    if (wec || !keep) {
      if (!wec) shut(stream);
      co_return;
    }
  }
}

}  // namespace immp::web
