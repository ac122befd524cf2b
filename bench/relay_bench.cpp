// relay: users of one in-memory plug post N messages (IMMP_BENCH_N,
// default 2M) in a channel; a relay hook hands each to a channel of a
// second in-memory plug. Both plugs keep nothing (keep: 0) and do not echo
// (IMMP_BENCH_RELAY_ECHO=1: b echoes each post back, as most networks do,
// and the host must know each echo for its own: the host's whole share of
// what the sync bench measures, with no id map).
//
//   relay       as a bridge does: the hook copies the message and posts the
//               copy with Host::post() (the destination's outbox, then
//               before_send, put(), receipts to the poster, which listens
//               for them as the sync hook does).
//   relay_send  the hook awaits Host::send() with the message itself (no
//               copy, no outbox): the direct path, for comparison only.
//
// Each runs IMMP_BENCH_REPEAT times (default 3), each time with a fresh
// host; msg_per_s is the median (the machine is shared: one run can be
// unlucky), every run's figure is listed. RSS is read in the first run
// (the process is fresh then) when half and when all of the messages went
// out, to show whether memory grows with traffic; peak_rss_mb is the
// process's high-water mark. Messages that never reached b are "lost" (the
// run ends once all arrived, or nothing arrived for 2 s after the last was
// fed; the time is then counted to the last arrival).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <cstdlib>

#include "bench.hpp"
#include "immp/host.hpp"
#include "support/memory.hpp"
#include "workload.hpp"

namespace immp::bench {
namespace {

enum class Mode { post, send };

class RelayHook final : public Hook {
 public:
  RelayHook(const Init& init, Mode mode, Channel from, Channel to)
      : Hook(init), mode_(mode), from_(std::move(from)), to_(std::move(to)) {
    // A bridge learns the ids its copies got (sync records them).
    delivered_ = init.host.on_delivered(
        owner_, [this](const Origin&, const Channel&, std::span<const Receipt> receipts) {
          receipts_ += receipts.size();
        });
  }
  // As sync's does: our own echoes and other channels are turned away
  // before they are queued for the hook.
  bool wants(const Received& r) const override {
    return r.sent->channel == from_ && !r.posted_by(owner_);
  }
  Task<> on_receive(const Received& r) override {
    if (mode_ == Mode::post) {
      // As a bridge does (cf. ForwardHook): a copy for the target, posted
      // with the host's record of who posted it.
      // Its copies need no record of their own, so they share one Origin,
      // as the command and autorespond hooks' answers do.
      auto copy = std::make_shared<Message>(static_cast<const Message&>(*r.sent));
      host().post(to_, std::move(copy), origin_);
    } else {
      MessagePtr msg = r.sent;  // the message itself: no copy
      co_await host().send(to_, std::move(msg));
    }
  }

 private:
  Mode mode_;
  Channel from_, to_;
  std::string owner_ = "relay";
  OriginPtr origin_ = std::make_shared<const Origin>(Origin{owner_, {}});
  Subscription delivered_;
  std::uint64_t receipts_ = 0;
};

struct Run {
  double seconds = 0, cpu_seconds = 0;
  std::uint64_t delivered = 0;
  AllocCounts allocs, inbound;
  double rss_start = 0, rss_half = -1, rss_end = 0;
};

Run run_once(Mode mode, std::size_t n, bool echo) {
  Run out;
  asio::io_context io(1);
  Host host(io.get_executor());
  auto& a = test::add_memory_plug(host, "a", {{"keep", 0}});
  auto& b = test::add_memory_plug(host, "b", {{"keep", 0}, {"echo", echo}});
  host.add_hook(std::make_unique<RelayHook>(Init{"relay", Node::map(), host}, mode,
                                            a.channel("in"), b.channel("out")));
  bool opened = false;
  asio::co_spawn(io, host.open(), [&](std::exception_ptr) { opened = true; });
  while (!opened) io.run_one();

  Feed f;
  f.n = n;
  const std::size_t half = n / 2;
  out.rss_start = rss_mb();
  double cpu0 = cpu_seconds();
  AllocWindow allocs;
  Stopwatch watch;
  asio::co_spawn(io, feed(a, "in", f), asio::detached);
  auto last = run_until_delivered(
      io,
      [&] {
        if (out.rss_half < 0 && b.posted_count() >= half) out.rss_half = rss_mb();
        return b.posted_count() >= n;
      },
      [&] { return b.posted_count(); }, f, std::chrono::seconds(2));
  out.seconds = b.posted_count() >= n ? watch.seconds()
                                      : std::chrono::duration<double>(last - watch.start).count();
  out.allocs = allocs.stop();
  out.cpu_seconds = cpu_seconds() - cpu0;
  out.rss_end = rss_mb();
  out.inbound = f.inbound;
  out.delivered = b.posted_count();
  bool closed = false;
  asio::co_spawn(io, host.close(), [&](std::exception_ptr) { closed = true; });
  while (!closed) io.run_one();
  return out;
}

int relay(Mode mode) {
  const std::size_t n = env_size("IMMP_BENCH_N", 2'000'000);
  const std::size_t repeat = std::max<std::size_t>(1, env_size("IMMP_BENCH_REPEAT", 3));
  const bool echo = env_size("IMMP_BENCH_RELAY_ECHO", 0) != 0;
  std::vector<Run> runs;
  std::vector<double> rates, cpu_rates;
  for (std::size_t i = 0; i < repeat; ++i) {
    runs.push_back(run_once(mode, n, echo));
    rates.push_back(static_cast<double>(runs.back().delivered) / runs.back().seconds);
    cpu_rates.push_back(static_cast<double>(runs.back().delivered) / runs.back().cpu_seconds);
  }
  const Run& first = runs.front();
  std::uint64_t lost_total = 0;
  for (const Run& r : runs) lost_total += n - r.delivered;
  double rate = median(rates);
  double peak = peak_rss_mb();
  Json line(mode == Mode::post ? "relay" : "relay_send");
  line.str("path", mode == Mode::post ? "hook copies, Host::post() -> outbox -> put()"
                                      : "hook awaits Host::send(same message) -> put(), no outbox")
      .flag("echo", echo)
      .count("messages", n)
      .count("runs", repeat)
      .count("lost", lost_total)
      .num("msg_per_s", rate, 0)
      .raw("msg_per_s_runs", json_array(rates))
      .num("msg_per_cpu_s", median(cpu_rates), 0)
      .allocs(first.allocs, n, &first.inbound)
      .num("rss_start_mb", first.rss_start, 1)
      .num("rss_half_mb", first.rss_half, 1)
      .num("rss_end_mb", first.rss_end, 1)
      .num("peak_rss_mb", peak, 1);
  if (mode == Mode::post && !echo) {
    // The target is the bridge's relay without echoes (issue 7):
    // >= 1M msg/s, nothing lost, peak under 64 MB, and flat: the second
    // half of the messages added less than 10 % to the first half's RSS.
    bool flat = first.rss_end - first.rss_half <= 0.1 * first.rss_half;
    line.flag("target_met", rate >= 1e6 && lost_total == 0 && peak < 64 && flat);
  }
  line.print();
  return lost_total == 0 ? 0 : 1;
}

Register registered("relay", [](int, char**) { return relay(Mode::post); });
Register registered_send("relay_send", [](int, char**) { return relay(Mode::send); });

}  // namespace
}  // namespace immp::bench
