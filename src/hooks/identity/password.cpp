#include "hooks/identity/password.hpp"

#include <sodium.h>

#include <stdexcept>

namespace immp::hooks {

namespace {

void init_sodium() {
  static const int ready = sodium_init();
  if (ready < 0) throw std::runtime_error("libsodium could not be initialised");
}

std::string sha256_hex(std::string_view password) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(password.data()),
                     password.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
  return std::string(hex, crypto_hash_sha256_BYTES * 2);
}

}  // namespace

std::string hash_password(std::string_view password) {
  init_sodium();
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    throw std::runtime_error("out of memory hashing a password");
  }
  return out;
}

bool is_legacy_hash(std::string_view stored) {
  if (stored.size() != 64) return false;
  for (char c : stored) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

PasswordCheck check_password(std::string_view password, const std::string& stored) {
  init_sodium();
  if (is_legacy_hash(stored)) {
    std::string mine = sha256_hex(password);
    std::string theirs = stored;
    for (char& c : theirs) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return sodium_memcmp(mine.data(), theirs.data(), mine.size()) == 0 ? PasswordCheck::right_legacy
                                                                      : PasswordCheck::wrong;
  }
  return crypto_pwhash_str_verify(stored.c_str(), password.data(), password.size()) == 0
             ? PasswordCheck::right
             : PasswordCheck::wrong;
}

}  // namespace immp::hooks
