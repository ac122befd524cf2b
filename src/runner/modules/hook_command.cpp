// The module library libimmp_builtin_hook_command.so (runner/builtins.hpp).
#include "hooks/command/command_hook.hpp"
#include "immp/registry.hpp"

IMMP_PLUGIN("immp.hook_command",
            immp::describe<immp::hooks::CommandHook>())
