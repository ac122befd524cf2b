// The module library libimmp_builtin_hook_autorespond.so (runner/builtins.hpp).
#include "hooks/autorespond/autorespond_hook.hpp"
#include "immp/registry.hpp"

IMMP_PLUGIN("immp.hook_autorespond",
            immp::describe<immp::hooks::AutoRespondHook>())
