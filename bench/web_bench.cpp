// web: the API plug on the web server, measured from outside over loopback.
//
//   post_per_s     POSTs answered per second: IMMP_BENCH_WEB_CONNS (64)
//                  keep-alive connections posting for
//                  IMMP_BENCH_WEB_POST_SECONDS (2), each waiting for its
//                  answer before the next; plain sockets on epoll
//                  (http_post_clients.hpp), or Beast coroutines with
//                  IMMP_BENCH_WEB_POSTER=beast (post_client)
//   post_cpu_us    the server's CPU time (user + system) per POST
//   posts          POSTs answered in that phase (to divide a profiler's
//                  counts by)
//   fanout_p50_ms  delivery latency of the stream: IMMP_BENCH_WEB_CLIENTS
//   fanout_p99_ms  (1000) WebSocket clients subscribed while
//   fanout_max_ms  IMMP_BENCH_WEB_RATE (1000) messages/s are posted for
//                  IMMP_BENCH_WEB_SECONDS (3); from just before the POST
//                  is written to the client's read() that returned the
//                  event, every delivery to every client counted (10 us
//                  steps)
//   posted         messages the paced poster got a 201 for (any other
//                  answer fails the bench)
//   received       events read, summed over the clients
//   delivered      received / (posted x clients)
//   lost           deliveries that never came, at clients not told they
//                  lagged (each event carries its index; a client checks
//                  it gets each once, in order)
//   duplicated     events a client got twice or out of order
//   lagged         clients told they lagged (then disconnected)
//   closed         clients whose connection ended otherwise before the end
//   unfinished     clients still short of events 5 s after the last POST
//   events_per_read  events per read() of a client: how the server batches
//   client_threads IMMP_BENCH_WEB_READERS (1): the clients' reader threads
//   writers        IMMP_BENCH_WEB_WRITERS (0): the API plug's `writers`,
//                  threads besides the server's that share its stream writes
//   fanout_post_p99_ms  the paced POSTs' round trip during the fan-out
//                  (p99): how long the stream's writes hold up the
//                  server's other work
//   fanout_cpu_us  the server's CPU time per delivery (one event to one
//                  client), over the fan-out phase
//   peak_rss_mb    the server process's peak (the clients run in another)
//
// Then, for each writer count in IMMP_BENCH_WEB_FLOOR ("1,2"; "0": none),
// a line with "run":"fanout_floor": the same clients against FloorServer
// (web_floor_server.hpp), a bare epoll server with no immp code, for the
// floor this machine puts under the figures above (the same fields but
// peak_rss_mb). IMMP_BENCH_WEB_IMMP=0 prints the floor alone.
//
// The server (host, web server, API plug, no database) runs in this
// process on one thread; the clients in a forked child. The stream
// clients are raw sockets read with epoll (ws_stream_clients.hpp), not
// Beast streams: a coroutine and a completion per frame made the load
// generator, not the server, the bottleneck.
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

#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <sstream>
#include <thread>

#include "bench.hpp"
#include "hooks/web/web_hook.hpp"
#include "http_post_clients.hpp"
#include "immp/config.hpp"
#include "immp/host.hpp"
#include "plugs/web/web_plug.hpp"
#include "web_floor_server.hpp"
#include "ws_stream_clients.hpp"

namespace immp::bench {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Steady = std::chrono::steady_clock;

constexpr const char* kToken = "bench-token-0123456789abcdef";
constexpr auto kAwait = asio::use_awaitable;

// IMMP_BENCH_WEB_POSTER=beast: the POST phase's load from Beast
// coroutines (as before the raw client), for comparison.
bool beast_poster() {
  const char* v = std::getenv("IMMP_BENCH_WEB_POSTER");
  return v && std::string_view(v) == "beast";
}

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

// The paced poster of the fan-out phase: message i is due at start +
// i / rate; its text is "b<i>:<ns>", the index every client checks and
// the time (steady clock) just before its POST was written.
Task<> paced_poster(tcp::endpoint ep, std::size_t rate, std::size_t total, std::uint64_t& posted,
                    LatencyHistogram& rtt) {
  beast::tcp_stream s(co_await asio::this_coro::executor);
  co_await s.async_connect(ep, kAwait);
  beast::flat_buffer buf;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto start = Steady::now();
  for (std::size_t i = 0; i < total; ++i) {
    timer.expires_at(start + std::chrono::microseconds(i * 1'000'000 / rate));
    co_await timer.async_wait(kAwait);
    std::int64_t sent = now_ns();
    auto req = post_request("b" + std::to_string(i) + ":" + std::to_string(sent));
    co_await http::async_write(s, req, kAwait);
    http::response<http::string_body> res;
    co_await http::async_read(s, buf, res, kAwait);
    rtt.add(now_ns() - sent);
    // A refused post would read as lost at every client: fail instead.
    if (res.result_int() != 201) throw std::runtime_error("POST answered " + res.body());
    ++posted;
  }
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
  double post_per_s = 0;
  if (beast_poster()) {
    auto end = Steady::now() + std::chrono::seconds(post_seconds);
    Stopwatch post_clock;
    for (std::size_t i = 0; i < conns; ++i) asio::co_spawn(io, poster(ep, end, posted), fail);
    io.run();
    post_per_s = static_cast<double>(posted) / post_clock.seconds();
  } else {
    try {
      auto req = post_request("bench");
      std::ostringstream bytes;
      bytes << req;
      PostTally t = run_posts(port, bytes.str(), conns, static_cast<double>(post_seconds));
      posted = t.answered;
      post_per_s = t.seconds > 0 ? static_cast<double>(posted) / t.seconds : 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "web bench client: %s\n", e.what());
      mark(phases, 'E');  // the server's side stops waiting for phases
      return "";
    }
  }
  mark(phases, 'F');  // the connections of the fan-out are made in it

  const std::size_t readers = env_size("IMMP_BENCH_WEB_READERS", 1);
  const std::size_t total = rate * seconds;
  StreamClients stream(port, "/api/v1/stream?channels=api/lobby&kinds=message", kToken, clients,
                       readers);
  mark(phases, 'S');
  stream.start();
  io.restart();
  std::uint64_t fanout_posted = 0;
  bool poster_failed = false;
  LatencyHistogram post_rtt;
  asio::co_spawn(io, paced_poster(ep, rate, total, fanout_posted, post_rtt),
                 [&](std::exception_ptr e) {
                   poster_failed = e != nullptr;
                   fail(e);
                 });
  io.run();
  // What is still on its way gets a few seconds.
  StreamTally t = stream.finish(fanout_posted, 5.0);
  mark(phases, 'E');
  if (poster_failed) return "";
  double delivered =
      fanout_posted ? static_cast<double>(t.received) / static_cast<double>(clients * fanout_posted)
                    : 0;
  double per_read = t.reads ? static_cast<double>(t.received) / static_cast<double>(t.reads) : 0;
  char out[512];
  std::snprintf(
      out, sizeof out, "%.0f %llu %.3f %.3f %.4f %llu %zu %zu %llu %llu %llu %zu %.2f %.3f %.3f\n",
      post_per_s, static_cast<unsigned long long>(posted), t.latency.quantile_ms(0.50),
      t.latency.quantile_ms(0.99), delivered, static_cast<unsigned long long>(fanout_posted),
      t.lagged, t.closed, static_cast<unsigned long long>(t.received),
      static_cast<unsigned long long>(t.lost), static_cast<unsigned long long>(t.duplicated),
      t.unfinished, per_read, t.latency.quantile_ms(1.0), post_rtt.quantile_ms(0.99));
  return out;
}

// What the clients measured, and the server's CPU time at their phase
// marks.
struct Outcome {
  double post_per_s = 0, p50 = 0, p99 = 0, delivered = 0, per_read = 0, max_ms = 0,
         post_rtt_p99 = 0;
  unsigned long long posts = 0, posted = 0, received = 0, lost = 0, duplicated = 0;
  std::size_t lagged = 0, closed = 0, unfinished = 0;
  double post_cpu_us = 0, fanout_cpu_us = 0;
};

// The load generator in a forked child, started before the server (which
// has threads) exists.
struct Clients {
  pid_t child = -1;
  int to_child[2], to_parent[2], phases[2];
};

Clients fork_clients() {
  Clients c;
  if (pipe(c.to_child) != 0 || pipe(c.to_parent) != 0 || pipe(c.phases) != 0) {
    throw std::runtime_error("pipe failed");
  }
  c.child = fork();
  if (c.child == 0) {
    int port = 0;
    if (read(c.to_child[0], &port, sizeof port) != sizeof port) std::_Exit(1);
    std::string result = run_clients(port, c.phases[1]);
    if (write(c.to_parent[1], result.data(), result.size()) < 0) std::_Exit(1);
    std::_Exit(0);
  }
  return c;
}

// Gives the clients `port`, runs `serve` on this thread until the clients
// are done (then `stop` is called from another thread, and `serve` must
// return), and reads what they measured. Null if they failed.
std::optional<Outcome> drive(Clients& c, int port, const std::function<void()>& serve,
                             const std::function<void()>& stop) {
  if (write(c.to_child[1], &port, sizeof port) != sizeof port) return std::nullopt;
  // The server's CPU time at each phase mark of the clients.
  std::map<char, double> cpu_at;
  std::thread phase_reader([&] {
    char ch;
    while (read(c.phases[0], &ch, 1) == 1) {
      cpu_at[ch] = cpu_seconds();
      if (ch == 'E') break;
    }
  });
  // The answer comes on the pipe; the server runs until then.
  std::string result;
  std::thread reader([&] {
    char buf[256];
    ssize_t n = read(c.to_parent[0], buf, sizeof buf);
    if (n > 0) result.assign(buf, static_cast<std::size_t>(n));
    stop();
  });
  serve();
  reader.join();
  phase_reader.join();
  waitpid(c.child, nullptr, 0);
  for (int* p : {c.to_child, c.to_parent, c.phases}) {
    close(p[0]);
    close(p[1]);
  }
  Outcome o;
  if (std::sscanf(result.c_str(),
                  "%lf %llu %lf %lf %lf %llu %zu %zu %llu %llu %llu %zu %lf %lf %lf", &o.post_per_s,
                  &o.posts, &o.p50, &o.p99, &o.delivered, &o.posted, &o.lagged, &o.closed,
                  &o.received, &o.lost, &o.duplicated, &o.unfinished, &o.per_read, &o.max_ms,
                  &o.post_rtt_p99) != 15 ||
      cpu_at.size() != 4) {
    return std::nullopt;
  }
  o.post_cpu_us = o.posts ? (cpu_at['F'] - cpu_at['P']) * 1e6 / static_cast<double>(o.posts) : 0;
  o.fanout_cpu_us =
      o.received ? (cpu_at['E'] - cpu_at['S']) * 1e6 / static_cast<double>(o.received) : 0;
  return o;
}

// The fields both runs report, after post_per_s.
Json& fields(Json& j, const Outcome& o, std::size_t writers) {
  return j.num("post_cpu_us", o.post_cpu_us, 2)
      .count("posts", o.posts)
      .count("clients", env_size("IMMP_BENCH_WEB_CLIENTS", 1000))
      .count("rate", env_size("IMMP_BENCH_WEB_RATE", 1000))
      .num("fanout_p50_ms", o.p50)
      .num("fanout_p99_ms", o.p99)
      .num("fanout_max_ms", o.max_ms)
      .count("posted", o.posted)
      .count("received", o.received)
      .num("delivered", o.delivered, 4)
      .count("lost", o.lost)
      .count("duplicated", o.duplicated)
      .count("lagged", o.lagged)
      .count("closed", o.closed)
      .count("unfinished", o.unfinished)
      .num("events_per_read", o.per_read, 2)
      .str("post_client", beast_poster() ? "beast" : "raw")
      .count("client_threads", env_size("IMMP_BENCH_WEB_READERS", 1))
      .count("writers", writers)
      .num("fanout_post_p99_ms", o.post_rtt_p99)
      .num("fanout_cpu_us", o.fanout_cpu_us, 2);
}

// The floor: the same clients against FloorServer (no immp code) with
// `writers` writer threads.
int floor_run(std::size_t writers) {
  Clients c = fork_clients();
  raise_fd_limit();
  FloorServer server(writers);
  auto o = drive(
      c, server.port(), [&] { server.run(); }, [&] { server.stop(); });
  if (!o) {
    std::fprintf(stderr, "web bench (floor): the clients failed\n");
    return 1;
  }
  Json j("web");
  j.str("run", "fanout_floor")
      .str("server", "bare epoll, no immp code")
      .num("post_per_s", o->post_per_s, 0);
  fields(j, *o, writers).print();
  return 0;
}

// The API plug on the web server, on this thread.
int immp_run() {
  Clients c = fork_clients();
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
  const std::size_t writers = env_size("IMMP_BENCH_WEB_WRITERS", 0);
  host.add_plug(make(std::string("channels: [lobby]\nqueue: 4096\nwriters: ") +
                         std::to_string(writers) + "\ntokens: [{name: bench, token: " + kToken +
                         ", scopes: [read, write]}]\n",
                     "api", (plugs::WebPlug*)nullptr));
  bool opened = false;
  asio::co_spawn(io, host.open(), [&](std::exception_ptr) { opened = true; });
  while (!opened) io.run_one();
  auto* web = dynamic_cast<web::WebHook*>(host.hook("web"));
  auto guard = asio::make_work_guard(io);
  auto o = drive(
      c, web->port(), [&] { io.run(); },
      [&] {
        asio::post(
            io, [&] { asio::co_spawn(io, host.close(), [&](std::exception_ptr) { io.stop(); }); });
      });
  if (!o) {
    std::fprintf(stderr, "web bench: the clients failed\n");
    return 1;
  }
  Json j("web");
  j.num("post_per_s", o->post_per_s, 0);
  fields(j, *o, writers).num("peak_rss_mb", peak_rss_mb(), 1).print();
  return 0;
}

int web(int, char**) {
  // IMMP_BENCH_WEB_IMMP=0: the floor alone.
  if (env_size("IMMP_BENCH_WEB_IMMP", 1) != 0) {
    if (int rc = immp_run(); rc != 0) return rc;
  }
  // IMMP_BENCH_WEB_FLOOR: the floor's writer counts ("1,2"; "0": none).
  const char* floors = std::getenv("IMMP_BENCH_WEB_FLOOR");
  std::string list = floors ? floors : "1,2";
  for (std::size_t at = 0; at < list.size();) {
    std::size_t comma = list.find(',', at);
    if (comma == std::string::npos) comma = list.size();
    std::size_t n = std::strtoul(list.substr(at, comma - at).c_str(), nullptr, 10);
    at = comma + 1;
    if (n == 0) continue;
    std::fflush(stdout);
    if (floor_run(n) != 0) return 1;
  }
  return 0;
}

Register registered("web", web);

}  // namespace
}  // namespace immp::bench
