// Registration of plug and hook classes under IMMP's dotted names.
//
// Each class carries its metadata next to itself:
//   class DummyPlug final : public immp::Plug {
//    public:
//     static constexpr std::string_view kPath = "immp.plug.dummy.DummyPlug";
//     static constexpr std::string_view kDescription = "...";
//     static immp::SpecPtr schema();   // its `config` section
//     explicit DummyPlug(const immp::Init& init);
//   };
// and a module lists its classes with describe<T>(). Built-ins form one
// module; an external plugin exports its module through IMMP_PLUGIN, the
// single extern "C" entry point the loader looks for.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "immp/config.hpp"
#include "immp/hook.hpp"
#include "immp/plug.hpp"
#include "immp/version.hpp"

namespace immp {

struct ClassInfo {
  enum class Kind { plug, hook };
  std::string path;  // "immp.plug.dummy.DummyPlug"
  Kind kind = Kind::plug;
  std::string description;
  std::function<SpecPtr()> schema;
  std::function<std::unique_ptr<Plug>(const Init&)> make_plug;  // kind == plug
  std::function<std::unique_ptr<Hook>(const Init&)> make_hook;  // kind == hook
};

template <typename T>
ClassInfo describe() {
  static_assert(std::is_base_of_v<Plug, T> || std::is_base_of_v<Hook, T>,
                "describe<T>: T must derive from immp::Plug or immp::Hook");
  ClassInfo info;
  info.path = std::string(T::kPath);
  info.description = std::string(T::kDescription);
  info.schema = [] { return T::schema(); };
  if constexpr (std::is_base_of_v<Plug, T>) {
    info.kind = ClassInfo::Kind::plug;
    info.make_plug = [](const Init& init) -> std::unique_ptr<Plug> {
      return std::make_unique<T>(init);
    };
  } else {
    info.kind = ClassInfo::Kind::hook;
    info.make_hook = [](const Init& init) -> std::unique_ptr<Hook> {
      auto hook = std::make_unique<T>(init);
      hook->set_stages(Hook::stages_of<T>());
      return hook;
    };
  }
  return info;
}

// What a plugin's entry point returns. The loader refuses a module whose
// abi or build differs from its own.
struct Module {
  int abi = kAbiVersion;
  std::string_view build = kBuildSignature;
  std::string_view name;
  std::vector<ClassInfo> classes;
};

}  // namespace immp

// Defines the plugin entry point. Use once per .so:
//   IMMP_PLUGIN("myplugin", immp::describe<MyHook>(), immp::describe<MyPlug>())
#define IMMP_PLUGIN(module_name, ...)                                   \
  extern "C" __attribute__((visibility("default"))) const immp::Module* \
  immp_plugin_module_v1() {                                             \
    static const immp::Module module{immp::kAbiVersion, immp::kBuildSignature, module_name, \
                                     {__VA_ARGS__}};                    \
    return &module;                                                     \
  }
