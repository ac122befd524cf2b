// What MentionsHook and SubscriptionsHook share (IMMP's AlertHookBase):
// the `groups` whose plugs they serve, who is in a channel, the sync
// translation, and the alert sent privately.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "immp/hook.hpp"

namespace immp::hooks {

// A user as a comparable value: plug handle and id.
struct UserKey {
  const PlugHandle* plug = nullptr;
  std::string id;
  auto operator<=>(const UserKey&) const = default;
  static UserKey of(const User& u) { return UserKey{u.handle, u.id}; }
};

class AlertHookBase : public Hook {
 public:
  explicit AlertHookBase(const Init& init);
  Task<> on_load() override;

 protected:
  // The config fields every alert hook has.
  static std::vector<Field> base_fields();

  // Whether `plug` belongs to one of our groups.
  bool serves(const PlugHandle* plug) const;

  // Where a message is and who is there, for alerting.
  struct Audience {
    Channel lookup;                // where settings (excludes) are read: the synced channel
    std::vector<UserPtr> members;  // members of the message's own channel on our plugs
  };
  // nullopt when the message is not for alerts: secondary parts, no text,
  // private channels, the sync's virtual channels (their native copies
  // alert instead), channels whose plug cannot list members, or no member
  // on our plugs.
  Task<std::optional<Audience>> audience(const Received& r);

  // "<author> <what>[ in <title>]:\n<text>[\nGo to user][\nGo to channel]",
  // as IMMP words its alerts. `what` follows the bold author; without an
  // author, `anonymous` is used as the start instead.
  Task<RichText> alert_text(const SentMessage& sent, const Message& source, RichText what,
                            RichText anonymous);
  // Posts `text` to `user`'s private channel on `plug`, if it has one.
  Task<bool> alert(Plug& plug, const User& user, RichText text);

  // The channel of a sync's virtual plug that bridges `channel`, if any.
  std::optional<Channel> synced(const Channel& channel) const;

 private:
  std::vector<std::string> groups_;
};

}  // namespace immp::hooks
