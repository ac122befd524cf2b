// IMMP's RunnerHook (immp.hook.runner.RunnerHook): the runner's own hook.
//
// As in IMMP (immp/hook/runner.py), the runner adds one named `runner`
// unless the config lists one, so that a command mapping can name it. It
// takes no config. It offers two commands, both private and for the
// mapping's admins only:
//   run-write  writes the live config to the file now (only with -w, as
//              IMMP: the command is not offered otherwise);
//   reload     rereads the config file and applies the difference, as
//              SIGHUP does (new here).
// The runner writes the config back itself on changes (docs/config.md,
// "Writing back: -w").
//
// It is also how other hooks reach the runner's ConfigEditor (an admin UI
// adding or editing plugs and hooks): they find it among the host's hooks
// by that type; it forwards to the runner it is bound to.
#pragma once

#include <functional>
#include <memory>

#include "immp/command.hpp"
#include "immp/config.hpp"
#include "immp/config_editor.hpp"
#include "immp/hook.hpp"

namespace immp {

// What the runner lets its hook do; implemented by Runner.
class RunnerControl {
 public:
  virtual ~RunnerControl() = default;
  // Whether the config may be written back (immp -w).
  virtual bool writeable() const = 0;
  // Writes the live config to the file; false (logged) when it could not.
  virtual bool write_now() = 0;
  // Starts a reload of the config file and returns at once; `done` gets
  // whether the new file was applied (false: refused or already
  // reloading, with the reason logged). A reload may replace any hook,
  // the one that asked included, so nothing waits for it.
  virtual void reload_later(std::function<void(bool applied)> done) = 0;
  // The runner's editor of plug and hook entries (see ConfigEditor).
  virtual ConfigEditor& editor() = 0;
};

class RunnerHook final : public Hook, public CommandProvider, public ConfigEditor {
 public:
  static constexpr std::string_view kPath = "immp.hook.runner.RunnerHook";
  static constexpr std::string_view kDescription =
      "The runner's hook: run-write and reload commands for admins (the runner writes the "
      "config back itself with -w)";
  static SpecPtr schema() { return object({}); }

  explicit RunnerHook(const Init& init);

  // The runner binds itself once the host is built; until then (and in
  // hosts built without a runner) the commands are not offered.
  void bind(RunnerControl* control) { control_ = control; }

  // ConfigEditor, forwarded to the runner; editable() only once bound.
  bool editable() const override { return control_ != nullptr; }
  bool saves() const override { return control_ && control_->editor().saves(); }
  std::optional<Entry> entry(Kind kind, std::string_view name) const override;
  std::vector<std::string> classes(Kind kind) const override;
  Task<ConfigWarnings> put(Kind kind, std::string name, std::string path, Node config) override;

 private:
  RunnerControl* control_ = nullptr;
};

}  // namespace immp
