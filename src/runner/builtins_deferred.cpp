// The `immp` command's built-ins (see builtins.hpp): the runner's own hook,
// and every other class deferred to its layer's module library.
#include "runner/builtins.hpp"
#include "runner/runner_hook.hpp"

namespace immp {

void register_builtins(Registry& registry) {
  static const Module runner{kAbiVersion, kBuildSignature, "immp", {describe<RunnerHook>()}};
  registry.add(runner, "immp");
  for (const BuiltinLibrary& b : builtin_libraries()) {
    registry.defer(std::string(b.path), b.kind,
                   [library = b.library]() -> const Module& { return load_builtin_library(library); });
  }
}

}  // namespace immp
