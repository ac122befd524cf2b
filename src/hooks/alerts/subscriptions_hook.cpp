#include "hooks/alerts/subscriptions_hook.hpp"

#include <algorithm>
#include <map>

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

constexpr std::string_view kTick = "\u2705";
constexpr std::string_view kCross = "\u274C";

std::string network_id(const Channel& channel) {
  Plug* plug = channel.plug();
  return plug ? store::immp_network_id(*plug) : std::string();
}

}  // namespace

SpecPtr SubscriptionsHook::schema() { return object(base_fields()); }

SubscriptionsHook::SubscriptionsHook(const Init& init) : AlertHookBase(init) {
  // Offered where the command is typed on one of our groups' plugs.
  auto ours = [this](const CommandCaller& c) { return offered(c.typed_in); };
  {
    Command c;
    c.name = "sub-add";
    c.usage = "<text...>";
    c.help = "Add a subscription to your trigger list.";
    c.scope = CommandScope::private_;
    c.test = ours;
    c.run = [this](CommandContext& ctx) { return add(ctx); };
    add_command(std::move(c));
  }
  {
    Command c;
    c.name = "sub-remove";
    c.usage = "<text...>";
    c.help = "Remove a subscription from your trigger list.";
    c.scope = CommandScope::private_;
    c.test = ours;
    c.run = [this](CommandContext& ctx) { return remove(ctx); };
    add_command(std::move(c));
  }
  {
    Command c;
    c.name = "sub-list";
    c.help = "Show all active subscriptions.";
    c.scope = CommandScope::private_;
    c.test = ours;
    c.run = [this](CommandContext& ctx) { return list(ctx); };
    add_command(std::move(c));
  }
  {
    Command c;
    c.name = "sub-exclude";
    c.usage = "<text...>";
    c.help = "Don't trigger a specific subscription in the current public channel " "(again to undo).";
    c.scope = CommandScope::shared;
    c.test = ours;
    c.run = [this](CommandContext& ctx) { return exclude(ctx); };
    add_command(std::move(c));
  }
}

Task<bool> SubscriptionsHook::offered(Channel typed_in) const {
  co_return serves(typed_in.handle);
}

std::string SubscriptionsHook::clean(std::string_view text) {
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80 || std::isalnum(u) || c == '_' || c == ' ') {
      out += static_cast<char>(u < 0x80 ? std::tolower(u) : u);
    }
  }
  return out;
}

std::string SubscriptionsHook::network_of(const User& user) {
  Plug* plug = user.plug();
  return plug ? store::immp_network_id(*plug) : std::string();
}

Task<> SubscriptionsHook::start() {
  db_ = &host().resource<Database>(*this);
  // IMMP's tables as Tortoise created them; kept when they exist.
  bool sqlite = db_->dialect() == sql::Dialect::sqlite;
  std::string id = sqlite ? "\"id\" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL"
                          : "\"id\" SERIAL NOT NULL PRIMARY KEY";
  std::vector<std::string> steps{
      "CREATE TABLE IF NOT EXISTS \"subtrigger\" (" + id +
      ", \"network\" TEXT NOT NULL, \"user\" TEXT NOT NULL, \"text\" TEXT NOT NULL); "
      "CREATE TABLE IF NOT EXISTS \"subexclude\" (" +
      id +
      ", \"network\" TEXT NOT NULL, \"channel\" TEXT NOT NULL, \"trigger_id\" INT NOT NULL "
      "REFERENCES \"subtrigger\" (\"id\") ON DELETE CASCADE)"};
  co_await db_->migrate("subscriptions", std::move(steps));
  co_await load();
}

Task<> SubscriptionsHook::load() {
  std::vector<sql::Value> none;
  sql::Rows rows = co_await db_->query(
      "SELECT \"id\", \"network\", \"user\", \"text\" FROM \"subtrigger\"", std::move(none));
  triggers_.clear();
  for (const sql::Row& row : rows) {
    triggers_.push_back(Trigger{sql::as_int(row[0]), sql::as_text(row[1]), sql::as_text(row[2]),
                                sql::as_text(row[3])});
  }
  std::vector<sql::Value> none2;
  rows = co_await db_->query("SELECT \"trigger_id\", \"network\", \"channel\" FROM \"subexclude\"",
                             std::move(none2));
  excludes_.clear();
  for (const sql::Row& row : rows) {
    excludes_.emplace(sql::as_int(row[0]), sql::as_text(row[1]), sql::as_text(row[2]));
  }
  log()->debug("{} subscriptions, {} excludes", triggers_.size(), excludes_.size());
}

const SubscriptionsHook::Trigger* SubscriptionsHook::find(const std::string& network,
                                                          const std::string& user,
                                                          const std::string& text) const {
  for (const Trigger& t : triggers_) {
    if (t.network == network && t.user == user && t.text == text) return &t;
  }
  return nullptr;
}

std::string SubscriptionsHook::words(const CommandContext& ctx) {
  std::string joined;
  for (const std::string& a : ctx.args) joined += (joined.empty() ? "" : " ") + a;
  std::string text = clean(joined);
  if (text.find_first_not_of(' ') == std::string::npos) ctx.usage();
  return text;
}

Task<> SubscriptionsHook::add(CommandContext& ctx) {
  if (!ctx.user) co_return;
  std::string text = words(ctx);
  std::string network = network_of(*ctx.user);
  std::string answer;
  if (find(network, ctx.user->id, text)) {
    answer = std::string(kTick) + " Already subscribed";
  } else {
    std::vector<sql::Value> params{network, ctx.user->id, text};
    sql::Rows rows = co_await db_->query(
        "INSERT INTO \"subtrigger\" (\"network\", \"user\", \"text\") VALUES (?, ?, ?) "
        "RETURNING \"id\"",
        std::move(params));
    triggers_.push_back(Trigger{sql::as_int(rows.at(0).at(0)), network, ctx.user->id, text});
    answer = std::string(kTick) + " Subscribed";
  }
  ctx.reply(std::move(answer));
}

Task<> SubscriptionsHook::remove(CommandContext& ctx) {
  if (!ctx.user) co_return;
  std::string text = words(ctx);
  const Trigger* t = find(network_of(*ctx.user), ctx.user->id, text);
  std::string answer;
  if (!t) {
    answer = std::string(kTick) + " Not subscribed";
  } else {
    std::int64_t id = t->id;
    std::vector<sql::Value> params{id};
    co_await db_->execute("DELETE FROM \"subexclude\" WHERE \"trigger_id\" = ?", std::move(params));
    std::vector<sql::Value> params2{id};
    co_await db_->execute("DELETE FROM \"subtrigger\" WHERE \"id\" = ?", std::move(params2));
    std::erase_if(triggers_, [&](const Trigger& x) { return x.id == id; });
    std::erase_if(excludes_, [&](const Exclude& e) { return std::get<0>(e) == id; });
    answer = std::string(kTick) + " Unsubscribed";
  }
  ctx.reply(std::move(answer));
}

Task<> SubscriptionsHook::list(CommandContext& ctx) {
  if (!ctx.user) co_return;
  std::string network = network_of(*ctx.user);
  std::vector<std::string> mine;
  for (const Trigger& t : triggers_) {
    if (t.network == network && t.user == ctx.user->id) mine.push_back(t.text);
  }
  std::sort(mine.begin(), mine.end());
  RichText text;
  if (mine.empty()) {
    text.append(seg("No active subscriptions."));
  } else {
    text.append(bold_seg("Your subscriptions:"));
    for (const auto& m : mine) text.append(seg("\n- " + m));
  }
  ctx.reply(std::move(text));
}

Task<> SubscriptionsHook::exclude(CommandContext& ctx) {
  if (!ctx.user) co_return;
  std::string text = words(ctx);
  const Trigger* t = find(network_of(*ctx.user), ctx.user->id, text);
  std::string answer;
  if (!t) {
    answer = std::string(kCross) + " Not subscribed";
  } else {
    Exclude key{t->id, network_id(ctx.channel), ctx.channel.source};
    if (excludes_.count(key)) {
      std::vector<sql::Value> params{t->id, std::get<1>(key), std::get<2>(key)};
      co_await db_->execute(
          "DELETE FROM \"subexclude\" WHERE \"trigger_id\" = ? AND \"network\" = ? AND "
          "\"channel\" = ?",
          std::move(params));
      excludes_.erase(key);
      answer = std::string(kTick) + " No longer excluded";
    } else {
      std::vector<sql::Value> params{t->id, std::get<1>(key), std::get<2>(key)};
      co_await db_->execute(
          "INSERT INTO \"subexclude\" (\"trigger_id\", \"network\", \"channel\") VALUES (?, ?, ?)",
          std::move(params));
      excludes_.insert(std::move(key));
      answer = std::string(kTick) + " Excluded";
    }
  }
  ctx.reply(std::move(answer));
}

Task<bool> SubscriptionsHook::channel_migrate(Channel old_channel, Channel new_channel) {
  if (!db_) co_return false;
  std::string old_net = network_id(old_channel);
  std::string new_net = network_id(new_channel);
  std::vector<sql::Value> params{new_net, new_channel.source, old_net, old_channel.source};
  std::int64_t count = co_await db_->execute(
      "UPDATE \"subexclude\" SET \"network\" = ?, \"channel\" = ? WHERE \"network\" = ? AND "
      "\"channel\" = ?",
      std::move(params));
  std::set<Exclude> moved;
  for (const Exclude& e : excludes_) {
    if (std::get<1>(e) == old_net && std::get<2>(e) == old_channel.source) {
      moved.emplace(std::get<0>(e), new_net, new_channel.source);
    } else {
      moved.insert(e);
    }
  }
  excludes_ = std::move(moved);
  co_return count > 0;
}

bool SubscriptionsHook::wants(const Received& r) const {
  return r.primary && !triggers_.empty() && r.source->text && !r.source->text->empty();
}

Task<> SubscriptionsHook::on_receive(const Received& r) {
  if (triggers_.empty()) co_return;
  std::optional<Audience> audience = co_await this->audience(r);
  if (!audience) co_return;
  std::map<std::pair<std::string, std::string>, UserPtr> present;
  for (const UserPtr& m : audience->members) present.emplace(std::pair{network_of(*m), m->id}, m);
  std::string text = clean(r.source->text->plain());
  std::string lookup_net = network_id(audience->lookup);
  // Per member, the words of theirs that were said and not muted here.
  std::map<UserKey, std::pair<UserPtr, std::set<std::string>>> triggered;
  for (const Trigger& t : triggers_) {
    auto it = present.find({t.network, t.user});
    if (it == present.end() || text.find(t.text) == std::string::npos) continue;
    if (excludes_.count(Exclude{t.id, lookup_net, audience->lookup.source})) continue;
    auto& entry = triggered[UserKey::of(*it->second)];
    entry.first = it->second;
    entry.second.insert(t.text);
  }
  Plug* plug = r.sent->channel.plug();
  for (auto& [key, entry] : triggered) {
    const Message& source = *r.source;
    if (source.user && UserKey::of(*source.user) == key) continue;
    Plug* user_plug = entry.first->plug();
    if (!user_plug) user_plug = plug;
    if (!user_plug) continue;
    std::string joined;
    for (const auto& w : entry.second) joined += (joined.empty() ? "" : ", ") + w;
    RichText what;
    what.append(seg(" mentioned "));
    what.append(italic_seg(joined));
    RichText anonymous;
    anonymous.append(italic_seg(joined));
    anonymous.append(seg(" mentioned"));
    RichText alert_body =
        co_await alert_text(*r.sent, source, std::move(what), std::move(anonymous));
    co_await alert(*user_plug, *entry.first, std::move(alert_body));
  }
}

}  // namespace immp::hooks
