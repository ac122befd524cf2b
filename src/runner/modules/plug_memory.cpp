// The module library libimmp_builtin_plug_memory.so (runner/builtins.hpp).
#include "plugs/memory/memory_plug.hpp"
#include "immp/registry.hpp"

IMMP_PLUGIN("immp.plug_memory",
            immp::describe<immp::plugs::MemoryPlug>())
