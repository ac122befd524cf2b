// How a relayed message shows its author on the other side: IMMP's
// name-format (mustache-style {{ user.real_name }} templates), reset-author
// and strip-name-emoji, plus per-plug overrides.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "immp/config.hpp"
#include "immp/identity.hpp"
#include "immp/message.hpp"

namespace immp::hooks {

struct NamingRules {
  std::optional<std::string> name_format;
  bool reset_author = false;
  bool strip_name_emoji = false;
};

// The schema fragment shared by sync and forward for naming keys.
std::vector<Field> naming_fields();
NamingRules naming_from(const Node& config, const NamingRules* fallback = nullptr);
// Throws ConfigError at `at` when a template does not parse.
void check_template(const std::string& text, const Node& at);

// The author a copy carries. `identity` and `title` feed the template.
UserPtr rename_author(const UserPtr& user, const NamingRules& rules,
                      const std::optional<IdentityGroup>& identity, const std::string& title);

// `text` without emoji (pictographs, flags, modifiers, joiners), spacing
// kept tidy.
std::string strip_emoji(std::string_view text);

}  // namespace immp::hooks
