// Registry: every plug and hook class the runner can instantiate, by dotted
// path. The runner adds the built-ins as one module (runner/builtins.hpp);
// external plugins are found on the config's `path` directories and loaded
// on demand.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "immp/registry.hpp"

namespace immp {

class Registry {
 public:
  Registry() = default;
  ~Registry();  // unloads plugins: destroy every instance made from them first
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Adds every class of a module; a path registered twice is an error.
  void add(const Module& module, const std::string& origin);
  const ClassInfo* find(std::string_view path) const;

  // The class for `path`: registered already, or loaded from
  // `<dir>/module/file.so` for "module.file.Class" in one of `dirs`.
  // Throws std::runtime_error with a sentence a user can act on.
  const ClassInfo& resolve(const std::string& path, const std::vector<std::filesystem::path>& dirs);

  std::vector<std::string> paths() const;

 private:
  void load(const std::filesystem::path& file);
  std::map<std::string, ClassInfo, std::less<>> classes_;
  std::map<std::string, void*> handles_;  // dlopen handles by file
};

}  // namespace immp
