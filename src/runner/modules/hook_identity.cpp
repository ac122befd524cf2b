// The module library libimmp_builtin_hook_identity.so (runner/builtins.hpp).
#include "hooks/identity/local_identity_hook.hpp"
#include "hooks/identity/whois_hook.hpp"
#include "immp/registry.hpp"

IMMP_PLUGIN("immp.hook_identity",
            immp::describe<immp::hooks::LocalIdentityHook>(),
            immp::describe<immp::hooks::WhoIsHook>())
