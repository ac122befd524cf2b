// SubscriptionsHook (immp.hook.alerts.SubscriptionsHook): highlight words.
// Each user keeps a list of words or phrases (sub-add, sub-remove,
// sub-list, in private), may mute one in a channel (sub-exclude, in that
// channel), and is told privately when one is said in a channel they are
// in. Stored in the database resource in IMMP's tables `subtrigger` and
// `subexclude`, and held in memory, so that matching a message costs no
// database round trip.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "hooks/alerts/alert_base.hpp"
#include "immp/command.hpp"
#include "immp/database.hpp"

namespace immp::hooks {

class SubscriptionsHook final : public AlertHookBase, public CommandProvider {
 public:
  static constexpr std::string_view kPath = "immp.hook.alerts.SubscriptionsHook";
  static constexpr std::string_view kDescription =
      "Alerts users privately when their chosen words are said where they are";
  static SpecPtr schema();

  explicit SubscriptionsHook(const Init& init);

  Task<> start() override;
  Task<> on_receive(const Received& r) override;
  bool wants(const Received& r) const override;
  Task<bool> channel_migrate(Channel old_channel, Channel new_channel) override;

  // Lower case, only letters, digits, underscores and spaces (IMMP's
  // `[^\w ]` removed).
  static std::string clean(std::string_view text);

 private:
  struct Trigger {
    std::int64_t id = 0;
    std::string network;  // IMMP's network id of the user's plug
    std::string user;     // the user's id
    std::string text;     // cleaned
  };
  using Exclude = std::tuple<std::int64_t, std::string, std::string>;  // trigger, network, channel

  Task<> add(CommandContext& ctx);
  Task<> remove(CommandContext& ctx);
  Task<> list(CommandContext& ctx);
  Task<> exclude(CommandContext& ctx);
  Task<> load();
  // The commands' test: typed on a plug of our groups.
  Task<bool> offered(Channel typed_in) const;
  // The caller's words, cleaned; BadUsage when nothing is left.
  static std::string words(const CommandContext& ctx);
  static std::string network_of(const User& user);
  const Trigger* find(const std::string& network, const std::string& user,
                      const std::string& text) const;

  Database* db_ = nullptr;
  std::vector<Trigger> triggers_;
  std::set<Exclude> excludes_;
};

}  // namespace immp::hooks
