// Making hooks from YAML snippets in unit tests.
#pragma once

#include <memory>
#include <string>

#include "immp/host.hpp"

namespace immp::test {

// Parses `yaml` as the hook's `config` section, validates it against
// T::schema() and adds the hook to `host`.
template <typename T>
T& add_hook(Host& host, std::string name, const std::string& yaml,
            std::optional<int> priority = std::nullopt) {
  Node config = yaml.empty() ? Node::map() : parse_config(yaml, ConfigFormat::yaml, "test.yaml");
  if (config.is_null()) config = Node::map();
  config.set_path("hooks." + name + ".config");
  config.repath();
  validate(config, *T::schema());
  auto hook = std::make_unique<T>(Init{name, config, host});
  return static_cast<T&>(host.add_hook(std::move(hook), priority));
}

}  // namespace immp::test
