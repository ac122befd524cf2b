#include <link.h>

#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "runner/builtins.hpp"

namespace immp {

const std::vector<BuiltinLibrary>& builtin_libraries() {
  using K = ClassInfo::Kind;
  static const std::vector<BuiltinLibrary> libraries{
      {"immp.plug.dummy.DummyPlug", K::plug, "plug_dummy"},
      {"immp.plug.console.ConsolePlug", K::plug, "plug_console"},
      {"immp.plug.memory.MemoryPlug", K::plug, "plug_memory"},
      {"immp.plug.irc.IRCPlug", K::plug, "plug_irc"},
      {"immp.plug.xmpp.XMPPPlug", K::plug, "plug_xmpp"},
      {"immp.hook.database.DatabaseHook", K::hook, "store"},
      {"immp.hook.database.AsyncDatabaseHook", K::hook, "store"},
      {"immp.hook.sync.SyncHook", K::hook, "hook_sync"},
      {"immp.hook.sync.ForwardHook", K::hook, "hook_sync"},
      {"immp.hook.alerts.MentionsHook", K::hook, "hook_alerts"},
      {"immp.hook.alerts.SubscriptionsHook", K::hook, "hook_alerts"},
      {"immp.hook.access.ChannelAccessHook", K::hook, "hook_access"},
      {"immp.hook.notes.NotesHook", K::hook, "hook_notes"},
      {"immp.hook.identitylocal.LocalIdentityHook", K::hook, "hook_identity"},
      {"immp.hook.identity.WhoIsHook", K::hook, "hook_identity"},
      {"immp.hook.command.CommandHook", K::hook, "hook_command"},
      {"immp.hook.textcommand.TextCommandHook", K::hook, "hook_textcommand"},
      {"immp.hook.autorespond.AutoRespondHook", K::hook, "hook_autorespond"},
      {"immp.hook.filter.FilterHook", K::hook, "hook_filter"},
      {"immp.hook.web.WebHook", K::hook, "hook_web"},
      {"immp.plug.web.WebPlug", K::plug, "plug_web"},
      {"immp.plug.github.GitHubPlug", K::plug, "plug_github"},
      {"immp.hook.webui.WebUIHook", K::hook, "hook_webui"},
  };
  return libraries;
}

namespace {

// The folder of the layers: where the loaded libimmp_operators.so (which
// the runner links) came from. The module libraries sit beside it, in the
// build tree and once installed (lib/immp/). By full path, not by a bare
// name for the command's runtime path: a tool that wraps dlopen (heaptrack,
// the sanitizers) becomes the caller whose runtime path is searched.
std::filesystem::path layers_dir() {
  std::filesystem::path found;
  ::dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* out) {
        std::filesystem::path file = info->dlpi_name ? info->dlpi_name : "";
        if (file.filename() != "libimmp_operators.so") return 0;
        *static_cast<std::filesystem::path*>(out) = file.parent_path();
        return 1;
      },
      &found);
  return found;
}

}  // namespace

const Module& load_builtin_library(std::string_view library) {
  static const std::filesystem::path dir = layers_dir();
  std::string file = fmt::format("libimmp_builtin_{}.so", library);
  if (!dir.empty() && std::filesystem::exists(dir / file)) file = (dir / file).string();
  const Module* module =
      open_module(file, /*global=*/true, "immp's built-in module", "reinstall immp").module;
  // Never unloaded, like a linked library.
  return *module;
}

}  // namespace immp
