// Database: the storage that hooks (sync's id map, outboxes, notes, ...)
// keep their data in. SQLite (default) or PostgreSQL, chosen by URL. Plugs
// and hooks reach it through the SDK's immp::Database, which DatabaseHook
// implements on top of this class.
//
// Every backend call blocks, so each Database runs its connection on its
// own worker thread. The coroutine API never blocks the caller: a request is
// queued for the worker and its result is posted back to the awaiting
// coroutine's executor. Requests run in the order they were made, writes
// included.
//
// SQL uses `?` placeholders in both dialects (the PostgreSQL backend turns
// them into $1..$n; `?` inside quotes and comments is left alone). Write SQL
// that both dialects accept; `INSERT ... ON CONFLICT (..) DO UPDATE/NOTHING`
// works in both. Where they differ, branch on dialect().
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "immp/asio.hpp"
#include "immp/database.hpp"
#include "immp/log.hpp"
#include "store/database_url.hpp"

namespace immp::store {

// The SDK's values and dialects (immp/database.hpp), under their store names.
using sql::as_int;
using sql::as_real;
using sql::as_text;
using sql::Dialect;
using sql::is_null;
using sql::Row;
using sql::Rows;
using sql::Value;

struct Options {
  // Where relative SQLite paths resolve: the working directory, as in IMMP.
  std::filesystem::path base_dir = ".";
  UrlStyle style = UrlStyle::peewee;
  // Receives failed writes and warnings, from the worker thread. Null: the
  // spdlog default logger.
  LoggerPtr log;
};

// Checks a URL as open() reads it, without connecting: returns the
// warnings about parameters that mean nothing here (see database_url.hpp);
// throws std::runtime_error ("database URL '...': why") for a URL that
// open() would reject: malformed, unsupported engine, no file name, unknown
// PostgreSQL parameter. For checking config early.
std::vector<std::string> check_url(const std::string& url, UrlStyle style = UrlStyle::peewee);

namespace detail {
struct Worker;
}

class Database {
 public:
  // Connects (on the new worker thread) and returns the open database.
  // Throws std::runtime_error naming the URL (password hidden) and the reason
  // for an unsupported or malformed URL or a database that cannot be opened.
  // URLs: as IMMP's hooks read them (database_url.hpp): sqlite:///relative.db,
  // sqlite:////abs/path.db, sqlite://:memory:, postgresql://user:pass@host:port/db
  // (a socket directory as ?host=/path; any libpq URI parameter).
  static Task<std::unique_ptr<Database>> open(std::string url, Options options = {});

  ~Database();  // close()
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  Dialect dialect() const;
  // sqlite://:memory: : gone with the process, so not worth filling with
  // data that only matters after a restart.
  bool in_memory() const { return describe() == "sqlite://:memory:"; }
  // The URL with its password hidden, or the SQLite file path, for logs.
  const std::string& describe() const;

  // One statement, outside any batch transaction; returns its rows.
  // Throws std::runtime_error with the database's message and the SQL.
  Task<Rows> query(std::string sql, std::vector<Value> params = {});
  // One statement; returns the number of rows it changed.
  Task<std::int64_t> execute(std::string sql, std::vector<Value> params = {});

  // Queues a write and returns at once; callable from any thread. Queued
  // writes are applied in order, in batches (one transaction per batch).
  // A write that fails is logged with its SQL and the error, and the others
  // of its batch still apply.
  void write(std::string sql, std::vector<Value> params = {});
  // The same, for a statement the caller keeps (a static KeptSql): queued
  // without copying its text, for writes made once per message.
  struct KeptSql {
    // An INSERT whose rows may share a statement: `head`, one `row` of
    // placeholders, `tail` (e.g. "INSERT INTO t (a, b) VALUES", "(?, ?)",
    // "ON CONFLICT DO NOTHING"). On SQLite, writes of it queued one after
    // another are applied up to kRowsPerStatement at a time as one
    // statement with that many rows: each row does what its own statement
    // would, for a fraction of the per-statement cost. If such a statement
    // fails, its writes are replayed one by one as usual. On SQLite, use a
    // statement that cannot abort half-way (INSERT OR IGNORE rather than
    // ON CONFLICT DO NOTHING, which leaves NOT NULL to abort): else SQLite
    // keeps a statement journal of every page it changes, in a temporary
    // file past 64 KiB (see SyncRefs).
    static KeptSql rows(std::string head, std::string row, std::string tail);
    static constexpr std::size_t kRowsPerStatement = 32;

    std::string text;
    std::string head, row, tail;  // empty: one statement per write
    bool mergeable() const { return !row.empty(); }
    // head, n rows, tail.
    std::string with_rows(std::size_t n) const;
  };
  void write(const KeptSql& sql, std::vector<Value> params);
  // Completes when every write queued before it is committed (or logged as
  // failed).
  Task<> flush();
  // Requests waiting for the worker.
  std::size_t queued() const;
  // Backpressure for a producer of many writes (the sync hook): returns at
  // once while at most `limit` requests are queued; beyond that, waits until
  // the writes queued before the previous such wait are committed. One
  // marker stays in flight, so the worker never runs dry while the producer
  // waits, and memory stays bounded. From one executor only.
  Task<> throttle(std::size_t limit);

  // Brings `owner`'s schema up to date. steps[i] is version i + 1; it may
  // hold several statements but no BEGIN/COMMIT. Versions already recorded
  // in immp_migrations are skipped; each new one runs in its own
  // transaction and is recorded there. A failing step throws
  // std::runtime_error naming the owner, the version and the error, and
  // leaves the earlier versions applied. A database newer than `steps` (more
  // versions recorded) is an error too.
  Task<> migrate(std::string owner, std::vector<std::string> steps);

  // Applies every queued write, then closes the connection and joins the
  // worker. Blocks; call flush() first from a coroutine to keep that short.
  // Requests made after close() fail (write() logs an error).
  void close();

 private:
  explicit Database(std::unique_ptr<detail::Worker> worker);
  template <typename R, typename F>
  Task<R> call(F fn);

  std::unique_ptr<detail::Worker> worker_;
  struct Marker;
  std::shared_ptr<Marker> marker_;  // the throttle's write marker in flight
};

}  // namespace immp::store
