// SQLite engine: one connection in WAL mode with synchronous=NORMAL, a busy
// timeout and foreign keys on, unless the URL's parameters say otherwise. Prepared statements are kept by SQL text.
#pragma once

#include <memory>
#include <string>

#include "store/backend.hpp"

namespace immp::store::detail {

// Opens `path` (":memory:" for a private in-memory database), creating the
// file if needed, and applies `settings` after our defaults. Throws
// std::runtime_error with SQLite's reason.
std::unique_ptr<Backend> open_sqlite(const std::string& path, const SqliteSettings& settings = {});

}  // namespace immp::store::detail
