// The built-in plugs and hooks: every one that ships with immp, registered
// the same way as an external plugin's module. They live with the runner,
// the one layer that may see every plug and hook; the core knows none of
// them. Add a line to builtins.cpp for each new class, and one to
// builtin_libraries.cpp (with its module file in runner/modules/ when it is
// a new layer): builtins_test.cpp holds the two lists together.
#pragma once

#include <string_view>
#include <vector>

#include "core/registry.hpp"
#include "immp/registry.hpp"

namespace immp {

// The module of every built-in plug and hook (linking it links every layer).
const Module& builtin_module();

// What the Runner registers as the built-ins. builtins.cpp (in immp_runner,
// what tests link) adds builtin_module(). The `immp` command instead links
// builtins_deferred.cpp: it defers every class to its layer's module
// library, so that a process loads only the layers its config names (each
// layer it loads and its dependencies cost resident memory, mostly pages
// of code and symbol tables that the loader touches).
void register_builtins(Registry& registry);

// The deferred built-ins: a class, its kind, and the module library that
// has it: libimmp_builtin_<library>.so, built from runner/modules/<library>.cpp.
struct BuiltinLibrary {
  std::string_view path;
  ClassInfo::Kind kind;
  std::string_view library;
};
const std::vector<BuiltinLibrary>& builtin_libraries();

// Loads libimmp_builtin_<library>.so (found like the layers the command
// links: next to it in the build tree, in lib/immp/ once installed) and
// returns its module. Its symbols are global, as a linked layer's are.
// Throws std::runtime_error when it is missing or was built for another immp.
const Module& load_builtin_library(std::string_view library);

}  // namespace immp
