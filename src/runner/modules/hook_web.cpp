// The module library libimmp_builtin_hook_web.so (runner/builtins.hpp).
#include "hooks/web/web_hook.hpp"
#include "immp/registry.hpp"

IMMP_PLUGIN("immp.hook_web",
            immp::describe<immp::web::WebHook>())
