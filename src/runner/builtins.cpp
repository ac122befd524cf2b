#include "runner/builtins.hpp"

#include "hooks/sync/sync_hook.hpp"
#include "plugs/console/console_plug.hpp"
#include "plugs/dummy/dummy_plug.hpp"
#include "plugs/irc/irc_plug.hpp"
#include "plugs/memory/memory_plug.hpp"
#include "runner/runner_hook.hpp"
#include "store/database_hook.hpp"

namespace immp {

const Module& builtin_module() {
  static const Module module{kAbiVersion, kBuildSignature, "builtin",
                             {
                                 describe<plugs::DummyPlug>(),
                                 describe<plugs::ConsolePlug>(),
                                 describe<plugs::MemoryPlug>(),
                                 describe<plugs::IRCPlug>(),
                                 describe<store::DatabaseHook>(),
                                 describe<store::AsyncDatabaseHook>(),
                                 describe<hooks::SyncHook>(),
                                 describe<hooks::ForwardHook>(),
                                 describe<RunnerHook>(),
                             }};
  return module;
}

}  // namespace immp
