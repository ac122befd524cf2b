#include "plugs/irc/irc_transport.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "net/socket.hpp"
#include "net/tls.hpp"
#include "plugs/irc/irc_connection.hpp"

namespace immp::irc {

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

net::TlsOptions tls_options(const ConnectionOptions& o) {
  net::TlsOptions t;
  t.verify = o.verify;
  t.ca_file = o.ca;
  t.fingerprint = o.fingerprint;
  t.client_cert = o.client_cert;
  t.client_key = o.client_key;
  return t;
}

// The context for `o`: verification, pinning and the client certificate
// are the network layer's (net/tls.hpp).
std::shared_ptr<asio::ssl::context> make_tls(const ConnectionOptions& o) {
  if (!o.tls) return std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  try {
    return net::make_tls_context(tls_options(o));
  } catch (const net::TlsError& e) {
    throw ConnectionError(e.what());
  }
}

class SocketTransport final : public Transport {
 public:
  SocketTransport(Executor ex, const ConnectionOptions& o)
      : ex_(ex),
        host_(o.host),
        port_(o.port),
        tls_(o.tls),
        context_(make_tls(o)),
        verifier_(o.host, tls_options(o)),
        stream_(ex, *context_) {}

  ~SocketTransport() override {
    boost::system::error_code ec;
    stream_.next_layer().close(ec);
  }

  Task<> connect() override {
    const std::string where = host_ + ":" + std::to_string(port_);
    asio::ip::tcp::resolver resolver(ex_);
    auto [rec, endpoints] = co_await resolver.async_resolve(host_, std::to_string(port_), kTuple);
    if (rec) throw ConnectionError("cannot resolve " + host_ + ": " + rec.message());
    // close() during the lookup must not be undone: async_connect opens the
    // socket again.
    if (closed_) throw ConnectionError("connecting to " + where + ": closed");
    auto [cec, ep] = co_await asio::async_connect(socket(), endpoints, kTuple);
    if (closed_) {
      boost::system::error_code ignore;
      socket().close(ignore);
      throw ConnectionError("connecting to " + where + ": closed");
    }
    if (cec) throw ConnectionError("cannot connect to " + where + ": " + cec.message());
    boost::system::error_code ignore;
    socket().set_option(asio::ip::tcp::no_delay(true), ignore);
    if (tls_) {
      net::prepare_tls(stream_, verifier_);
      auto [hec] = co_await stream_.async_handshake(asio::ssl::stream_base::client, kTuple);
      if (hec) throw ConnectionError(net::tls_failure(hec, verifier_, where));
    }
  }

  Task<IoResult> read_some(asio::mutable_buffer into) override {
    IoResult r;
    if (tls_) {
      std::tie(r.ec, r.bytes) = co_await stream_.async_read_some(into, kTuple);
    } else {
      std::tie(r.ec, r.bytes) = co_await socket().async_read_some(into, kTuple);
    }
    if (r.bytes > 0) net::quick_ack(socket().native_handle());  // ngircd never sets TCP_NODELAY
    co_return r;
  }

  Task<IoResult> write(asio::const_buffer data) override {
    IoResult r;
    if (tls_) {
      std::tie(r.ec, r.bytes) = co_await asio::async_write(stream_, data, kTuple);
    } else {
      std::tie(r.ec, r.bytes) = co_await asio::async_write(socket(), data, kTuple);
    }
    co_return r;
  }

  // A TLS stream has no non-blocking write.
  bool can_try_write() const override { return !tls_; }

  IoResult try_write(asio::const_buffer data) override {
    IoResult r;
    auto& s = socket();
    // Asio's own async operations keep working on a non-blocking socket.
    if (!s.non_blocking()) s.non_blocking(true, r.ec);
    if (!r.ec) r.bytes = s.write_some(data, r.ec);
    return r;
  }

  void close() override {
    closed_ = true;
    boost::system::error_code ec;
    socket().cancel(ec);
    socket().close(ec);
  }

  bool is_tls() const override { return tls_; }

 private:
  asio::ip::tcp::socket& socket() { return stream_.next_layer(); }

  Executor ex_;
  std::string host_;
  int port_;
  bool tls_;
  std::shared_ptr<asio::ssl::context> context_;
  net::TlsVerifier verifier_;
  asio::ssl::stream<asio::ip::tcp::socket> stream_;
  bool closed_ = false;
};

}  // namespace

std::unique_ptr<Transport> make_socket_transport(Executor ex, const ConnectionOptions& options) {
  return std::make_unique<SocketTransport>(std::move(ex), options);
}

std::shared_ptr<ConnectionClock> steady_connection_clock() { return net::steady_clock(); }

}  // namespace immp::irc
