#include "immp/openable.hpp"

#include "immp/host.hpp"

namespace immp {

std::string_view state_name(State state) {
  switch (state) {
    case State::disabled: return "disabled";
    case State::inactive: return "inactive";
    case State::starting: return "starting";
    case State::active: return "active";
    case State::stopping: return "stopping";
    case State::failed: return "failed";
  }
  return "?";
}

Openable::Openable(const Init& init, std::string_view logger_name)
    : name_(init.name), host_(init.host), config_(init.config), log_(logger(logger_name)) {}

void Openable::set_config(Node config) {
  config_ = std::move(config);
  host_.config_changed(*this);
}

Task<> Openable::start() { co_return; }
Task<> Openable::stop() { co_return; }

}  // namespace immp
