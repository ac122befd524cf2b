// The module library libimmp_builtin_store.so (runner/builtins.hpp).
#include "store/database_hook.hpp"
#include "immp/registry.hpp"

IMMP_PLUGIN("immp.store",
            immp::describe<immp::store::DatabaseHook>(),
            immp::describe<immp::store::AsyncDatabaseHook>())
