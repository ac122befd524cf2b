// sync: two in-memory plugs bridged by the sync hook, as users run a bridge
// between two networks that echo our own posts and have edits and native
// replies (memory plug: echo, edit, reply; keep: 0). Users of plug a post
// N messages (IMMP_BENCH_SYNC_N, else IMMP_BENCH_N, default 500k: ten
// times the id cache, so the cache is full and wraps); every tenth edits or answers a
// message 16k-32k back (see workload.hpp). Every message reaches b as one
// put(): new ones and replies as new messages, edits in place.
//
// One line per id-map store:
//   "sqlite (file)"            the database resource on SQLite in a file
//                              (WAL); the run ends once the id map is
//                              committed (flush).
//   "none (memory cache only)" no database resource: the sync hook keeps the
//                              last 50k bridged messages in memory.
//   "sqlite :memory: (...)"    the database resource on an in-memory SQLite:
//                              the sync hook keeps no id map there (the same
//                              memory cache as "none"); only the outbox
//                              store is present.
// IMMP_BENCH_SYNC_STORES picks some (comma-separated: file,none,memory;
// default file,none: memory measures the same id map as none);
// IMMP_BENCH_SYNC_CHECK=0 skips the check (for a profiler).
//
// Each line also says what went wrong, which must be nothing: `lost`
// (never reached b; the run then ends 2 s after the last arrival, and its
// time is counted to that arrival), `hook_queue_dropped` / `outbox_dropped`
// (what the host dropped, echoes included) and `rebridged` (copies the
// sync put to a: nothing originates on b, so these are b's echoes of our
// own copies that were not recognised as ours and were bridged back).
//
// Before measuring, a short check run (keep on, 60k messages) verifies
// that edits arrived as in-place edits of the right copy and replies as
// native replies to the right copy: the benchmark measures what it claims.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <cstdlib>
#include <filesystem>
#include <unordered_set>

#include "bench.hpp"
#include "hooks/sync/sync_hook.hpp"
#include "immp/host.hpp"
#include "store/database_hook.hpp"
#include "support/hooks.hpp"
#include "support/memory.hpp"
#include "workload.hpp"

namespace immp::bench {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kChangeEvery = 10;  // 10 % edits or replies

template <typename T>
void run_task(asio::io_context& io, Task<T> task) {
  bool done = false;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, auto&&...) {
    error = e;
    done = true;
  });
  while (!done) io.run_one();
  if (error) std::rethrow_exception(error);
}
void run_task(asio::io_context& io, Task<> task) {
  bool done = false;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e) {
    error = e;
    done = true;
  });
  while (!done) io.run_one();
  if (error) std::rethrow_exception(error);
}

struct Result {
  std::size_t delivered = 0, lost = 0;
  // What the host dropped: messages (a's, and b's echoes) its hook queues
  // dropped because a hook fell behind, and outbox entries (overflow,
  // refused, expired).
  std::uint64_t hook_queue_dropped = 0, outbox_dropped = 0;
  // Copies the sync put to a, where nothing but echoes of its own posts to
  // b could come from: b's echoes not recognised as ours and bridged back.
  std::size_t rebridged = 0;
  double seconds = 0, cpu_seconds = 0;
  double rss_start = 0, rss_half = -1, rss_end = 0;
  AllocCounts allocs;
  Feed feed;
  // The check (keep on): edits that changed b's copy in place, replies
  // that answer b's copy natively.
  std::size_t edits_in_place = 0, native_replies = 0;
};

Result run_sync(const std::string& url, std::size_t n, bool check) {
  Result out;
  asio::io_context io(1);
  Host host(io.get_executor());
  auto settings = [](std::int64_t keep) {
    return NodeMap{{"echo", true}, {"edit", true}, {"reply", true}, {"keep", keep}};
  };
  auto& a = test::add_memory_plug(host, "a", settings(0));
  auto& b = test::add_memory_plug(host, "b", settings(check ? static_cast<std::int64_t>(n + 1) : 0));
  host.add_channel("a", a.channel("room"));
  host.add_channel("b", b.channel("room"));
  if (!url.empty()) test::add_hook<store::DatabaseHook>(host, "db", "url: \"" + url + "\"");
  test::add_hook<hooks::SyncHook>(host, "sync", "channels: {room: [a, b]}");
  run_task(io, host.open());

  out.feed.n = n;
  out.feed.change_every = kChangeEvery;
  const std::size_t half = n / 2;
  out.rss_start = rss_mb();
  double cpu0 = cpu_seconds();
  AllocWindow allocs;
  Stopwatch watch;
  asio::co_spawn(io, feed(a, "room", out.feed), asio::detached);
  auto last = run_until_delivered(
      io,
      [&] {
        if (out.rss_half < 0 && b.posted_count() >= half) out.rss_half = rss_mb();
        return b.posted_count() >= n;
      },
      [&] { return b.posted_count(); }, out.feed, std::chrono::seconds(2));
  // Persistence counts: the id map is committed before the clock stops.
  if (!url.empty()) run_task(io, host.resource<store::DatabaseHook>(*host.hook("sync")).db().flush());
  out.seconds = b.posted_count() >= n ? watch.seconds()
                                      : std::chrono::duration<double>(last - watch.start).count();
  out.allocs = allocs.stop();
  out.cpu_seconds = cpu_seconds() - cpu0;
  out.rss_end = rss_mb();
  out.delivered = b.posted_count();
  out.rebridged = a.posted_count();
  out.lost = n - std::min(n, out.delivered);
  out.hook_queue_dropped = host.hook_stats().dropped;
  auto o = host.outbox_stats();
  out.outbox_dropped = o.overflowed + o.failed + o.expired;

  if (check) {
    // b's copies of a's messages, by the number in their text.
    std::unordered_set<std::string> ids;
    for (const auto& s : b.posted()) {
      if (s->edited) {
        if (ids.count(s->id)) ++out.edits_in_place;
      } else if (s->reply_to) {
        if (ids.count(s->reply_to->id)) ++out.native_replies;
      }
      if (!s->edited) ids.insert(s->id);
    }
  }
  run_task(io, host.close());
  return out;
}

void print(const std::string& store, const Result& r, double target, std::size_t n) {
  double rate = static_cast<double>(r.delivered) / r.seconds;
  Json line("sync");
  line.str("store", store)
      .str("plugs", "memory a -> memory b, echo on, edit + reply native, keep 0")
      .count("messages", n)
      .count("new", r.feed.news)
      .count("edits", r.feed.edits)
      .count("replies", r.feed.replies)
      .count("destinations", 1)
      .count("lost", r.lost)
      .count("hook_queue_dropped", r.hook_queue_dropped)
      .count("outbox_dropped", r.outbox_dropped)
      .count("rebridged", r.rebridged)
      .num("seconds", r.seconds)
      .num("msg_per_s", rate, 0)
      .num("msg_per_cpu_s", static_cast<double>(r.delivered) / r.cpu_seconds, 0)
      .allocs(r.allocs, n, &r.feed.inbound)
      .num("rss_start_mb", r.rss_start, 1)
      .num("rss_half_mb", r.rss_half, 1)
      .num("rss_end_mb", r.rss_end, 1)
      .num("peak_rss_mb", peak_rss_mb(), 1)
      .num("target_msg_per_s", target, 0)
      .flag("target_met", rate >= target && r.lost == 0 && r.rebridged == 0)
      .flag("allocs_target_met",
            static_cast<double>(r.allocs.total() - r.feed.inbound.total()) /
                    static_cast<double>(n) <=
                10.0)
      .print();
}

bool wanted(const std::string& store) {
  const char* env = std::getenv("IMMP_BENCH_SYNC_STORES");
  if (!env || !*env) return store != "memory";  // the same cache as none: on request
  std::string list = std::string(",") + env + ",";
  return list.find("," + store + ",") != std::string::npos;
}

int check() {
  // What is measured is what it says: edits changed b's copy in place,
  // replies answer b's copy natively.
  const std::size_t check_n = 60'000;
  Result c = run_sync("", check_n, true);
  bool ok = c.lost == 0 && c.rebridged == 0 && c.delivered == check_n && c.edits_in_place == c.feed.edits &&
            c.native_replies == c.feed.replies && c.feed.edits > 0 && c.feed.replies > 0;
  Json("sync")
      .str("run", "check")
      .count("messages", check_n)
      .count("edits", c.feed.edits)
      .count("edits_in_place", c.edits_in_place)
      .count("replies", c.feed.replies)
      .count("native_replies", c.native_replies)
      .count("delivered", c.delivered)
      .count("lost", c.lost)
      .count("rebridged", c.rebridged)
      .raw("allocs_per_msg", "null")  // not measured here (keep on)
      .flag("ok", ok)
      .print();
  return ok ? 0 : 1;
}

int sync(int, char**) {
  const std::size_t n = env_size("IMMP_BENCH_SYNC_N", env_size("IMMP_BENCH_N", 500'000));
  // Each run in a process of its own: its own peak RSS.
  int status = env_size("IMMP_BENCH_SYNC_CHECK", 1) ? in_child(check) : 0;
  if (wanted("file")) {
    status |= in_child([n] {
      std::string t = (fs::temp_directory_path() / "immp-bench-XXXXXX").string();
      fs::path dir = mkdtemp(t.data());
      Result r = run_sync("sqlite:///" + (dir / "bench.db").string(), n, false);
      print("sqlite (file, WAL)", r, 300'000, n);
      fs::remove_all(dir);
      return r.lost || r.rebridged ? 1 : 0;
    });
  }
  if (wanted("none")) {
    status |= in_child([n] {
      Result r = run_sync("", n, false);
      print("none (memory cache only)", r, 1'000'000, n);
      return r.lost || r.rebridged ? 1 : 0;
    });
  }
  if (wanted("memory")) {
    status |= in_child([n] {
      Result r = run_sync("sqlite://:memory:", n, false);
      print("sqlite :memory: (outbox store only; id map = memory cache only)", r, 1'000'000, n);
      return r.lost || r.rebridged ? 1 : 0;
    });
  }
  return status;
}

Register registered("sync", sync);

}  // namespace
}  // namespace immp::bench
