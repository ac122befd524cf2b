#include "hooks/identity/local_identity_hook.hpp"

#include <algorithm>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "immp/host.hpp"
#include "immp/plug.hpp"
#include "store/immp_legacy.hpp"

// GCC 12 at -O2 reports -Wmismatched-new-delete for the frames of large
// coroutines: they are allocated and freed by Asio's own
// awaitable_frame_base operator new/delete pair, so the warning is false.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace immp::hooks {

namespace {

constexpr std::string_view kTick = "\u2705";
constexpr std::string_view kCross = "\u274C";

std::string tick(std::string_view what) { return std::string(kTick) + " " + std::string(what); }
std::string cross(std::string_view what) { return std::string(kCross) + " " + std::string(what); }

std::string network_of(const Plug& plug) { return store::immp_network_id(plug); }

}  // namespace

SpecPtr LocalIdentityHook::schema() {
  return object({
      {"instance", any(), Node(),
       "unique instance code; assigned at start when absent"},
      {"plugs", list_of(str()), required, "plugs whose users may have identities"},
      {"multiple", boolean(), true, "allow several accounts of one network in one identity"},
      {"admins", map_of(list_of(text())), Node::map(), "plug -> user ids that may use id-role"},
  });
}

LocalIdentityHook::LocalIdentityHook(const Init& init)
    : Hook(init),
      multiple_(config().at("multiple").as_bool()),
      pool_(std::make_unique<asio::thread_pool>(1)) {
  const Node& instance = config().at("instance");
  if (!instance.is_null()) {
    if (!instance.is_int()) instance.fail("expected an integer or null");
    instance_ = instance.as_int();
  }
  for (const Node& p : config().at("plugs").as_list()) {
    if (!init.host.plug(p.as_string())) p.fail("unknown plug '" + p.as_string() + "'");
    plugs_.push_back(p.as_string());
  }
  for (const auto& [plug, users] : config().at("admins").as_map()) {
    for (const Node& u : users.as_list()) admins_[plug].push_back(u.as_text());
  }
  auto any = [this](const CommandCaller& c) { return offered(c, false); };
  auto admin = [this](const CommandCaller& c) { return offered(c, true); };
  {
    Command c;
    c.name = "id-add";
    c.usage = "<name> <pwd>";
    c.help = "Create a new identity, or link to an existing one from a second user.";
    c.scope = CommandScope::private_;
    c.test = any;
    c.run = [this](CommandContext& ctx) { return add(ctx); };
    add_command(std::move(c));
  }
  {
    Command c;
    c.name = "id-rename";
    c.usage = "<name>";
    c.help = "Rename the current identity.";
    c.scope = CommandScope::private_;
    c.test = any;
    c.run = [this](CommandContext& ctx) { return rename(ctx); };
    add_command(std::move(c));
  }
  {
    Command c;
    c.name = "id-password";
    c.usage = "<pwd>";
    c.help = "Update the password for the current identity.";
    c.scope = CommandScope::private_;
    c.test = any;
    c.run = [this](CommandContext& ctx) { return password(ctx); };
    add_command(std::move(c));
  }
  {
    Command c;
    c.name = "id-reset";
    c.help = "Delete the current identity and all linked users.";
    c.scope = CommandScope::private_;
    c.test = any;
    c.run = [this](CommandContext& ctx) { return reset(ctx); };
    add_command(std::move(c));
  }
  {
    Command c;
    c.name = "id-role";
    c.usage = "<name> [role]";
    c.help = "List roles assigned to an identity, or add/remove a given role.";
    c.scope = CommandScope::private_;
    c.test = admin;
    c.run = [this](CommandContext& ctx) { return role(ctx); };
    add_command(std::move(c));
  }
}

LocalIdentityHook::~LocalIdentityHook() {
  if (pool_) pool_->join();
}

Task<> LocalIdentityHook::start() {
  if (instance_ == 0) {
    // IMMP: the lowest code no other LocalIdentityHook uses, written into
    // the config (kept with `immp -w`).
    std::set<std::int64_t> used;
    for (Hook* h : host().hooks()) {
      auto* other = dynamic_cast<LocalIdentityHook*>(h);
      if (other && other != this && other->instance_ != 0) used.insert(other->instance_);
      if (other && other != this) {
        const Node* i = other->config().find("instance");
        if (i && i->is_int()) used.insert(i->as_int());
      }
    }
    std::int64_t code = 1;
    while (used.count(code)) ++code;
    instance_ = code;
    log()->info("assigned instance code {}", code);
    Node updated = config();
    updated.set("instance", Node(code));
    set_config(std::move(updated));
  }
  db_ = &host().resource<Database>(*this);
  bool sqlite = db_->dialect() == sql::Dialect::sqlite;
  std::string id = sqlite ? "\"id\" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL"
                          : "\"id\" SERIAL NOT NULL PRIMARY KEY";
  std::vector<std::string> steps{
      "CREATE TABLE IF NOT EXISTS \"identitygroup\" (" + id +
      ", \"instance\" INT NOT NULL, \"name\" TEXT NOT NULL, \"pwd\" TEXT NOT NULL, "
      "UNIQUE (\"instance\", \"name\")); "
      "CREATE TABLE IF NOT EXISTS \"identitylink\" (" +
      id +
      ", \"network\" TEXT NOT NULL, \"user\" TEXT NOT NULL, \"group_id\" INT NOT NULL "
      "REFERENCES \"identitygroup\" (\"id\") ON DELETE CASCADE); "
      "CREATE TABLE IF NOT EXISTS \"identityrole\" (" +
      id +
      ", \"role\" TEXT NOT NULL, \"group_id\" INT NOT NULL "
      "REFERENCES \"identitygroup\" (\"id\") ON DELETE CASCADE)"};
  co_await db_->migrate("identitylocal", std::move(steps));
  co_await load();
}

Task<> LocalIdentityHook::load() {
  groups_.clear();
  links_.clear();
  std::vector<sql::Value> p1{instance_};
  sql::Rows rows = co_await db_->query(
      "SELECT \"id\", \"name\", \"pwd\" FROM \"identitygroup\" WHERE \"instance\" = ?",
      std::move(p1));
  for (const sql::Row& row : rows) {
    Group g;
    g.id = sql::as_int(row[0]);
    g.name = sql::as_text(row[1]);
    g.pwd = sql::as_text(row[2]);
    groups_.emplace(g.id, std::move(g));
  }
  std::vector<sql::Value> p2{instance_};
  rows = co_await db_->query(
      "SELECT l.\"group_id\", l.\"network\", l.\"user\" FROM \"identitylink\" l JOIN "
      "\"identitygroup\" g ON g.\"id\" = l.\"group_id\" WHERE g.\"instance\" = ? ORDER BY l.\"id\"",
      std::move(p2));
  for (const sql::Row& row : rows) {
    auto it = groups_.find(sql::as_int(row[0]));
    if (it == groups_.end()) continue;
    LinkKey key{sql::as_text(row[1]), sql::as_text(row[2])};
    it->second.links.push_back(key);
    links_[key] = it->first;
  }
  std::vector<sql::Value> p3{instance_};
  rows = co_await db_->query(
      "SELECT r.\"group_id\", r.\"role\" FROM \"identityrole\" r JOIN \"identitygroup\" g ON "
      "g.\"id\" = r.\"group_id\" WHERE g.\"instance\" = ? ORDER BY r.\"id\"",
      std::move(p3));
  for (const sql::Row& row : rows) {
    auto it = groups_.find(sql::as_int(row[0]));
    if (it != groups_.end()) it->second.roles.push_back(sql::as_text(row[1]));
  }
  std::size_t legacy = 0;
  for (const auto& [gid, g] : groups_) legacy += is_legacy_hash(g.pwd);
  if (legacy > 0) {
    log()->warn(
        "{} identities still have IMMP's unsalted SHA-256 password hash; each is replaced by "
        "Argon2id the next time its password is used or changed",
        legacy);
  }
  log()->debug("instance {}: {} identities, {} links", instance_, groups_.size(), links_.size());
}

bool LocalIdentityHook::ours(const PlugHandle* plug) const {
  return plug && std::find(plugs_.begin(), plugs_.end(), plug->name()) != plugs_.end();
}

LocalIdentityHook::Group* LocalIdentityHook::find(const User& user) {
  Plug* plug = user.plug();
  if (!plug || !ours(user.handle)) return nullptr;
  auto it = links_.find(LinkKey{network_of(*plug), user.id});
  if (it == links_.end()) return nullptr;
  auto g = groups_.find(it->second);
  return g == groups_.end() ? nullptr : &g->second;
}

LocalIdentityHook::Group* LocalIdentityHook::by_name(const std::string& name) {
  for (auto& [id, g] : groups_) {
    if (g.name == name) return &g;
  }
  return nullptr;
}

Task<std::optional<IdentityGroup>> LocalIdentityHook::identity_from_user(const User& user) {
  Group* g = find(user);
  if (!g) co_return std::nullopt;
  IdentityGroup out;
  out.name = g->name;
  for (Plug* p : host().plugs()) {
    std::string network = network_of(*p);
    for (const auto& [net, id] : g->links) {
      if (net != network) continue;
      auto u = std::make_shared<User>();
      u->id = id;
      u->handle = p->handle();
      u->suggested = true;
      out.links.push_back(std::move(u));
    }
  }
  co_return out;
}

Task<Identity> LocalIdentityHook::to_identity(const Group& group) {
  Identity out;
  out.name = group.name;
  out.provider = provider_name();
  out.roles = group.roles;
  std::vector<std::pair<std::string, std::string>> links = group.links;  // may change meanwhile
  for (Plug* p : host().plugs()) {
    if (p->state() != State::active) continue;
    std::string network = network_of(*p);
    for (const auto& [net, id] : links) {
      if (net != network) continue;
      UserPtr user;
      try {
        user = co_await p->user_from_id(id);
      } catch (const std::exception& e) {
        log()->warn("cannot look up {} on {}: {}", id, p->name(), e.what());
      }
      if (!user) {
        // The plug cannot look users up: the link as stored.
        auto made = std::make_shared<User>();
        made->id = id;
        made->handle = p->handle();
        made->username = id;
        made->suggested = true;
        user = std::move(made);
      }
      out.links.push_back(std::move(user));
    }
  }
  co_return out;
}

Task<std::optional<Identity>> LocalIdentityHook::identity_from_name(std::string name) {
  Group* g = by_name(name);
  if (!g) co_return std::nullopt;
  Group copy = *g;
  co_return co_await to_identity(copy);
}

Task<std::optional<Identity>> LocalIdentityHook::identity_of(const User& user) {
  Group* g = find(user);
  if (!g) co_return std::nullopt;
  Group copy = *g;
  co_return co_await to_identity(copy);
}

Task<std::optional<std::vector<std::string>>> LocalIdentityHook::roles_of(const User& user) {
  Group* g = find(user);
  if (!g) co_return std::nullopt;
  co_return g->roles;
}

Task<std::optional<bool>> LocalIdentityHook::channel_access(const Channel&, const User& user) {
  co_return find(user) != nullptr;
}

Task<std::string> LocalIdentityHook::hash(std::string pwd) {
  auto work = [pwd = std::move(pwd)]() -> Task<std::string> { co_return hash_password(pwd); };
  auto op = asio::co_spawn(pool_->get_executor(), std::move(work), asio::use_awaitable);
  co_return co_await std::move(op);
}

Task<PasswordCheck> LocalIdentityHook::check(std::string pwd, std::string stored) {
  auto work = [pwd = std::move(pwd), stored = std::move(stored)]() -> Task<PasswordCheck> {
    co_return check_password(pwd, stored);
  };
  auto op = asio::co_spawn(pool_->get_executor(), std::move(work), asio::use_awaitable);
  co_return co_await std::move(op);
}

Task<bool> LocalIdentityHook::offered(CommandCaller caller, bool admin) const {
  if (!ours(caller.typed_in.handle)) co_return false;
  if (!admin) co_return true;
  if (!caller.user || !caller.user->handle) co_return false;
  auto it = admins_.find(caller.user->handle->name());
  co_return it != admins_.end() &&
      std::find(it->second.begin(), it->second.end(), caller.user->id) != it->second.end();
}

Task<> LocalIdentityHook::add(CommandContext& ctx) {
  if (ctx.args.size() != 2) ctx.usage();
  if (!ctx.user || !ctx.user->plug() || !ours(ctx.user->handle)) co_return;
  const std::string name = ctx.args[0];
  const std::string pwd = ctx.args[1];
  std::string network = network_of(*ctx.user->plug());
  std::string user_id = ctx.user->id;
  std::string answer;
  if (find(*ctx.user)) {
    answer = cross("Already identified");
  } else if (Group* existing = by_name(name)) {
    std::int64_t gid = existing->id;
    std::string stored = existing->pwd;
    PasswordCheck result = co_await check(pwd, stored);
    auto it = groups_.find(gid);  // may have gone while hashing
    if (it == groups_.end()) {
      answer = cross("Password incorrect");
    } else if (result == PasswordCheck::wrong) {
      answer = cross("Password incorrect");
    } else if (!multiple_ && std::any_of(it->second.links.begin(), it->second.links.end(),
                                         [&](const LinkKey& l) { return l.first == network; })) {
      answer = cross("Already identified on " + ctx.user->plug()->network_name());
    } else {
      if (result == PasswordCheck::right_legacy) {
        std::string upgraded = co_await hash(pwd);
        std::vector<sql::Value> params{upgraded, gid};
        co_await db_->execute("UPDATE \"identitygroup\" SET \"pwd\" = ? WHERE \"id\" = ?",
                              std::move(params));
        if (auto g = groups_.find(gid); g != groups_.end()) g->second.pwd = upgraded;
        log()->info("identity {} moved from SHA-256 to Argon2id", name);
      }
      std::vector<sql::Value> params{network, user_id, gid};
      co_await db_->execute(
          "INSERT INTO \"identitylink\" (\"network\", \"user\", \"group_id\") VALUES (?, ?, ?)",
          std::move(params));
      if (auto g = groups_.find(gid); g != groups_.end()) g->second.links.emplace_back(network, user_id);
      links_[LinkKey{network, user_id}] = gid;
      answer = tick("Added");
    }
  } else {
    std::string hashed = co_await hash(pwd);
    if (by_name(name)) {
      answer = cross("Name already in use");  // claimed by someone else meanwhile
    } else {
      std::vector<sql::Value> params{instance_, name, hashed};
      sql::Rows rows = co_await db_->query(
          "INSERT INTO \"identitygroup\" (\"instance\", \"name\", \"pwd\") VALUES (?, ?, ?) "
          "RETURNING \"id\"",
          std::move(params));
      std::int64_t gid = sql::as_int(rows.at(0).at(0));
      std::vector<sql::Value> link{network, user_id, gid};
      co_await db_->execute(
          "INSERT INTO \"identitylink\" (\"network\", \"user\", \"group_id\") VALUES (?, ?, ?)",
          std::move(link));
      Group g;
      g.id = gid;
      g.name = name;
      g.pwd = hashed;
      g.links.emplace_back(network, user_id);
      groups_[gid] = std::move(g);
      links_[LinkKey{network, user_id}] = gid;
      answer = tick("Claimed");
    }
  }
  ctx.reply(std::move(answer));
}

Task<> LocalIdentityHook::rename(CommandContext& ctx) {
  if (ctx.args.size() != 1) ctx.usage();
  if (!ctx.user) co_return;
  const std::string name = ctx.args[0];
  Group* g = find(*ctx.user);
  std::string answer;
  if (!g) {
    answer = cross("Not identified");
  } else if (g->name == name) {
    answer = tick("No change");
  } else if (by_name(name)) {
    answer = cross("Name already in use");
  } else {
    std::vector<sql::Value> params{name, g->id};
    g->name = name;
    co_await db_->execute("UPDATE \"identitygroup\" SET \"name\" = ? WHERE \"id\" = ?",
                          std::move(params));
    answer = tick("Claimed");
  }
  ctx.reply(std::move(answer));
}

Task<> LocalIdentityHook::password(CommandContext& ctx) {
  if (ctx.args.size() != 1) ctx.usage();
  if (!ctx.user) co_return;
  Group* g = find(*ctx.user);
  std::string answer;
  if (!g) {
    answer = cross("Not identified");
  } else {
    std::int64_t gid = g->id;
    std::string hashed = co_await hash(ctx.args[0]);
    std::vector<sql::Value> params{hashed, gid};
    co_await db_->execute("UPDATE \"identitygroup\" SET \"pwd\" = ? WHERE \"id\" = ?",
                          std::move(params));
    if (auto it = groups_.find(gid); it != groups_.end()) it->second.pwd = std::move(hashed);
    answer = tick("Changed");
  }
  ctx.reply(std::move(answer));
}

Task<> LocalIdentityHook::reset(CommandContext& ctx) {
  if (!ctx.args.empty()) ctx.usage();
  if (!ctx.user) co_return;
  Group* g = find(*ctx.user);
  std::string answer;
  if (!g) {
    answer = cross("Not identified");
  } else {
    std::int64_t gid = g->id;
    for (const LinkKey& l : g->links) links_.erase(l);
    groups_.erase(gid);
    // Children first: SQLite enforces no foreign keys unless asked.
    std::vector<sql::Value> p1{gid};
    co_await db_->execute("DELETE FROM \"identitylink\" WHERE \"group_id\" = ?", std::move(p1));
    std::vector<sql::Value> p2{gid};
    co_await db_->execute("DELETE FROM \"identityrole\" WHERE \"group_id\" = ?", std::move(p2));
    std::vector<sql::Value> p3{gid};
    co_await db_->execute("DELETE FROM \"identitygroup\" WHERE \"id\" = ?", std::move(p3));
    answer = tick("Reset");
  }
  ctx.reply(std::move(answer));
}

Task<> LocalIdentityHook::role(CommandContext& ctx) {
  if (ctx.args.empty() || ctx.args.size() > 2) ctx.usage();
  const std::string name = ctx.args[0];
  Group* g = by_name(name);
  std::string answer;
  if (!g) {
    answer = cross("Name not registered");
  } else if (ctx.args.size() == 2) {
    const std::string role = ctx.args[1];
    std::int64_t gid = g->id;
    auto it = std::find(g->roles.begin(), g->roles.end(), role);
    if (it != g->roles.end()) {
      g->roles.erase(it);
      std::vector<sql::Value> params{gid, role};
      co_await db_->execute("DELETE FROM \"identityrole\" WHERE \"group_id\" = ? AND \"role\" = ?",
                            std::move(params));
      answer = tick("Removed");
    } else {
      g->roles.push_back(role);
      std::vector<sql::Value> params{role, gid};
      co_await db_->execute("INSERT INTO \"identityrole\" (\"role\", \"group_id\") VALUES (?, ?)",
                            std::move(params));
      answer = tick("Added");
    }
  } else if (g->roles.empty()) {
    answer = "No roles for " + name + ".";
  } else {
    answer = "Roles for " + name + ": ";
    for (std::size_t i = 0; i < g->roles.size(); ++i) {
      answer += (i ? ", " : "") + g->roles[i];
    }
  }
  ctx.reply(std::move(answer));
}

}  // namespace immp::hooks
