// MentionsHook (immp.hook.alerts.MentionsHook): mentions for networks that
// have none of their own. `@name` in a message becomes a mention of the
// channel member it names (by username, or by real name with spaces and
// punctuation ignored, or by the start of one real name), and each
// member mentioned gets a private message with what was said and where.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hooks/alerts/alert_base.hpp"

namespace immp::hooks {

class MentionsHook final : public AlertHookBase {
 public:
  static constexpr std::string_view kPath = "immp.hook.alerts.MentionsHook";
  static constexpr std::string_view kDescription =
      "Turns @name into mentions and alerts mentioned users privately";
  static SpecPtr schema();

  explicit MentionsHook(const Init& init);

  // Marks `@name` that names exactly one member as a mention of them.
  Task<SentPtr> before_receive(const Received& r) override;
  // Alerts every member mentioned, the author excepted.
  Task<> on_receive(const Received& r) override;
  // Only messages with text that may mention someone.
  bool wants(const Received& r) const override;

  // The members `mention` ("@fred") names: one exact username, else every
  // exact real name, else the one real name it starts (all of them when
  // `ambiguous`), else none.
  std::vector<UserPtr> match(std::string_view mention, const std::vector<UserPtr>& members) const;

  // Byte ranges of `@\S+` in `text`.
  static std::vector<std::pair<std::size_t, std::size_t>> find_mentions(std::string_view text);
  // Lower case, without anything but letters, digits and underscores.
  static std::string clean(std::string_view text);

 private:
  bool usernames_;
  bool real_names_;
  bool ambiguous_;
};

}  // namespace immp::hooks
