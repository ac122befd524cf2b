// Database URLs as IMMP's two database hooks read them, turned into what
// our backends open. Internal to src/store.
//
// IMMP passed the URL to Peewee's playhouse.db_url (DatabaseHook) or to
// Tortoise ORM (AsyncDatabaseHook). Both families of schemes are accepted
// under either hook name; the hook decides only how `sqlite:///x` reads
// (see UrlStyle). Query parameters that have a meaning here are applied,
// those that configured a Python driver or pool are dropped with a
// warning. Unknown ones are dropped with a warning for SQLite (Tortoise
// ran them as pragmas, which SQLite ignores when it does not know them)
// and refused for PostgreSQL (libpq and IMMP's drivers refuse them too).
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "immp/database.hpp"

namespace immp::store {

// How `sqlite:///x` reads.
enum class UrlStyle {
  // IMMP's DatabaseHook (Peewee): the path after the third slash, so
  // `sqlite:///x.db` is relative and `sqlite:////x.db` absolute.
  peewee,
  // IMMP's AsyncDatabaseHook (Tortoise): everything after `://`, so
  // `sqlite://x.db` is relative and `sqlite:///x.db` is /x.db.
  tortoise,
};

// What SQLite runs after opening, beyond our defaults (WAL, synchronous
// NORMAL, foreign keys on, a 5 s busy timeout).
struct SqliteSettings {
  std::chrono::milliseconds busy_timeout{5000};
  // `PRAGMA name=value`, validated, in URL order.
  std::vector<std::pair<std::string, std::string>> pragmas;
};

struct DatabaseTarget {
  sql::Dialect dialect = sql::Dialect::sqlite;
  // SQLite: the file path, absolute, or ":memory:". PostgreSQL: a libpq URI.
  std::string where;
  std::string describe;  // for messages and logs: no password
  SqliteSettings sqlite;
};

struct ParsedUrl {
  DatabaseTarget target;
  // Sentences about parts of the URL that mean nothing here, or meant
  // something else in IMMP; for Node::warn().
  std::vector<std::string> warnings;
};

// Throws std::runtime_error ("database URL '...': why", password hidden)
// for a URL that cannot work: malformed, an unsupported engine (MySQL, ...),
// no SQLite file name, an unknown PostgreSQL parameter, a bad value.
// Relative SQLite paths resolve against `base_dir` (made absolute against
// the working directory), as IMMP's did against its working directory.
ParsedUrl parse_database_url(const std::string& url, UrlStyle style,
                             const std::filesystem::path& base_dir = ".");

// postgresql://user:secret@host/db?password=x -> postgresql://user:***@host/db?password=***
std::string redact_url(const std::string& url);

}  // namespace immp::store
