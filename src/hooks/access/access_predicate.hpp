// AccessPredicate: how a hook tells ChannelAccessHook who may be in a
// channel (IMMP's immp.hook.access.AccessPredicate). A hook implements it
// as a second base, next to immp::Hook; ChannelAccessHook's `hooks` names
// it.
#pragma once

#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "immp/asio.hpp"
#include "immp/channel.hpp"
#include "immp/message.hpp"

namespace immp::hooks {

// One person in one channel, as a decision names it. Users are compared by
// plug and id, not by object.
struct Member {
  Channel channel;
  UserPtr user;
};

struct AccessDecisions {
  std::vector<Member> allowed;
  std::vector<Member> denied;  // wins over allowed when both name a pair
};

class AccessPredicate {
 public:
  virtual ~AccessPredicate() = default;

  // The channels this predicate wants to decide for, or nullopt to take
  // whatever ChannelAccessHook's `hooks` lists for it. When both are given
  // the intersection is used.
  virtual Task<std::optional<std::vector<Channel>>> access_channels() { co_return std::nullopt; }

  // Decides for each member: true allows, false denies, nullopt abstains.
  virtual Task<std::optional<bool>> channel_access(const Channel& channel, const User& user) = 0;

  // Decides for many at once; the default asks channel_access() for each,
  // skipping (with a warning from the caller) those that throw. Override
  // to decide in bulk.
  virtual Task<AccessDecisions> channel_access_multi(std::vector<Member> members);
};

}  // namespace immp::hooks
