// WhoIsHook (immp.hook.identity.WhoIsHook): the `who <name>` command, which
// shows a person's identity across the identity providers named in
// `identities`: which providers know them, their linked accounts and
// their roles. Unless `public`, only identified users may ask, and only
// the providers that know the caller are asked.
#pragma once

#include <string>
#include <vector>

#include "hooks/identity/identity.hpp"
#include "immp/command.hpp"
#include "immp/hook.hpp"

namespace immp::hooks {

class WhoIsHook final : public Hook, public CommandProvider {
 public:
  static constexpr std::string_view kPath = "immp.hook.identity.WhoIsHook";
  static constexpr std::string_view kDescription =
      "The who command: a person's identity and linked accounts across providers";
  static SpecPtr schema();

  explicit WhoIsHook(const Init& init);
  Task<> on_load() override;

 private:
  Task<> who(CommandContext& ctx);

  std::vector<std::string> names_;
  std::vector<IdentityDirectory*> providers_;  // set in on_load
  bool public_;
};

}  // namespace immp::hooks
