#include "support/web_server.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <future>
#include <set>
#include <stdexcept>

#include "immp/asio.hpp"
#include "net/tls.hpp"

namespace immp::test {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("making the test certificate: ") + what);
}

}  // namespace

SelfSigned make_self_signed(const std::string& name) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  check(key != nullptr, "EVP_EC_gen");
  std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), X509_free);
  check(x != nullptr, "X509_new");
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 86400);
  X509_set_pubkey(x.get(), key.get());
  X509_NAME* subject = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_issuer_name(x.get(), subject);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x.get(), x.get(), nullptr, nullptr, 0);
  // The name only, not 127.0.0.1: tests reach the server by that address
  // to see a name check fail.
  const std::string san = "DNS:" + name;
  for (auto [nid, value] : {std::pair<int, const char*>{NID_subject_alt_name, san.c_str()},
                            {NID_basic_constraints, "critical,CA:TRUE"},
                            {NID_key_usage, "critical,digitalSignature,keyCertSign"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    check(ext != nullptr, "X509V3_EXT_conf_nid");
    X509_add_ext(x.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  check(X509_sign(x.get(), key.get(), EVP_sha256()) > 0, "X509_sign");

  SelfSigned out;
  std::unique_ptr<BIO, decltype(&BIO_free)> cert_bio(BIO_new(BIO_s_mem()), BIO_free);
  check(PEM_write_bio_X509(cert_bio.get(), x.get()) == 1, "PEM_write_bio_X509");
  out.cert_pem = bio_string(cert_bio.get());
  std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(BIO_new(BIO_s_mem()), BIO_free);
  check(PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) ==
            1,
        "PEM_write_bio_PrivateKey");
  out.key_pem = bio_string(key_bio.get());
  out.fingerprint = net::certificate_fingerprint(x.get());
  return out;
}

struct WebServer::Impl {
  // Declared before io: the coroutine frames that io destroys last use
  // them.
  WebServer& server;
  asio::ssl::context tls{asio::ssl::context::tls_server};
  // Lowest layers of the open WebSockets, for drop_websockets(). Server
  // thread only.
  std::set<beast::tcp_stream*> sockets;
  asio::io_context io;
  tcp::acceptor plain{io};
  tcp::acceptor secure{io};
  // Expires never; /hang and /ws-deaf wait on it until the server stops.
  asio::steady_timer forever{io, asio::steady_timer::time_point::max()};

  explicit Impl(WebServer& s) : server(s) {
    tls.use_certificate_chain(asio::buffer(s.cert_.cert_pem));
    tls.use_private_key(asio::buffer(s.cert_.key_pem), asio::ssl::context::pem);
    for (tcp::acceptor* a : {&plain, &secure}) {
      tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
      a->open(ep.protocol());
      a->set_option(tcp::acceptor::reuse_address(true));
      a->bind(ep);
      a->listen();
    }
    s.port_ = plain.local_endpoint().port();
    s.tls_port_ = secure.local_endpoint().port();
    asio::co_spawn(io, accept(plain, false), asio::detached);
    asio::co_spawn(io, accept(secure, true), asio::detached);
  }

  Task<> accept(tcp::acceptor& acceptor, bool with_tls) {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(kTuple);
      if (ec) co_return;
      ++server.connections_;
      if (with_tls) {
        beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), tls);
        asio::co_spawn(io, handshake_then_serve(std::move(stream)), asio::detached);
      } else {
        beast::tcp_stream stream(std::move(socket));
        asio::co_spawn(io, serve(std::move(stream)), asio::detached);
      }
    }
  }

  Task<> handshake_then_serve(beast::ssl_stream<beast::tcp_stream> stream) {
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kTuple);
    if (ec) co_return;  // a client that refused our certificate
    co_await serve(std::move(stream));
  }

  template <typename Stream>
  Task<> serve(Stream stream) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, kTuple);
      if (ec) co_return;
      http::request<http::string_body> req = parser.release();
      if (websocket::is_upgrade(req)) {
        co_await serve_websocket(std::move(stream), std::move(req));
        co_return;
      }
      http::response<http::string_body> res = co_await answer(req);
      res.version(req.version());
      res.keep_alive(req.keep_alive());
      const bool chunked = res.chunked();
      res.prepare_payload();  // sets Content-Length, dropping chunked
      if (chunked) res.chunked(true);
      ++server.requests_;
      auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
      // /close-quietly: as a server whose keep-alive timeout just ran out.
      if (wec || !res.keep_alive() || req.target() == "/close-quietly") co_return;
    }
  }

  Task<http::response<http::string_body>> answer(const http::request<http::string_body>& req) {
    http::response<http::string_body> res;
    res.result(http::status::ok);
    res.set(http::field::content_type, "text/plain");
    std::string target(req.target());
    auto number_after = [&](std::string_view prefix) {
      return std::stoull(target.substr(prefix.size()));
    };
    if (target == "/text" || target == "/close-quietly") {
      res.body() = "hello";
    } else if (target == "/echo") {
      boost::json::object o;
      o["method"] = std::string(req.method_string());
      o["target"] = target;
      o["content_type"] = std::string(req[http::field::content_type]);
      o["body"] = req.body();
      o["authorization"] = std::string(req[http::field::authorization]);
      res.set(http::field::content_type, "application/json");
      res.body() = boost::json::serialize(o);
    } else if (target == "/json") {
      boost::json::object o;
      o["got"] = boost::json::parse(req.body());
      res.set(http::field::content_type, "application/json");
      res.body() = boost::json::serialize(o);
    } else if (target == "/upload") {
      auto parts = parse_multipart(std::string(req[http::field::content_type]), req.body());
      {
        std::lock_guard lock(server.mutex_);
        server.last_upload_ = parts;
      }
      res.set(http::field::content_type, "application/json");
      res.body() = "{\"parts\": " + std::to_string(parts.size()) + "}";
    } else if (target.starts_with("/bytes/") || target.starts_with("/chunked/")) {
      bool chunked = target.starts_with("/chunked/");
      auto n = number_after(chunked ? "/chunked/" : "/bytes/");
      res.set(http::field::content_type, "application/octet-stream");
      res.body().resize(n);
      for (std::size_t i = 0; i < n; ++i) res.body()[i] = static_cast<char>(i % 251);
      res.chunked(chunked);
    } else if (target == "/to-echo" || target == "/to-tls-echo") {
      res.result(http::status::found);
      res.set(http::field::location,
              target == "/to-echo" ? std::string("/echo") : server.tls_url("/echo"));
    } else if (target.starts_with("/redirect/")) {
      auto n = number_after("/redirect/");
      if (n == 0) {
        res.body() = "arrived";
      } else {
        res.result(http::status::found);
        res.set(http::field::location, "/redirect/" + std::to_string(n - 1));
      }
    } else if (target.starts_with("/status/")) {
      auto n = number_after("/status/");
      res.result(static_cast<unsigned>(n));
      res.body() = "status " + std::to_string(n);
    } else if (target == "/retry-after") {
      res.result(http::status::too_many_requests);
      res.set(http::field::retry_after, "7");
      res.body() = "slow down";
    } else if (target == "/hang") {
      co_await forever.async_wait(kTuple);
    } else {
      res.result(http::status::not_found);
      res.body() = "no route " + target;
    }
    co_return res;
  }

  static std::vector<Part> parse_multipart(const std::string& content_type,
                                           const std::string& body) {
    std::vector<Part> parts;
    auto b = content_type.find("boundary=");
    if (b == std::string::npos) return parts;
    const std::string delim = "--" + content_type.substr(b + 9);
    std::size_t pos = body.find(delim);
    while (pos != std::string::npos) {
      pos += delim.size();
      if (body.compare(pos, 2, "--") == 0) break;
      pos += 2;  // CRLF
      auto head_end = body.find("\r\n\r\n", pos);
      if (head_end == std::string::npos) break;
      std::string head = body.substr(pos, head_end - pos);
      Part part;
      auto param = [&](const std::string& key) {
        auto k = head.find(key + "=\"");
        if (k == std::string::npos) return std::string();
        k += key.size() + 2;
        return head.substr(k, head.find('"', k) - k);
      };
      part.name = param(" name");
      part.filename = param("filename");
      if (auto ct = head.find("Content-Type: "); ct != std::string::npos)
        part.content_type = head.substr(ct + 14, head.find("\r\n", ct) - ct - 14);
      auto start = head_end + 4;
      auto end = body.find("\r\n" + delim, start);
      if (end == std::string::npos) break;
      part.data = body.substr(start, end - start);
      parts.push_back(std::move(part));
      pos = end + 2;
    }
    return parts;
  }

  template <typename Stream>
  Task<> serve_websocket(Stream stream, http::request<http::string_body> req) {
    websocket::stream<Stream> ws(std::move(stream));
    beast::tcp_stream* lowest = &beast::get_lowest_layer(ws);
    lowest->expires_never();
    sockets.insert(lowest);
    struct Forget {
      std::set<beast::tcp_stream*>& set;
      beast::tcp_stream* s;
      ~Forget() { set.erase(s); }
    } forget{sockets, lowest};
    ws.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::ping) ++server.pings_;
    });
    auto [aec] = co_await ws.async_accept(req, kTuple);
    if (aec) co_return;
    ++server.websockets_;
    if (req.target() == "/ws-deaf") {
      co_await forever.async_wait(kTuple);
      co_return;
    }
    beast::flat_buffer buffer;
    for (;;) {
      auto [ec, n] = co_await ws.async_read(buffer, kTuple);
      if (ec) co_return;
      ws.text(ws.got_text());
      auto [wec, wn] = co_await ws.async_write(buffer.data(), kTuple);
      if (wec) co_return;
      buffer.consume(buffer.size());
    }
  }
};

WebServer::WebServer() : cert_(make_self_signed()), dir_("immp-web") {
  write_file(dir_ / "ca.pem", cert_.cert_pem);
  impl_ = std::make_unique<Impl>(*this);
  thread_ = std::thread([this] { impl_->io.run(); });
}

WebServer::~WebServer() {
  impl_->io.stop();
  thread_.join();
}

std::string WebServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}
std::string WebServer::tls_url(const std::string& path) const {
  return "https://localhost:" + std::to_string(tls_port_) + path;
}
std::string WebServer::ws_url(const std::string& path) const {
  return "ws://127.0.0.1:" + std::to_string(port_) + path;
}
std::string WebServer::wss_url(const std::string& path) const {
  return "wss://localhost:" + std::to_string(tls_port_) + path;
}
std::string WebServer::ca_file() const { return (dir_ / "ca.pem").string(); }

std::vector<WebServer::Part> WebServer::last_upload() const {
  std::lock_guard lock(mutex_);
  return last_upload_;
}

void WebServer::drop_websockets() {
  std::promise<void> done;
  asio::post(impl_->io, [&] {
    for (beast::tcp_stream* s : impl_->sockets) s->socket().close();
    done.set_value();
  });
  done.get_future().wait();
}

WebServer& shared_web_server() {
  static WebServer server;
  return server;
}

}  // namespace immp::test
