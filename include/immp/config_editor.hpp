// ConfigEditor: changes to the plugs and hooks of the config while the
// host runs, taken as the config file would take them: checked the same
// way, applied live, and written to the file under `immp -w`.
//
// The runner implements it (it owns the class registry and the file) and
// offers it through its hook (`runner`, IMMP's RunnerHook); a hook that
// edits configs (the admin UI) finds it among the host's hooks by type:
//   for (Hook* h : host().hooks())
//     if (auto* e = dynamic_cast<ConfigEditor*>(h); e && e->editable()) ...
// A host built without a runner has none.
//
// Host's executor only.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "immp/asio.hpp"
#include "immp/config.hpp"

namespace immp {

class ConfigEditor {
 public:
  enum class Kind { plug, hook };
  // An entry of the `plugs` or `hooks` section, as the file has it.
  struct Entry {
    std::string path;  // the class, "immp.hook.autorespond.AutoRespondHook"
    Node config;       // its `config` as written (no defaults filled in)
  };

  virtual ~ConfigEditor() = default;

  // Whether edits can be made now (a runner is behind this).
  virtual bool editable() const = 0;
  // Whether edits reach the config file (immp -w); otherwise they last
  // until immp stops.
  virtual bool saves() const = 0;
  // The entry named `name`, or nullopt when the file has none (hooks the
  // runner or another hook made for itself).
  virtual std::optional<Entry> entry(Kind kind, std::string_view name) const = 0;
  // The class paths that `kind` entries may name, sorted.
  virtual std::vector<std::string> classes(Kind kind) const = 0;
  // Sets the `config` of the entry `name`, or adds a new entry of class
  // `path` (`path` is ignored for an entry that exists: its class stays).
  // Everything is checked first, as a file would be: the class, the
  // schema, the class's own constructor, references to other hooks. A
  // problem throws ConfigError (its path names the key, its mark the place
  // in `config`) and changes nothing. Then the running instance is
  // replaced by one with the new config (a new one is added and started;
  // a disabled one stays disabled), and with -w the file is written. What
  // the check warns about (unknown keys) is returned, in order.
  virtual Task<ConfigWarnings> put(Kind kind, std::string name, std::string path,
                                   Node config) = 0;
};

}  // namespace immp
