#include "net/tls.hpp"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

#include <cctype>

namespace immp::net {

std::shared_ptr<asio::ssl::context> make_tls_context(const TlsOptions& o) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3);
  // TLS 1.2 at least: older versions are broken and every server we talk
  // to has 1.2.
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  if (!o.fingerprint.empty()) normalize_fingerprint(o.fingerprint);  // refuse a bad pin now
  if (o.verify) {
    if (!o.ca_file.empty()) {
      ctx->load_verify_file(o.ca_file, ec);
      if (ec) throw TlsError("cannot read the CA file " + o.ca_file + ": " + ec.message());
    } else {
      ctx->set_default_verify_paths(ec);
      if (ec) throw TlsError("cannot load the system's CA certificates: " + ec.message());
    }
  }
  if (!o.client_cert.empty()) {
    ctx->use_certificate_chain_file(o.client_cert, ec);
    if (ec)
      throw TlsError("cannot read the client certificate " + o.client_cert + ": " + ec.message());
    const std::string& key = o.client_key.empty() ? o.client_cert : o.client_key;
    ctx->use_private_key_file(key, asio::ssl::context::pem, ec);
    if (ec) throw TlsError("cannot read the client key " + key + ": " + ec.message());
  }
  return ctx;
}

std::string normalize_fingerprint(std::string_view text) {
  std::string hex;
  for (char c : text) {
    if (c == ':' || c == ' ') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      hex.clear();
      break;
    }
    hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (hex.size() != 64)
    throw TlsError("the fingerprint \"" + std::string(text) +
                   "\" is not a SHA-256 fingerprint (32 bytes in hex, e.g. AB:CD:...)");
  return hex;
}

std::string certificate_fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (cert == nullptr || X509_digest(cert, EVP_sha256(), md, &len) != 1) return {};
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    if (i) out += ':';
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

TlsVerifier::TlsVerifier(std::string host, const TlsOptions& options)
    : state_(std::make_shared<State>()) {
  state_->host = std::move(host);
  state_->verify = options.verify;
  if (!options.fingerprint.empty()) state_->pin = normalize_fingerprint(options.fingerprint);
}

bool TlsVerifier::operator()(bool preverified, asio::ssl::verify_context& ctx) const {
  X509_STORE_CTX* store = ctx.native_handle();
  const int depth = X509_STORE_CTX_get_error_depth(store);
  if (!state_->pin.empty()) {
    // Pinned: the chain above the server's own certificate does not matter
    // (a self-signed certificate has none worth checking).
    if (depth > 0) return true;
    std::string seen = certificate_fingerprint(X509_STORE_CTX_get_current_cert(store));
    std::string seen_hex;
    for (char c : seen)
      if (c != ':') seen_hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (seen_hex == state_->pin) return true;
    std::string pinned;
    for (std::size_t i = 0; i < state_->pin.size(); i += 2) {
      if (i) pinned += ':';
      pinned += static_cast<char>(std::toupper(static_cast<unsigned char>(state_->pin[i])));
      pinned += static_cast<char>(std::toupper(static_cast<unsigned char>(state_->pin[i + 1])));
    }
    state_->refusal = "the certificate of " + state_->host + " has SHA-256 fingerprint " + seen +
                      ", not the pinned " + pinned;
    return false;
  }
  if (!state_->verify) return true;
  if (!preverified) {
    int err = X509_STORE_CTX_get_error(store);
    state_->refusal = "the certificate of " + state_->host +
                      " cannot be verified: " + X509_verify_cert_error_string(err) +
                      (err == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
                               err == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
                               err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
                           ? " (give its CA file, or pin its SHA-256 fingerprint " +
                                 certificate_fingerprint(X509_STORE_CTX_get_current_cert(store)) +
                                 " if it is self-signed)"
                           : "");
    return false;
  }
  if (depth > 0) return true;
  if (!asio::ssl::host_name_verification(state_->host)(preverified, ctx)) {
    state_->refusal = "the certificate of " + state_->host + " is not valid for that name";
    return false;
  }
  return true;
}

void set_server_name(void* native_ssl, const std::string& host) {
  // SNI, so that a server with several names presents the right one. Not
  // for an IP address (RFC 6066 forbids it there).
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  if (ec) SSL_set_tlsext_host_name(static_cast<SSL*>(native_ssl), host.c_str());
}

std::string tls_failure(const boost::system::error_code& ec, const TlsVerifier& verifier,
                        const std::string& where) {
  if (!verifier.refusal().empty()) return "TLS with " + where + " refused: " + verifier.refusal();
  return "TLS handshake with " + where + " failed: " + ec.message();
}

}  // namespace immp::net
