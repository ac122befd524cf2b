// The runner: builds a Host from a config file and runs it until a signal.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "core/registry.hpp"
#include "immp/config.hpp"
#include "immp/config_editor.hpp"
#include "immp/host.hpp"
#include "runner/runner_hook.hpp"

namespace immp {

// The whole top-level schema (IMMP's runner sections plus the bus).
SpecPtr runner_schema();

class Runner final : private RunnerControl, private ConfigEditor {
 public:
  // Reads and validates `config_file`, resolves every class and builds
  // every plug, hook, channel and group, without starting anything, then
  // checks the references between them that a schema declares (a hook
  // naming another hook). Throws ConfigError (exit code 2) for any problem.
  // Unknown keys are not problems: they are kept in warnings().
  // `extra` modules are registered next to the built-ins (tests use this).
  Runner(std::filesystem::path config_file, asio::io_context& io, bool write_back = false,
         std::vector<const Module*> extra = {});
  ~Runner();

  Host& host() { return *host_; }
  const Node& config() const { return root_; }

  // What the config says that IMMP would take but immp does not know (an
  // unknown key), in file order. The caller decides: `immp --check` prints
  // them, `--strict` refuses the file; run() logs them.
  const ConfigWarnings& warnings() const { return warnings_; }
  // With strict, a reloaded file with warnings is refused like a bad one.
  void set_strict(bool strict) { strict_ = strict; }

  // Opens the host, runs until SIGINT/SIGTERM (a second one exits at
  // once), closes it. Returns the process exit code.
  int run();

  // Writes the live config back to the file (with -w).
  void write_back();

  // Reads the config file again (SIGHUP, or an API call). A file that is
  // bad in any way — syntax, schema, an unknown class, a constructor that
  // refuses its section — changes nothing: the located error is logged and
  // false returned. Otherwise only what differs is applied: plugs and hooks
  // whose entries changed are replaced (restarted with the new config),
  // removed ones stop, new ones start, and hooks that name a changed
  // channel or group restart; outboxes of channels that remain keep their
  // messages.
  Task<bool> reload();

 private:
  // RunnerControl, for RunnerHook's run-write and reload commands.
  bool writeable() const override { return write_back_; }
  bool write_now() override;
  void reload_later(std::function<void(bool applied)> done) override;
  ConfigEditor& editor() override { return *this; }
  // ConfigEditor (reached through RunnerHook): an edit is checked as a
  // reload checks a file, applied as a reload applies one entry, and
  // written back like a hook's own set_config() (apply_config).
  bool editable() const override { return true; }
  bool saves() const override { return write_back_; }
  std::optional<Entry> entry(ConfigEditor::Kind kind, std::string_view name) const override;
  std::vector<std::string> classes(ConfigEditor::Kind kind) const override;
  Task<ConfigWarnings> put(ConfigEditor::Kind kind, std::string name, std::string path,
                           Node config) override;
  // Binds every RunnerHook of the host to this runner.
  void bind_runner_hooks();
  // Writes operators' config changes back (-w).
  void bind_operators();

  struct ReloadResult {
    Node raw;
    Node root;
    ConfigWarnings warnings;
  };
  ReloadResult prepare_reload();
  void build(const std::vector<const Module*>& extra);
  // Adds every plug, channel, group and hook of `root` to `host`, then
  // checks the hook references of their configs.
  void populate(Host& host, Node& root);
  void check_hook_refs(const Host& host, const Node& root);
  std::vector<std::filesystem::path> search_path(const Node& root) const;
  const ClassInfo& resolve(const Node& root, const Node& entry, ClassInfo::Kind kind);
  std::unique_ptr<Plug> make_plug(Host& host, Node& root, const std::string& name, Node& entry);
  std::unique_ptr<Hook> make_hook(Host& host, Node& root, const std::string& name, Node& entry);
  void apply_config(Openable& source);

  std::filesystem::path file_;
  asio::io_context& io_;
  bool write_back_;
  Node raw_;   // as written in the file: what -w writes back
  Node root_;  // validated, defaults filled in
  ConfigWarnings warnings_;
  bool strict_ = false;
  Registry registry_;  // declared before host_: plugin code outlives instances
  std::unique_ptr<Host> host_;
  Subscription config_written_;
  Subscription operators_written_;
  bool reloading_ = false;      // a reload (SIGHUP, the reload command) or an edit is running
  std::size_t implicit_hooks_ = 0;  // hooks the runner added itself (IMMP's `runner`)
  LoggerPtr log_;
};

}  // namespace immp
