// web: the API plug on the web server, measured from outside over loopback.
//
//   post_per_s     POSTs answered per second: IMMP_BENCH_WEB_CONNS (64)
//                  keep-alive connections posting for
//                  IMMP_BENCH_WEB_POST_SECONDS (2), each waiting for its
//                  answer before the next
//   post_cpu_us    the server's CPU time (user + system) per POST
//   fanout_p50_ms  delivery latency of the stream: IMMP_BENCH_WEB_CLIENTS
//   fanout_p99_ms  (1000) WebSocket clients subscribed while
//                  IMMP_BENCH_WEB_RATE (1000) messages/s are posted for
//                  IMMP_BENCH_WEB_SECONDS (3); from the POST being written
//                  to each client reading the event
//   posted         messages the paced poster got a 201 for
//   delivered      the share of (posted x clients) that arrived
//   lagged         clients told they lagged (then disconnected)
//   closed         clients whose connection ended otherwise before the end
//   fanout_cpu_us  the server's CPU time per delivery (one event to one
//                  client), over the fan-out phase
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
  std::size_t lagged = 0;
  std::size_t closed = 0;
  std::uint64_t posted = 0;
  bool posting = true;
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
  bool lagged = false;
  for (std::size_t got = 0; got < expect; ++got) {
    auto [ec, n] = co_await ws.async_read(b, asio::as_tuple(kAwait));
    if (ec) {
      // Gone before the end: a lagged client was told so first.
      if (!lagged) ++f.closed;
      ++f.done;
      co_return;
    }
    std::int64_t now = now_ns();
    std::string_view frame(static_cast<const char*>(b.data().data()), b.size());
    // Events are envelopes; anything else is a control frame (scanned only
    // then: a find on every frame cost the clients more than the server).
    if (!frame.starts_with("{\"specversion\"") &&
        frame.find("\"stream\":\"lagged\"") != std::string_view::npos) {
      ++f.lagged;
      lagged = true;
      b.consume(b.size());
      --got;
      continue;
    }
    auto at = frame.find(kPlain);
    if (at != std::string_view::npos) {
      std::int64_t sent = std::strtoll(frame.data() + at + kPlain.size(), nullptr, 10);
      f.latencies_ms.push_back(static_cast<double>(now - sent) / 1e6);
    }
    ++f.received;
    b.consume(b.size());
    // The poster may have had fewer answered than planned.
    if (!f.posting && got + 1 >= f.posted) break;
  }
  ++f.done;
}

Task<> paced_poster(tcp::endpoint ep, std::size_t rate, std::size_t total, Fanout& f) {
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
    if (res.result_int() == 201) ++f.posted;
  }
  f.posting = false;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::size_t k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

// Tells the server's side which phase the clients are in ('P' posting,
// 'F' fan-out, 'E' end), so that it can measure its own CPU time in each.
void mark(int fd, char phase) {
  if (write(fd, &phase, 1) != 1) std::_Exit(1);
}

// The child: the load generator. Returns
// "post_per_s posts p50 p99 delivered posted lagged closed".
std::string run_clients(int port, int phases) {
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
  const std::size_t post_seconds = env_size("IMMP_BENCH_WEB_POST_SECONDS", 2);
  mark(phases, 'P');
  auto end = Steady::now() + std::chrono::seconds(post_seconds);
  Stopwatch post_clock;
  for (std::size_t i = 0; i < conns; ++i) asio::co_spawn(io, poster(ep, end, posted), fail);
  io.run();
  double post_per_s = static_cast<double>(posted) / post_clock.seconds();
  mark(phases, 'F');  // the connections of the fan-out are made in it

  io.restart();
  Fanout f;
  f.latencies_ms.reserve(clients * rate * seconds);
  const std::size_t total = rate * seconds;
  for (std::size_t i = 0; i < clients; ++i) asio::co_spawn(io, stream_client(ep, total, f), fail);
  while (f.ready < clients && io.run_one_for(std::chrono::seconds(10))) {
  }
  mark(phases, 'S');
  asio::co_spawn(io, paced_poster(ep, rate, total, f), fail);
  auto deadline = Steady::now() + std::chrono::seconds(seconds + 20);
  while (f.done < clients && Steady::now() < deadline) io.run_one_for(std::chrono::milliseconds(100));
  mark(phases, 'E');
  double delivered = f.posted ? static_cast<double>(f.received) /
                                    static_cast<double>(clients * f.posted)
                              : 0;
  double p50 = percentile(f.latencies_ms, 0.50);
  double p99 = percentile(f.latencies_ms, 0.99);
  char out[256];
  std::snprintf(out, sizeof out, "%.0f %llu %.3f %.3f %.4f %llu %zu %zu %llu\n", post_per_s,
                static_cast<unsigned long long>(posted), p50, p99, delivered,
                static_cast<unsigned long long>(f.posted), f.lagged, f.closed,
                static_cast<unsigned long long>(f.received));
  return out;
}

int web(int, char**) {
  int to_child[2], to_parent[2], phases[2];
  if (pipe(to_child) != 0 || pipe(to_parent) != 0 || pipe(phases) != 0) return 1;
  pid_t child = fork();
  if (child == 0) {
    int port = 0;
    if (read(to_child[0], &port, sizeof port) != sizeof port) std::_Exit(1);
    std::string result = run_clients(port, phases[1]);
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

  // The server's CPU time at each phase mark of the clients.
  std::map<char, double> cpu_at;
  std::thread phase_reader([&] {
    char c;
    while (read(phases[0], &c, 1) == 1) {
      cpu_at[c] = cpu_seconds();
      if (c == 'E') break;
    }
  });
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
  phase_reader.join();
  waitpid(child, nullptr, 0);
  double post_per_s = 0, p50 = 0, p99 = 0, delivered = 0;
  unsigned long long posts = 0, posted = 0, received = 0;
  std::size_t lagged = 0, closed = 0;
  if (std::sscanf(result.c_str(), "%lf %llu %lf %lf %lf %llu %zu %zu %llu", &post_per_s, &posts,
                  &p50, &p99, &delivered, &posted, &lagged, &closed, &received) != 9 ||
      cpu_at.size() != 4) {
    std::fprintf(stderr, "web bench: the clients failed\n");
    return 1;
  }
  double post_cpu_us = posts ? (cpu_at['F'] - cpu_at['P']) * 1e6 / static_cast<double>(posts) : 0;
  double fanout_cpu_us =
      received ? (cpu_at['E'] - cpu_at['S']) * 1e6 / static_cast<double>(received) : 0;
  Json("web")
      .num("post_per_s", post_per_s, 0)
      .num("post_cpu_us", post_cpu_us, 2)
      .count("clients", env_size("IMMP_BENCH_WEB_CLIENTS", 1000))
      .count("rate", env_size("IMMP_BENCH_WEB_RATE", 1000))
      .num("fanout_p50_ms", p50)
      .num("fanout_p99_ms", p99)
      .count("posted", posted)
      .num("delivered", delivered, 4)
      .count("lagged", lagged)
      .count("closed", closed)
      .num("fanout_cpu_us", fanout_cpu_us, 2)
      .num("peak_rss_mb", peak_rss_mb(), 1)
      .print();
  return 0;
}

Register registered("web", web);

}  // namespace
}  // namespace immp::bench
