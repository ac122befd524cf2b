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
