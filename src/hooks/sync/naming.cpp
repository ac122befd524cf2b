#include "hooks/sync/naming.hpp"

#include <kainjow/mustache.hpp>

#include "immp/plug.hpp"

namespace immp::hooks {

namespace mustache = kainjow::mustache;

std::vector<Field> naming_fields() {
  return {
      {"name-format", str(), Node(), "template for the author's name, e.g. {{ user.real_name }}"},
      {"reset-author", boolean(), false, "post as a new user with just a name"},
      {"strip-name-emoji", boolean(), false, "remove emoji from authors' names"},
  };
}

NamingRules naming_from(const Node& config, const NamingRules* fallback) {
  NamingRules rules = fallback ? *fallback : NamingRules{};
  if (const Node* f = config.find("name-format"); f && !f->is_null()) {
    check_template(f->as_string(), *f);
    rules.name_format = f->as_string();
  }
  if (const Node* r = config.find("reset-author"); r && !r->is_null()) {
    rules.reset_author = r->as_bool();
  }
  if (const Node* s = config.find("strip-name-emoji"); s && !s->is_null()) {
    rules.strip_name_emoji = s->as_bool();
  }
  return rules;
}

void check_template(const std::string& text, const Node& at) {
  mustache::mustache tmpl(text);
  if (!tmpl.is_valid()) at.fail("bad name-format template: " + tmpl.error_message());
}

namespace {

// Decodes one UTF-8 code point at `i`; returns its length (1 for bad bytes).
std::size_t decode(std::string_view s, std::size_t i, char32_t& cp) {
  auto b = static_cast<unsigned char>(s[i]);
  std::size_t len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 1;
  if (i + len > s.size()) len = 1;
  if (len == 1) {
    cp = b;
    return 1;
  }
  cp = b & (0x7F >> len);
  for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return len;
}

bool is_emoji(char32_t cp) {
  return (cp >= 0x1F000 && cp <= 0x1FAFF) ||  // pictographs, emoticons, flags, symbols
         (cp >= 0x2600 && cp <= 0x27BF) ||    // misc symbols, dingbats
         (cp >= 0x2B00 && cp <= 0x2BFF) ||    // arrows and stars (⭐)
         (cp >= 0x1F1E6 && cp <= 0x1F1FF) || cp == 0x200D || cp == 0xFE0F || cp == 0x20E3 ||
         (cp >= 0xE0020 && cp <= 0xE007F);  // tag sequences
}

}  // namespace

std::string strip_emoji(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp;
    std::size_t len = decode(text, i, cp);
    if (!is_emoji(cp)) out.append(text.substr(i, len));
    i += len;
  }
  // Collapse the spaces that surrounded removed emoji.
  std::string tidy;
  for (char c : out) {
    if (c == ' ' && (tidy.empty() || tidy.back() == ' ')) continue;
    tidy.push_back(c);
  }
  while (!tidy.empty() && tidy.back() == ' ') tidy.pop_back();
  return tidy;
}

UserPtr rename_author(const UserPtr& user, const NamingRules& rules,
                      const std::optional<IdentityGroup>& identity, const std::string& title) {
  if (!rules.name_format && !rules.reset_author && !rules.strip_name_emoji && !identity) {
    return user;  // nothing to change: share the original
  }
  std::string name = user ? user->display_name() : std::string();
  if (rules.name_format) {
    mustache::data ctx;
    if (user) {
      mustache::data u;
      u.set("id", user->id);
      u.set("username", user->username);
      u.set("real_name", user->real_name);
      u.set("display_name", user->display_name());
      u.set("link", user->link);
      u.set("avatar", user->avatar);
      if (Plug* plug = user->plug()) {
        u.set("network", plug->network_name());
        u.set("plug", plug->name());
      }
      ctx.set("user", u);
    }
    if (identity) {
      mustache::data id;
      id.set("name", identity->name);
      ctx.set("identity", id);
    }
    ctx.set("title", title);
    mustache::mustache tmpl(*rules.name_format);
    tmpl.set_custom_escape([](const std::string& s) { return s; });  // names are not HTML
    name = tmpl.render(ctx);
  } else if (identity && user) {
    name = user->display_name() + " (" + identity->name + ")";
  }
  if (rules.strip_name_emoji) name = strip_emoji(name);
  auto out = std::make_shared<User>();
  if (!rules.reset_author && user) *out = *user;
  out->real_name = std::move(name);
  return out;
}

}  // namespace immp::hooks
