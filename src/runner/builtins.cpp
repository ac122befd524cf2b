#include "runner/builtins.hpp"

#include "hooks/access/access_hook.hpp"
#include "hooks/alerts/mentions_hook.hpp"
#include "hooks/alerts/subscriptions_hook.hpp"
#include "hooks/autorespond/autorespond_hook.hpp"
#include "hooks/command/command_hook.hpp"
#include "hooks/filter/filter_hook.hpp"
#include "hooks/identity/local_identity_hook.hpp"
#include "hooks/identity/whois_hook.hpp"
#include "hooks/notes/notes_hook.hpp"
#include "hooks/sync/sync_hook.hpp"
#include "hooks/textcommand/textcommand_hook.hpp"
#include "hooks/web/web_hook.hpp"
#include "hooks/webui/webui_hook.hpp"
#include "plugs/console/console_plug.hpp"
#include "plugs/dummy/dummy_plug.hpp"
#include "plugs/github/github_plug.hpp"
#include "plugs/irc/irc_plug.hpp"
#include "plugs/memory/memory_plug.hpp"
#include "plugs/web/web_plug.hpp"
#include "plugs/xmpp/xmpp_plug.hpp"
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
                                 describe<plugs::XMPPPlug>(),
                                 describe<store::DatabaseHook>(),
                                 describe<store::AsyncDatabaseHook>(),
                                 describe<hooks::SyncHook>(),
                                 describe<hooks::ForwardHook>(),
                                 describe<RunnerHook>(),
                                 describe<hooks::MentionsHook>(),
                                 describe<hooks::ChannelAccessHook>(),
                                 describe<hooks::SubscriptionsHook>(),
                                 describe<hooks::NotesHook>(),
                                 describe<hooks::LocalIdentityHook>(),
                                 describe<hooks::WhoIsHook>(),
                                 // Bots (issue 10).
                                 describe<hooks::CommandHook>(),
                                 describe<hooks::TextCommandHook>(),
                                 describe<hooks::AutoRespondHook>(),
                                 describe<hooks::FilterHook>(),
                                 // The web (issue 12).
                                 describe<web::WebHook>(),
                                 describe<plugs::WebPlug>(),
                                 describe<plugs::GitHubPlug>(),
                                 describe<webui::WebUIHook>(),
                             }};
  return module;
}

void register_builtins(Registry& registry) { registry.add(builtin_module(), "immp"); }

}  // namespace immp
