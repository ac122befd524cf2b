// DatabaseHook: the database resource. Plugs and hooks find it by type and
// keep their tables in it, through the SDK's interface (immp/database.hpp):
//
//   immp::Database& db = host().resource<immp::Database>(*this);
//   co_await db.migrate("notes", {"CREATE TABLE notes (...)"});
//
// Code inside immp may also take the store's own class, db(), for what the
// SDK leaves out (in_memory(), describe()).
//
// It opens the database before plugs and hooks start and closes it (after
// applying every queued write) once they have stopped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "immp/database.hpp"
#include "immp/hook.hpp"
#include "store/database.hpp"
#include "store/outbox_store.hpp"

namespace immp::store {

class DatabaseHook : public ResourceHook, public immp::Database {
 public:
  static constexpr std::string_view kPath = "immp.hook.database.DatabaseHook";
  static constexpr std::string_view kKind = "database";
  static constexpr std::string_view kDescription =
      "Storage for other hooks: SQLite (default) or PostgreSQL";
  // IMMP's DatabaseHook read URLs like Peewee: sqlite:///relative.db.
  static constexpr std::string_view kDefaultUrl = "sqlite:///immp.db";
  static SpecPtr schema();

  // Throws ConfigError (at the `url` key) for a URL that cannot work;
  // warns there about URL parameters that mean nothing here.
  explicit DatabaseHook(const Init& init);
  ~DatabaseHook() override;

  // Opens the database; throws std::runtime_error naming the URL (password
  // hidden) and the reason when it cannot.
  Task<> start() override;
  // Waits for queued writes, then closes.
  Task<> stop() override;

  // The open database. Throws std::logic_error outside start()..stop().
  // (`store::` because the injected name `Database` here is the SDK's.)
  store::Database& db() const;

  // immp::Database, forwarded to db().
  sql::Dialect dialect() const override;
  Task<> migrate(std::string owner, std::vector<std::string> steps) override;
  Task<Rows> query(std::string statement, std::vector<Value> params) override;
  Task<std::int64_t> execute(std::string statement, std::vector<Value> params) override;
  void write(std::string statement, std::vector<Value> params) override;
  Task<> flush() override;
  Task<> throttle(std::size_t limit) override;

 protected:
  DatabaseHook(const Init& init, UrlStyle style);

 private:
  std::string url() const;
  // Whether the host's lookup finds this hook (and not another database
  // hook) for resource<DatabaseHook>().
  bool is_the_resource() const;

  UrlStyle style_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<DatabaseOutboxStore> outbox_store_;
};

// IMMP's AsyncDatabaseHook, which read URLs like Tortoise ORM:
// sqlite:///abs/path.db is absolute, sqlite://relative.db relative. Found
// by resource<immp::Database>() and resource<DatabaseHook>() like the
// other, and preferred to it when both are configured: every first-party
// IMMP hook (sync's id map included) used the AsyncDatabaseHook.
class AsyncDatabaseHook final : public DatabaseHook, public PreferredResource {
 public:
  static constexpr std::string_view kPath = "immp.hook.database.AsyncDatabaseHook";
  static constexpr std::string_view kDescription =
      "The database resource, reading sqlite:/// URLs as Tortoise ORM does (absolute paths)";
  static constexpr std::string_view kDefaultUrl = "sqlite://immp.db";
  static SpecPtr schema();

  explicit AsyncDatabaseHook(const Init& init);
};

}  // namespace immp::store
