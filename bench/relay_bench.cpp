// relay: one in-memory plug floods N messages into a channel; a minimal
// relay hook sends each to a channel of a second in-memory plug.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <cstdlib>
#include <iostream>

#include "bench.hpp"
#include "immp/host.hpp"
#include "support/memory.hpp"

namespace immp::bench {
namespace {

class RelayHook final : public Hook {
 public:
  RelayHook(const Init& init, Channel from, Channel to) : Hook(init), from_(from), to_(to) {}
  Task<> on_receive(const Received& r) override {
    if (r.sent->channel != from_) co_return;
    MessagePtr msg = r.sent;  // relays the message itself: no copy
    co_await to_.plug->send(to_, std::move(msg));
  }

 private:
  Channel from_, to_;
};

int relay(int, char**) {
  const std::size_t n = std::getenv("IMMP_BENCH_N") ? std::strtoull(std::getenv("IMMP_BENCH_N"), nullptr, 10)
                                                    : 2'000'000;
  asio::io_context io(1);
  Host host(io.get_executor());
  auto& a = test::add_memory_plug(host, "a", {{"keep", 0}});
  auto& b = test::add_memory_plug(host, "b", {{"keep", 0}});
  host.add_hook(std::make_unique<RelayHook>(Init{"relay", Node::map(), host}, a.channel("in"),
                                            b.channel("out")));
  bool opened = false;
  asio::co_spawn(io, host.open(), [&](std::exception_ptr) { opened = true; });
  while (!opened) io.run_one();
  Stopwatch watch;
  asio::co_spawn(io, a.flood("in", n), asio::detached);
  while (b.posted_count() < n) io.run_one();
  double seconds = watch.seconds();
  std::printf(
      "{\"bench\":\"relay\",\"messages\":%zu,\"seconds\":%.3f,\"msg_per_s\":%.0f,"
      "\"peak_rss_mb\":%.1f}\n",
      n, seconds, static_cast<double>(n) / seconds, peak_rss_mb());
  std::fflush(stdout);
  bool closed = false;
  asio::co_spawn(io, host.close(), [&](std::exception_ptr) { closed = true; });
  while (!closed) io.run_one();
  return 0;
}

Register registered("relay", relay);

}  // namespace
}  // namespace immp::bench
