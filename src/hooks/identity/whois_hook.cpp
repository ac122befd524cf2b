#include "hooks/identity/whois_hook.hpp"

#include <algorithm>
#include <map>

#include "immp/host.hpp"
#include "immp/plug.hpp"

// GCC 12 at -O2 reports -Wmismatched-new-delete for the frames of large
// coroutines: they are allocated and freed by Asio's own
// awaitable_frame_base operator new/delete pair, so the warning is false.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace immp::hooks {

namespace {

Segment seg(std::string text) {
  Segment s;
  s.text = std::move(text);
  return s;
}
[[maybe_unused]] Segment bold_seg(std::string text) {
  Segment s = seg(std::move(text));
  s.bold = true;
  return s;
}
[[maybe_unused]] Segment italic_seg(std::string text) {
  Segment s = seg(std::move(text));
  s.italic = true;
  return s;
}
[[maybe_unused]] Segment link_seg(std::string text, std::string link) {
  Segment s = seg(std::move(text));
  s.link = std::move(link);
  return s;
}
[[maybe_unused]] Segment mention_seg(std::string text, UserPtr user) {
  Segment s = seg(std::move(text));
  s.mention = std::move(user);
  return s;
}

constexpr std::string_view kCross = "\u274C";

std::string network_name(const User& u) {
  Plug* p = u.plug();
  return p ? p->network_name() : std::string();
}

}  // namespace

SpecPtr WhoIsHook::schema() {
  return object({
      {"identities", list_of(hook_ref<IdentityProvider>("an identity provider hook")), required,
       "identity provider hooks to look people up in"},
      {"public", boolean(), false, "anyone may ask, identified or not"},
  });
}

WhoIsHook::WhoIsHook(const Init& init) : Hook(init), public_(config().at("public").as_bool()) {
  for (const Node& n : config().at("identities").as_list()) names_.push_back(n.as_string());
  {
    Command c;
    c.name = "who";
    c.usage = "<name>";
    c.help = "Recall a known identity and all of its links.";
    c.parser = CommandParser::none;
    c.run = [this](CommandContext& ctx) { return who(ctx); };
    add_command(std::move(c));
  }
}

Task<> WhoIsHook::on_load() {
  providers_.clear();
  const NodeList& nodes = config().at("identities").as_list();
  for (std::size_t i = 0; i < names_.size(); ++i) {
    auto* p = dynamic_cast<IdentityDirectory*>(host().hook(names_[i]));
    if (!p) nodes[i].fail("'" + names_[i] + "' is not an identity provider that can look up names");
    providers_.push_back(p);
  }
  co_return;
}

Task<> WhoIsHook::who(CommandContext& ctx) {
  if (ctx.args.empty() || ctx.args[0].empty()) ctx.usage();
  const std::string name = ctx.args[0];
  // Who may be asked: everyone when public, else the providers that know
  // the caller.
  std::vector<IdentityDirectory*> providers;
  for (IdentityDirectory* p : providers_) {
    if (public_) {
      providers.push_back(p);
      continue;
    }
    if (!ctx.user) continue;
    try {
      std::optional<Identity> mine = co_await p->identity_of(*ctx.user);
      if (mine) providers.push_back(p);
    } catch (const std::exception& e) {
      log()->warn("identity lookup failed in {}: {}", p->provider_name(), e.what());
    }
  }
  if (providers.empty()) {
    std::string answer = std::string(kCross) + " Not identified";
    ctx.reply(std::move(answer));
    co_return;
  }
  // A mention names a user; anything else is a name.
  UserPtr mentioned;
  if (ctx.message && ctx.message->text) {
    for (const Segment& s : ctx.message->text->segments()) {
      if (s.mention) {
        mentioned = s.mention;
        break;
      }
    }
  }
  std::vector<Identity> found;
  for (IdentityDirectory* p : providers) {
    try {
      std::optional<Identity> id;
      if (mentioned) {
        id = co_await p->identity_of(*mentioned);
      } else {
        id = co_await p->identity_from_name(name);
      }
      if (id) found.push_back(std::move(*id));
    } catch (const std::exception& e) {
      log()->warn("identity lookup failed in {}: {}", p->provider_name(), e.what());
    }
  }
  if (found.empty()) {
    std::string answer = std::string(kCross) + " Name not in use";
    ctx.reply(std::move(answer));
    co_return;
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const Identity& a, const Identity& b) { return a.provider < b.provider; });
  RichText text;
  text.append(bold_seg("Info for " + name));
  text.append(seg("\nMatching providers:"));
  for (std::size_t i = 0; i < found.size(); ++i) {
    text.append(seg("\n" + std::to_string(i + 1) + ".\t"));
    text.append(link_seg(found[i].provider, found[i].profile));
  }
  // Each linked account once, with the providers that link it.
  std::vector<std::pair<UserPtr, std::vector<std::size_t>>> links;
  for (std::size_t i = 0; i < found.size(); ++i) {
    for (const UserPtr& u : found[i].links) {
      auto it = std::find_if(links.begin(), links.end(), [&](const auto& l) {
        return l.first->handle == u->handle && l.first->id == u->id;
      });
      if (it == links.end()) {
        links.emplace_back(u, std::vector<std::size_t>{i + 1});
      } else {
        it->second.push_back(i + 1);
      }
    }
  }
  std::stable_sort(links.begin(), links.end(), [](const auto& a, const auto& b) {
    return network_name(*a.first) < network_name(*b.first);
  });
  if (!links.empty()) text.append(seg("\nIdentity links:"));
  for (const auto& [u, known] : links) {
    text.append(seg("\n(" + network_name(*u) + ") "));
    const std::string& shown = u->real_name.empty() ? u->username : u->real_name;
    if (!u->link.empty()) {
      text.append(link_seg(shown.empty() ? u->id : shown, u->link));
    } else if (!u->real_name.empty() && !u->username.empty()) {
      text.append(seg(u->real_name + " [" + u->username + "]"));
    } else {
      text.append(seg(shown.empty() ? u->id : shown));
    }
    if (known.size() != found.size()) {
      std::string idx = " [";
      for (std::size_t k = 0; k < known.size(); ++k) idx += (k ? ", " : "") + std::to_string(known[k]);
      text.append(seg(idx + "]"));
    }
  }
  bool any_roles = std::any_of(found.begin(), found.end(),
                               [](const Identity& i) { return !i.roles.empty(); });
  if (any_roles) {
    text.append(seg("\nRoles:"));
    for (const Identity& i : found) {
      if (i.roles.empty()) continue;
      std::string line = "\n(" + i.provider + ") ";
      for (std::size_t k = 0; k < i.roles.size(); ++k) line += (k ? ", " : "") + i.roles[k];
      text.append(seg(line));
    }
  }
  ctx.reply(std::move(text));
}

}  // namespace immp::hooks
