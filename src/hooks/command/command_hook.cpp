#include "hooks/command/command_hook.hpp"

#include <algorithm>
#include <cctype>
#include <exception>

#include <boost/container/small_vector.hpp>

#include "hooks/identity/identity.hpp"
#include "hooks/sync/sync_hook.hpp"
#include "immp/plug.hpp"

namespace immp::hooks {

namespace {

constexpr std::string_view kCross = "\xE2\x9D\x8C";    // U+274C CROSS MARK
constexpr std::string_view kWarning = "\xE2\x9A\xA0";  // U+26A0 WARNING SIGN
// A channel table larger than this is forgotten and rebuilt as commands
// come: private channels are one per user, so it would grow without end.
constexpr std::size_t kMaxPlaces = 10000;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// Whether `text` starts with `prefix`, ASCII case ignored (IMMP lowers the
// text, and prefixes are written in lower case).
bool starts_with_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) !=
        static_cast<unsigned char>(prefix[i])) {
      return false;
    }
  }
  return true;
}

Segment segment(std::string text, bool bold = false, bool italic = false) {
  Segment s;
  s.text = std::move(text);
  s.bold = bold;
  s.italic = italic;
  return s;
}

// The plain text of a message without copying it when it is one segment.
std::string plain_of(const Message& m) { return m.text ? m.text->plain() : std::string(); }

}  // namespace

SpecPtr CommandHook::schema() {
  auto mapping = object({
      {"groups", list_of(str()), Node::list(), "groups whose channels get these commands"},
      {"hooks", list_of(hook_ref("a hook")), Node::list(), "hooks whose commands are offered"},
      {"sets", list_of(str()), Node::list(), "command sets (see `sets`) offered"},
      {"admins", map_of(list_of(text())), Node::map(),
       "plug -> user ids allowed to run admin commands"},
      {"identify", map_of(list_of(str())), Node::map(),
       "identity provider hook -> roles: only users identified by one of them (with one of "
       "its roles, when any are listed) get these commands"},
  });
  return object({
      {"prefix", either({str(), list_of(str())}), required,
       "what starts a command: \"?\" for ?help, \"!bot \" for !bot help; one or a list"},
      {"return-errors", boolean(), false, "answer a command's unexpected error in the channel"},
      {"sets", map_of(map_of(list_of(str()))), Node::map(),
       "set name -> hook name -> command names: subsets of a hook's commands"},
      {"mapping", map_of(mapping), required,
       "name -> groups, hooks, sets and admins: which commands where"},
  });
}

CommandHook::CommandHook(const Init& init)
    : Hook(init), origin_(std::make_shared<const Origin>(Origin{init.name, "answer"})) {
  const Node& c = config();
  const Node& prefix = c.at("prefix");
  if (prefix.is_string()) {
    prefixes_.push_back(prefix.as_string());
  } else {
    for (const Node& p : prefix.as_list()) prefixes_.push_back(p.as_string());
  }
  for (std::size_t i = 0; i < prefixes_.size(); ++i) {
    const Node& at = prefix.is_string() ? prefix : prefix.as_list()[i];
    if (prefixes_[i].empty()) at.fail("a prefix cannot be empty");
    if (lower(prefixes_[i]) != prefixes_[i]) {
      at.fail("a prefix is compared with the text in lower case: write it in lower case");
    }
  }
  return_errors_ = c.at("return-errors").as_bool();
  for (const auto& [label, hooks] : c.at("sets").as_map()) {
    auto& set = sets_[label];
    for (const auto& [hook, names] : hooks.as_map()) {
      for (const Node& n : names.as_list()) set[hook].push_back(lower(n.as_string()));
    }
  }
  for (const auto& [name, m] : c.at("mapping").as_map()) {
    Mapping mapping;
    mapping.name = name;
    for (const Node& g : m.at("groups").as_list()) {
      const Group* group = host().group(g.as_string());
      if (!group) g.fail("no group named '" + g.as_string() + "' (see `groups`)");
      mapping.groups.push_back(group);
    }
    for (const Node& h : m.at("hooks").as_list()) mapping.hooks.push_back(h.as_string());
    for (const Node& s : m.at("sets").as_list()) {
      if (!sets_.contains(s.as_string())) {
        s.fail("no command set named '" + s.as_string() + "' (see the hook's `sets`)");
      }
      mapping.sets.push_back(s.as_string());
    }
    for (const auto& [plug, ids] : m.at("admins").as_map()) {
      auto& list = mapping.admins[plug];
      for (const Node& id : ids.as_list()) list.push_back(id.as_text());
    }
    for (const auto& [provider, roles] : m.at("identify").as_map()) {
      std::vector<std::string> names;
      for (const Node& r : roles.as_list()) names.push_back(r.as_string());
      mapping.identify.emplace_back(provider, std::move(names));
    }
    any_identify_ = any_identify_ || !mapping.identify.empty();
    mappings_.push_back(std::move(mapping));
  }
  add_command({.name = "help",
               .usage = "[command]",
               .help = "List the commands you can run here, or show help for one of them.",
               .sync_aware = true,
               .run = [this](CommandContext& ctx) { return help(ctx); }});
}

CommandHook::~CommandHook() {
  if (listening_) host().unsubscribe(state_listener_);
}

Task<> CommandHook::on_load() {
  const Node& mapping = config().at("mapping");
  for (const Mapping& m : mappings_) {
    const Node& identify = mapping.at(m.name).at("identify");
    for (const auto& [provider, roles] : m.identify) {
      Hook* h = host().hook(provider);
      if (!h) identify.at(provider).fail("no hook named '" + provider + "' (see `hooks`)");
      if (!dynamic_cast<IdentityProvider*>(h)) {
        identify.at(provider).fail("'" + provider + "' is not an identity provider hook");
      }
      if (!roles.empty() && !dynamic_cast<IdentityDirectory*>(h)) {
        identify.at(provider).fail("'" + provider + "' has no roles: list no roles for it");
      }
    }
  }
  co_return;
}

Task<> CommandHook::start() {
  // A hook that starts or stops changes what is offered.
  if (!listening_) {
    state_listener_ = host().subscribe([this](const StateEvent& e) {
      if (e.kind == StateEvent::Kind::hook) {
        table_.reset();
        places_.clear();
      }
    });
    listening_ = true;
  }
  table_.reset();
  places_.clear();
  co_return;
}

Task<> CommandHook::stop() {
  if (listening_) host().unsubscribe(state_listener_);
  listening_ = false;
  table_.reset();
  places_.clear();
  co_return;
}

Task<> CommandHook::on_config_change(Openable&) {
  table_.reset();
  places_.clear();
  co_return;
}

bool CommandHook::wants(const Received& r) const {
  const SentMessage& s = *r.sent;
  if (!r.primary || !s.user || !s.text || s.text->empty()) return false;
  // The echo of anything this host posted (our answers included) is never
  // a command: a bot does not obey itself.
  if (r.origin || r.source.get() != static_cast<const Message*>(r.sent.get())) return false;
  // Messages on a sync's virtual plug are the bridged copies of messages
  // that were (or will be) seen on their own channel: run them once there.
  if (dynamic_cast<const SyncPlug*>(s.channel.plug())) return false;
  auto segments = s.text->segments();
  std::string_view first = segments.front().text;
  for (const std::string& p : prefixes_) {
    if (first.size() >= p.size() ? starts_with_prefix(first, p)
                                 : starts_with_prefix(plain_of(s), p)) {
      return true;
    }
  }
  return false;
}

std::shared_ptr<const CommandHook::Table> CommandHook::table() {
  if (table_) return table_;
  auto t = std::make_shared<Table>();
  // Entries by (hook, command name), so a command offered by two mappings
  // is one entry that lists both.
  std::map<std::pair<std::string, std::string>, Entry> entries;
  auto provider_of = [&](const std::string& name) -> const CommandProvider* {
    Hook* h = host().hook(name);
    if (!h || h->state() != State::active) return nullptr;  // as IMMP's discover()
    return dynamic_cast<const CommandProvider*>(h);
  };
  auto offer = [&](const std::string& hook, const Command& cmd, std::size_t mapping) {
    auto key = std::make_pair(hook, lower(cmd.name));
    auto it = entries.find(key);
    if (it == entries.end()) {
      Entry e{cmd, hook, CommandArity::of(cmd.usage), {}};
      e.command.name = key.second;
      it = entries.emplace(key, std::move(e)).first;
    }
    auto& ms = it->second.mappings;
    if (std::find(ms.begin(), ms.end(), mapping) == ms.end()) ms.push_back(mapping);
  };
  for (std::size_t i = 0; i < mappings_.size(); ++i) {
    const Mapping& m = mappings_[i];
    for (const std::string& hook : m.hooks) {
      if (const CommandProvider* p = provider_of(hook)) {
        for (const Command& cmd : p->commands()) offer(hook, cmd, i);
      }
    }
    for (const std::string& label : m.sets) {
      for (const auto& [hook, names] : sets_.at(label)) {
        const CommandProvider* p = provider_of(hook);
        if (!p) continue;
        for (const std::string& name : names) {
          auto cmds = p->commands();
          auto found = std::find_if(cmds.begin(), cmds.end(),
                                    [&](const Command& c) { return lower(c.name) == name; });
          if (found == cmds.end()) {
            log()->warn("command set '{}': hook '{}' has no command '{}'", label, hook, name);
            continue;
          }
          offer(hook, *found, i);
        }
      }
    }
  }
  for (auto& [key, e] : entries) t->by_name[key.second].push_back(std::move(e));
  table_ = std::move(t);
  return table_;
}

Task<std::shared_ptr<const CommandHook::Place>> CommandHook::place(const Channel& channel) {
  if (auto it = places_.find(channel); it != places_.end()) co_return it->second;
  auto made = std::make_shared<Place>();
  Place& p = *made;
  if (Plug* plug = channel.plug()) {
    auto is_private = co_await plug->channel_is_private(channel);
    p.is_private = is_private.value_or(false);
  }
  p.in_mapping.resize(mappings_.size());
  for (std::size_t i = 0; i < mappings_.size(); ++i) {
    for (const Group* g : mappings_[i].groups) {
      bool has = co_await g->has_channel(host(), channel);
      if (has) {
        p.in_mapping[i] = true;
        break;
      }
    }
  }
  // The virtual channel of a sync that bridges this one (IMMP's
  // SyncPlug.any_sync): the first running sync with a virtual plug.
  for (Plug* plug : host().plugs()) {
    auto* virtual_plug = dynamic_cast<SyncPlug*>(plug);
    if (!virtual_plug || !virtual_plug->hook()) continue;
    SyncHook* sync = virtual_plug->hook();
    for (const std::string& label : sync->labels()) {
      const auto& members = sync->members(label);
      if (std::find(members.begin(), members.end(), channel) != members.end()) {
        p.synced = virtual_plug->channel(label);
        break;
      }
    }
    if (p.synced) break;
  }
  if (places_.size() >= kMaxPlaces) places_.clear();
  places_.insert_or_assign(channel, made);
  co_return made;
}

bool CommandHook::is_admin(const Mapping& m, const User& user) const {
  if (!user.handle) return false;
  auto it = m.admins.find(user.handle->name());
  if (it == m.admins.end()) return false;
  return std::find(it->second.begin(), it->second.end(), user.id) != it->second.end();
}

Task<std::optional<std::vector<std::string>>> CommandHook::roles_with(const std::string& provider,
                                                                     const User& user) {
  Hook* h = host().hook(provider);
  if (!h || h->state() != State::active) {
    log()->debug("identity provider '{}' is not running: nobody is identified by it", provider);
    co_return std::nullopt;
  }
  try {
    // Roles where the provider has them; otherwise being identified is all.
    if (auto* directory = dynamic_cast<IdentityDirectory*>(h)) {
      co_return co_await directory->roles_of(user);
    }
    if (auto* plain = dynamic_cast<IdentityProvider*>(h)) {
      std::optional<IdentityGroup> identity = co_await plain->identity_from_user(user);
      if (identity) co_return std::vector<std::string>{};
    }
  } catch (const std::exception& e) {
    log()->warn("identity provider '{}' failed for {}: {}", provider, user.id, e.what());
  }
  co_return std::nullopt;
}

Task<std::vector<bool>> CommandHook::identified(const Place& where, const UserPtr& user) {
  std::vector<bool> passes(mappings_.size(), true);
  // Each provider is asked once per command, whatever the mappings naming it.
  std::map<std::string, std::optional<std::vector<std::string>>, std::less<>> asked;
  for (std::size_t i = 0; i < mappings_.size(); ++i) {
    const Mapping& m = mappings_[i];
    if (m.identify.empty() || !where.in_mapping[i]) continue;
    bool ok = false;
    for (const auto& [provider, roles] : m.identify) {
      auto it = asked.find(provider);
      if (it == asked.end()) {
        std::optional<std::vector<std::string>> held;
        if (user) held = co_await roles_with(provider, *user);
        it = asked.emplace(provider, std::move(held)).first;
      }
      const auto& held = it->second;
      if (!held) continue;
      ok = roles.empty() || std::any_of(roles.begin(), roles.end(), [&](const std::string& r) {
             return std::find(held->begin(), held->end(), r) != held->end();
           });
      if (ok) break;
    }
    if (!ok) log()->debug("{} is not identified for mapping '{}'", user ? user->id : "?", m.name);
    passes[i] = ok;
  }
  co_return passes;
}

bool CommandHook::allowed(const Entry& e, const Place& where, const std::vector<bool>* passes,
                          CommandCaller& caller) const {
  bool offered = false;
  bool admin = false;
  for (std::size_t m : e.mappings) {
    if (!where.in_mapping[m] || (passes && !(*passes)[m])) continue;
    offered = true;
    if (caller.user && is_admin(mappings_[m], *caller.user)) admin = true;
  }
  if (!offered) return false;
  const Command& cmd = e.command;
  if (cmd.scope == CommandScope::private_ && !where.is_private) return false;
  if (cmd.scope == CommandScope::shared && where.is_private) return false;
  if (cmd.role == CommandRole::admin && !admin) return false;
  caller.admin = admin;
  caller.channel = (where.synced && !cmd.sync_aware) ? *where.synced : caller.typed_in;
  return true;
}

Task<std::vector<const CommandHook::Entry*>> CommandHook::applicable(
    const std::vector<Entry>& entries, const Place& where, const std::vector<bool>* passes,
    CommandCaller& caller) {
  std::vector<const Entry*> out;
  for (const Entry& e : entries) {
    if (!allowed(e, where, passes, caller)) continue;
    if (e.command.test) {
      bool ok = co_await e.command.test(caller);
      if (!ok) continue;
    }
    out.push_back(&e);
  }
  co_return out;
}

Task<> CommandHook::on_receive(const Received& r) {
  const SentPtr& sent = r.sent;
  std::string plain = sent->text->plain();
  std::string_view rest;
  bool matched = false;
  for (const std::string& p : prefixes_) {
    if (starts_with_prefix(plain, p)) {
      rest = std::string_view(plain).substr(p.size());
      matched = true;
      break;
    }
  }
  if (!matched) co_return;
  std::size_t i = 0;
  while (i < rest.size() && space(rest[i])) ++i;
  std::size_t j = i;
  while (j < rest.size() && !space(rest[j])) ++j;
  if (i == j) co_return;
  std::string name = lower(rest.substr(i, j - i));
  rest = rest.substr(j);
  while (!rest.empty() && space(rest.front())) rest.remove_prefix(1);

  std::shared_ptr<const Table> t = table();
  auto found = t->by_name.find(name);
  if (found == t->by_name.end()) {
    log()->debug("no command '{}' in {}", name, sent->channel.repr());
    co_return;
  }
  // Known channels and commands without a test are decided without
  // suspending: a command costs no more coroutines than its handler.
  std::shared_ptr<const Place> where;
  if (auto known = places_.find(sent->channel); known != places_.end()) {
    where = known->second;
  } else {
    where = co_await place(sent->channel);
  }
  // Identities are asked only when some mapping wants them.
  std::vector<bool> identities;
  if (any_identify_) identities = co_await identified(*where, sent->user);
  const std::vector<bool>* passes = any_identify_ ? &identities : nullptr;
  CommandCaller caller{&host(),           sent, sent->channel, sent->channel, sent->user,
                       where->is_private, false};
  boost::container::small_vector<const Entry*, 2> entries;
  for (const Entry& e : found->second) {
    if (!allowed(e, *where, passes, caller)) continue;
    if (e.command.test) {
      bool ok = co_await e.command.test(caller);
      if (!ok) continue;
    }
    entries.push_back(&e);
  }
  if (entries.empty()) {
    log()->debug("command '{}' not offered to {} in {}", name, sent->user->id,
                 sent->channel.repr());
    co_return;
  }
  if (entries.size() > 1) {
    log()->error("several commands named '{}' apply in {} (hooks {} and {}): none is run", name,
                 sent->channel.repr(), entries[0]->hook, entries[1]->hook);
    co_return;
  }
  const Entry& entry = *entries.front();
  const Command& cmd = entry.command;
  // applicable() left caller set for the last entry it looked at; set it
  // for this one.
  caller.channel = (where->synced && !cmd.sync_aware) ? *where->synced : caller.typed_in;
  caller.admin = false;
  for (std::size_t m : entry.mappings) {
    if (where->in_mapping[m] && (!passes || (*passes)[m]) && is_admin(mappings_[m], *sent->user)) {
      caller.admin = true;
    }
  }
  auto args = parse_command_args(cmd.parser, rest, entry.arity.max);
  CommandContext ctx(std::move(caller), cmd, args ? std::move(*args) : std::vector<std::string>{},
                     *this);
  if (!args || !entry.arity.accepts(ctx.args.size())) {
    // Answered where it was typed, as IMMP does (its help runs on `sent`).
    answer_usage(sent->channel, cmd);
    co_return;
  }
  log()->debug("running '{}' of {} for {} in {}", name, entry.hook, sent->user->id,
               sent->channel.repr());
  try {
    co_await cmd.run(ctx);
  } catch (const BadUsage&) {
    answer_usage(sent->channel, cmd);
  } catch (const std::exception& e) {
    log()->error("command '{}' of {} failed in {}: {}", name, entry.hook, sent->channel.repr(),
                 e.what());
    if (return_errors_) answer(sent->channel, std::string(kWarning) + " " + e.what());
  }
}

RichText CommandHook::describe(const Command& cmd) {
  RichText text;
  text.append(segment(cmd.name, true));
  if (!cmd.usage.empty()) text.append(segment(" " + cmd.usage));
  if (!cmd.help.empty()) {
    text.append(segment(":", true));
    text.append(segment("\n" + cmd.help));
  }
  return text;
}

Task<std::vector<std::string>> CommandHook::available(const Channel& channel, const UserPtr& user) {
  std::shared_ptr<const Table> t = table();
  auto cmds = co_await available(*t, channel, user);
  std::vector<std::string> names;
  for (const auto& [name, cmd] : cmds) names.push_back(name);
  co_return names;
}

Task<std::map<std::string, const Command*>> CommandHook::available(const Table& table,
                                                                   const Channel& channel,
                                                                   const UserPtr& user) {
  std::map<std::string, const Command*> out;
  std::shared_ptr<const Place> where = co_await place(channel);
  const Place& here = *where;
  std::vector<bool> identities;
  if (any_identify_) identities = co_await identified(here, user);
  const std::vector<bool>* passes = any_identify_ ? &identities : nullptr;
  for (const auto& [name, entries] : table.by_name) {
    CommandCaller caller{&host(), nullptr, channel, channel, user, here.is_private, false};
    auto ok = co_await applicable(entries, here, passes, caller);
    if (!ok.empty()) out.emplace(name, &ok.front()->command);
  }
  co_return out;
}

Task<> CommandHook::help(CommandContext& ctx) {
  // `help` itself is sync-aware: it lists what can be run where it was
  // typed, and answers there.
  std::shared_ptr<const Table> t = table();  // the commands listed live in it
  auto here = co_await available(*t, ctx.typed_in, ctx.user);
  if (!ctx.args.empty()) {
    auto it = here.find(lower(ctx.args[0]));
    if (it == here.end()) {
      ctx.reply(std::string(kCross) + " No such command");
      co_return;
    }
    ctx.reply(describe(*it->second));
    co_return;
  }
  RichText text;
  text.append(segment("Available commands:", true));
  for (const auto& [name, cmd] : here) {
    text.append(segment("\n- " + name));
    if (!cmd->usage.empty()) text.append(segment(" " + cmd->usage, false, true));
  }
  // Commands only offered in private: listed when asked in a shared
  // channel and the caller could run them in a private one.
  if (!ctx.is_private && ctx.user) {
    std::optional<Channel> own;
    if (Plug* plug = ctx.typed_in.plug()) own = co_await plug->channel_for_user(*ctx.user);
    if (own) {
      auto there = co_await available(*t, *own, ctx.user);
      bool titled = false;
      for (const auto& [name, cmd] : there) {
        if (here.contains(name)) continue;
        if (!titled) {
          text.append(segment("\nPrivate commands:", true));
          titled = true;
        }
        text.append(segment("\n- " + name));
        if (!cmd->usage.empty()) text.append(segment(" " + cmd->usage, false, true));
      }
    }
  }
  ctx.reply(std::move(text));
}

void CommandHook::reply(const CommandContext& ctx, MessagePtr msg) {
  host().post(ctx.channel, std::move(msg), origin_);
}

Task<> CommandHook::reply_private(const CommandContext& ctx, MessagePtr msg) {
  if (ctx.is_private) {
    host().post(ctx.typed_in, std::move(msg), origin_);
    co_return;
  }
  std::optional<Channel> own;
  if (Plug* plug = ctx.typed_in.plug(); plug && ctx.user) {
    own = co_await plug->channel_for_user(*ctx.user);
  }
  if (!own) {
    log()->warn("cannot answer {} privately on {}: the network gives no private channel",
                ctx.user ? ctx.user->id : std::string("?"), ctx.typed_in.repr());
    answer(ctx.typed_in, std::string(kCross) + " I cannot message you privately here");
    co_return;
  }
  host().post(*own, std::move(msg), origin_);
}

void CommandHook::answer_usage(const Channel& channel, const Command& cmd) {
  // Where it was typed, as IMMP does (its help runs on the message).
  auto msg = std::make_shared<Message>();
  msg->text = describe(cmd);
  host().post(channel, std::move(msg), origin_);
}

void CommandHook::answer(const Channel& channel, std::string text) {
  auto msg = std::make_shared<Message>();
  msg->text = RichText(std::move(text));
  host().post(channel, std::move(msg), origin_);
}

}  // namespace immp::hooks
