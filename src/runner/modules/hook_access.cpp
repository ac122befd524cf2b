// The module library libimmp_builtin_hook_access.so (runner/builtins.hpp).
#include "hooks/access/access_hook.hpp"
#include "immp/registry.hpp"

IMMP_PLUGIN("immp.hook_access",
            immp::describe<immp::hooks::ChannelAccessHook>())
