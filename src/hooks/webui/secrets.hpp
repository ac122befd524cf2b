// What the admin UI must never send to a browser: the values of configs'
// secret keys (passwords, tokens, keys), and the passwords inside URLs. A
// Redactor collects them from configs and hides them in any text (log
// lines, failure reasons) before that text leaves the host.
//
// Plain data, no I/O; not thread-safe (the hook uses it on the host's
// executor only).
#pragma once

#include <set>
#include <string>
#include <string_view>

#include "immp/config.hpp"

namespace immp::webui {

// Whether a config key names a secret: it contains "password", "passwd",
// "token", "secret", "key", "oauth", "credential", "cookie" or "sasl"
// (case-insensitive).
bool is_secret_key(std::string_view key);

// What an edit form may show of a config: `config` with every value that
// Redactor::learn() would take for a secret (the values under secret keys,
// numbers too) replaced by Redactor::kHidden, and the password inside
// every URL too (scheme://user:[hidden]@host).
Node mask_secrets(const Node& config);
// `edited` (a config as posted back from such a form) with every value
// that is still what mask_secrets() showed of `stored` at the same key
// path put back to the stored value: an edit that leaves "[hidden]" keeps
// the secret; one that types a new value changes it.
Node unmask_secrets(Node edited, const Node& stored);
// The first string under `config` that still holds Redactor::kHidden (a
// "[hidden]" with no stored secret behind it), or null.
const Node* find_hidden(const Node& config);

class Redactor {
 public:
  // What replaces a secret in text.
  static constexpr std::string_view kHidden = "[hidden]";

  // Learns the secrets of a config section: the string values under secret
  // keys (and in lists under them; a map's values go by their own keys), and the password of every
  // URL (scheme://user:password@host). Values shorter than 3 characters are not worth hiding (they
  // would hide ordinary words).
  void learn(const Node& config);
  void add(std::string secret);
  // `text` with every known secret replaced by kHidden.
  std::string redact(std::string_view text) const;
  std::size_t size() const { return secrets_.size(); }

 private:
  void walk(const Node& node, bool secret);
  // Longest first, so that a secret containing another goes whole.
  struct LongerFirst {
    bool operator()(const std::string& a, const std::string& b) const {
      return a.size() != b.size() ? a.size() > b.size() : a < b;
    }
  };
  std::set<std::string, LongerFirst> secrets_;
};

}  // namespace immp::webui
