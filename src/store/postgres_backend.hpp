// PostgreSQL engine over libpqxx: one connection, prepared statements kept
// by SQL text, `?` placeholders rewritten to $1..$n. It is a library of its
// own (libimmp_store_postgres.so): the store loads it when a database URL
// first names PostgreSQL (database.cpp), tests link it.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "store/backend.hpp"

namespace immp::store::detail {

// Connects with a libpq connection string or URI. Throws std::runtime_error
// with libpq's reason.
std::unique_ptr<Backend> open_postgres(const std::string& conninfo);

// `?` -> `$1`, `$2`, ... outside quotes and comments.
std::string number_placeholders(std::string_view sql);

}  // namespace immp::store::detail
