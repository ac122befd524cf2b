// The client's side of the SASL mechanisms the XMPP plug speaks (RFC 6120
// §6): SCRAM-SHA-256 and SCRAM-SHA-1 (RFC 5802 / RFC 7677, no channel
// binding: "n,,") and PLAIN. Pure: the stream feeds in the server's decoded
// challenges and sends what comes out, base64-encoded.
//
// (The IRC plug has its own SCRAM-SHA-256 client; this one takes the hash as
// a parameter. Both belong in src/net one day.)
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace immp::xmpp {

enum class Mechanism { scram_sha_256, scram_sha_1, plain };

// "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"; nullopt for any other name.
std::optional<Mechanism> parse_mechanism(std::string_view name);
std::string_view mechanism_name(Mechanism m);

// What the client does with one challenge: answer it, or abort the
// exchange because the server is not to be trusted (`error` says why).
struct SaslStep {
  std::optional<std::string> response;
  std::string error;
};

// One exchange. Made per attempt; not reusable.
class SaslClient {
 public:
  virtual ~SaslClient() = default;
  // The initial response sent with <auth/>.
  virtual std::string initial() = 0;
  // Our answer to the server's next challenge (decoded).
  virtual SaslStep respond(std::string_view challenge) = 0;
  // Checks the additional data of <success/> (SCRAM's server signature).
  // Empty: fine; else why the server is not who it claims to be.
  virtual std::string finish(std::string_view success_data) = 0;
};

using NonceSource = std::function<std::string()>;
// 24 random bytes from OpenSSL's CSPRNG, base64: 32 characters, no ','.
std::string random_nonce();

// `username` is the account's local part (authcid).
std::unique_ptr<SaslClient> make_sasl_client(Mechanism m, std::string username,
                                             std::string password,
                                             NonceSource nonce = random_nonce);

std::string base64_encode(std::string_view bytes);
// nullopt when malformed; "=" is the empty string, as RFC 6120 §6.4.2 has it.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace immp::xmpp
