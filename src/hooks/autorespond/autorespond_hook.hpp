// AutoRespondHook (immp.hook.autorespond.AutoRespondHook): answers text
// that matches a pattern with that pattern's response, in the channels of
// its groups. `ar-add` and `ar-remove` change `responses` while running;
// with `immp -w` the config file is written back.
//
// Loops: it never answers an echo of anything this host posted (its own
// answers included), and a pattern that answered in a channel stays quiet
// there for `cooldown` seconds, so two bots that answer each other stop
// after one round.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "hooks/autorespond/pattern_set.hpp"
#include "immp/command.hpp"
#include "immp/hook.hpp"
#include "immp/host.hpp"

namespace immp::hooks {

class AutoRespondHook final : public Hook, public CommandProvider {
 public:
  static constexpr std::string_view kPath = "immp.hook.autorespond.AutoRespondHook";
  static constexpr std::string_view kDescription =
      "Answers text matching a pattern with a response; ar-add and ar-remove change them live";
  static SpecPtr schema();

  explicit AutoRespondHook(const Init& init);

  // Only primary text from anyone but this host, in a channel of `groups`
  // (as far as that is known without asking the network).
  bool wants(const Received& r) const override;
  Task<> on_receive(const Received& r) override;

  // The patterns, in config order, and the compiled set.
  const std::vector<std::pair<std::string, std::string>>& responses() const { return responses_; }
  const PatternSet& patterns() const { return *set_; }

 private:
  void compile();
  Task<bool> in_groups(const Channel& channel);
  Clock::time_point now() const;
  Task<> add(CommandContext& ctx);
  Task<> remove(CommandContext& ctx);
  // The live config with `responses_` written into it.
  void save();

  std::vector<const Group*> groups_;
  std::vector<std::pair<std::string, std::string>> responses_;  // pattern -> response
  std::unique_ptr<PatternSet> set_;
  Clock::duration cooldown_{};
  // (channel, pattern) -> when it last answered there.
  struct Key {
    Channel channel;
    std::string pattern;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept {
      return std::hash<Channel>()(k.channel) ^ (std::hash<std::string>()(k.pattern) << 1);
    }
  };
  std::unordered_map<Key, Clock::time_point, KeyHash> last_;
  std::unordered_map<Channel, bool> membership_;  // channel -> in a group
  std::vector<std::size_t> hits_;                 // reused for every message
  OriginPtr origin_;
};

}  // namespace immp::hooks
