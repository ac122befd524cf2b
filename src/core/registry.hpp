// Registry: every plug and hook class the runner can instantiate, by dotted
// path. The runner adds the built-ins (runner/builtins.hpp): the `immp`
// command names them as deferred classes, whose library is loaded when a
// config first uses one; external plugins are found on the config's `path`
// directories and loaded on demand.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "immp/registry.hpp"

namespace immp {

// A module library opened and its module checked against this immp's ABI.
// `global`: its symbols serve the libraries loaded after it (RTLD_GLOBAL),
// as a linked layer's do; plugins are opened local. `what` names it in the
// errors ("plugin", "immp's built-in module"), `remedy` says what to do
// when it was built for another immp. Throws std::runtime_error naming the
// file; on success the library stays open (the handle is the caller's).
struct OpenedModule {
  void* handle;
  const Module* module;
};
OpenedModule open_module(const std::string& file, bool global, std::string_view what,
                         std::string_view remedy);

class Registry {
 public:
  Registry() = default;
  ~Registry();  // unloads plugins: destroy every instance made from them first
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Adds every class of a module; a path registered twice is an error.
  void add(const Module& module, const std::string& origin);
  // A class known by path and kind whose code is not loaded yet: the first
  // find() or resolve() of it calls `load`, which returns the module that
  // has it (and maybe other deferred classes: all of them are added).
  // `load` throws std::runtime_error with a sentence a user can act on.
  using Loader = std::function<const Module&()>;
  void defer(const std::string& path, ClassInfo::Kind kind, Loader load);
  // The class for `path`, loading it if it was deferred; nullptr if unknown.
  const ClassInfo* find(std::string_view path);
  // Its kind, without loading anything.
  std::optional<ClassInfo::Kind> kind(std::string_view path) const;

  // The class for `path`: registered already, or loaded from
  // `<dir>/module/file.so` for "module.file.Class" in one of `dirs`.
  // Throws std::runtime_error with a sentence a user can act on.
  const ClassInfo& resolve(const std::string& path, const std::vector<std::filesystem::path>& dirs);

  // Every known path, loaded or deferred.
  std::vector<std::string> paths() const;

 private:
  void load(const std::filesystem::path& file);
  std::map<std::string, ClassInfo, std::less<>> classes_;
  struct Deferred {
    ClassInfo::Kind kind;
    Loader load;
  };
  std::map<std::string, Deferred, std::less<>> deferred_;
  std::map<std::string, void*> handles_;  // dlopen handles by file
};

}  // namespace immp
