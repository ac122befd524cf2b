// Commands in tests of hooks that offer them: the real CommandHook, behind
// "!", offering the named hooks' commands on the channels of a group.
#pragma once

#include <string>

#include "hooks/command/command_hook.hpp"
#include "immp/host.hpp"
#include "support/hooks.hpp"

namespace immp::test {

// Adds CommandHook "commands" with prefix "!" and one mapping: the hooks in
// `hooks` ("[notes, ids]") on the channels of `group`.
inline hooks::CommandHook& add_command_hook(Host& host, const std::string& group,
                                            const std::string& hooks) {
  return add_hook<hooks::CommandHook>(
      host, "commands",
      "prefix: \"!\"\nmapping: {all: {groups: [" + group + "], hooks: " + hooks + "}}");
}

}  // namespace immp::test
