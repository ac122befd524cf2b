// operator: the local bus socket, host -> operator -> host, through a Host
// with an in-memory plug and the OperatorsHook supervising one operator
// (this same binary, started again as a minimal C++ client: the numbers
// are the host's and the socket's, not a Python SDK's).
//
//   rtt_p50_us, rtt_p99_us  one message at a time: from entering the host
//                           (the plug's queue) through the hook, the bus,
//                           the socket, the operator's `send` back, to the
//                           answer reaching the plug's put(); IMMP_BENCH_ROUNDS
//                           (default 20,000) round trips.
//   msg_per_s               IMMP_BENCH_N (default 1M) events published on the
//                           bus and streamed to the one operator, until it
//                           says it read the last one.
//
// Targets: p99 < 200 us, >= 200,000 msg/s.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>

#include "bench.hpp"
#include "immp/host.hpp"
#include "operators/operators_hook.hpp"
#include "plugs/memory/memory_plug.hpp"
#include "support/memory.hpp"
#include "support/process.hpp"

namespace immp::bench {
namespace {

// ---- the operator: a blocking client in a child process ----------------------

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n <= 0) std::_Exit(3);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string send_frame(std::string_view text) {
  return std::string(R"({"op":"send","event":{"specversion":"1.0","id":"b","source":"room","type":"message","data":{"text":")") +
         std::string(text) + "\"}}}\n";
}

// Answers each event whose text starts "rtt" with a send of the same text;
// counts the others and says "done" after `IMMP_BENCH_STREAM` of them.
int operator_client() {
  const char* path = std::getenv("IMMP_BUS_SOCKET");
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return 2;
  std::size_t stream = env_size("IMMP_BENCH_STREAM", 0);
  write_all(fd, std::string(R"({"op":"hello","name":")") + std::getenv("IMMP_OPERATOR_NAME") +
                    R"(","token":")" + std::getenv("IMMP_OPERATOR_TOKEN") + "\"}\n" +
                    R"({"op":"subscribe"})" + "\n" + R"({"op":"ready"})" + "\n");
  std::string buf;
  std::vector<char> chunk(1 << 20);
  std::size_t counted = 0;
  for (;;) {
    ssize_t n = ::read(fd, chunk.data(), chunk.size());
    if (n <= 0) return 0;
    buf.append(chunk.data(), static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (;;) {
      std::size_t nl = buf.find('\n', start);
      if (nl == std::string::npos) break;
      std::string_view line(buf.data() + start, nl - start);
      start = nl + 1;
      if (!line.starts_with(R"({"op":"event")")) {
        if (line.starts_with(R"({"op":"ping")")) write_all(fd, "{\"op\":\"pong\"}\n");
        if (line.starts_with(R"({"op":"shutdown")")) return 0;
        continue;
      }
      auto p = line.find(R"("plain":"rtt)");
      if (p != std::string_view::npos) {
        auto end = line.find('"', p + 9);
        write_all(fd, send_frame(line.substr(p + 9, end - p - 9)));
      } else if (++counted == stream) {
        write_all(fd, send_frame("done"));
      }
    }
    buf.erase(0, start);
  }
}

// The operator run of this binary: started by the supervisor with
// IMMP_BENCH_OPERATOR set, it is the client and nothing else.
const int kOperator = [] {
  if (std::getenv("IMMP_BENCH_OPERATOR")) std::_Exit(operator_client());
  return 0;
}();

// ---- the host ------------------------------------------------------------------

void drive(asio::io_context& io, Task<> task) {
  bool done = false;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr) { done = true; });
  while (!done) io.run_one();
}

SentPtr message(const Channel& channel, const UserPtr& user, std::string id, std::string text) {
  Message m;
  m.user = user;
  m.text = RichText(std::move(text));
  return std::make_shared<const SentMessage>(
      Receipt{std::move(id), channel, Clock::now(), {}, false}, std::move(m));
}

int operator_bench(int, char**) {
  const std::size_t n = env_size("IMMP_BENCH_N", 1'000'000);
  const std::size_t rounds = env_size("IMMP_BENCH_ROUNDS", 20'000);
  test::TempDir tmp("immp-bench-ops");
  asio::io_context io(1);
  Host host(io.get_executor());
  auto& a = test::add_memory_plug(host, "a", {{"keep", 0}});
  Channel channel = a.channel("room");
  host.add_channel("room", channel);
  std::string yaml = "command: /proc/self/exe\nenv: {IMMP_BENCH_OPERATOR: '1', IMMP_BENCH_STREAM: '" +
                     std::to_string(n) + "'}\nqueue: " + std::to_string(n + 1000) +
                     "\nping_interval: 60\nping_timeout: 120\n";
  Node entry = parse_config(yaml, ConfigFormat::yaml, "bench.yaml");
  validate(entry, *operators::operator_schema());
  operators::OperatorsOptions o;
  o.runtime_root = tmp / "run";
  o.keep = 0;
  o.operators.push_back(operators::read_settings("bench", entry, tmp.path()));
  auto& ops = host.add_hook(std::make_unique<operators::OperatorsHook>(Init{"operators", Node::map(), host}, o));
  bool ready = false;
  auto sub = ops.on_event([&](const operators::OperatorEvent& e) { ready = ready || e.what == "ready"; });
  drive(io, host.open());
  while (!ready) io.run_one();
  UserPtr user = a.user("alice");

  // Round trips, one at a time.
  std::vector<double> rt;
  rt.reserve(rounds);
  for (std::size_t i = 0; i < rounds; ++i) {
    std::size_t before = a.posted_count();
    SentPtr msg = message(channel, user, "r" + std::to_string(i), "rtt" + std::to_string(i));
    auto start = std::chrono::steady_clock::now();
    a.queue(std::move(msg));
    while (a.posted_count() == before && io.run_one() > 0) {
    }
    rt.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
  }
  // Streaming: published straight onto the bus, yielding now and then so
  // the socket's writer drains while the producer runs.
  std::size_t before = a.posted_count();
  Stopwatch watch;
  auto publish = [](operators::OperatorsHook& ops, SentPtr msg, std::size_t n) -> Task<> {
    for (std::size_t i = 0; i < n; ++i) {
      auto p = ops.bus().publish(msg);
      co_await std::move(p);
      if (i % 256 == 255) co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    }
  };
  SentPtr streamed = message(channel, user, "s", "a message of the stream, of an ordinary length");
  asio::co_spawn(io, publish(ops, streamed, n), [](std::exception_ptr) {});
  while (a.posted_count() == before && io.run_one() > 0) {
  }
  double seconds = watch.seconds();
  bool done = a.posted_count() > before;
  drive(io, host.close());

  std::sort(rt.begin(), rt.end());
  double p50 = rt.empty() ? 0 : rt[rt.size() / 2];
  double p99 = rt.empty() ? 0 : rt[std::min(rt.size() - 1, rt.size() * 99 / 100)];
  double rate = static_cast<double>(n) / seconds;
  Json line("operator");
  line.num("rtt_p50_us", p50, 1)
      .num("rtt_p99_us", p99, 1)
      .num("msg_per_s", rate, 0)
      .count("round_trips", rounds)
      .count("streamed", n)
      .flag("target_met", done && p99 < 200 && rate >= 200'000);
  line.print();
  return done ? 0 : 1;
}

Register registered("operator", operator_bench);

}  // namespace
}  // namespace immp::bench
