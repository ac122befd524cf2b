// The module library libimmp_builtin_hook_alerts.so (runner/builtins.hpp).
#include "hooks/alerts/mentions_hook.hpp"
#include "hooks/alerts/subscriptions_hook.hpp"
#include "immp/registry.hpp"

IMMP_PLUGIN("immp.hook_alerts",
            immp::describe<immp::hooks::MentionsHook>(),
            immp::describe<immp::hooks::SubscriptionsHook>())
