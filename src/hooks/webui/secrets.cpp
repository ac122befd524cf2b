#include "hooks/webui/secrets.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>
#include <string>

namespace immp::webui {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Where a URL's password starts and how long it is, in `text` (the first
// scheme://user:password@ of it), or nullopt.
std::optional<std::pair<std::size_t, std::size_t>> url_password(std::string_view text,
                                                                std::size_t from = 0) {
  for (std::size_t at = text.find("://", from); at != std::string::npos;
       at = text.find("://", at + 3)) {
    std::size_t start = at + 3;
    std::size_t end = text.find_first_of("/?#", start);
    std::string_view authority =
        text.substr(start, end == std::string::npos ? end : end - start);
    std::size_t user_end = authority.rfind('@');
    if (user_end == std::string_view::npos) continue;
    std::string_view userinfo = authority.substr(0, user_end);
    std::size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) continue;
    return std::pair(start + colon + 1, user_end - colon - 1);
  }
  return std::nullopt;
}

Node mask(const Node& node, bool secret) {
  Node out = node;
  if (node.is_list()) {
    NodeList& items = out.as_list();
    for (std::size_t i = 0; i < items.size(); ++i) items[i] = mask(node.as_list()[i], secret);
  } else if (node.is_map()) {
    NodeMap& entries = out.as_map();
    for (std::size_t i = 0; i < entries.size(); ++i) {
      entries[i].second = mask(node.as_map()[i].second, is_secret_key(entries[i].first));
    }
  } else if (secret && !node.is_null() && !node.is_bool()) {
    out = Node(std::string(Redactor::kHidden));
    out.set_mark(node.mark());
    out.set_path(node.path());
  } else if (node.is_string()) {
    std::string text = node.as_string();
    for (auto at = url_password(text); at; at = url_password(text, at->first)) {
      text.replace(at->first, at->second, Redactor::kHidden);
    }
    out = Node(std::move(text));
    out.set_mark(node.mark());
    out.set_path(node.path());
  }
  return out;
}

Node unmask(Node edited, const Node& stored, bool secret) {
  if (edited.is_map() && stored.is_map()) {
    for (auto& [key, value] : edited.as_map()) {
      if (const Node* was = stored.find(key)) {
        value = unmask(std::move(value), *was, is_secret_key(key));
      }
    }
  } else if (edited.is_list() && stored.is_list()) {
    NodeList& items = edited.as_list();
    for (std::size_t i = 0; i < items.size() && i < stored.as_list().size(); ++i) {
      items[i] = unmask(std::move(items[i]), stored.as_list()[i], secret);
    }
  } else if (edited.is_string() && edited.as_string().find(Redactor::kHidden) != std::string::npos) {
    Node shown = mask(stored, secret);
    if (shown.is_string() && shown.as_string() == edited.as_string()) {
      Node kept = stored;
      kept.set_path(edited.path());
      return kept;
    }
  }
  return edited;
}

}  // namespace

Node mask_secrets(const Node& config) { return mask(config, false); }

Node unmask_secrets(Node edited, const Node& stored) {
  return unmask(std::move(edited), stored, false);
}

const Node* find_hidden(const Node& config) {
  if (config.is_string()) {
    return config.as_string().find(Redactor::kHidden) != std::string::npos ? &config : nullptr;
  }
  if (config.is_list()) {
    for (const Node& item : config.as_list()) {
      if (const Node* found = find_hidden(item)) return found;
    }
  }
  if (config.is_map()) {
    for (const auto& [key, value] : config.as_map()) {
      if (const Node* found = find_hidden(value)) return found;
    }
  }
  return nullptr;
}

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
    for (auto at = url_password(text); at; at = url_password(text, at->first)) {
      add(text.substr(at->first, at->second));
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
