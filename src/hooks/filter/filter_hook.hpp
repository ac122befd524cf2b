// FilterHook (immp.hook.filter.FilterHook; new, IMMP has none): in the
// channels of its groups, drops messages from listed users or whose text
// matches a pattern, and rewrites text with pattern replacements, before
// any other hook sees them (before_receive). Several filters, each with
// its own groups, give different rules to different rooms.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "hooks/autorespond/pattern_set.hpp"
#include "immp/hook.hpp"
#include "immp/host.hpp"

namespace immp::hooks {

class FilterHook final : public Hook {
 public:
  static constexpr std::string_view kPath = "immp.hook.filter.FilterHook";
  static constexpr std::string_view kDescription =
      "Drops messages from listed users or matching patterns, and rewrites text, per group";
  static SpecPtr schema();

  explicit FilterHook(const Init& init);

  // Not the echoes of this host's own posts, nor messages without a user
  // or text to judge.
  bool wants(const Received& r) const override;
  // Null (dropped), the message itself, or a copy with its text rewritten.
  Task<SentPtr> before_receive(const Received& r) override;

  struct Counts {
    std::uint64_t dropped_users = 0;
    std::uint64_t dropped_text = 0;
    std::uint64_t rewritten = 0;
  };
  const Counts& counts() const { return counts_; }

 private:
  Task<bool> in_groups(const Channel& channel);
  bool blocked(const User& user) const;

  std::vector<const Group*> groups_;
  std::map<std::string, std::vector<std::string>, std::less<>> users_;  // plug -> ids/usernames
  std::unique_ptr<PatternSet> drop_;
  std::unique_ptr<PatternSet> rewrite_;
  std::vector<std::string> replacements_;  // per rewrite_ pattern
  std::unordered_map<Channel, bool> membership_;
  std::vector<std::size_t> hits_;
  Counts counts_;
};

}  // namespace immp::hooks
