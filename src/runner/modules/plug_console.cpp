// The module library libimmp_builtin_plug_console.so (runner/builtins.hpp).
#include "plugs/console/console_plug.hpp"
#include "immp/registry.hpp"

IMMP_PLUGIN("immp.plug_console",
            immp::describe<immp::plugs::ConsolePlug>())
