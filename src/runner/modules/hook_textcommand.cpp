// The module library libimmp_builtin_hook_textcommand.so (runner/builtins.hpp).
#include "hooks/textcommand/textcommand_hook.hpp"
#include "immp/registry.hpp"

IMMP_PLUGIN("immp.hook_textcommand",
            immp::describe<immp::hooks::TextCommandHook>())
