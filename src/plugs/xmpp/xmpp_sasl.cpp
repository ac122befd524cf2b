#include "plugs/xmpp/xmpp_sasl.hpp"

#include <charconv>
#include <cstdint>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace immp::xmpp {

namespace {

// RFC 7677 §4: fewer iterations make a stolen proof cheap to attack offline
// (4096 is the floor for SHA-256; RFC 5802 names 4096 for SHA-1 too). The
// upper bound keeps a hostile server from making us spin for minutes.
constexpr long kMinIterations = 4096;
constexpr long kMaxIterations = 10'000'000;

std::string hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
  return std::string(reinterpret_cast<char*>(out), len);
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
  // Empty authzid: the account logs in as itself.
  std::string initial() override { return std::string(1, '\0') + user_ + '\0' + password_; }
  SaslStep respond(std::string_view) override {
    return {std::nullopt, "the server asked for more after PLAIN's only message"};
  }
  std::string finish(std::string_view) override { return {}; }

 private:
  std::string user_;
  std::string password_;
};

class ScramClient final : public SaslClient {
 public:
  ScramClient(const EVP_MD* md, std::string user, std::string password, std::string nonce)
      : md_(md),
        password_(std::move(password)),
        nonce_(std::move(nonce)),
        first_bare_("n=" + saslname(user) + ",r=" + nonce_) {}

  std::string initial() override { return "n,," + first_bare_; }

  SaslStep respond(std::string_view challenge) override {
    if (!server_signature_.empty()) {
      // Some servers send the final message as a challenge, then <success/>
      // without data: check it here and answer with an empty response.
      std::string error = finish(challenge);
      if (!error.empty()) return {std::nullopt, error};
      return {std::string(), {}};
    }
    return client_final(challenge);
  }

  std::string finish(std::string_view server_final) override {
    if (verified_) return {};
    if (server_signature_.empty()) return "the server claims success before SCRAM's proof";
    if (auto e = attribute(server_final, 'e')) {
      return "the server refused the SCRAM proof: " + std::string(*e);
    }
    auto v = attribute(server_final, 'v');
    auto sig = v ? base64_decode(*v) : std::nullopt;
    if (!sig || sig->size() != server_signature_.size() ||
        CRYPTO_memcmp(sig->data(), server_signature_.data(), sig->size()) != 0) {
      return "the server's SCRAM signature is wrong: it does not know our password (an impostor?)";
    }
    verified_ = true;
    return {};
  }

 private:
  SaslStep fail(std::string why) { return {std::nullopt, std::move(why)}; }

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
    unsigned char salted[EVP_MAX_MD_SIZE];
    int size = EVP_MD_get_size(md_);
    if (PKCS5_PBKDF2_HMAC(password_.data(), static_cast<int>(password_.size()),
                          reinterpret_cast<const unsigned char*>(salt->data()),
                          static_cast<int>(salt->size()), static_cast<int>(iterations), md_, size,
                          salted) != 1) {
      return fail("PBKDF2 failed");
    }
    std::string_view salted_password(reinterpret_cast<char*>(salted),
                                     static_cast<std::size_t>(size));
    std::string client_key = hmac(md_, salted_password, "Client Key");
    std::string stored_key = digest(md_, client_key);
    // "biws" is base64("n,,"): no channel binding, no authzid.
    std::string without_proof = "c=biws,r=" + std::string(*r);
    std::string auth_message = first_bare_ + "," + std::string(server_first) + "," + without_proof;
    std::string signature = hmac(md_, stored_key, auth_message);
    std::string proof = client_key;
    for (std::size_t k = 0; k < proof.size(); ++k) proof[k] ^= signature[k];
    server_signature_ = hmac(md_, hmac(md_, salted_password, "Server Key"), auth_message);
    OPENSSL_cleanse(salted, sizeof salted);
    return {without_proof + ",p=" + base64_encode(proof), {}};
  }

  const EVP_MD* md_;
  std::string password_;
  std::string nonce_;
  std::string first_bare_;
  std::string server_signature_;
  bool verified_ = false;
};

}  // namespace

std::optional<Mechanism> parse_mechanism(std::string_view name) {
  if (name == "SCRAM-SHA-256") return Mechanism::scram_sha_256;
  if (name == "SCRAM-SHA-1") return Mechanism::scram_sha_1;
  if (name == "PLAIN") return Mechanism::plain;
  return std::nullopt;
}

std::string_view mechanism_name(Mechanism m) {
  switch (m) {
    case Mechanism::scram_sha_256:
      return "SCRAM-SHA-256";
    case Mechanism::scram_sha_1:
      return "SCRAM-SHA-1";
    case Mechanism::plain:
      return "PLAIN";
  }
  return "";
}

std::string random_nonce() {
  unsigned char bytes[24];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes for SCRAM");
  return base64_encode(std::string_view(reinterpret_cast<char*>(bytes), sizeof bytes));
}

std::unique_ptr<SaslClient> make_sasl_client(Mechanism m, std::string username,
                                             std::string password, NonceSource nonce) {
  switch (m) {
    case Mechanism::plain:
      return std::make_unique<PlainClient>(std::move(username), std::move(password));
    case Mechanism::scram_sha_256:
      return std::make_unique<ScramClient>(EVP_sha256(), std::move(username),
                                           std::move(password), nonce());
    case Mechanism::scram_sha_1:
      return std::make_unique<ScramClient>(EVP_sha1(), std::move(username), std::move(password),
                                           nonce());
  }
  return nullptr;
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text == "=") return std::string();
  // Whitespace is allowed in XMPP's base64 text; OpenSSL's block decoder
  // takes none.
  std::string clean;
  for (char c : text) {
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') clean += c;
  }
  if (clean.size() % 4 != 0) return std::nullopt;
  if (clean.empty()) return std::string();
  std::string out(clean.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()),
                          static_cast<int>(clean.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts padding as zero bytes.
  std::size_t size = static_cast<std::size_t>(n);
  if (clean.ends_with("==")) {
    size -= 2;
  } else if (clean.ends_with("=")) {
    size -= 1;
  }
  out.resize(size);
  return out;
}

}  // namespace immp::xmpp
