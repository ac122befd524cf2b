// TLS for clients: certificate and host name verification on by default
// (the system's CAs, or a CA file), SNI, an optional client certificate,
// and SHA-256 certificate pinning for self-signed servers.
//
//   auto ctx = net::make_tls_context(options);          // once, shared
//   asio::ssl::stream<tcp::socket> s(ex, *ctx);
//   net::TlsVerifier check(host, options);
//   net::prepare_tls(s, host, check);                   // before the handshake
//   auto [ec] = co_await s.async_handshake(client, as_tuple(use_awaitable));
//   if (ec) throw net::TlsError(net::tls_failure(ec, check, "irc.example:6697"));
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/verify_context.hpp>
#include <boost/system/error_code.hpp>

#include "immp/asio.hpp"

typedef struct x509_st X509;

namespace immp::net {

// A TLS setup that cannot work (unreadable CA or key file, bad pin) or a
// handshake that failed; what() says which and why.
class TlsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TlsOptions {
  // Check the server's certificate chain and name. Off accepts anything
  // (only for tests and networks one controls; a pin is the better choice).
  bool verify = true;
  // PEM file of trusted CAs; empty: the system's store.
  std::string ca_file;
  // SHA-256 fingerprint of the server's certificate, as hex with or without
  // colons ("AB:CD:..."). When set, the certificate must be exactly this one
  // and neither the chain nor the name is checked: the way to trust a
  // self-signed server.
  std::string fingerprint;
  // PEM file with our certificate (and its key, unless client_key is set),
  // for SASL EXTERNAL and mutual TLS.
  std::string client_cert;
  std::string client_key;
};

// A client context for `options`. Contexts are costly to build (the system
// store is read each time): build one per configuration and share it
// between connections. Throws TlsError naming the file it cannot read or
// the pin it cannot parse.
std::shared_ptr<asio::ssl::context> make_tls_context(const TlsOptions& options);

// The fingerprint as 64 lowercase hex digits; throws TlsError unless `text`
// is 32 bytes of hex, optionally separated by colons.
std::string normalize_fingerprint(std::string_view text);
// The SHA-256 fingerprint of `cert` as "AB:CD:...", the form browsers and
// `openssl x509 -fingerprint -sha256` print.
std::string certificate_fingerprint(X509* cert);

// The verify callback of one connection: checks the chain and name, or
// the pin, and remembers why it refused, for tls_failure(). Copies share
// that memory.
class TlsVerifier {
 public:
  TlsVerifier(std::string host, const TlsOptions& options);
  bool operator()(bool preverified, asio::ssl::verify_context& ctx) const;
  // Why the certificate was refused; empty if it was not.
  const std::string& refusal() const { return state_->refusal; }
  // Whether any check is on (else the stream verifies nothing).
  bool verifies() const { return state_->verify || !state_->pin.empty(); }
  const std::string& host() const { return state_->host; }

 private:
  struct State {
    std::string host;
    bool verify;
    std::string pin;  // normalised; empty: no pin
    std::string refusal;
  };
  std::shared_ptr<State> state_;
};

// Before the handshake: SNI, the verify mode and `verifier` on `stream`
// (an asio::ssl::stream or a beast::ssl_stream).
void set_server_name(void* native_ssl, const std::string& host);
template <typename SslStream>
void prepare_tls(SslStream& stream, const TlsVerifier& verifier) {
  set_server_name(stream.native_handle(), verifier.host());
  stream.set_verify_mode(verifier.verifies() ? asio::ssl::verify_peer : asio::ssl::verify_none);
  stream.set_verify_callback(verifier);
}

// The sentence for a failed handshake with `where`: the certificate's
// refusal when there was one ("certificate of localhost:443 has SHA-256
// fingerprint AB:..., not the pinned 01:..."), else the TLS error.
std::string tls_failure(const boost::system::error_code& ec, const TlsVerifier& verifier,
                        const std::string& where);

}  // namespace immp::net
