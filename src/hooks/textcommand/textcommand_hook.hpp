// TextCommandHook (immp.hook.textcommand.TextCommandHook): commands that
// answer with a fixed text, one per entry of `commands`. CommandHook
// offers them like any other hook's commands (list the hook in a mapping).
#pragma once

#include "immp/command.hpp"
#include "immp/hook.hpp"

namespace immp::hooks {

class TextCommandHook final : public Hook, public CommandProvider {
 public:
  static constexpr std::string_view kPath = "immp.hook.textcommand.TextCommandHook";
  static constexpr std::string_view kDescription =
      "Commands that answer with a fixed text (rules, links, FAQs)";
  static SpecPtr schema();

  explicit TextCommandHook(const Init& init);
};

}  // namespace immp::hooks
