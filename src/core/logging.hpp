// The `logging` config section: Python's logging.config.dictConfig shape
// (version 1: formatters, filters, handlers, loggers, root) mapped onto
// spdlog. User documentation: docs/logging.md.
#pragma once

#include <filesystem>
#include <iosfwd>

#include "immp/config.hpp"
#include "immp/log.hpp"

namespace immp {

// Applies a `logging` section to every logger, including those logger()
// already handed out: they are updated in place, so cached LoggerPtrs follow
// the new configuration. A null `section` (or a null node: `logging:` left
// empty) applies the defaults, IMMP's runner's: INFO and above from `immp`
// and its children, WARNING and above from everything else, to stderr as
// "LEVEL:name:message". A section with `incremental: true` changes levels of
// those defaults. Relative file and socket names are resolved against
// `base_dir` (the config file's folder).
//
// Throws ConfigError naming file:line:col and the key path for a bad section;
// nothing is changed then (no file is opened or truncated) and the previous
// configuration stays in force. What Python would pass over silently (an
// unknown key in a logger or formatter) is a ConfigWarning, reported once
// the new configuration is in force (see ConfigWarningScope: without one it
// is logged on `immp.config`). Thread-safe; loggers may be used from other
// threads while it runs.
void configure_logging(const Node* section, const std::filesystem::path& base_dir);

// Checks a `logging` section as configure_logging would, without applying it
// and without opening any file or socket: throws the same ConfigError for a
// bad section and reports the same warnings. For a reload, to refuse a bad
// file before anything changes. (A file or socket that cannot be opened is
// only found by configure_logging.)
void check_logging(const Node* section, const std::filesystem::path& base_dir);

// Flushes every handler of the current configuration. Loggers stay usable.
void shutdown_logging();

// Test seam: StreamHandlers built by later configure_logging calls write to
// `out` (ext://sys.stdout) and `err` (ext://sys.stderr, the default) instead
// of the process's streams; null restores the real stream. A stream must
// outlive every configuration built while it was set.
void redirect_console_for_testing(std::ostream* out, std::ostream* err);

}  // namespace immp
