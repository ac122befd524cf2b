#include "net/http.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cctype>
#include <map>
#include <random>

#include "net/url.hpp"

namespace immp::net {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// Cancellation of the calling task is not a failure of the request: it
// leaves as operation_aborted, as from any other Asio operation.
void throw_if_aborted(const error_code& ec) {
  if (ec == asio::error::operation_aborted) throw boost::system::system_error(ec);
}

std::string seconds_text(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

// The start of a body for an error message: APIs explain themselves there.
std::string excerpt(const std::string& body) {
  constexpr std::size_t kMax = 300;
  std::string out = body.size() > kMax ? body.substr(0, kMax) + "..." : body;
  for (char& c : out)
    if (c == '\r' || c == '\n') c = ' ';
  return out;
}

}  // namespace

const std::string* find_header(const Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return &v;
  return nullptr;
}

const HttpResponse& HttpResponse::expect_ok() const {
  if (ok()) return *this;
  std::string what = method + " " + url + ": " + std::to_string(status) + " " + reason;
  if (!body.empty()) what += ": " + excerpt(body);
  throw HttpError(HttpErrorKind::status, url, status, what);
}

boost::json::value HttpResponse::json() const {
  error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec)
    throw HttpError(HttpErrorKind::protocol, url, status,
                    method + " " + url + ": the answer (" + std::to_string(status) +
                        ") is not JSON (" + ec.message() + "): " + excerpt(body));
  return v;
}

// ---- multipart ----

void Multipart::add_field(std::string name, std::string value) {
  Part p;
  p.name = std::move(name);
  p.data = std::move(value);
  parts_.push_back(std::move(p));
}

void Multipart::add_file(std::string name, std::string filename, std::string content_type,
                         std::string data) {
  Part p;
  p.name = std::move(name);
  p.filename = std::move(filename);
  p.content_type = content_type.empty() ? "application/octet-stream" : std::move(content_type);
  p.data = std::move(data);
  p.file = true;
  parts_.push_back(std::move(p));
}

namespace {

// A name inside a quoted header parameter, escaped as browsers do (HTML's
// multipart/form-data encoding): quote and line breaks percent-encoded.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"')
      out += "%22";
    else if (c == '\r')
      out += "%0D";
    else if (c == '\n')
      out += "%0A";
    else
      out += c;
  }
  return out + "\"";
}

}  // namespace

std::pair<std::string, std::string> Multipart::encode() const {
  std::random_device rd;
  std::mt19937_64 rng((static_cast<std::uint64_t>(rd()) << 32) | rd());
  std::string boundary;
  // A boundary must occur in no part; 128 random bits nearly always do,
  // and the check makes it certain.
  for (bool clash = true; clash;) {
    boundary = "immp-" + std::to_string(rng()) + "-" + std::to_string(rng());
    clash = false;
    for (const Part& p : parts_) clash = clash || p.data.find(boundary) != std::string::npos;
  }
  std::string body;
  for (const Part& p : parts_) {
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=" + quoted(p.name);
    if (p.file) body += "; filename=" + quoted(p.filename) + "\r\nContent-Type: " + p.content_type;
    body += "\r\n\r\n";
    body += p.data;
    body += "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  return {std::move(body), "multipart/form-data; boundary=" + boundary};
}

// ---- connections ----

namespace {

using Parser = http::response_parser<http::buffer_body>;
using Request = http::request<http::string_body>;

// One kept-alive connection, plain or TLS.
class Connection {
 public:
  virtual ~Connection() = default;
  virtual beast::tcp_stream& tcp() = 0;
  virtual Task<error_code> write(Request& req) = 0;
  virtual Task<error_code> read_header(Parser& p) = 0;
  virtual Task<error_code> read_some(Parser& p) = 0;

  beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point idle_since;
  bool reused = false;
};

template <typename Stream>
class ConnectionOf final : public Connection {
 public:
  template <typename... A>
  explicit ConnectionOf(A&&... a) : stream(std::forward<A>(a)...) {}
  beast::tcp_stream& tcp() override { return beast::get_lowest_layer(stream); }
  Task<error_code> write(Request& req) override {
    auto [ec, n] = co_await http::async_write(stream, req, kTuple);
    co_return ec;
  }
  Task<error_code> read_header(Parser& p) override {
    auto [ec, n] = co_await http::async_read_header(stream, buffer, p, kTuple);
    co_return ec;
  }
  Task<error_code> read_some(Parser& p) override {
    auto [ec, n] = co_await http::async_read_some(stream, buffer, p, kTuple);
    co_return ec;
  }
  Stream stream;
};

using Plain = ConnectionOf<beast::tcp_stream>;
using Secure = ConnectionOf<beast::ssl_stream<beast::tcp_stream>>;

}  // namespace

struct HttpClient::Pool {
  HttpOptions options;
  std::shared_ptr<asio::ssl::context> tls;
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle;
  std::size_t opened = 0;

  // An idle connection to `origin` still within its idle time, or null.
  std::unique_ptr<Connection> take(const std::string& origin) {
    auto it = idle.find(origin);
    if (it == idle.end()) return nullptr;
    auto& list = it->second;
    auto now = std::chrono::steady_clock::now();
    while (!list.empty()) {
      auto c = std::move(list.back());
      list.pop_back();
      if (now - c->idle_since < options.idle_timeout) return c;
    }
    return nullptr;
  }

  // Opens a connection to `u`; throws HttpError starting with `what`
  // (method and URL). The caller keeps the pool alive.
  Task<std::unique_ptr<Connection>> open(const Url& u, const std::string& url,
                                         const std::string& what);

  void give_back(const std::string& origin, std::unique_ptr<Connection> c) {
    auto& list = idle[origin];
    if (list.size() >= options.max_idle_per_origin) return;  // closes it
    c->idle_since = std::chrono::steady_clock::now();
    c->reused = true;
    list.push_back(std::move(c));
  }
};

Task<std::unique_ptr<Connection>> HttpClient::Pool::open(const Url& u, const std::string& url,
                                                         const std::string& what) {
  Pool& pool = *this;
  const auto timeout = pool.options.timeout;
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  auto [rec, endpoints] = co_await resolver.async_resolve(u.host, u.port, kTuple);
  throw_if_aborted(rec);
  if (rec)
    throw HttpError(HttpErrorKind::connect, url, 0,
                    what + ": cannot resolve " + u.host + ": " + rec.message());
  std::unique_ptr<Connection> c;
  if (u.tls()) {
    if (!pool.tls) pool.tls = make_tls_context(pool.options.tls);
    c = std::make_unique<Secure>(ex, *pool.tls);
  } else {
    c = std::make_unique<Plain>(ex);
  }
  c->tcp().expires_after(timeout);
  auto [cec, ep] = co_await c->tcp().async_connect(endpoints, kTuple);
  throw_if_aborted(cec);
  if (cec == beast::error::timeout)
    throw HttpError(
        HttpErrorKind::timeout, url, 0,
        what + ": no connection to " + u.authority + " within " + seconds_text(timeout));
  if (cec)
    throw HttpError(HttpErrorKind::connect, url, 0,
                    what + ": cannot connect to " + u.authority + ": " + cec.message());
  c->tcp().socket().set_option(tcp::no_delay(true), cec);
  if (u.tls()) {
    auto& stream = static_cast<Secure&>(*c).stream;
    TlsVerifier verifier(u.host, pool.options.tls);
    prepare_tls(stream, verifier);
    auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, kTuple);
    throw_if_aborted(hec);
    if (hec == beast::error::timeout)
      throw HttpError(
          HttpErrorKind::timeout, url, 0,
          what + ": no TLS handshake with " + u.authority + " within " + seconds_text(timeout));
    if (hec)
      throw HttpError(HttpErrorKind::tls, url, 0,
                      what + ": " + tls_failure(hec, verifier, u.authority));
  }
  ++pool.opened;
  co_return c;
}

namespace {

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// A failure that means the server closed an idle connection before it read
// our request: worth one more try on a new connection.
bool stale(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::ssl::error::stream_truncated;
}

}  // namespace

HttpClient::HttpClient(Executor ex, HttpOptions options)
    : ex_(std::move(ex)), pool_(std::make_shared<Pool>()) {
  pool_->options = std::move(options);
  // Fail at construction, not at the first https request, when the TLS
  // setup cannot work (a CA file missing, a malformed pin).
  if (!pool_->options.tls.ca_file.empty() || !pool_->options.tls.fingerprint.empty() ||
      !pool_->options.tls.client_cert.empty())
    pool_->tls = make_tls_context(pool_->options.tls);
}

HttpClient::~HttpClient() = default;

std::size_t HttpClient::connections_opened() const { return pool_->opened; }

std::size_t HttpClient::idle_connections() const {
  std::size_t n = 0;
  for (const auto& [origin, list] : pool_->idle) n += list.size();
  return n;
}

void HttpClient::close_idle() { pool_->idle.clear(); }

Task<HttpResponse> HttpClient::request(HttpRequest request) {
  co_return co_await perform(std::move(request), nullptr, 0);
}

Task<HttpResponse> HttpClient::get(std::string url, Headers headers) {
  HttpRequest r;
  r.url = std::move(url);
  r.headers = std::move(headers);
  co_return co_await perform(std::move(r), nullptr, 0);
}

Task<HttpResponse> HttpClient::send_json(std::string method, std::string url,
                                         boost::json::value body, Headers headers) {
  HttpRequest r;
  r.method = std::move(method);
  r.url = std::move(url);
  r.headers = std::move(headers);
  r.body = boost::json::serialize(body);
  r.content_type = "application/json";
  co_return co_await perform(std::move(r), nullptr, 0);
}

Task<HttpResponse> HttpClient::upload(std::string url, const Multipart& form, Headers headers) {
  HttpRequest r;
  r.method = "POST";
  r.url = std::move(url);
  r.headers = std::move(headers);
  std::tie(r.body, r.content_type) = form.encode();
  co_return co_await perform(std::move(r), nullptr, 0);
}

Task<HttpResponse> HttpClient::download(HttpRequest request, DownloadSink sink,
                                        std::uint64_t limit) {
  co_return co_await perform(std::move(request), &sink, limit);
}

Task<HttpResponse> HttpClient::perform(HttpRequest request, DownloadSink* sink,
                                       std::uint64_t limit) {
  // The pool lives as long as this request, also if the client goes first.
  std::shared_ptr<Pool> pool = pool_;
  const HttpOptions& o = pool->options;
  std::string url = std::move(request.url);
  std::string method = std::move(request.method);
  std::string body = std::move(request.body);
  Headers headers = std::move(request.headers);
  std::string home;  // the origin asked first: the client's own headers go only there
  for (int hop = 0;; ++hop) {
    const std::string what = method + " " + url;
    Url u;
    try {
      u = parse_url(url);
    } catch (const std::invalid_argument& e) {
      throw HttpError(HttpErrorKind::bad_url, url, 0, what + ": " + e.what());
    }
    if (u.scheme != "http" && u.scheme != "https")
      throw HttpError(HttpErrorKind::bad_url, url, 0, what + ": not an http or https URL");
    const std::string origin = u.origin();
    if (hop == 0) home = origin;

    Request req;
    req.method_string(method);
    req.target(u.target);
    req.version(11);
    req.set(http::field::host, u.authority);
    req.set(http::field::user_agent, o.user_agent);
    if (origin == home)
      for (const auto& [k, v] : o.headers) req.set(k, v);
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      if (!request.content_type.empty()) req.set(http::field::content_type, request.content_type);
      req.body() = body;
      req.prepare_payload();
    }

    HttpResponse out;
    out.method = method;
    out.url = url;
    std::unique_ptr<Connection> c;
    // At most two attempts: a reused connection that turns out closed, then
    // a new one.
    for (int attempt = 0;; ++attempt) {
      c = pool->take(origin);
      if (!c) c = co_await pool->open(u, url, what);
      const bool reused = c->reused;
      c->tcp().expires_after(o.timeout);
      error_code ec = co_await c->write(req);
      Parser parser;
      parser.body_limit(boost::none);  // counted below, against the right limit
      if (method == "HEAD") parser.skip(true);
      if (!ec) {
        c->tcp().expires_after(o.timeout);
        ec = co_await c->read_header(parser);
      }
      throw_if_aborted(ec);
      if (ec && reused && attempt == 0 && stale(ec)) continue;
      if (ec == beast::error::timeout)
        throw HttpError(HttpErrorKind::timeout, url, 0,
                        what + ": no answer within " + seconds_text(o.timeout));
      if (ec)
        throw HttpError(
            HttpErrorKind::protocol, url, 0,
            what + ": " +
                (ec.category() == http::make_error_code(http::error::bad_version).category()
                     ? "malformed answer: "
                     : "connection failed: ") +
                ec.message());

      auto& res = parser.get();
      out.status = res.result_int();
      out.reason = std::string(res.reason());
      for (const auto& f : res) out.headers.emplace_back(f.name_string(), f.value());
      const bool to_sink = sink != nullptr && out.ok();
      const std::uint64_t max = to_sink ? limit : o.max_body;
      auto too_large = [&] {
        return HttpError(
            HttpErrorKind::too_large, url, out.status,
            what + ": the body is larger than the limit of " + std::to_string(max) + " bytes");
      };
      if (auto len = parser.content_length(); len && *len > max) throw too_large();
      char chunk[16384];
      while (!parser.is_done()) {
        res.body().data = chunk;
        res.body().size = sizeof chunk;
        c->tcp().expires_after(o.timeout);
        ec = co_await c->read_some(parser);
        if (ec == http::error::need_buffer) ec = {};
        throw_if_aborted(ec);
        const std::size_t got = sizeof chunk - res.body().size;
        if (ec == beast::error::timeout)
          throw HttpError(HttpErrorKind::timeout, url, out.status,
                          what + ": the body stalled for " + seconds_text(o.timeout));
        if (ec)
          throw HttpError(HttpErrorKind::protocol, url, out.status,
                          what + ": reading the body failed: " + ec.message());
        out.body_size += got;
        if (out.body_size > max) throw too_large();
        if (to_sink)
          (*sink)(std::string_view(chunk, got));
        else
          out.body.append(chunk, got);
      }
      if (res.keep_alive()) {
        c->tcp().expires_never();
        pool->give_back(origin, std::move(c));
      }
      break;
    }

    if (!is_redirect(out.status)) co_return out;
    const std::string* location = out.header("Location");
    if (location == nullptr) co_return out;
    if (hop >= o.max_redirects)
      throw HttpError(HttpErrorKind::redirects, url, out.status,
                      what + ": more than " + std::to_string(o.max_redirects) +
                          " redirects (the last to " + *location + ")");
    std::string next;
    try {
      next = resolve_url(url, *location);
    } catch (const std::invalid_argument& e) {
      throw HttpError(HttpErrorKind::protocol, url, out.status, what + ": " + e.what());
    }
    // 303, and 301/302 after a POST (as browsers do): GET without a body.
    if (out.status == 303 || ((out.status == 301 || out.status == 302) && method == "POST")) {
      if (method != "HEAD") method = "GET";
      body.clear();
      request.content_type.clear();
    }
    // Credentials are for the origin they were given for. (A Location that
    // is not http(s) fails at the top of the next hop, as a bad URL.)
    std::string next_origin;
    try {
      next_origin = parse_url(next).origin();
    } catch (const std::invalid_argument&) {
    }
    if (next_origin != origin) {
      std::erase_if(headers, [](const auto& h) {
        return iequals(h.first, "Authorization") || iequals(h.first, "Cookie");
      });
    }
    url = std::move(next);
  }
}

}  // namespace immp::net
