// The module library libimmp_builtin_plug_dummy.so (runner/builtins.hpp).
#include "plugs/dummy/dummy_plug.hpp"
#include "immp/registry.hpp"

IMMP_PLUGIN("immp.plug_dummy",
            immp::describe<immp::plugs::DummyPlug>())
