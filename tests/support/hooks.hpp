// Making plugs and hooks from YAML snippets in tests.
#pragma once

#include <memory>
#include <string>

#include "immp/host.hpp"

namespace immp::test {

// Parses `yaml` as the hook's `config` section, validates it against
// T::schema() and adds the hook to `host`.
// Parses `yaml` as the `config` section of T (a Plug or Hook) named `name`,
// validates it against T::schema() and makes the instance.
template <typename T>
std::unique_ptr<T> make_from_yaml(Host& host, const std::string& name, const std::string& section,
                                  const std::string& yaml) {
  Node config = yaml.empty() ? Node::map() : parse_config(yaml, ConfigFormat::yaml, "test.yaml");
  if (config.is_null()) config = Node::map();
  config.set_path(section + "." + name + ".config");
  config.repath();
  validate(config, *T::schema());
  return std::make_unique<T>(Init{name, config, host});
}

// The plug T from YAML, added to `host`.
template <typename T>
T& add_plug(Host& host, std::string name, const std::string& yaml) {
  auto plug = make_from_yaml<T>(host, name, "plugs", yaml);
  return static_cast<T&>(host.add_plug(std::move(plug)));
}

template <typename T>
T& add_hook(Host& host, std::string name, const std::string& yaml,
            std::optional<int> priority = std::nullopt) {
  auto hook = make_from_yaml<T>(host, name, "hooks", yaml);
  return static_cast<T&>(host.add_hook(std::move(hook), priority));
}

}  // namespace immp::test
