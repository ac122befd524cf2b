// db: the database resource's batched write path, as the sync hook's id
// map uses it (one row per message), on SQLite on disk.
#include <boost/asio/co_spawn.hpp>
#include <cstdlib>
#include <filesystem>

#include "bench.hpp"
#include "immp/log.hpp"
#include "store/database.hpp"
#include "support/async.hpp"

namespace immp::bench {
namespace {

namespace fs = std::filesystem;

int db(int, char**) {
  const char* env = std::getenv("IMMP_BENCH_N");
  const std::size_t n = env ? std::strtoull(env, nullptr, 10) / 4 : 500'000;
  std::string t = (fs::temp_directory_path() / "immp-bench-XXXXXX").string();
  fs::path dir = mkdtemp(t.data());
  asio::io_context io(1);
  // stdout carries only JSON lines: the store logs through immp's loggers
  // (warnings to stderr), not spdlog's default one.
  store::Options options;
  options.log = logger("immp.bench.db");
  auto database =
      test::run(io, store::Database::open("sqlite:///" + (dir / "db.db").string(), options));
  std::vector<std::string> steps{
      "CREATE TABLE sync_refs (key TEXT NOT NULL, network TEXT NOT NULL, channel TEXT NOT NULL,"
      " message TEXT NOT NULL, UNIQUE (network, channel, message));"
      "CREATE INDEX sync_refs_key ON sync_refs (key)"};
  test::run(io, database->migrate("bench", steps));
  AllocWindow allocs;
  Stopwatch watch;
  for (std::size_t i = 0; i < n; ++i) {
    std::string id = std::to_string(i);
    database->write(
        "INSERT INTO sync_refs (key, network, channel, message) VALUES (?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        {"18a2b3c4d5e6." + id, "memory:a", "room", "1795309436681192." + id});
    // As the sync hook does: hold the producer back when the queue is long.
    if (database->queued() > 20000) test::run(io, database->throttle(20000), std::chrono::minutes(1));
  }
  double queued = watch.seconds();
  test::run(io, database->flush(), std::chrono::minutes(5));
  double seconds = watch.seconds();
  AllocCounts counted = allocs.stop();
  // allocs_per_msg: per row (one row per bridged copy in the sync hook).
  Json("db")
      .str("path", "Database::write (batched, bounded queue) -> SQLite file, WAL; until flushed")
      .count("rows", n)
      .num("queue_seconds", queued)
      .num("seconds", seconds)
      .num("rows_per_s", static_cast<double>(n) / seconds, 0)
      .allocs(counted, n)
      .num("peak_rss_mb", peak_rss_mb(), 1)
      .print();
  database->close();
  fs::remove_all(dir);
  return 0;
}

Register registered("db", db);

}  // namespace
}  // namespace immp::bench
