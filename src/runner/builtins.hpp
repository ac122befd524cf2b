// The built-in module: every plug and hook that ships with immp, registered
// the same way as an external plugin's module. It lives with the runner, the
// one layer that may see every plug and hook; the core knows none of them.
// Add a line to builtins.cpp for each new class.
#pragma once

#include "immp/registry.hpp"

namespace immp {

// The module of every built-in plug and hook.
const Module& builtin_module();

}  // namespace immp
