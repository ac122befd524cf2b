#include "store/database_url.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace immp::store {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

const std::filesystem::path kBase = "/srv/immp";

ParsedUrl peewee(const std::string& url) { return parse_database_url(url, UrlStyle::peewee, kBase); }
ParsedUrl tortoise(const std::string& url) {
  return parse_database_url(url, UrlStyle::tortoise, kBase);
}
std::string error(const std::string& url, UrlStyle style = UrlStyle::peewee) {
  try {
    parse_database_url(url, style, kBase);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(accepted)";
}

// ---- SQLite paths: IMMP's two hooks read them differently ---------------------

TEST(DatabaseUrl, PeeweePathsDropTheFirstSlash) {
  EXPECT_EQ(peewee("sqlite:///immp.db").target.where, "/srv/immp/immp.db");
  EXPECT_EQ(peewee("sqlite:///data/immp.db").target.where, "/srv/immp/data/immp.db");
  EXPECT_EQ(peewee("sqlite:////var/lib/immp.db").target.where, "/var/lib/immp.db");
  EXPECT_EQ(peewee("sqlite:///immp.db").target.describe, "sqlite file /srv/immp/immp.db");
  EXPECT_THAT(peewee("sqlite:///immp.db").warnings, IsEmpty());
}

TEST(DatabaseUrl, TortoisePathsKeepEverythingAfterTheScheme) {
  EXPECT_EQ(tortoise("sqlite://immp.db").target.where, "/srv/immp/immp.db");
  EXPECT_EQ(tortoise("sqlite:///var/lib/immp.db").target.where, "/var/lib/immp.db");
  EXPECT_EQ(tortoise("sqlite:////var/lib/immp.db").target.where, "/var/lib/immp.db");
  EXPECT_THAT(error("sqlite://", UrlStyle::tortoise), HasSubstr("no file name"));
}

TEST(DatabaseUrl, MemoryInBothStyles) {
  for (auto* url : {"sqlite://:memory:", "sqlite:///:memory:"}) {
    EXPECT_EQ(peewee(url).target.where, ":memory:") << url;
    EXPECT_EQ(peewee(url).target.describe, "sqlite://:memory:") << url;
    EXPECT_THAT(peewee(url).warnings, IsEmpty()) << url;
  }
  EXPECT_EQ(tortoise("sqlite://:memory:").target.where, ":memory:");
  // Peewee: no path at all is a database in memory too, which a user
  // should hear about.
  ParsedUrl empty = peewee("sqlite://");
  EXPECT_EQ(empty.target.where, ":memory:");
  EXPECT_THAT(empty.warnings, ElementsAre(HasSubstr("in-memory database")));
}

TEST(DatabaseUrl, PeeweeHostPartIsAFileHereAndSaysWhatIMMPDid) {
  ParsedUrl two = peewee("sqlite://immp.db");
  EXPECT_EQ(two.target.where, "/srv/immp/immp.db");
  EXPECT_THAT(two.warnings, ElementsAre(AllOf(HasSubstr("an in-memory database"),
                                              HasSubstr("sqlite:///immp.db"))));
  ParsedUrl nested = peewee("sqlite://data/immp.db");
  EXPECT_EQ(nested.target.where, "/srv/immp/data/immp.db");
  EXPECT_THAT(nested.warnings, ElementsAre(HasSubstr("the file 'immp.db'")));
}

// ---- schemes -------------------------------------------------------------------

TEST(DatabaseUrl, EveryPeeweeAndTortoiseSqliteSchemeIsSqlite) {
  for (auto* scheme : {"sqlite", "sqliteext", "sqlite+pool", "sqliteext+pool", "SQLite"}) {
    ParsedUrl p = peewee(std::string(scheme) + ":///immp.db");
    EXPECT_EQ(p.target.dialect, sql::Dialect::sqlite) << scheme;
    EXPECT_EQ(p.target.where, "/srv/immp/immp.db") << scheme;
    EXPECT_THAT(p.warnings, IsEmpty()) << scheme;
  }
}

TEST(DatabaseUrl, EveryPostgresSchemeBecomesALibpqUri) {
  for (auto* scheme : {"postgres", "postgresql", "postgresext", "postgresqlext", "postgres+pool",
                       "postgresql+pool", "postgresext+pool", "psycopg3", "asyncpg", "psycopg"}) {
    ParsedUrl p = tortoise(std::string(scheme) + "://bot:secret@db.example:5433/immp");
    EXPECT_EQ(p.target.dialect, sql::Dialect::postgresql) << scheme;
    EXPECT_EQ(p.target.where, "postgresql://bot:secret@db.example:5433/immp?connect_timeout=10")
        << scheme;
    EXPECT_EQ(p.target.describe, std::string(scheme) + "://bot:***@db.example:5433/immp");
    EXPECT_THAT(p.warnings, IsEmpty()) << scheme;
  }
}

TEST(DatabaseUrl, MySqlAndOtherEnginesAreRefusedByName) {
  EXPECT_THAT(error("mysql://bot:pw@db/immp"),
              AllOf(HasSubstr("database URL 'mysql://bot:***@db/immp'"),
                    HasSubstr("MySQL is not supported by immp"), HasSubstr("sqlite:///immp.db")));
  EXPECT_THAT(error("mysql+pool://db/immp"), HasSubstr("MySQL is not supported"));
  EXPECT_THAT(error("mssql://db/immp"), HasSubstr("SQL Server is not supported"));
  EXPECT_THAT(error("postgresq://db/immp"),
              AllOf(HasSubstr("unsupported scheme 'postgresq'"), HasSubstr("did you mean")));
  EXPECT_THAT(error("immp.db"), HasSubstr("expected sqlite://"));
}

// ---- SQLite parameters -----------------------------------------------------------

TEST(DatabaseUrl, SqliteTimeoutAndPragmasApply) {
  ParsedUrl p = peewee("sqlite:///immp.db?timeout=10&journal_mode=WAL&synchronous=full");
  EXPECT_EQ(p.target.sqlite.busy_timeout, std::chrono::seconds(10));
  EXPECT_THAT(p.target.sqlite.pragmas,
              ElementsAre(Pair("journal_mode", "wal"), Pair("synchronous", "full")));
  EXPECT_THAT(p.warnings, IsEmpty());
  EXPECT_EQ(peewee("sqlite:///x.db?timeout=0.5").target.sqlite.busy_timeout,
            std::chrono::milliseconds(500));
  EXPECT_EQ(tortoise("sqlite://x.db?busy_timeout=2500").target.sqlite.busy_timeout,
            std::chrono::milliseconds(2500));
  EXPECT_EQ(peewee("sqlite:///x.db").target.sqlite.busy_timeout, std::chrono::seconds(5));
  EXPECT_THAT(tortoise("sqlite://x.db?journal_size_limit=16384&foreign_keys=ON").target.sqlite
                  .pragmas,
              ElementsAre(Pair("journal_size_limit", "16384"), Pair("foreign_keys", "on")));
}

TEST(DatabaseUrl, SqliteBadValuesAreErrors) {
  EXPECT_THAT(error("sqlite:///x.db?timeout=soon"), HasSubstr("timeout=soon must be a number"));
  EXPECT_THAT(error("sqlite:///x.db?journal_mode=fast"),
              HasSubstr("journal_mode=fast: expected one of delete truncate"));
  // Values are spliced into PRAGMA statements, so only listed ones pass.
  EXPECT_THAT(error("sqlite:///x.db?cache_size=1;DROP TABLE x"), HasSubstr("expected an integer"));
}

TEST(DatabaseUrl, SqliteDriverSettingsAndUnknownParametersWarn) {
  ParsedUrl p = peewee("sqlite+pool:///x.db?check_same_thread=false&max_connections=8&mode=ro");
  ASSERT_EQ(p.warnings.size(), 3u);
  EXPECT_THAT(p.warnings[0], AllOf(HasSubstr("'check_same_thread'"), HasSubstr("ignored")));
  EXPECT_THAT(p.warnings[1], HasSubstr("'max_connections'"));
  EXPECT_THAT(p.warnings[2], AllOf(HasSubstr("'mode' is not a SQLite setting"),
                                   HasSubstr("journal_mode")));
  EXPECT_THAT(peewee("sqlite:///x.db?jurnal_mode=wal").warnings,
              ElementsAre(HasSubstr("did you mean 'journal_mode'")));
}

// ---- PostgreSQL parameters ---------------------------------------------------------

TEST(DatabaseUrl, LibpqParametersPassAsWritten) {
  ParsedUrl p = peewee(
      "postgresql://bot@/immp?host=%2Frun%2Fpostgresql&sslmode=verify-full&"
      "application_name=immp&connect_timeout=3");
  EXPECT_EQ(p.target.where,
            "postgresql://bot@/immp?host=%2Frun%2Fpostgresql&sslmode=verify-full&"
            "application_name=immp&connect_timeout=3");
  EXPECT_THAT(p.warnings, IsEmpty());
}

TEST(DatabaseUrl, DriverParametersMapToLibpq) {
  EXPECT_EQ(tortoise("asyncpg://h/immp?ssl=true").target.where,
            "postgresql://h/immp?sslmode=require&connect_timeout=10");
  EXPECT_EQ(tortoise("asyncpg://h/immp?ssl=false&timeout=4").target.where,
            "postgresql://h/immp?sslmode=disable&connect_timeout=4");
  EXPECT_EQ(tortoise("postgres://h/immp?schema=bridge").target.where,
            "postgresql://h/immp?options=-c%20search_path%3Dbridge&connect_timeout=10");
  EXPECT_EQ(peewee("postgresext://h/immp?encoding=UTF8").target.where,
            "postgresql://h/immp?client_encoding=UTF8&connect_timeout=10");
  // sslmode written out wins over asyncpg's switch.
  EXPECT_EQ(tortoise("asyncpg://h/immp?sslmode=verify-ca&ssl=true").target.where,
            "postgresql://h/immp?sslmode=verify-ca&connect_timeout=10");
}

TEST(DatabaseUrl, PoolSettingsWarnAndAreDropped) {
  ParsedUrl p = tortoise("asyncpg://h/immp?min_size=1&max_size=10&statement_cache_size=0");
  EXPECT_EQ(p.target.where, "postgresql://h/immp?connect_timeout=10");
  ASSERT_EQ(p.warnings.size(), 3u);
  EXPECT_THAT(p.warnings[1], AllOf(HasSubstr("'max_size'"), HasSubstr("ignored")));
  // In a Peewee pool, `timeout` waits for a free connection.
  ParsedUrl pool = peewee("postgresql+pool://h/immp?max_connections=20&timeout=5");
  EXPECT_EQ(pool.target.where, "postgresql://h/immp?connect_timeout=10");
  EXPECT_EQ(pool.warnings.size(), 2u);
}

TEST(DatabaseUrl, UnknownPostgresParametersAreErrors) {
  EXPECT_THAT(error("postgresql://h/immp?sslmod=require"),
              AllOf(HasSubstr("unknown PostgreSQL parameter 'sslmod'"),
                    HasSubstr("did you mean 'sslmode'")));
  EXPECT_THAT(error("asyncpg://h/immp?ssl=maybe"), HasSubstr("ssl=maybe"));
  EXPECT_THAT(error("postgresql://h/immp?replication=database"),
              HasSubstr("unknown PostgreSQL parameter 'replication'"));
}

TEST(DatabaseUrl, PasswordsNeverShowInErrors) {
  EXPECT_THAT(error("postgresql://bot:hunter2@h/immp?password=hunter3&bogus=1"),
              AllOf(HasSubstr("bot:***@h"), HasSubstr("password=***"),
                    ::testing::Not(HasSubstr("hunter"))));
}

}  // namespace
}  // namespace immp::store
