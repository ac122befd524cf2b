// The module library libimmp_builtin_hook_filter.so (runner/builtins.hpp).
#include "hooks/filter/filter_hook.hpp"
#include "immp/registry.hpp"

IMMP_PLUGIN("immp.hook_filter",
            immp::describe<immp::hooks::FilterHook>())
