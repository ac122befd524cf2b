// nats: two hosts through a real nats-server (started here on loopback),
// host A's channel bridged into host B's (docs/operators.md, "NATS"), plain
// NATS (no JetStream); each host on its own thread and io_context in this
// process, as two processes would run.
//
//   msg_per_s    IMMP_BENCH_N (default 200,000) messages said on A's
//                network, until B's network got the last one: A's stream
//                published in batches, B's bridge posting each into its
//                channel's outbox.
//   lost         of those, how many B's network never got (waited for
//                until nothing arrived for 5 s).
//   rtt_p99_us   a send request to host B (NATS request/reply from a
//                plain client, the path that flushes at once) until its
//                receipt: IMMP_BENCH_ROUNDS (default 2,000) one at a time.
//   relay_p99_us one message at a time from A's network to B's network.
//   cpu_us_per_msg  CPU time of this process (both hosts, the client's
//                threads) per streamed message: what the rate would be
//                on a core of its own (the server's time is not counted).
//
// Target: >= 100,000 msg/s with none lost.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <ctime>
#include <functional>
#include <future>
#include <thread>

#include "bench.hpp"
#include "bus_nats/nats_hook.hpp"
#include "immp/host.hpp"
#include "plugs/memory/memory_plug.hpp"
#include "support/memory.hpp"
#include "support/nats_hosts.hpp"
#include "support/nats_server.hpp"

namespace immp::bench {
namespace {

using namespace std::chrono_literals;

// Runs `task` on `io` to its end.
template <typename T>
T drive(asio::io_context& io, Task<T> task) {
  std::optional<T> out;
  std::exception_ptr error;
  bool done = false;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T v) {
    error = e;
    if (!e) out.emplace(std::move(v));
    done = true;
  });
  while (!done) {
    if (io.stopped()) io.restart();
    io.run_one_for(10ms);
  }
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

void drive(asio::io_context& io, Task<> task) {
  drive(io, [](Task<> t) -> Task<int> {
    co_await std::move(t);
    co_return 0;
  }(std::move(task)));
}

// Runs `io` until `done()` or `idle` passes with no progress in `progress()`.
template <typename D, typename P>
bool run_until(asio::io_context& io, D done, P progress, std::chrono::milliseconds idle) {
  auto last = progress();
  auto since = std::chrono::steady_clock::now();
  while (!done()) {
    if (io.stopped()) io.restart();
    // Short steps: done() looks at the other host's thread between them.
    io.run_one_for(200us);
    auto now = progress();
    if (now != last) {
      last = now;
      since = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - since > idle) {
      return false;
    }
  }
  return true;
}

struct BenchHost {
  BenchHost(asio::io_context& io, const std::string& prefix, const std::string& lobby,
            const std::string& bus)
      : host(io.get_executor()), mem(test::add_memory_plug(host, "irc", {{"keep", 16}})) {
    host.add_channel("lobby", mem.channel(lobby));
    nats = &test::add_nats_hook(host, prefix, bus);
  }
  Host host;
  plugs::MemoryPlug& mem;
  bus_nats::NatsHook* nats;
};

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(static_cast<double>(v.size()) * p))];
}

int nats_bench(int, char**) {
  if (!test::NatsServer::available()) {
    std::fprintf(stderr, "nats: nats-server is not installed\n");
    return 1;
  }
  const std::size_t n = env_size("IMMP_BENCH_N", 200'000);
  const std::size_t rounds = env_size("IMMP_BENCH_ROUNDS", 2'000);
  test::NatsServer::Options plain;
  plain.jetstream = false;
  test::NatsServer server(plain);
  asio::io_context io;    // host A, on this thread
  asio::io_context io_b;  // host B, on its own
  BenchHost a(io, "bencha", "#a", "url: " + server.url() + "\nrequests: false\nqueue: 1000000\n");
  BenchHost b(io_b, "benchb", "#b",
              "url: " + server.url() + "\nbridges: [{channel: lobby, remote: 'bencha/irc/#a'}]\n");
  drive(io, a.host.open());
  drive(io_b, b.host.open());
  if (!drive(io, a.nats->ready(10s)) || !drive(io_b, b.nats->ready(10s))) {
    std::fprintf(stderr, "nats: the hosts did not connect\n");
    return 1;
  }
  auto b_work = asio::make_work_guard(io_b);
  // What B's network got, read on B's thread every 100 µs into an atomic
  // that A's thread looks at: the bench's own watching costs B a timer
  // wake-up now and then, not a cross-thread round trip per step of A.
  // B's thread also reports its CPU time (it relays: the first thread to
  // run out of CPU).
  std::atomic<std::size_t> b_posted{0};
  std::atomic<bool> b_watching{true};
  std::atomic<std::int64_t> b_cpu_ns{0};
  asio::steady_timer b_timer(io_b);
  std::function<void()> b_watch = [&] {
    b_posted.store(b.mem.posted_count(), std::memory_order_release);
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    b_cpu_ns.store(std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec, std::memory_order_relaxed);
    if (!b_watching.load()) return;
    b_timer.expires_after(100us);
    b_timer.async_wait([&](boost::system::error_code) { b_watch(); });
  };
  asio::post(io_b, b_watch);
  std::thread b_thread([&] { io_b.run(); });
  auto b_count = [&] { return b_posted.load(std::memory_order_acquire); };
  // The same, asked on B's thread and answered at once: for latencies.
  auto b_count_now = [&] {
    std::promise<std::size_t> p;
    auto f = p.get_future();
    asio::post(io_b, [&] { p.set_value(b.mem.posted_count()); });
    return f.get();
  };

  // One at a time, A's network to B's.
  std::vector<double> relay;
  for (std::size_t i = 0; i < 500; ++i) {
    std::size_t before = b_count_now();
    auto start = std::chrono::steady_clock::now();
    a.mem.inject("#a", "ping " + std::to_string(i), "alice");
    if (!run_until(io, [&] { return b_count_now() > before; }, b_count_now, 5s)) {
      break;
    }
    relay.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
  }

  // Send requests to B, from a plain client on its own thread.
  std::vector<double> rtt;
  std::atomic<bool> asked{false};
  std::thread client([&] {
    test::NatsClient c(server.port());
    const std::string body =
        R"({"specversion":"1.0","id":"r","source":"lobby","type":"message","data":{"text":"request"}})";
    for (std::size_t i = 0; i < rounds; ++i) {
      auto start = std::chrono::steady_clock::now();
      auto answer = c.request("immp.benchb.send", body, 5s);
      if (!answer || answer->find("\"receipt\"") == std::string::npos) break;
      rtt.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
    }
    asked = true;
  });
  while (!asked) {
    if (io.stopped()) io.restart();
    io.run_one_for(5ms);
  }
  client.join();

  // The stream: n messages said on A's network.
  std::size_t before = b_count_now();
  double cpu_before = cpu_seconds();
  std::int64_t b_cpu_before = b_cpu_ns.load();
  Stopwatch watch;
  asio::co_spawn(io, a.mem.flood("#a", n), [](std::exception_ptr) {});
  run_until(io, [&] { return b_count() - before >= n; }, b_count, 5s);
  std::size_t got = b_count() - before;
  double seconds = watch.seconds();
  double cpu = cpu_seconds() - cpu_before;
  double b_cpu = static_cast<double>(b_cpu_ns.load() - b_cpu_before) / 1e9;
  if (got < n) seconds -= 5;  // the idle wait that ended it
  b_watching = false;
  {
    std::promise<void> closed;
    asio::co_spawn(io_b, b.host.close(), [&](std::exception_ptr) { closed.set_value(); });
    closed.get_future().wait();
  }
  b_work.reset();
  b_thread.join();
  drive(io, a.host.close());

  double rate = static_cast<double>(got) / seconds;
  std::uint64_t lost = n - got;
  double rtt_p50 = percentile(rtt, 0.5);
  double rtt_p99 = percentile(rtt, 0.99);
  Json line("nats");
  line.num("msg_per_s", rate, 0)
      .count("lost", lost)
      .num("rtt_p99_us", rtt_p99, 1)
      .num("rtt_p50_us", rtt_p50, 1)
      .num("relay_p50_us", percentile(relay, 0.5), 1)
      .num("relay_p99_us", percentile(relay, 0.99), 1)
      .num("cpu_us_per_msg", got ? cpu * 1e6 / static_cast<double>(got) : 0, 2)
      // B's io thread alone: 1e6 / this is the rate B could relay at on a
      // core of its own.
      .num("b_thread_cpu_us_per_msg", got ? b_cpu * 1e6 / static_cast<double>(got) : 0, 2)
      .count("messages", n)
      .count("round_trips", rtt.size())
      .flag("target_met", lost == 0 && rate >= 100'000);
  line.print();
  if (lost) {
    std::fprintf(stderr, "nats: A published %llu, dropped %llu; B relayed %llu\n%s\n",
                 static_cast<unsigned long long>(a.nats->stats().published),
                 static_cast<unsigned long long>(a.nats->stats().dropped),
                 static_cast<unsigned long long>(b.nats->stats().relayed), server.log().c_str());
  }
  return lost == 0 && rtt.size() == rounds ? 0 : 1;
}

Register registered("nats", nats_bench);

}  // namespace
}  // namespace immp::bench
