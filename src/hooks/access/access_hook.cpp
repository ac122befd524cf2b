#include "hooks/access/access_hook.hpp"

#include <algorithm>
#include <set>
#include <unordered_set>

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

// A member as a comparable key: plug handle, user id and channel.
struct MemberKey {
  const PlugHandle* user_plug;
  std::string user;
  Channel channel;
  bool operator<(const MemberKey& o) const {
    return std::tie(user_plug, user, channel.handle, channel.source) <
           std::tie(o.user_plug, o.user, o.channel.handle, o.channel.source);
  }
};
MemberKey key_of(const Channel& channel, const User& user) {
  return MemberKey{user.handle, user.id, channel};
}

bool same_user(const User& a, const User& b) { return a.handle == b.handle && a.id == b.id; }

}  // namespace

Task<AccessDecisions> AccessPredicate::channel_access_multi(std::vector<Member> members) {
  AccessDecisions out;
  for (Member& m : members) {
    std::optional<bool> decision = co_await channel_access(m.channel, *m.user);
    if (!decision) continue;
    (*decision ? out.allowed : out.denied).push_back(std::move(m));
  }
  co_return out;
}

SpecPtr ChannelAccessHook::schema() {
  return object({
      {"hooks", map_of(any()), Node::map(),
       "access predicate hook -> channel names it guards (null: the hook's own list)"},
      {"exclude", map_of(list_of(text())), Node::map(), "plug -> user ids never checked"},
      {"joins", boolean(), true, "check each join as it happens"},
      {"startup", boolean(), false, "check every member of the guarded channels at start"},
      {"passive", boolean(), false, "only report who would be removed"},
      {"default", boolean(), true, "allow when no predicate decides"},
  });
}

ChannelAccessHook::ChannelAccessHook(const Init& init)
    : Hook(init),
      joins_(config().at("joins").as_bool()),
      startup_(config().at("startup").as_bool()),
      passive_(config().at("passive").as_bool()),
      default_(config().at("default").as_bool()) {
  for (const auto& [hook_name, channels] : config().at("hooks").as_map()) {
    Guard guard;
    guard.name = hook_name;
    if (!channels.is_null()) {
      if (!channels.is_list()) channels.fail("expected a list of channel names or null");
      guard.channels.emplace();
      for (const Node& c : channels.as_list()) {
        auto channel = init.host.channel(c.as_text());
        if (!channel) c.fail("unknown channel '" + c.as_text() + "'");
        guard.channels->push_back(*channel);
      }
    }
    guards_.push_back(std::move(guard));
  }
  for (const auto& [plug, users] : config().at("exclude").as_map()) {
    if (!init.host.plug(plug)) config().at("exclude").at(plug).fail("unknown plug '" + plug + "'");
    for (const Node& u : users.as_list()) exclude_[plug].push_back(u.as_text());
  }
}

ChannelAccessHook::~ChannelAccessHook() = default;

Task<> ChannelAccessHook::on_load() {
  const Node& hooks = config().at("hooks");
  for (Guard& guard : guards_) {
    Hook* h = host().hook(guard.name);
    guard.predicate = dynamic_cast<AccessPredicate*>(h);
    if (!guard.predicate) {
      hooks.at(guard.name).fail(h ? "'" + guard.name + "' is not an access predicate hook"
                                  : "unknown hook '" + guard.name + "'");
    }
  }
  co_return;
}

Task<> ChannelAccessHook::on_ready() {
  if (!startup_) {
    startup_done_ = true;
    co_return;
  }
  tasks_ = std::make_unique<TaskGroup>(host().executor(), log());
  auto check = [](ChannelAccessHook* self) -> Task<> {
    self->log()->debug("running startup access checks");
    std::vector<Member> denied = co_await self->verify();
    self->startup_done_ = true;
    self->log()->info("startup access checks done: {} denied", denied.size());
  };
  tasks_->spawn("startup check", check(this));
  co_return;
}

Task<> ChannelAccessHook::stop() {
  if (tasks_) co_await tasks_->stop();
  co_return;
}

bool ChannelAccessHook::wants(const Received& r) const {
  return joins_ && !r.sent->joined.empty();
}

Task<> ChannelAccessHook::on_receive(const Received& r) {
  // Joins as the network reports them: not our own posts, not secondary parts.
  if (!joins_ || !r.primary || r.origin || r.source.get() != r.sent.get() ||
      r.sent->joined.empty()) {
    co_return;
  }
  std::unordered_map<Channel, std::vector<UserPtr>> members;
  members[r.sent->channel] = r.sent->joined;
  std::vector<Member> denied = co_await verify(std::move(members));
  (void)denied;
}

Task<std::optional<bool>> ChannelAccessHook::channel_access(const Channel&, const User&) {
  co_return false;
}

bool ChannelAccessHook::excluded(const User& user) const {
  Plug* plug = user.plug();
  if (!plug) return false;
  auto it = exclude_.find(plug->name());
  if (it == exclude_.end()) return false;
  return std::find(it->second.begin(), it->second.end(), user.id) != it->second.end();
}

Task<std::vector<Member>> ChannelAccessHook::verify(
    std::optional<std::unordered_map<Channel, std::vector<UserPtr>>> members) {
  // Which channels each predicate guards.
  std::vector<std::pair<AccessPredicate*, std::vector<Channel>>> grouped;
  std::vector<Channel> everywhere;
  for (const Guard& guard : guards_) {
    if (!guard.predicate) continue;
    std::optional<std::vector<Channel>> interested;
    try {
      interested = co_await guard.predicate->access_channels();
    } catch (const std::exception& e) {
      log()->warn("access predicate {} failed to list its channels: {}", guard.name, e.what());
      continue;
    }
    std::vector<Channel> wanted;
    if (guard.channels && interested) {
      for (const Channel& c : *guard.channels) {
        if (std::find(interested->begin(), interested->end(), c) != interested->end()) {
          wanted.push_back(c);
        }
      }
    } else if (guard.channels || interested) {
      wanted = guard.channels ? *guard.channels : *interested;
    } else {
      log()->warn("access predicate {} guards no channels", guard.name);
      continue;
    }
    if (members) {
      std::erase_if(wanted, [&](const Channel& c) { return !members->count(c); });
    }
    for (const Channel& c : wanted) {
      if (std::find(everywhere.begin(), everywhere.end(), c) == everywhere.end()) {
        everywhere.push_back(c);
      }
    }
    if (!wanted.empty()) grouped.emplace_back(guard.predicate, std::move(wanted));
  }

  // Who is to be checked in each channel: the given users that are still
  // there, or everyone there; never excluded or system users.
  std::unordered_map<Channel, std::vector<UserPtr>> targets;
  for (const Channel& channel : everywhere) {
    Plug* plug = channel.plug();
    if (!plug) continue;
    std::optional<std::vector<UserPtr>> current;
    try {
      current = co_await plug->channel_members(channel);
    } catch (const std::exception& e) {
      log()->warn("cannot list the members of {}: {}", channel.repr(), e.what());
      continue;
    }
    const std::vector<UserPtr>* users = nullptr;
    if (members) users = &members->at(channel);
    if (!users && current) users = &*current;
    if (!users) {
      log()->warn("cannot list the members of {}: the plug does not tell", channel.repr());
      continue;
    }
    for (const UserPtr& user : *users) {
      if (!user) continue;
      if (current && std::none_of(current->begin(), current->end(), [&](const UserPtr& u) {
            return u && same_user(*u, *user);
          })) {
        continue;  // left meanwhile
      }
      if (excluded(*user)) continue;
      bool system = false;
      if (Plug* up = user->plug()) system = co_await up->user_is_system(*user);
      if (system) continue;
      targets[channel].push_back(user);
    }
  }

  std::set<MemberKey> allowed;
  std::set<MemberKey> denied;
  for (auto& [predicate, channels] : grouped) {
    std::vector<Member> asked;
    for (const Channel& c : channels) {
      auto it = targets.find(c);
      if (it == targets.end()) continue;
      for (const UserPtr& u : it->second) asked.push_back(Member{c, u});
    }
    if (asked.empty()) continue;
    AccessDecisions decisions;
    try {
      decisions = co_await predicate->channel_access_multi(std::move(asked));
    } catch (const std::exception& e) {
      auto* hook = dynamic_cast<Hook*>(predicate);
      log()->warn("access predicate {} failed: {}", hook ? hook->name() : "?", e.what());
      continue;
    }
    for (const Member& m : decisions.allowed) allowed.insert(key_of(m.channel, *m.user));
    for (const Member& m : decisions.denied) denied.insert(key_of(m.channel, *m.user));
  }

  // A busy channel's joins would grow the record without end.
  auto report = [this](Report r) {
    if (reports_.size() >= kMaxReports) {
      reports_.erase(reports_.begin(), reports_.begin() + kMaxReports / 2);
    }
    reports_.push_back(std::move(r));
  };
  std::vector<Member> refused;
  for (const Channel& channel : everywhere) {
    auto it = targets.find(channel);
    if (it == targets.end()) continue;
    for (const UserPtr& user : it->second) {
      MemberKey key = key_of(channel, *user);
      bool allow = denied.count(key) ? false : allowed.count(key) ? true : default_;
      if (!allow) refused.push_back(Member{channel, user});
    }
  }
  for (const Member& m : refused) {
    if (passive_) {
      log()->warn("would remove {} from {} (passive)", m.user->display_name(), m.channel.repr());
      report(Report{m.channel, m.user, false});
      continue;
    }
    Plug* plug = m.channel.plug();
    if (!plug) continue;
    try {
      co_await plug->channel_remove(m.channel, *m.user);
      log()->info("removed {} from {}", m.user->display_name(), m.channel.repr());
      report(Report{m.channel, m.user, true});
    } catch (const std::exception& e) {
      log()->warn("cannot remove {} from {}: {}", m.user->display_name(), m.channel.repr(),
                  e.what());
    }
  }
  co_return refused;
}

}  // namespace immp::hooks
