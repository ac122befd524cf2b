// Database: the database resource as a plug or hook sees it, built in or
// out of tree. Look it up by type, from the constructor or start():
//
//   immp::Database& db = host().resource<immp::Database>(*this);
//   co_await db.migrate("greeter", {"CREATE TABLE greeter_seen (...)"});
//   co_await db.query("SELECT ... WHERE user_id = ?", {user_id});
//
// resource<immp::Database>() throws immp::MissingResource, with a sentence
// that tells the user which hook to add, when the config has none.
//
// Contracts:
// - Executor: call everything from the host's executor (a plug's or hook's
//   coroutines run there). The work itself runs on the database's own
//   thread; an awaited call resumes on the awaiting coroutine's executor,
//   and none of them blocks it.
// - Order: requests run in the order they are made, writes included, so a
//   query sees every write() made before it.
// - Lifetime: the reference stays valid as long as the host. The database is
//   open from the host's resource phase (before any plug or hook starts)
//   until its close (after every plug and hook stopped): use it from
//   start() to stop() and in between. Before or after, calls throw
//   std::logic_error.
// - Errors: query(), execute() and migrate() throw std::runtime_error with
//   the database's message and the SQL. write() reports nothing to the
//   caller: a failed write is logged (with its SQL and the reason) and the
//   other writes of its batch still apply.
// - SQL: `?` placeholders in both dialects (SQLite and PostgreSQL); write
//   SQL that both accept (`INSERT ... ON CONFLICT (key) DO UPDATE SET v =
//   excluded.v`, `RETURNING`, TEXT / BIGINT / REAL) and branch on
//   dialect() where they differ. Name your tables after your plugin: every
//   user of the resource shares one database.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "immp/asio.hpp"

namespace immp {

// The values that go in and out of SQL statements.
namespace sql {

// One SQL value: null, integer, real or text (a BLOB reads as text).
using Value = std::variant<std::monostate, std::int64_t, double, std::string>;
using Row = std::vector<Value>;
using Rows = std::vector<Row>;

enum class Dialect { sqlite, postgresql };

bool is_null(const Value& value);
// Typed reads; each throws std::runtime_error naming the kind it found.
// as_int accepts a real with an integral value; as_text renders numbers.
std::int64_t as_int(const Value& value);
double as_real(const Value& value);
std::string as_text(const Value& value);

}  // namespace sql

// Implemented by immp.hook.database.DatabaseHook (and AsyncDatabaseHook).
class Database {
 public:
  // For Host::resource<Database>().
  static constexpr std::string_view kKind = "database";
  static constexpr std::string_view kPath = "immp.hook.database.DatabaseHook";

  virtual sql::Dialect dialect() const = 0;

  // Brings `owner`'s schema up to date: steps[i] is version i + 1. A step may
  // hold several statements but no BEGIN/COMMIT; each new one runs in its
  // own transaction and is recorded, so it runs once per database. Append
  // steps, never edit a released one. Throws std::runtime_error naming the
  // owner, the version and the error (earlier versions stay applied), and
  // for a database that recorded more versions than `steps` holds.
  virtual Task<> migrate(std::string owner, std::vector<std::string> steps) = 0;

  // One statement, outside any batch; returns its rows (none for a write
  // without RETURNING).
  virtual Task<sql::Rows> query(std::string statement, std::vector<sql::Value> params = {}) = 0;
  // One statement; returns the number of rows it changed.
  virtual Task<std::int64_t> execute(std::string statement,
                                     std::vector<sql::Value> params = {}) = 0;

  // Queues a write and returns at once: for the message path, where a
  // round trip per message would be too slow. Queued writes are committed
  // in batches (one transaction each).
  virtual void write(std::string statement, std::vector<sql::Value> params = {}) = 0;
  // Completes when every write queued before it is committed (or logged as
  // failed).
  virtual Task<> flush() = 0;
  // Backpressure for a producer of many writes: returns at once while at
  // most `limit` requests wait; beyond that, waits until the database
  // catches up. Memory stays bounded and the database never runs dry.
  virtual Task<> throttle(std::size_t limit) = 0;

  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

 protected:
  Database() = default;
  // Not owned by its users: the host owns the hook that implements it.
  ~Database() = default;
};

}  // namespace immp
