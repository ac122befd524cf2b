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

// Every record that any logger lets through (after its level) also goes to
// `tap`, wherever the logging config routes it, until remove_log_tap(): an
// in-process view of the log (the admin UI's live tail). `tap` is called on
// whichever thread logs, so it must be thread-safe, quick, and must not log.
void add_log_tap(std::shared_ptr<spdlog::sinks::sink> tap);
void remove_log_tap(const std::shared_ptr<spdlog::sinks::sink>& tap);

}  // namespace immp
