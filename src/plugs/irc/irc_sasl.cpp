#include "plugs/irc/irc_sasl.hpp"

#include <charconv>
#include <cstdint>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "plugs/irc/irc_cap.hpp"

namespace immp::irc {

namespace {

// RFC 7677 §4: fewer iterations than this make a stolen proof cheap to
// attack offline, so a server asking for fewer is refused. The upper bound
// keeps a hostile server from making us spin for minutes.
constexpr long kMinIterations = 4096;
constexpr long kMaxIterations = 10'000'000;

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string sha256(std::string_view data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return std::string(reinterpret_cast<char*>(out), sizeof out);
}

// RFC 5802 §5.1: ',' and '=' in a user name are written =2C and =3D.
std::string saslname(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out += c;
    }
  }
  return out;
}

// The value of attribute `key` ("r" in "r=...") among a SCRAM message's
// comma-separated attributes; nullopt when absent.
std::optional<std::string_view> attribute(std::string_view message, char key) {
  std::size_t pos = 0;
  while (pos <= message.size()) {
    std::size_t end = message.find(',', pos);
    if (end == std::string_view::npos) end = message.size();
    std::string_view item = message.substr(pos, end - pos);
    if (item.size() >= 2 && item[0] == key && item[1] == '=') return item.substr(2);
    pos = end + 1;
  }
  return std::nullopt;
}

class PlainClient final : public SaslClient {
 public:
  PlainClient(std::string user, std::string password)
      : user_(std::move(user)), password_(std::move(password)) {}
  SaslStep respond(std::string_view) override {
    if (sent_) return {std::nullopt, "the server asked for more after PLAIN's only message"};
    sent_ = true;
    std::string payload = user_;
    payload += '\0';
    payload += user_;
    payload += '\0';
    payload += password_;
    return {std::move(payload), {}};
  }
  bool server_verified() const override { return true; }

 private:
  std::string user_;
  std::string password_;
  bool sent_ = false;
};

class ExternalClient final : public SaslClient {
 public:
  SaslStep respond(std::string_view) override {
    if (sent_) return {std::nullopt, "the server asked for more after EXTERNAL's only message"};
    sent_ = true;
    return {std::string(), {}};
  }
  bool server_verified() const override { return true; }

 private:
  bool sent_ = false;
};

class ScramClient final : public SaslClient {
 public:
  ScramClient(std::string user, std::string password, std::string nonce)
      : password_(std::move(password)),
        nonce_(std::move(nonce)),
        first_bare_("n=" + saslname(user) + ",r=" + nonce_) {}

  SaslStep respond(std::string_view challenge) override {
    switch (stage_) {
      case Stage::first:
        stage_ = Stage::final;
        return {"n,," + first_bare_, {}};
      case Stage::final:
        return client_final(challenge);
      case Stage::verify:
        return verify(challenge);
      case Stage::done:
        return fail("the server sent more after its final SCRAM message");
      case Stage::failed:
        break;
    }
    return {std::nullopt, "the SCRAM exchange has failed already"};
  }

  bool server_verified() const override { return stage_ == Stage::done; }

 private:
  enum class Stage { first, final, verify, done, failed };

  SaslStep fail(std::string why) {
    stage_ = Stage::failed;
    return {std::nullopt, std::move(why)};
  }

  SaslStep client_final(std::string_view server_first) {
    if (server_first.starts_with("m=")) {
      return fail("the server requires a SCRAM extension we do not know");
    }
    auto r = attribute(server_first, 'r');
    auto s = attribute(server_first, 's');
    auto i = attribute(server_first, 'i');
    if (!r || !s || !i) return fail("malformed SCRAM server-first message");
    if (r->size() <= nonce_.size() || !r->starts_with(nonce_)) {
      return fail("the server's SCRAM nonce does not extend ours");
    }
    auto salt = base64_decode(*s);
    if (!salt || salt->empty()) return fail("the server's SCRAM salt is not base64");
    long iterations = 0;
    auto [end, ec] = std::from_chars(i->data(), i->data() + i->size(), iterations);
    if (ec != std::errc() || end != i->data() + i->size()) {
      return fail("the server's SCRAM iteration count is not a number");
    }
    if (iterations < kMinIterations || iterations > kMaxIterations) {
      return fail("the server asks for " + std::to_string(iterations) +
                  " SCRAM iterations (we accept " + std::to_string(kMinIterations) + " to " +
                  std::to_string(kMaxIterations) + ")");
    }
    unsigned char salted[SHA256_DIGEST_LENGTH];
    if (PKCS5_PBKDF2_HMAC(password_.data(), static_cast<int>(password_.size()),
                          reinterpret_cast<const unsigned char*>(salt->data()),
                          static_cast<int>(salt->size()), static_cast<int>(iterations),
                          EVP_sha256(), sizeof salted, salted) != 1) {
      return fail("PBKDF2 failed");
    }
    std::string_view salted_password(reinterpret_cast<char*>(salted), sizeof salted);
    std::string client_key = hmac(salted_password, "Client Key");
    std::string stored_key = sha256(client_key);
    // "biws" is base64("n,,"): no channel binding, no authzid.
    std::string without_proof = "c=biws,r=" + std::string(*r);
    std::string auth_message =
        first_bare_ + "," + std::string(server_first) + "," + without_proof;
    std::string signature = hmac(stored_key, auth_message);
    std::string proof = client_key;
    for (std::size_t k = 0; k < proof.size(); ++k) proof[k] ^= signature[k];
    server_signature_ = hmac(hmac(salted_password, "Server Key"), auth_message);
    OPENSSL_cleanse(salted, sizeof salted);
    stage_ = Stage::verify;
    return {without_proof + ",p=" + base64(proof), {}};
  }

  SaslStep verify(std::string_view server_final) {
    if (auto e = attribute(server_final, 'e')) {
      return fail("the server refused the SCRAM proof: " + std::string(*e));
    }
    auto v = attribute(server_final, 'v');
    auto sig = v ? base64_decode(*v) : std::nullopt;
    if (!sig || sig->size() != server_signature_.size() ||
        CRYPTO_memcmp(sig->data(), server_signature_.data(), sig->size()) != 0) {
      return fail(
          "the server's SCRAM signature is wrong: it does not know our password (an impostor?)");
    }
    stage_ = Stage::done;
    return {std::string(), {}};
  }

  std::string password_;
  std::string nonce_;
  std::string first_bare_;
  std::string server_signature_;
  Stage stage_ = Stage::first;
};

}  // namespace

std::optional<SaslMechanism> parse_sasl_mechanism(std::string_view name) {
  if (name == "PLAIN") return SaslMechanism::plain;
  if (name == "EXTERNAL") return SaslMechanism::external;
  if (name == "SCRAM-SHA-256") return SaslMechanism::scram_sha_256;
  return std::nullopt;
}

std::string_view sasl_name(SaslMechanism mechanism) {
  switch (mechanism) {
    case SaslMechanism::plain:
      return "PLAIN";
    case SaslMechanism::external:
      return "EXTERNAL";
    case SaslMechanism::scram_sha_256:
      return "SCRAM-SHA-256";
  }
  return "";
}

std::string random_nonce() {
  unsigned char bytes[24];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes for SASL");
  return base64(std::string_view(reinterpret_cast<char*>(bytes), sizeof bytes));
}

std::unique_ptr<SaslClient> make_sasl_client(SaslMechanism mechanism, std::string username,
                                             std::string password, NonceSource nonce) {
  switch (mechanism) {
    case SaslMechanism::plain:
      return std::make_unique<PlainClient>(std::move(username), std::move(password));
    case SaslMechanism::external:
      return std::make_unique<ExternalClient>();
    case SaslMechanism::scram_sha_256:
      return std::make_unique<ScramClient>(std::move(username), std::move(password), nonce());
  }
  return nullptr;
}

std::optional<std::string> base64_decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = text[i + static_cast<std::size_t>(k)];
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else if (pad > 0 || (v[k] = value(c)) < 0) {
        return std::nullopt;
      }
    }
    std::uint32_t n = (static_cast<std::uint32_t>(v[0]) << 18) |
                      (static_cast<std::uint32_t>(v[1]) << 12) |
                      (static_cast<std::uint32_t>(v[2]) << 6) | static_cast<std::uint32_t>(v[3]);
    out += static_cast<char>((n >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

}  // namespace immp::irc
