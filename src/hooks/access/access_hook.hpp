// ChannelAccessHook (immp.hook.access.ChannelAccessHook): keeps channels to
// the people allowed in them. Predicate hooks (AccessPredicate, named under
// `hooks` with the channels each one guards) decide who may be in a
// channel; each join is checked as it happens (`joins`), every member of
// every guarded channel once everything has started (`startup`), and those
// denied are removed through the plug (Plug::channel_remove), or only
// reported in the log when `passive`.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "hooks/access/access_predicate.hpp"
#include "immp/hook.hpp"
#include "immp/tasks.hpp"

namespace immp::hooks {

class ChannelAccessHook final : public Hook, public AccessPredicate {
 public:
  static constexpr std::string_view kPath = "immp.hook.access.ChannelAccessHook";
  static constexpr std::string_view kDescription =
      "Removes users that access predicates deny from the channels they guard";
  static SpecPtr schema();

  explicit ChannelAccessHook(const Init& init);
  ~ChannelAccessHook() override;

  Task<> on_load() override;
  Task<> on_ready() override;
  Task<> stop() override;
  Task<> on_receive(const Received& r) override;
  // Only joins, and only when `joins` is set.
  bool wants(const Received& r) const override;

  // As a predicate of its own (IMMP's example): denies everyone.
  Task<std::optional<bool>> channel_access(const Channel& channel, const User& user) override;

  // Checks the members of every guarded channel, or only `members` (users
  // per channel) when given, and removes (or, passive, reports) those
  // denied. Returns the members found denied.
  Task<std::vector<Member>> verify(
      std::optional<std::unordered_map<Channel, std::vector<UserPtr>>> members = std::nullopt);

  // The latest denials (up to kMaxReports), for the admin UI and tests:
  // who, where, and whether they were removed (false in passive mode).
  struct Report {
    Channel channel;
    UserPtr user;
    bool removed = false;
  };
  const std::vector<Report>& reports() const { return reports_; }
  static constexpr std::size_t kMaxReports = 1000;
  // Startup checks finished (or `startup` is off).
  bool ready() const { return startup_done_; }

 private:
  struct Guard {
    std::string name;                              // the predicate hook's name
    AccessPredicate* predicate = nullptr;          // set in on_load
    std::optional<std::vector<Channel>> channels;  // nullopt: the predicate's own list
  };
  bool excluded(const User& user) const;

  std::vector<Guard> guards_;
  std::map<std::string, std::vector<std::string>, std::less<>> exclude_;  // plug -> user ids
  bool joins_;
  bool startup_;
  bool passive_;
  bool default_;
  bool startup_done_ = false;
  std::vector<Report> reports_;
  std::unique_ptr<TaskGroup> tasks_;
};

}  // namespace immp::hooks
