// The client's side of the SASL mechanisms the IRC plug speaks: PLAIN,
// EXTERNAL and SCRAM-SHA-256 (RFC 5802 with RFC 7677's hash, no channel
// binding). Pure: the connection feeds the server's decoded challenges in
// and sends what comes out (irc_cap.hpp chunks it into AUTHENTICATE lines).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace immp::irc {

enum class SaslMechanism { plain, external, scram_sha_256 };

// "PLAIN", "EXTERNAL", "SCRAM-SHA-256" (upper case, as on the wire);
// nullopt for any other name.
std::optional<SaslMechanism> parse_sasl_mechanism(std::string_view name);
std::string_view sasl_name(SaslMechanism mechanism);

// What the client does with one challenge: answer it (an empty response
// goes out as "AUTHENTICATE +"), or abort the exchange ("AUTHENTICATE *")
// because the server is not to be trusted; `error` then says why.
struct SaslStep {
  std::optional<std::string> response;
  std::string error;
};

// One exchange. Made per attempt; not reusable.
class SaslClient {
 public:
  virtual ~SaslClient() = default;
  // Our answer to the server's next challenge (decoded; empty for "+").
  virtual SaslStep respond(std::string_view challenge) = 0;
  // Whether the exchange has authenticated the server as far as the
  // mechanism can: SCRAM only once the server's signature checked out.
  // A 903 (success) before that is a server lying about the outcome.
  virtual bool server_verified() const = 0;
};

// Random printable bytes for SCRAM's client nonce; tests pass a fixed one.
using NonceSource = std::function<std::string()>;
// 24 random bytes from OpenSSL's CSPRNG, base64: 32 characters, no ','.
std::string random_nonce();

// `username` is the account (authcid). PLAIN also sends it as the
// authorisation identity, as widespread clients do (some services refuse
// an empty one). EXTERNAL sends an empty authzid: the certificate says who.
std::unique_ptr<SaslClient> make_sasl_client(SaslMechanism mechanism, std::string username,
                                             std::string password,
                                             NonceSource nonce = random_nonce);

// base64 (RFC 4648, padded) back to bytes; nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace immp::irc
