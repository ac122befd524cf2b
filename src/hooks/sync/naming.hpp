// How a relayed message shows its author on the other side: IMMP's
// name-format (a Jinja2 template, see text/template.hpp), reset-author and
// strip-name-emoji, plus per-plug overrides.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "immp/config.hpp"
#include "immp/identity.hpp"
#include "immp/message.hpp"
#include "text/template.hpp"

namespace immp::hooks {

struct NamingRules {
  std::optional<jinja::Template> name_format;  // compiled once, at config load
  bool reset_author = false;
  bool strip_name_emoji = false;
};

// The schema fragment shared by sync and forward for naming keys.
std::vector<Field> naming_fields();
// The rules `config` sets, over `fallback`'s. Throws ConfigError for a
// name-format outside the subset (naming the key and the template's
// column); warns about variables a name-format cannot have.
NamingRules naming_from(const Node& config, const NamingRules* fallback = nullptr);
// The name-format string at `at`, compiled; throws ConfigError as above.
jinja::Template compile_name_format(const Node& at);

// The author a copy carries, as IMMP's sync renames it: the name-format's
// rendering (the username dropped, so every network shows that name), else
// "<name> (<identity name>)" for an identified user, then emoji stripped.
// When that makes no name, `user` itself; with reset-author, a new user
// with only the name. The template sees `user`, `identity` and `channel`
// (also `title`): `title` is the bridge's title, empty for none.
UserPtr rename_author(const UserPtr& user, const NamingRules& rules,
                      const std::optional<IdentityGroup>& identity, const std::string& title);

// `text` without emoji (pictographs, flags, modifiers, joiners), spacing
// kept tidy.
std::string strip_emoji(std::string_view text);

}  // namespace immp::hooks
