#include "hooks/sync/naming.hpp"

#include <algorithm>

#include "immp/plug.hpp"
#include "text/utf8.hpp"

namespace immp::hooks {

using jinja::Value;

std::vector<Field> naming_fields() {
  return {
      {"name-format", str(), Node(),
       "Jinja2 template for the author's name, e.g. {{ user.real_name or user.username }}"},
      {"reset-author", boolean(), false, "post as a new user with just a name"},
      {"strip-name-emoji", boolean(), false, "remove emoji from authors' names"},
  };
}

namespace {

// The variables a name-format sees, as IMMP's sync gives them (`title` is
// what IMMP's documentation calls `channel`).
const std::vector<std::string>& name_format_variables() {
  static const std::vector<std::string> names = {"user", "identity", "channel", "title"};
  return names;
}

}  // namespace

jinja::Template compile_name_format(const Node& at) {
  const std::string& source = at.as_string();
  try {
    jinja::Template compiled = jinja::Template::compile(source);
    for (const auto& v : compiled.variables()) {
      const auto& known = name_format_variables();
      if (std::find(known.begin(), known.end(), v.name) != known.end()) continue;
      // IMMP renders an unknown name as nothing, so it stays a warning.
      std::string hint;
      if (auto near = nearest(v.name, known)) hint = " (did you mean '" + *near + "'?)";
      at.warn("name-format, column " + std::to_string(v.column) + ": '" + v.name +
              "' is not a variable here and renders empty" + hint +
              "; a name-format has user, identity and channel");
    }
    return compiled;
  } catch (const jinja::TemplateError& e) {
    at.fail("name-format template, " + std::string(e.what()));
  }
}

NamingRules naming_from(const Node& config, const NamingRules* fallback) {
  NamingRules rules = fallback ? *fallback : NamingRules{};
  if (const Node* f = config.find("name-format"); f && !f->is_null()) {
    rules.name_format = compile_name_format(*f);
  }
  if (const Node* r = config.find("reset-author"); r && !r->is_null()) {
    rules.reset_author = r->as_bool();
  }
  if (const Node* s = config.find("strip-name-emoji"); s && !s->is_null()) {
    rules.strip_name_emoji = s->as_bool();
  }
  return rules;
}

namespace {

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
  const unicode::CodePoints points(text);
  for (auto it = points.begin(); it != points.end(); ++it) {
    if (!is_emoji((*it).value)) out.append(text.substr(it.offset(), (*it).size));
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

namespace {

// The template's view of our types, with IMMP's attribute names. Each lives
// on the stack for one rendering; strings are views into the user, the
// identity or the plug's own cache below.

// IMMP's Plug: name, network_name, network_id; {{ user.plug }} prints the
// name. network_name() and network_id() make strings, so those are made
// only when the template asks, and kept for the rendering.
class PlugView final : public jinja::Object {
 public:
  explicit PlugView(const Plug& plug) : plug_(plug) {}
  Value attr(std::string_view name) const override {
    if (name == "name") return Value::of(plug_.name());
    if (name == "network_name") return Value::of(cached(network_name_, &Plug::network_name));
    if (name == "network_id") return Value::of(cached(network_id_, &Plug::network_id));
    return {};
  }
  void render(std::string& out) const override { out += plug_.name(); }

 private:
  const std::string& cached(std::optional<std::string>& slot,
                            std::string (Plug::*get)() const) const {
    if (!slot) slot = (plug_.*get)();
    return *slot;
  }
  const Plug& plug_;
  mutable std::optional<std::string> network_name_;
  mutable std::optional<std::string> network_id_;
};

// IMMP's User: id, username, real_name, avatar, link, suggested, plug
// (None where IMMP has None: empty strings here). Also ours from before:
// display_name and network.
class UserView final : public jinja::Object {
 public:
  explicit UserView(const User& user) : user_(user) {
    if (const Plug* p = user.plug()) plug_.emplace(*p);
  }
  Value attr(std::string_view name) const override {
    if (name == "id") return Value::optional(user_.id);
    if (name == "username") return Value::optional(user_.username);
    if (name == "real_name") return Value::optional(user_.real_name);
    if (name == "avatar") return Value::optional(user_.avatar);
    if (name == "link") return Value::optional(user_.link);
    if (name == "suggested") return Value::of(user_.suggested);
    if (name == "plug") return plug_ ? Value::of(*plug_) : Value::none();
    if (name == "display_name") return Value::optional(user_.display_name());
    if (name == "network") return plug_ ? plug_->attr("network_name") : Value::none();
    return {};
  }

 private:
  const User& user_;
  std::optional<PlugView> plug_;
};

// IMMP's identity's `links`: only its truth (are there any) is usable in
// this subset.
class LinksView final : public jinja::Object {
 public:
  explicit LinksView(const std::vector<UserPtr>& links) : links_(links) {}
  Value attr(std::string_view) const override { return {}; }
  bool truthy() const override { return !links_.empty(); }

 private:
  const std::vector<UserPtr>& links_;
};

class IdentityView final : public jinja::Object {
 public:
  explicit IdentityView(const IdentityGroup& identity)
      : identity_(identity), links_(identity.links) {}
  Value attr(std::string_view name) const override {
    if (name == "name") return Value::of(identity_.name);
    if (name == "links") return Value::of(links_);
    return {};
  }
  void render(std::string& out) const override { out += identity_.name; }

 private:
  const IdentityGroup& identity_;
  LinksView links_;
};

class NameContext final : public jinja::Object {
 public:
  NameContext(const User* user, const IdentityGroup* identity, const std::string& title)
      : title_(title) {
    if (user) user_.emplace(*user);
    if (identity) identity_.emplace(*identity);
  }
  Value attr(std::string_view name) const override {
    if (name == "user") return user_ ? Value::of(*user_) : Value::none();
    if (name == "identity") return identity_ ? Value::of(*identity_) : Value::none();
    if (name == "channel" || name == "title") return Value::optional(title_);
    return {};
  }

 private:
  std::optional<UserView> user_;
  std::optional<IdentityView> identity_;
  const std::string& title_;
};

}  // namespace

UserPtr rename_author(const UserPtr& user, const NamingRules& rules,
                      const std::optional<IdentityGroup>& identity, const std::string& title) {
  if (!rules.name_format && !rules.strip_name_emoji && !identity) {
    return user;  // nothing makes a name: share the original
  }
  // As IMMP's _rename_user, step by step.
  const std::string* base = nullptr;  // IMMP: real_name or username
  if (user) base = user->real_name.empty() ? &user->username : &user->real_name;
  std::string name;
  bool named_by_format = false;
  if (rules.name_format) {
    NameContext context(user.get(), identity ? &*identity : nullptr, title);
    rules.name_format->render(context, name);
    named_by_format = true;
  } else if (identity && user) {
    name = user->display_name() + " (" + identity->name + ")";
  }
  if (rules.strip_name_emoji) {
    const std::string& current = !name.empty() ? name : base ? *base : name;
    if (!current.empty()) name = strip_emoji(current);
  }
  if (name.empty()) return user;
  auto out = std::make_shared<User>();
  if (rules.reset_author || !user) {
    out->real_name = std::move(name);
    return out;
  }
  *out = *user;
  out->real_name = std::move(name);
  // IMMP drops the username of a formatted name, "so that this name is
  // always used": networks that show usernames first (IRC) show it too.
  if (named_by_format) out->username.clear();
  return out;
}

}  // namespace immp::hooks
