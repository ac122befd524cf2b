// The module library libimmp_builtin_hook_webui.so (runner/builtins.hpp).
#include "hooks/webui/webui_hook.hpp"
#include "immp/registry.hpp"

IMMP_PLUGIN("immp.hook_webui",
            immp::describe<immp::webui::WebUIHook>())
