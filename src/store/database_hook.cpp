#include "store/database_hook.hpp"


#include <filesystem>
#include <stdexcept>

#include "immp/host.hpp"

namespace immp::store {

namespace {

SpecPtr schema_with_default(std::string_view url) {
  return object({
      {"url", str(), Node(std::string(url)),
       "sqlite:///immp.db (relative to the working directory, as in IMMP), "
       "sqlite:////abs/path.db, sqlite://:memory:, or "
       "postgresql://user:password@host:port/database"},
  });
}

}  // namespace

SpecPtr DatabaseHook::schema() { return schema_with_default(kDefaultUrl); }
SpecPtr AsyncDatabaseHook::schema() { return schema_with_default(kDefaultUrl); }

DatabaseHook::DatabaseHook(const Init& init) : DatabaseHook(init, UrlStyle::peewee) {}

AsyncDatabaseHook::AsyncDatabaseHook(const Init& init) : DatabaseHook(init, UrlStyle::tortoise) {}

DatabaseHook::DatabaseHook(const Init& init, UrlStyle style) : ResourceHook(init), style_(style) {
  // A URL that can never work is a config error, found by `immp --check`;
  // parts of it that mean nothing here are warnings.
  if (const Node* node = config().find("url")) {
    std::vector<std::string> warnings;
    try {
      warnings = check_url(node->as_string(), style_);
    } catch (const ConfigError&) {
      throw;
    } catch (const std::runtime_error& e) {
      node->fail(e.what());
    }
    for (std::string& warning : warnings) node->warn(std::move(warning));
  }
}

DatabaseHook::~DatabaseHook() = default;

bool DatabaseHook::is_the_resource() const {
  try {
    return &host().resource<DatabaseHook>(*this) == this;
  } catch (const MissingResource&) {
    return true;  // not (yet) among the host's hooks: a test's own
  }
}

std::string DatabaseHook::url() const {
  const Node* node = config().find("url");
  if (node && node->is_string()) return node->as_string();
  return std::string(style_ == UrlStyle::tortoise ? AsyncDatabaseHook::kDefaultUrl : kDefaultUrl);
}

Task<> DatabaseHook::start() {
  Options options;
  // IMMP opened a relative SQLite path from the working directory (not
  // the config file's folder), so an IMMP config finds its old file.
  options.base_dir = std::filesystem::current_path();
  options.style = style_;
  options.log = log();
  auto opening = store::Database::open(url(), options);
  db_ = co_await std::move(opening);
  log()->info("database: {}", db_->describe());
  // Outboxes keep undelivered messages here while their plug is down, in
  // the database the other hooks find (the AsyncDatabaseHook's, when both
  // are configured).
  if (is_the_resource()) {
    outbox_store_ = std::make_unique<DatabaseOutboxStore>(*db_);
    co_await outbox_store_->migrate();
    immp::detail::set_outbox_store(host(), outbox_store_.get());
  }
}

Task<> DatabaseHook::stop() {
  if (!db_) co_return;
  // Nothing may save here after we close.
  if (outbox_store_) immp::detail::set_outbox_store(host(), nullptr);
  auto flushing = db_->flush();
  co_await std::move(flushing);
  db_->close();
  outbox_store_.reset();
  db_.reset();
}

store::Database& DatabaseHook::db() const {
  if (!db_) throw std::logic_error("the " + name() + " database is not open");
  return *db_;
}

sql::Dialect DatabaseHook::dialect() const { return db().dialect(); }

// The forwarders return the store's task itself: no coroutine frame of
// their own per call.
Task<> DatabaseHook::migrate(std::string owner, std::vector<std::string> steps) {
  return db().migrate(std::move(owner), std::move(steps));
}

Task<Rows> DatabaseHook::query(std::string statement, std::vector<Value> params) {
  return db().query(std::move(statement), std::move(params));
}

Task<std::int64_t> DatabaseHook::execute(std::string statement, std::vector<Value> params) {
  return db().execute(std::move(statement), std::move(params));
}

void DatabaseHook::write(std::string statement, std::vector<Value> params) {
  db().write(std::move(statement), std::move(params));
}

Task<> DatabaseHook::flush() { return db().flush(); }

Task<> DatabaseHook::throttle(std::size_t limit) { return db().throttle(limit); }

}  // namespace immp::store
