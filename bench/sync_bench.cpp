// sync: two in-memory plugs bridged by the sync hook, with the id map in
// SQLite on disk and in sqlite://:memory:.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <cstdlib>
#include <filesystem>

#include "bench.hpp"
#include "hooks/sync/sync_hook.hpp"
#include "immp/host.hpp"
#include "store/database_hook.hpp"
#include "support/hooks.hpp"
#include "support/memory.hpp"

namespace immp::bench {
namespace {

namespace fs = std::filesystem;

void run_sync(const std::string& store, const std::string& url, std::size_t n) {
  asio::io_context io(1);
  {
    Host host(io.get_executor());
    auto& a = test::add_memory_plug(host, "a", {{"keep", 0}});
    auto& b = test::add_memory_plug(host, "b", {{"keep", 0}});
    host.add_channel("a", a.channel("room"));
    host.add_channel("b", b.channel("room"));
    if (!url.empty()) test::add_hook<store::DatabaseHook>(host, "db", "url: \"" + url + "\"");
    test::add_hook<hooks::SyncHook>(host, "sync", "channels: {room: [a, b]}");
    bool opened = false;
    asio::co_spawn(io, host.open(), [&](std::exception_ptr) { opened = true; });
    while (!opened) io.run_one();
    Stopwatch watch;
    asio::co_spawn(io, a.flood("room", n), asio::detached);
    while (b.posted_count() < n) io.run_one();
    // Persistence counts: wait until the id map is committed.
    if (!url.empty()) {
      auto& db = host.resource<store::DatabaseHook>(*host.hook("sync")).db();
      bool flushed = false;
      asio::co_spawn(io, db.flush(), [&](std::exception_ptr) { flushed = true; });
      while (!flushed) io.run_one();
    }
    double seconds = watch.seconds();
    std::printf(
        "{\"bench\":\"sync\",\"store\":\"%s\",\"messages\":%zu,\"seconds\":%.3f,"
        "\"msg_per_s\":%.0f,\"peak_rss_mb\":%.1f}\n",
        store.c_str(), n, seconds, static_cast<double>(n) / seconds, peak_rss_mb());
    std::fflush(stdout);
    bool closed = false;
    asio::co_spawn(io, host.close(), [&](std::exception_ptr) { closed = true; });
    while (!closed) io.run_one();
  }
}

int sync(int, char**) {
  const char* env = std::getenv("IMMP_BENCH_N");
  const std::size_t n = env ? std::strtoull(env, nullptr, 10) : 2'000'000;
  if (std::getenv("IMMP_BENCH_NODB")) {
    run_sync("none", "", n);
    return 0;
  }
  std::string t = (fs::temp_directory_path() / "immp-bench-XXXXXX").string();
  fs::path dir = mkdtemp(t.data());
  run_sync("sqlite", "sqlite:///" + (dir / "bench.db").string(), n);
  fs::remove_all(dir);
  run_sync("memory", "sqlite://:memory:", n);
  return 0;
}

Register registered("sync", sync);

}  // namespace
}  // namespace immp::bench
