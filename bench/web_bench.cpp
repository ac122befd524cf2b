// web: the API plug on the web server, measured from outside over loopback.
//
//   post_per_s     POSTs answered per second: IMMP_BENCH_WEB_CONNS (64)
//                  keep-alive connections posting for 2 s, each waiting
//                  for its answer before the next
//   fanout_p50_ms  delivery latency of the stream: IMMP_BENCH_WEB_CLIENTS
//   fanout_p99_ms  (1000) WebSocket clients subscribed while
//                  IMMP_BENCH_WEB_RATE (1000) messages/s are posted for
//                  IMMP_BENCH_WEB_SECONDS (3); from the POST being written
//                  to each client reading the event
//   delivered      the share of (messages x clients) that arrived
//   peak_rss_mb    the server process's peak (the clients run in another)
//
// The server (host, web server, API plug, no database) runs in this
// process on one thread; the clients in a forked child on one thread.
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <cstdio>
#include <cstring>
#include <thread>

#include "bench.hpp"
#include "hooks/web/web_hook.hpp"
#include "immp/config.hpp"
#include "immp/host.hpp"
#include "plugs/web/web_plug.hpp"

namespace immp::bench {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Steady = std::chrono::steady_clock;

constexpr const char* kToken = "bench-token-0123456789abcdef";
constexpr auto kAwait = asio::use_awaitable;

void raise_fd_limit() {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Steady::now().time_since_epoch())
      .count();
}

http::request<http::string_body> post_request(const std::string& text) {
  http::request<http::string_body> req{http::verb::post, "/api/v1/channels/lobby/messages", 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::authorization, std::string("Bearer ") + kToken);
  req.set(http::field::content_type, "application/json");
  req.body() = "{\"text\":\"" + text + "\"}";
  req.keep_alive(true);
  req.prepare_payload();
  return req;
}

Task<> poster(tcp::endpoint ep, Steady::time_point end, std::uint64_t& count) {
  beast::tcp_stream s(co_await asio::this_coro::executor);
  co_await s.async_connect(ep, kAwait);
  auto req = post_request("bench");
  beast::flat_buffer buf;
  while (Steady::now() < end) {
    co_await http::async_write(s, req, kAwait);
    http::response<http::string_body> res;
    co_await http::async_read(s, buf, res, kAwait);
    if (res.result_int() != 201) throw std::runtime_error("POST answered " + res.body());
    ++count;
  }
}

struct Fanout {
  std::vector<double> latencies_ms;
  std::size_t ready = 0;
  std::size_t done = 0;
  std::uint64_t received = 0;
};

Task<> stream_client(tcp::endpoint ep, std::size_t expect, Fanout& f) {
  websocket::stream<beast::tcp_stream> ws(co_await asio::this_coro::executor);
  co_await beast::get_lowest_layer(ws).async_connect(ep, kAwait);
  ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
    req.set(http::field::authorization, std::string("Bearer ") + kToken);
  }));
  co_await ws.async_handshake("127.0.0.1", "/api/v1/stream?channels=api/lobby&kinds=message",
                              kAwait);
  beast::flat_buffer b;
  co_await ws.async_read(b, kAwait);  // ready
  b.consume(b.size());
  ++f.ready;
  constexpr std::string_view kPlain = "\"plain\":\"";
  for (std::size_t got = 0; got < expect; ++got) {
    co_await ws.async_read(b, kAwait);
    std::int64_t now = now_ns();
    std::string_view frame(static_cast<const char*>(b.data().data()), b.size());
    auto at = frame.find(kPlain);
    if (at != std::string_view::npos) {
      std::int64_t sent = std::strtoll(frame.data() + at + kPlain.size(), nullptr, 10);
      f.latencies_ms.push_back(static_cast<double>(now - sent) / 1e6);
    }
    ++f.received;
    b.consume(b.size());
  }
  ++f.done;
}

Task<> paced_poster(tcp::endpoint ep, std::size_t rate, std::size_t total) {
  beast::tcp_stream s(co_await asio::this_coro::executor);
  co_await s.async_connect(ep, kAwait);
  beast::flat_buffer buf;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto start = Steady::now();
  for (std::size_t i = 0; i < total; ++i) {
    // Message i is due at start + i / rate.
    timer.expires_at(start + std::chrono::microseconds(i * 1'000'000 / rate));
    co_await timer.async_wait(kAwait);
    auto req = post_request(std::to_string(now_ns()));
    co_await http::async_write(s, req, kAwait);
    http::response<http::string_body> res;
    co_await http::async_read(s, buf, res, kAwait);
  }
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::size_t k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

// The child: the load generator. Returns "post_per_s p50 p99 delivered".
std::string run_clients(int port) {
  raise_fd_limit();
  const std::size_t conns = env_size("IMMP_BENCH_WEB_CONNS", 64);
  const std::size_t clients = env_size("IMMP_BENCH_WEB_CLIENTS", 1000);
  const std::size_t rate = env_size("IMMP_BENCH_WEB_RATE", 1000);
  const std::size_t seconds = env_size("IMMP_BENCH_WEB_SECONDS", 3);
  asio::io_context io;
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
  auto fail = [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      std::fprintf(stderr, "web bench client: %s\n", x.what());
    }
  };

  std::uint64_t posted = 0;
  auto end = Steady::now() + std::chrono::seconds(2);
  Stopwatch post_clock;
  for (std::size_t i = 0; i < conns; ++i) asio::co_spawn(io, poster(ep, end, posted), fail);
  io.run();
  double post_per_s = static_cast<double>(posted) / post_clock.seconds();

  io.restart();
  Fanout f;
  f.latencies_ms.reserve(clients * rate * seconds);
  const std::size_t total = rate * seconds;
  for (std::size_t i = 0; i < clients; ++i) asio::co_spawn(io, stream_client(ep, total, f), fail);
  while (f.ready < clients && io.run_one_for(std::chrono::seconds(10))) {
  }
  asio::co_spawn(io, paced_poster(ep, rate, total), fail);
  auto deadline = Steady::now() + std::chrono::seconds(seconds + 20);
  while (f.done < clients && Steady::now() < deadline) io.run_one_for(std::chrono::milliseconds(100));
  double delivered = static_cast<double>(f.received) / static_cast<double>(clients * total);
  double p50 = percentile(f.latencies_ms, 0.50);
  double p99 = percentile(f.latencies_ms, 0.99);
  char out[256];
  std::snprintf(out, sizeof out, "%.0f %.3f %.3f %.4f\n", post_per_s, p50, p99, delivered);
  return out;
}

int web(int, char**) {
  int to_child[2], to_parent[2];
  if (pipe(to_child) != 0 || pipe(to_parent) != 0) return 1;
  pid_t child = fork();
  if (child == 0) {
    int port = 0;
    if (read(to_child[0], &port, sizeof port) != sizeof port) std::_Exit(1);
    std::string result = run_clients(port);
    if (write(to_parent[1], result.data(), result.size()) < 0) std::_Exit(1);
    std::_Exit(0);
  }
  raise_fd_limit();
  asio::io_context io;
  Host host(io.get_executor());
  auto make = [&](const std::string& yaml, const std::string& section, auto* type) {
    using T = std::remove_pointer_t<decltype(type)>;
    Node config = parse_config(yaml, ConfigFormat::yaml, "bench.yaml");
    config.set_path(section);
    config.repath();
    validate(config, *T::schema());
    return std::make_unique<T>(Init{section, config, host});
  };
  host.add_hook(make("port: 0\nmax-connections: 20000\n", "web", (web::WebHook*)nullptr));
  host.add_plug(make(std::string("channels: [lobby]\nqueue: 4096\ntokens: [{name: bench, token: ") +
                         kToken + ", scopes: [read, write]}]\n",
                     "api", (plugs::WebPlug*)nullptr));
  bool opened = false;
  asio::co_spawn(io, host.open(), [&](std::exception_ptr) { opened = true; });
  while (!opened) io.run_one();
  auto* web = dynamic_cast<web::WebHook*>(host.hook("web"));
  int port = web->port();
  if (write(to_child[1], &port, sizeof port) != sizeof port) return 1;

  // The answer comes on the pipe; the server runs until then.
  std::string result;
  std::thread reader([&] {
    char buf[256];
    ssize_t n = read(to_parent[0], buf, sizeof buf);
    if (n > 0) result.assign(buf, static_cast<std::size_t>(n));
    asio::post(io, [&] {
      asio::co_spawn(io, host.close(), [&](std::exception_ptr) { io.stop(); });
    });
  });
  auto guard = asio::make_work_guard(io);
  io.run();
  reader.join();
  waitpid(child, nullptr, 0);
  double post_per_s = 0, p50 = 0, p99 = 0, delivered = 0;
  if (std::sscanf(result.c_str(), "%lf %lf %lf %lf", &post_per_s, &p50, &p99, &delivered) != 4) {
    std::fprintf(stderr, "web bench: the clients failed\n");
    return 1;
  }
  Json("web")
      .num("post_per_s", post_per_s, 0)
      .count("clients", env_size("IMMP_BENCH_WEB_CLIENTS", 1000))
      .count("rate", env_size("IMMP_BENCH_WEB_RATE", 1000))
      .num("fanout_p50_ms", p50)
      .num("fanout_p99_ms", p99)
      .num("delivered", delivered, 4)
      .num("peak_rss_mb", peak_rss_mb(), 1)
      .print();
  return 0;
}

Register registered("web", web);

}  // namespace
}  // namespace immp::bench
