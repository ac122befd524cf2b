// The module library libimmp_builtin_plug_web.so (runner/builtins.hpp).
#include "plugs/web/web_plug.hpp"
#include "immp/registry.hpp"

IMMP_PLUGIN("immp.plug_web",
            immp::describe<immp::plugs::WebPlug>())
