// Password hashes for identities: libsodium's Argon2id (crypto_pwhash_str,
// salted, interactive limits), and the unsalted SHA-256 hex digests that
// IMMP's LocalIdentityHook stored, accepted once so that they can be
// replaced (see docs/hooks/identity.md).
#pragma once

#include <string>
#include <string_view>

namespace immp::hooks {

// A new Argon2id hash of `password` ("$argon2id$v=19$..."). Slow on
// purpose (tens of milliseconds and 64 MiB): call off the host's thread.
// Throws std::runtime_error when memory runs out.
std::string hash_password(std::string_view password);

enum class PasswordCheck {
  wrong,
  right,
  right_legacy,  // right, against IMMP's SHA-256: hash it again and store that
};
// Compares `password` with `stored` (either kind), in constant time. As
// slow as hash_password for Argon2id hashes.
PasswordCheck check_password(std::string_view password, const std::string& stored);

// Whether `stored` is IMMP's unsalted SHA-256 (64 hex digits).
bool is_legacy_hash(std::string_view stored);

}  // namespace immp::hooks
