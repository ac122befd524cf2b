#include "runner/builtins.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <stdexcept>
#include <string>

namespace immp {
namespace {

using Kinds = std::map<std::string, ClassInfo::Kind>;

// The `immp` command registers builtin_libraries(); tests register
// builtin_module(). Both must name the same classes, of the same kinds
// (the runner's own hook is registered directly by both).
TEST(Builtins, DeferredTableNamesEveryBuiltinClass) {
  Kinds module;
  for (const ClassInfo& c : builtin_module().classes) {
    if (c.path != "immp.hook.runner.RunnerHook") module.emplace(c.path, c.kind);
  }
  Kinds table;
  for (const BuiltinLibrary& b : builtin_libraries()) {
    EXPECT_TRUE(table.emplace(std::string(b.path), b.kind).second) << b.path << " twice";
  }
  EXPECT_EQ(table, module);
}

// Each module library loads and has exactly the classes the table gives it.
TEST(Builtins, EveryModuleLibraryProvidesItsClasses) {
  std::map<std::string, Kinds> by_library;
  for (const BuiltinLibrary& b : builtin_libraries()) {
    by_library[std::string(b.library)].emplace(std::string(b.path), b.kind);
  }
  for (const auto& [library, want] : by_library) {
    const Module& module = load_builtin_library(library);
    Kinds got;
    for (const ClassInfo& c : module.classes) {
      got.emplace(c.path, c.kind);
      EXPECT_TRUE(c.kind == ClassInfo::Kind::plug ? bool(c.make_plug) : bool(c.make_hook));
    }
    EXPECT_EQ(got, want) << library;
  }
}

TEST(Builtins, MissingModuleLibraryIsAnError) {
  EXPECT_THROW(load_builtin_library("plug_nonexistent"), std::runtime_error);
}

TEST(Registry, DeferredClassLoadsOnFirstFind) {
  const Module& sync = load_builtin_library("hook_sync");
  Registry registry;
  int loads = 0;
  auto loader = [&]() -> const Module& {
    ++loads;
    return sync;
  };
  registry.defer("immp.hook.sync.SyncHook", ClassInfo::Kind::hook, loader);
  registry.defer("immp.hook.sync.ForwardHook", ClassInfo::Kind::hook, loader);
  // Listing and kinds load nothing.
  EXPECT_EQ(registry.paths(),
            (std::vector<std::string>{"immp.hook.sync.ForwardHook", "immp.hook.sync.SyncHook"}));
  EXPECT_EQ(registry.kind("immp.hook.sync.SyncHook"), ClassInfo::Kind::hook);
  EXPECT_EQ(registry.kind("immp.hook.sync.Nothing"), std::nullopt);
  EXPECT_EQ(loads, 0);
  const ClassInfo* info = registry.find("immp.hook.sync.SyncHook");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->path, "immp.hook.sync.SyncHook");
  // The module's other class came with it.
  EXPECT_NE(registry.find("immp.hook.sync.ForwardHook"), nullptr);
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(registry.paths().size(), 2u);
  EXPECT_EQ(registry.find("immp.hook.sync.Nothing"), nullptr);
}

TEST(Registry, DeferredLoadFailureIsAnErrorWithTheLoadersSentence) {
  Registry registry;
  registry.defer("immp.plug.gone.GonePlug", ClassInfo::Kind::plug,
                 []() -> const Module& { throw std::runtime_error("cannot load gone"); });
  try {
    registry.resolve("immp.plug.gone.GonePlug", {});
    FAIL() << "resolved";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "cannot load gone");
  }
}

}  // namespace
}  // namespace immp
