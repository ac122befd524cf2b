// Building hosts out of in-memory plugs for unit tests.
#pragma once

#include <memory>
#include <string>

#include "immp/host.hpp"
#include "plugs/memory/memory_plug.hpp"

namespace immp::test {

// A MemoryPlug named `name` with `settings` merged over its defaults
// (e.g. {{"echo", true}}), added to `host`.
inline plugs::MemoryPlug& add_memory_plug(Host& host, std::string name, NodeMap settings = {}) {
  Node config(std::move(settings));
  config.set_path("plugs." + name + ".config");
  config.repath();
  validate(config, *plugs::MemoryPlug::schema());
  auto plug = std::make_unique<plugs::MemoryPlug>(Init{name, config, host});
  return static_cast<plugs::MemoryPlug&>(host.add_plug(std::move(plug)));
}

}  // namespace immp::test
