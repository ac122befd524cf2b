#include "runner/runner_hook.hpp"

#include <stdexcept>
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

std::optional<ConfigEditor::Entry> RunnerHook::entry(Kind kind, std::string_view name) const {
  if (!control_) return std::nullopt;
  return control_->editor().entry(kind, name);
}

std::vector<std::string> RunnerHook::classes(Kind kind) const {
  if (!control_) return {};
  return control_->editor().classes(kind);
}

Task<ConfigWarnings> RunnerHook::put(Kind kind, std::string name, std::string path, Node config) {
  if (!control_) throw std::logic_error("no runner: the config cannot be edited");
  // The runner, not this hook, does the work: the edit may replace any
  // hook, and the runner outlives them all.
  ConfigEditor& editor = control_->editor();
  auto done = editor.put(kind, std::move(name), std::move(path), std::move(config));
  ConfigWarnings warnings = co_await std::move(done);
  co_return warnings;
}

}  // namespace immp
