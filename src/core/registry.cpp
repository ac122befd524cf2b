#include "core/registry.hpp"

#include <dlfcn.h>

#include <algorithm>

#include <fmt/format.h>

namespace immp {

Registry::~Registry() {
  // The classes' std::functions run code inside the plugins: drop them first.
  classes_.clear();
  for (auto& [file, handle] : handles_) ::dlclose(handle);
}

void Registry::add(const Module& module, const std::string& origin) {
  for (const auto& info : module.classes) {
    auto [it, fresh] = classes_.emplace(info.path, info);
    if (!fresh || deferred_.count(info.path)) {
      if (fresh) classes_.erase(it);
      throw std::runtime_error(
          fmt::format("{} registers {}, which is already registered", origin, info.path));
    }
  }
}

void Registry::defer(const std::string& path, ClassInfo::Kind kind, Loader load) {
  if (classes_.count(path) || !deferred_.emplace(path, Deferred{kind, std::move(load)}).second) {
    throw std::runtime_error(fmt::format("{} is already registered", path));
  }
}

const ClassInfo* Registry::find(std::string_view path) {
  if (auto it = classes_.find(path); it != classes_.end()) return &it->second;
  auto d = deferred_.find(path);
  if (d == deferred_.end()) return nullptr;
  Loader load = d->second.load;
  const Module& module = load();
  // The module's classes, this one and any other deferred to it, are loaded.
  for (const auto& info : module.classes) deferred_.erase(info.path);
  add(module, std::string(module.name));
  auto it = classes_.find(path);
  if (it == classes_.end()) {
    throw std::runtime_error(
        fmt::format("built-in module {} does not provide class {}", module.name, path));
  }
  return &it->second;
}

std::optional<ClassInfo::Kind> Registry::kind(std::string_view path) const {
  if (auto it = classes_.find(path); it != classes_.end()) return it->second.kind;
  if (auto d = deferred_.find(path); d != deferred_.end()) return d->second.kind;
  return std::nullopt;
}

std::vector<std::string> Registry::paths() const {
  std::vector<std::string> out;
  for (const auto& [path, info] : classes_) out.push_back(path);
  for (const auto& [path, d] : deferred_) out.push_back(path);
  std::sort(out.begin(), out.end());
  return out;
}

OpenedModule open_module(const std::string& file, bool global, std::string_view what,
                         std::string_view remedy) {
  void* handle = ::dlopen(file.c_str(), RTLD_NOW | (global ? RTLD_GLOBAL : RTLD_LOCAL));
  if (!handle) throw std::runtime_error(fmt::format("cannot load {} {}: {}", what, file, ::dlerror()));
  using Entry = const Module* (*)();
  auto entry = reinterpret_cast<Entry>(::dlsym(handle, "immp_plugin_module_v1"));
  if (!entry) {
    ::dlclose(handle);
    throw std::runtime_error(fmt::format(
        "{} is not an immp plugin: it has no immp_plugin_module_v1 entry point "
        "(define one with IMMP_PLUGIN)",
        file));
  }
  const Module* module = entry();
  if (module->abi != kAbiVersion || module->build != kBuildSignature) {
    // The module lives in the library's memory: read it before dlclose.
    std::string message =
        fmt::format("{} {} was built for immp ABI {} ({}), but this is immp {} with ABI {} ({}): {}",
                    what, file, module->abi, module->build, kVersion, kAbiVersion,
                    kBuildSignature, remedy);
    ::dlclose(handle);
    throw std::runtime_error(message);
  }
  return {handle, module};
}

void Registry::load(const std::filesystem::path& file) {
  std::string key = file.string();
  if (handles_.count(key)) return;
  auto opened = open_module(key, /*global=*/false, "plugin",
                            fmt::format("rebuild the plugin against immp {}", kVersion));
  handles_.emplace(key, opened.handle);
  add(*opened.module, key);
}

const ClassInfo& Registry::resolve(const std::string& path,
                                   const std::vector<std::filesystem::path>& dirs) {
  if (const ClassInfo* info = find(path)) return *info;
  // "module.file.Class" -> module/file.so, "a.b.c.Class" -> a/b/c.so.
  auto dot = path.rfind('.');
  if (dot != std::string::npos && dot > 0) {
    std::string rel = path.substr(0, dot);
    std::replace(rel.begin(), rel.end(), '.', '/');
    rel += ".so";
    for (const auto& dir : dirs) {
      auto file = dir / rel;
      if (!std::filesystem::exists(file)) continue;
      load(file);
      if (const ClassInfo* info = find(path)) return *info;
      throw std::runtime_error(
          fmt::format("plugin {} does not provide class {}", file.string(), path));
    }
  }
  std::string hint;
  if (auto near = nearest(path, paths())) hint = fmt::format(" (did you mean '{}'?)", *near);
  std::string where;
  if (!dirs.empty() && dot != std::string::npos) {
    std::string rel = path.substr(0, dot);
    std::replace(rel.begin(), rel.end(), '.', '/');
    where = fmt::format("; no {}.so in the search path", rel);
  }
  throw std::runtime_error(fmt::format("unknown class '{}'{}{}", path, hint, where));
}

}  // namespace immp
