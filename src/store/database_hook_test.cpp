#include "store/database_hook.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include "immp/host.hpp"

namespace immp::store {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

template <typename T>
T run(asio::io_context& io, Task<T> task) {
  auto done = asio::co_spawn(io, std::move(task), asio::use_future);
  io.restart();
  io.run();
  return done.get();
}

class DatabaseHookTest : public ::testing::Test {
 protected:
  DatabaseHookTest() {
    std::string tmpl = (fs::temp_directory_path() / "immp-dbhook-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    HostOptions options;
    options.base_dir = dir_;
    host_ = std::make_unique<Host>(io_.get_executor(), options);
  }
  ~DatabaseHookTest() override {
    host_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // The hook's config as the runner hands it over: validated, defaults in.
  template <typename T>
  std::unique_ptr<T> make(Node config = Node::map()) {
    validate(config, *T::schema());
    return std::make_unique<T>(Init{"db", std::move(config), *host_});
  }
  static Node url(const std::string& u) {
    Node config = Node::map();
    config.set("url", u);
    return config;
  }

  asio::io_context io_;
  fs::path dir_;
  std::unique_ptr<Host> host_;
};

// The working directory for one test: IMMP opened relative SQLite paths
// from there.
class InDirectory {
 public:
  explicit InDirectory(const fs::path& dir) : old_(fs::current_path()) { fs::current_path(dir); }
  ~InDirectory() { fs::current_path(old_); }

 private:
  fs::path old_;
};

TEST_F(DatabaseHookTest, DefaultIsImmpDbInTheWorkingDirectoryAndStopKeepsQueuedWrites) {
  InDirectory cwd(dir_);
  auto hook = make<DatabaseHook>();
  EXPECT_THROW(hook->db(), std::logic_error);  // not started
  run(io_, hook->start());
  EXPECT_TRUE(fs::exists(dir_ / "immp.db"));
  run(io_, hook->db().execute("CREATE TABLE kv (k TEXT PRIMARY KEY)"));
  hook->db().write("INSERT INTO kv VALUES (?)", {"queued"});
  run(io_, hook->stop());

  auto again = make<DatabaseHook>();
  run(io_, again->start());
  EXPECT_EQ(run(io_, again->db().query("SELECT k FROM kv")), (Rows{{"queued"}}));
  run(io_, again->stop());
}

TEST_F(DatabaseHookTest, AsyncDatabaseHookReadsThreeSlashesAsAnAbsolutePath) {
  std::string file = (dir_ / "sub.db").string();
  auto hook = make<AsyncDatabaseHook>(url("sqlite://" + file));
  run(io_, hook->start());
  EXPECT_TRUE(fs::exists(file));
  EXPECT_EQ(hook->db().describe(), "sqlite file " + file);
  run(io_, hook->stop());
}

TEST_F(DatabaseHookTest, RelativePathsAreFromTheWorkingDirectoryNotTheConfigFolder) {
  // dir_ is the config file's folder (the host's base_dir).
  fs::create_directory(dir_ / "cwd");
  InDirectory cwd(dir_ / "cwd");
  auto peewee = make<DatabaseHook>(url("sqlite:///data.db"));
  auto tortoise = make<AsyncDatabaseHook>(url("sqlite://async.db"));
  run(io_, peewee->start());
  run(io_, tortoise->start());
  EXPECT_TRUE(fs::exists(dir_ / "cwd" / "data.db"));
  EXPECT_TRUE(fs::exists(dir_ / "cwd" / "async.db"));
  EXPECT_FALSE(fs::exists(dir_ / "data.db"));
  run(io_, peewee->stop());
  run(io_, tortoise->stop());
}

TEST_F(DatabaseHookTest, UrlParametersApply) {
  auto hook = make<AsyncDatabaseHook>(
      url("sqlite://" + (dir_ / "p.db").string() + "?journal_mode=delete&busy_timeout=1234"));
  run(io_, hook->start());
  EXPECT_EQ(run(io_, hook->db().query("PRAGMA journal_mode")), (Rows{{"delete"}}));
  EXPECT_EQ(run(io_, hook->db().query("PRAGMA busy_timeout")), (Rows{{std::int64_t{1234}}}));
  run(io_, hook->stop());
}

TEST_F(DatabaseHookTest, AnUnusableUrlIsAConfigErrorAtItsKey) {
  Node config = parse_config("url: mysql://u@h/immp\n", ConfigFormat::yaml, "config.yaml");
  config.set_path("hooks.db.config");
  config.repath();
  try {
    make<DatabaseHook>(config);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("config.yaml:1:1: hooks.db.config.url: database URL"));
    EXPECT_THAT(e.what(), HasSubstr("MySQL is not supported by immp"));
  }
}

TEST_F(DatabaseHookTest, UrlPartsThatMeanNothingHereAreWarningsAtTheKey) {
  Node config = parse_config("url: asyncpg://bot@db/immp?max_size=10&sslmode=require\n",
                             ConfigFormat::yaml, "config.yaml");
  config.set_path("hooks.db.config");
  config.repath();
  ConfigWarningScope scope;
  make<AsyncDatabaseHook>(config);
  ASSERT_EQ(scope.warnings().size(), 1u);
  EXPECT_THAT(scope.warnings()[0].str(),
              HasSubstr("config.yaml:1:1: hooks.db.config.url: parameter 'max_size'"));
}

TEST_F(DatabaseHookTest, ADatabaseThatCannotOpenFailsStartWithTheReason) {
  auto hook = make<DatabaseHook>(url("sqlite:////nonexistent-dir/immp.db"));
  try {
    run(io_, hook->start());
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot open database sqlite file /nonexistent-dir/immp.db"));
  }
}

TEST_F(DatabaseHookTest, BothNamesAreFoundAsTheDatabaseResource) {
  auto& hook = host_->add_hook(make<AsyncDatabaseHook>(url("sqlite://:memory:")));
  EXPECT_EQ(&host_->resource<DatabaseHook>(hook), &hook);
  EXPECT_EQ(dynamic_cast<Hook*>(&host_->resource<immp::Database>(hook)), &hook);
}

// IMMP's own hooks (sync among them) used the AsyncDatabaseHook, whatever
// the order of the two in the config.
TEST_F(DatabaseHookTest, WithBothHooksTheAsyncOneIsTheResource) {
  auto peewee = make<DatabaseHook>(url("sqlite:///" + (dir_ / "peewee.db").string()));
  auto& first = host_->add_hook(std::move(peewee));
  auto tortoise_hook = std::make_unique<AsyncDatabaseHook>(
      Init{"adb", url("sqlite://" + (dir_ / "tortoise.db").string()), *host_});
  auto& second = host_->add_hook(std::move(tortoise_hook));
  EXPECT_EQ(&host_->resource<DatabaseHook>(first), &second);
  EXPECT_EQ(dynamic_cast<Hook*>(&host_->resource<immp::Database>(first)), &second);
  // The host's outboxes keep their messages there too, not in the other.
  run(io_, host_->open());
  auto& adb = static_cast<DatabaseHook&>(second).db();
  auto& pdb = static_cast<DatabaseHook&>(first).db();
  const std::string outbox = "SELECT name FROM sqlite_master WHERE name = 'immp_outbox'";
  EXPECT_EQ(run(io_, adb.query(outbox)).size(), 1u);
  EXPECT_EQ(run(io_, pdb.query(outbox)).size(), 0u);
  run(io_, host_->close());
}

// What an out-of-tree hook sees: the SDK's interface, found by type, backed
// by the same database that the store's own class writes to.
TEST_F(DatabaseHookTest, TheSdkInterfaceReachesTheSameDatabase) {
  InDirectory cwd(dir_);
  auto& hook = static_cast<DatabaseHook&>(host_->add_hook(make<DatabaseHook>()));
  immp::Database& db = host_->resource<immp::Database>(hook);
  EXPECT_THROW(db.dialect(), std::logic_error);  // not started
  run(io_, hook.start());
  EXPECT_EQ(db.dialect(), sql::Dialect::sqlite);
  run(io_, db.migrate("sdk", {"CREATE TABLE seen (who TEXT PRIMARY KEY, n BIGINT NOT NULL)"}));
  db.write("INSERT INTO seen VALUES (?, ?)", {"alice", std::int64_t{1}});
  // Requests run in order: the query sees the write queued before it.
  const std::string bump =
      "INSERT INTO seen VALUES (?, 1) ON CONFLICT (who) DO UPDATE SET n = seen.n + 1 RETURNING n";
  sql::Rows rows = run(io_, db.query(bump, {"alice"}));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(sql::as_int(rows[0][0]), 2);
  EXPECT_EQ(run(io_, db.execute("UPDATE seen SET n = 0 WHERE who = ?", {"bob"})), 0);
  run(io_, db.flush());
  EXPECT_EQ(run(io_, hook.db().query("SELECT who, n FROM seen")),
            (Rows{{"alice", std::int64_t{2}}}));
  try {
    run(io_, db.query("SELECT nope FROM seen"));
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("SELECT nope FROM seen"));
  }
  run(io_, hook.stop());
}

}  // namespace
}  // namespace immp::store
