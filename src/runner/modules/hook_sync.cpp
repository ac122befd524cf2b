// The module library libimmp_builtin_hook_sync.so (runner/builtins.hpp).
#include "hooks/sync/sync_hook.hpp"
#include "immp/registry.hpp"

IMMP_PLUGIN("immp.hook_sync",
            immp::describe<immp::hooks::SyncHook>(),
            immp::describe<immp::hooks::ForwardHook>())
