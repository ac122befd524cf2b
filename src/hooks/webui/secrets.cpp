#include "hooks/webui/secrets.hpp"

#include <algorithm>
#include <cctype>
#include <string>

namespace immp::webui {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

bool is_secret_key(std::string_view key) {
  const std::string k = lower(key);
  for (std::string_view word :
       {"password", "passwd", "token", "secret", "key", "oauth", "credential", "cookie", "sasl"}) {
    if (k.find(word) != std::string::npos) return true;
  }
  return false;
}

void Redactor::add(std::string secret) {
  if (secret.size() >= 3) secrets_.insert(std::move(secret));
}

void Redactor::learn(const Node& config) { walk(config, false); }

void Redactor::walk(const Node& node, bool secret) {
  if (node.is_string()) {
    const std::string& text = node.as_string();
    if (secret) add(text);
    // scheme://user:password@host anywhere in a value (database URLs).
    for (std::size_t at = text.find("://"); at != std::string::npos;
         at = text.find("://", at + 3)) {
      std::size_t start = at + 3;
      std::size_t end = text.find_first_of("/?#", start);
      std::string_view authority =
          std::string_view(text).substr(start, end == std::string::npos ? end : end - start);
      std::size_t user_end = authority.rfind('@');
      if (user_end == std::string_view::npos) continue;
      std::string_view userinfo = authority.substr(0, user_end);
      std::size_t colon = userinfo.find(':');
      if (colon != std::string_view::npos) add(std::string(userinfo.substr(colon + 1)));
    }
  } else if (node.is_list()) {
    for (const Node& item : node.as_list()) walk(item, secret);
  } else if (node.is_map()) {
    // Each value of a map by its own key: under `tokens`, an entry's
    // `token` is secret, its `name` is not.
    for (const auto& [key, value] : node.as_map()) walk(value, is_secret_key(key));
  }
}

std::string Redactor::redact(std::string_view text) const {
  std::string out(text);
  for (const std::string& secret : secrets_) {
    for (std::size_t at = out.find(secret); at != std::string::npos;
         at = out.find(secret, at + kHidden.size())) {
      out.replace(at, secret.size(), kHidden);
    }
  }
  return out;
}

}  // namespace immp::webui
