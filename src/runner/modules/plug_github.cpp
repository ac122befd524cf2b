// The module library libimmp_builtin_plug_github.so (runner/builtins.hpp).
#include "plugs/github/github_plug.hpp"
#include "immp/registry.hpp"

IMMP_PLUGIN("immp.plug_github",
            immp::describe<immp::plugs::GitHubPlug>())
