#include "store/sqlite_backend.hpp"

#include <sqlite3.h>

#include <mutex>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

namespace immp::store::detail {
namespace {

// Statement caches are keyed by SQL text; a hook uses a handful of fixed
// statements, so a cache that grows past this means SQL built with inlined
// values, and is simply emptied.
constexpr std::size_t kMaxCachedStatements = 512;

class SqliteBackend final : public Backend {
 public:
  SqliteBackend(const std::string& path, const SqliteSettings& settings) {
    // Memory statistics take a global mutex on every allocation: about a
    // tenth of the time of a batched upsert. Only possible before SQLite
    // initialises; harmless (SQLITE_MISUSE) if something else did first.
    static std::once_flag configured;
    std::call_once(configured, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
    // NOMUTEX: the connection lives on one worker thread.
    int rc =
        sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      std::string reason = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      throw std::runtime_error(reason);
    }
    try {
      sqlite3_extended_result_codes(db_, 1);
      sqlite3_busy_timeout(db_, static_cast<int>(settings.busy_timeout.count()));
      // journal_mode reads the file, so this is also where "file is not a
      // database" shows up. An in-memory database answers "memory".
      Rows mode;
      run("PRAGMA journal_mode=WAL", {}, &mode);
      script("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
      // The URL's (?journal_mode=delete, ...): names and values were checked
      // against a list when the URL was read, so they are safe to splice.
      for (const auto& [name, value] : settings.pragmas) {
        Rows ignored;
        run("PRAGMA " + name + "=" + value, {}, &ignored);
      }
    } catch (...) {
      close();
      throw;
    }
  }

  ~SqliteBackend() override { close(); }

  Dialect dialect() const override { return Dialect::sqlite; }

  // Reset and unbind however a run leaves, so the cached statement is clean
  // and holds no pointer into its parameters.
  struct Reset {
    sqlite3_stmt* s;
    ~Reset() {
      sqlite3_reset(s);
      sqlite3_clear_bindings(s);
    }
  };

  std::int64_t run(const std::string& sql, const std::vector<Value>& params, Rows* rows) override {
    sqlite3_stmt* stmt = prepare(sql);
    Reset reset{stmt};
    expect_parameters(stmt, params.size());
    bind(stmt, 0, params);

    for (;;) {
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) fail();
      if (!rows) continue;
      int n = sqlite3_column_count(stmt);
      Row row;
      row.reserve(static_cast<std::size_t>(n));
      for (int c = 0; c < n; ++c) {
        switch (sqlite3_column_type(stmt, c)) {
          case SQLITE_INTEGER: row.emplace_back(std::int64_t{sqlite3_column_int64(stmt, c)}); break;
          case SQLITE_FLOAT: row.emplace_back(sqlite3_column_double(stmt, c)); break;
          case SQLITE_NULL: row.emplace_back(std::monostate{}); break;
          default: {  // TEXT or BLOB
            auto* p = static_cast<const char*>(sqlite3_column_blob(stmt, c));
            int len = sqlite3_column_bytes(stmt, c);
            row.emplace_back(p ? std::string(p, static_cast<std::size_t>(len)) : std::string());
          }
        }
      }
      rows->push_back(std::move(row));
    }
    // changes() keeps the count of the last INSERT/UPDATE/DELETE, so only
    // those report one.
    return sqlite3_stmt_readonly(stmt) ? 0 : sqlite3_changes64(db_);
  }

  void run_joined(const std::string& sql,
                  std::span<const std::vector<Value>* const> params) override {
    sqlite3_stmt* stmt = prepare(sql);
    Reset reset{stmt};
    std::size_t total = 0;
    for (const auto* p : params) total += p->size();
    expect_parameters(stmt, total);
    int at = 0;
    for (const auto* p : params) {
      bind(stmt, at, *p);
      at += static_cast<int>(p->size());
    }
    for (;;) {
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) fail();
    }
  }

  void script(const std::string& sql) override {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string reason = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      throw std::runtime_error(reason);
    }
  }

  // IMMEDIATE takes the write lock now, so a second process waits in
  // busy_timeout here instead of failing at COMMIT.
  void begin() override { run("BEGIN IMMEDIATE", {}, nullptr); }
  void commit() override { run("COMMIT", {}, nullptr); }
  void rollback() noexcept override {
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }

 private:
  sqlite3_stmt* prepare(const std::string& sql) {
    // Batches repeat one statement; skip the hash lookup for a repeat.
    if (last_stmt_ && sql == last_sql_) return last_stmt_;
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
      if (cache_.size() >= kMaxCachedStatements) clear_cache();
      sqlite3_stmt* stmt = nullptr;
      const char* tail = nullptr;
      int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                  SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
      if (rc != SQLITE_OK) fail();
      if (!stmt) throw std::runtime_error("empty statement");
      if (tail && std::string_view(tail).find_first_not_of(" \t\r\n;") != std::string_view::npos) {
        sqlite3_finalize(stmt);
        throw std::runtime_error("more than one statement (use migrate() for scripts)");
      }
      it = cache_.emplace(sql, stmt).first;
    }
    last_sql_ = sql;
    last_stmt_ = it->second;
    return it->second;
  }

  [[noreturn]] void fail() { throw std::runtime_error(sqlite3_errmsg(db_)); }

  void expect_parameters(sqlite3_stmt* stmt, std::size_t given) {
    int expected = sqlite3_bind_parameter_count(stmt);
    if (expected != static_cast<int>(given)) {
      throw std::runtime_error("statement takes " + std::to_string(expected) + " parameters, " +
                               std::to_string(given) + " given");
    }
  }

  // Binds `params` to the statement's parameters from number `first` + 1.
  void bind(sqlite3_stmt* stmt, int first, const std::vector<Value>& params) {
    int i = first;
    for (const Value& v : params) {
      ++i;
      int rc = SQLITE_OK;
      if (std::holds_alternative<std::monostate>(v)) {
        rc = sqlite3_bind_null(stmt, i);
      } else if (auto* n = std::get_if<std::int64_t>(&v)) {
        rc = sqlite3_bind_int64(stmt, i, *n);
      } else if (auto* d = std::get_if<double>(&v)) {
        rc = sqlite3_bind_double(stmt, i, *d);
      } else {
        const auto& s = std::get<std::string>(v);
        // STATIC: the parameters outlive the step; Reset unbinds before
        // the run returns.
        rc = sqlite3_bind_text64(stmt, i, s.data(), s.size(), SQLITE_STATIC, SQLITE_UTF8);
      }
      if (rc != SQLITE_OK) fail();
    }
  }

  void clear_cache() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    cache_.clear();
    last_stmt_ = nullptr;
    last_sql_.clear();
  }

  void close() {
    if (!db_) return;
    rollback();
    clear_cache();
    sqlite3_close(db_);
    db_ = nullptr;
  }

  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
  std::string last_sql_;
  sqlite3_stmt* last_stmt_ = nullptr;
};

}  // namespace

std::unique_ptr<Backend> open_sqlite(const std::string& path, const SqliteSettings& settings) {
  return std::make_unique<SqliteBackend>(path, settings);
}

}  // namespace immp::store::detail
