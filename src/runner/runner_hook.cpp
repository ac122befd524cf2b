#include "runner/runner_hook.hpp"

#include <string>

#include "immp/host.hpp"

namespace immp {

namespace {

constexpr std::string_view kTick = "\xE2\x9C\x85";   // U+2705 WHITE HEAVY CHECK MARK
constexpr std::string_view kCross = "\xE2\x9D\x8C";  // U+274C CROSS MARK

}  // namespace

RunnerHook::RunnerHook(const Init& init) : Hook(init) {
  add_command({.name = "run-write",
               .help = "Force a write of the live config out to the configured file.",
               .scope = CommandScope::private_,
               .role = CommandRole::admin,
               .test = [this](const CommandCaller&) -> Task<bool> {
                 co_return control_ && control_->writeable();
               },
               .run = [this](CommandContext& ctx) -> Task<> {
                 bool written = control_->write_now();
                 ctx.reply(written ? std::string(kTick) + " Written"
                                   : std::string(kCross) + " Not written: see the log");
                 co_return;
               }});
  add_command(
      {.name = "reload",
       .help = "Reread the config file and apply what changed, as SIGHUP does.",
       .scope = CommandScope::private_,
       .role = CommandRole::admin,
       .test = [this](const CommandCaller&) -> Task<bool> { co_return control_ != nullptr; },
       .run = [this](CommandContext& ctx) -> Task<> {
         // The answer is posted by the reload's completion, which
         // may come after this hook was replaced: it holds only
         // the host and where to answer.
         Host* host = ctx.host;
         Channel where = ctx.typed_in;
         auto origin = std::make_shared<const Origin>(Origin{name(), "reload"});
         control_->reload_later([host, where, origin](bool applied) {
           auto msg = std::make_shared<Message>();
           msg->text = RichText(applied ? std::string(kTick) + " Reloaded"
                                        : std::string(kCross) + " Reload refused: see the log");
           host->post(where, std::move(msg), origin);
         });
         co_return;
       }});
}

}  // namespace immp
