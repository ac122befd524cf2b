// Every built-in plug and hook, registered the same way as an external
// plugin's module. Add a line here for each new class.
#include "core/registry.hpp"
#include "plugs/console/console_plug.hpp"
#include "plugs/dummy/dummy_plug.hpp"
#include "plugs/memory/memory_plug.hpp"

namespace immp {

const Module& builtin_module() {
  static const Module module{kAbiVersion, kBuildSignature, "builtin",
                             {
                                 describe<plugs::DummyPlug>(),
                                 describe<plugs::ConsolePlug>(),
                                 describe<plugs::MemoryPlug>(),
                             }};
  return module;
}

}  // namespace immp
