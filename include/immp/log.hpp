// Loggers. Names are dotted and hierarchical (`immp.host`,
// `immp.plug.irc`, `immp.hook.sync`, `immp.operator.<name>`); the `logging`
// config section decides where each one writes.
#pragma once

#include <memory>
#include <string_view>

#include <spdlog/logger.h>

namespace immp {

using LoggerPtr = std::shared_ptr<spdlog::logger>;

// The logger for a dotted name, created on first use with the sinks and
// level the current logging config gives that name. Never null.
LoggerPtr logger(std::string_view name);

}  // namespace immp
