#include "store/immp_legacy.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "immp/host.hpp"
#include "plugs/dummy/dummy_plug.hpp"
#include "support/hooks.hpp"
#include "support/memory.hpp"
#include "support/postgres_server.hpp"

namespace immp::store {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

template <typename T>
T run(asio::io_context& io, Task<T> task) {
  auto done = asio::co_spawn(io, std::move(task), asio::use_future);
  io.restart();
  io.run();
  return done.get();
}

// IMMP's schema for SyncBackRef, as each of its ORMs created it (IMMP 0.10
// and later: Tortoise's generate_schemas(); before: Peewee's
// create_tables()). The unique constraint's name ends in a hash of the
// table and columns in Tortoise; its value does not matter to a reader.
enum class Schema { tortoise, peewee };

std::vector<std::string> immp_schema(Schema schema, Dialect dialect) {
  const bool pg = dialect == Dialect::postgresql;
  if (schema == Schema::tortoise) {
    return {std::string("CREATE TABLE IF NOT EXISTS \"syncbackref\" (\n") +
            (pg ? "    \"id\" SERIAL NOT NULL PRIMARY KEY,\n"
                : "    \"id\" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,\n") +
            "    \"key\" TEXT NOT NULL,\n"
            "    \"network\" TEXT NOT NULL,\n"
            "    \"channel\" TEXT NOT NULL,\n"
            "    \"message\" TEXT NOT NULL,\n"
            "    CONSTRAINT \"uid_syncbackre_network_4e5b2c\" UNIQUE (\"network\", \"channel\", "
            "\"message\")\n"
            ");"};
  }
  return {std::string("CREATE TABLE IF NOT EXISTS \"syncbackref\" (") +
              (pg ? "\"id\" SERIAL NOT NULL PRIMARY KEY, " : "\"id\" INTEGER NOT NULL PRIMARY KEY, ") +
              "\"key\" VARCHAR(255) NOT NULL, \"network\" VARCHAR(255) NOT NULL, "
              "\"channel\" VARCHAR(255) NOT NULL, \"message\" VARCHAR(255) NOT NULL)",
          "CREATE UNIQUE INDEX IF NOT EXISTS \"syncbackref_network_channel_message\" ON "
          "\"syncbackref\" (\"network\", \"channel\", \"message\")"};
}

// Rows as IMMP's SyncCache.add() wrote them: one per copy, the key from
// IMMP's IDGen (a number as text), network = plug.network_id.
struct ImmpRow {
  const char* key;
  const char* network;
  const char* channel;
  const char* message;
};
const std::vector<ImmpRow> kImmpRows = {
    // A message from Telegram bridged to IRC and to the dummy plug.
    {"1589140000", "telegram:123456", "-1001234", "77"},
    {"1589140000", "irc:irc.example.org", "#bridge", "1589140000-1"},
    {"1589140000", "dummy", "dummy", "5"},
    // Another, from a network this host has no plug for any more.
    {"1589140001", "slack:T01:U02", "C03", "1589140001.000200"},
    {"1589140001", "dummy", "dummy", "6"},
    // A message of the sync's own virtual plug names its key.
    {"1589140002", "irc:irc.example.org", "#bridge", "1589140002-1"},
    {"1589140002", "memory:mem", "room", "m-9"},
};

// An IRC plug as far as IMMP's network id goes: ours names nick and port
// too, IMMP's only config["server"]["host"].
class IrcLikePlug final : public Plug {
 public:
  using Plug::Plug;
  std::string network_name() const override { return "IRC"; }
  std::string network_id() const override { return "irc:bot@irc.example.org:6697"; }
  Task<PutResult> put(Posting&) override { co_return PutResult::delivered(); }
};

Node irc_config() {
  Node server = Node::map();
  server.set("host", std::string("irc.example.org"));
  server.set("port", std::int64_t{6697});
  Node config = Node::map();
  config.set("server", std::move(server));
  return config;
}

test::PostgresServer* postgres() {
  static std::unique_ptr<test::PostgresServer> server = [] {
    auto bin = test::PostgresServer::find_binaries();
    return bin ? std::make_unique<test::PostgresServer>(*bin) : nullptr;
  }();
  return server.get();
}

struct Case {
  Dialect dialect;
  Schema schema;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::string(info.param.dialect == Dialect::sqlite ? "Sqlite" : "Postgres") +
         (info.param.schema == Schema::tortoise ? "Tortoise" : "Peewee");
}

class ImmpLegacyTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (GetParam().dialect == Dialect::sqlite) {
      std::string tmpl = (fs::temp_directory_path() / "immp-legacy-XXXXXX").string();
      if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
      dir_ = tmpl;
      url_ = "sqlite:///" + (dir_ / "immp.db").string();  // absolute: four slashes
    } else {
      if (!test::PostgresServer::find_binaries()) {
        GTEST_SKIP() << test::PostgresServer::missing_reason();
      }
      static int counter = 0;
      url_ = postgres()->create_database("immp_legacy_" + std::to_string(++counter));
    }
    db_ = run(io_, Database::open(url_));
  }
  void TearDown() override {
    if (db_) db_->close();
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }

  // The database as IMMP left it.
  void write_immp_database() {
    for (const std::string& step : immp_schema(GetParam().schema, db_->dialect())) {
      run(io_, db_->execute(step));
    }
    for (const ImmpRow& r : kImmpRows) {
      run(io_, db_->execute("INSERT INTO \"syncbackref\" (\"key\", \"network\", \"channel\", "
                            "\"message\") VALUES (?, ?, ?, ?)",
                            {r.key, r.network, r.channel, r.message}));
    }
  }

  ImmpSyncRefs open_refs() {
    auto refs = run(io_, ImmpSyncRefs::open(*db_));
    if (!refs) throw std::runtime_error("IMMP's table was not found");
    return *refs;
  }

  asio::io_context io_;
  fs::path dir_;
  std::string url_;
  std::unique_ptr<Database> db_;
};

INSTANTIATE_TEST_SUITE_P(Databases, ImmpLegacyTest,
                         ::testing::Values(Case{Dialect::sqlite, Schema::tortoise},
                                           Case{Dialect::sqlite, Schema::peewee},
                                           Case{Dialect::postgresql, Schema::tortoise},
                                           Case{Dialect::postgresql, Schema::peewee}),
                         case_name);

TEST_P(ImmpLegacyTest, ADatabaseWithoutIMMPsTableHasNothing) {
  EXPECT_FALSE(run(io_, ImmpSyncRefs::open(*db_)).has_value());
}

TEST_P(ImmpLegacyTest, AMessageFindsEveryCopyIMMPRecordedWithIt) {
  write_immp_database();
  ImmpSyncRefs refs = open_refs();
  const std::vector<ImmpSyncRow> copies = {
      {"telegram:123456", "-1001234", "77"},
      {"irc:irc.example.org", "#bridge", "1589140000-1"},
      {"dummy", "dummy", "5"},
  };
  // From any of the copies, the original included.
  EXPECT_EQ(run(io_, refs.rows_with("irc:irc.example.org", "#bridge", "1589140000-1")), copies);
  EXPECT_EQ(run(io_, refs.rows_with("dummy", "dummy", "5")), copies);
  EXPECT_EQ(run(io_, refs.rows_with("telegram:123456", "-1001234", "77")), copies);
  EXPECT_EQ(run(io_, refs.rows_of_key("1589140000")), copies);
  // Never bridged, or bridged elsewhere: nothing.
  EXPECT_THAT(run(io_, refs.rows_with("dummy", "dummy", "7")), IsEmpty());
  EXPECT_THAT(run(io_, refs.rows_with("dummy", "elsewhere", "5")), IsEmpty());
  EXPECT_THAT(run(io_, refs.rows_of_key("42")), IsEmpty());
}

TEST_P(ImmpLegacyTest, CopiesResolveToThisHostsPlugsByIMMPsNetworkIds) {
  write_immp_database();
  ImmpSyncRefs refs = open_refs();
  Host host(io_.get_executor());
  auto& dummy = test::add_plug<plugs::DummyPlug>(host, "dummy1", "");
  auto& mem = test::add_memory_plug(host, "mem");
  auto& irc = host.add_plug(std::make_unique<IrcLikePlug>(Init{"libera", irc_config(), host}));
  EXPECT_EQ(immp_network_id(dummy), "dummy");
  EXPECT_EQ(immp_network_id(irc), "irc:irc.example.org");
  EXPECT_EQ(immp_network_id(mem), "memory:mem");

  Channel on_dummy{&host.plug_handle("dummy1"), "dummy"};
  Channel on_irc{&host.plug_handle("libera"), "#bridge"};
  Channel on_mem{&host.plug_handle("mem"), "room"};
  // The Telegram copy has no plug here, so it is left out.
  EXPECT_THAT(run(io_, refs.copies(host, on_dummy, "5")),
              ElementsAre(ImmpSyncCopy{on_irc, "1589140000-1"}, ImmpSyncCopy{on_dummy, "5"}));
  EXPECT_THAT(run(io_, refs.copies(host, on_irc, "1589140002-1")),
              ElementsAre(ImmpSyncCopy{on_irc, "1589140002-1"}, ImmpSyncCopy{on_mem, "m-9"}));
  EXPECT_THAT(run(io_, refs.copies(host, on_dummy, "6")), ElementsAre(ImmpSyncCopy{on_dummy, "6"}));
  EXPECT_THAT(run(io_, refs.copies(host, on_mem, "5")), IsEmpty());
  // A channel whose plug is gone finds nothing.
  Channel gone{&host.plug_handle("removed"), "dummy"};
  EXPECT_THAT(run(io_, refs.copies(host, gone, "5")), IsEmpty());
}

TEST_P(ImmpLegacyTest, ATableOfThatNameWithOtherColumnsIsAnError) {
  run(io_, db_->execute("CREATE TABLE syncbackref (id INTEGER PRIMARY KEY, other TEXT)"));
  try {
    run(io_, ImmpSyncRefs::open(*db_));
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("is not IMMP's sync references"));
  }
}

}  // namespace
}  // namespace immp::store
