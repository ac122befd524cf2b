// xmpp: the XMPP plug end to end, as users run a bridge: a real Prosody on
// loopback (tests/support/xmpp_server.hpp), the real `immp` binary (a child
// process, so its memory is its own) with one XMPP plug in two rooms, and
// the sync hook bridging room a to room b.
//
// Clients (our own xmpp::Stream, in this process): a sender and a listener
// in room a, a receiver in room b. The listener in the sender's own room
// timestamps the same messages without any bridge: Prosody's own delivery
// (`server_*`), measured by the same clients in the same run.
//
// One JSON line:
//   throughput: N (IMMP_BENCH_XMPP_N, default 1,000) messages back to back;
//   latency:    IMMP_BENCH_XMPP_LATENCY_N (default 200) at 20 messages/s,
//               p50 and p99 through the bridge, p99 of the server's own
//               (one hop, sender to listener), and of a plain client that
//               relays room a to an unbridged room c (two hops, as the
//               bridge's path: `plain_relay_*`);
//   peak_rss_mb: the immp process's VmHWM.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "bench.hpp"
#include "plugs/xmpp/xmpp_jid.hpp"
#include "plugs/xmpp/xmpp_stream.hpp"
#include "support/process.hpp"
#include "support/xmpp_server.hpp"

#ifndef IMMP_BINARY_DIR
#define IMMP_BINARY_DIR "."
#endif

namespace immp::bench {
namespace {

using namespace std::chrono_literals;
using Time = std::chrono::steady_clock::time_point;

struct Client {
  std::unique_ptr<xmpp::Stream> stream;
  std::string room;
  std::string nick;
  bool joined = false;
  // The messages it counts: "#m<seq>" (the sender's), "#r<seq>" (relayed).
  std::string tag = "#m";
  // Arrival time per sequence number (first arrival), and the order.
  std::map<long, Time> got;
  std::vector<long> order;
  // A plain relay: each message from `room` numbered `relay_from` or more
  // is said again in `relay_room` (joined too) as "#r<seq>", at once.
  std::string relay_room;
  long relay_from = 0;
  bool relay_joined = false;
};

long seq_of(std::string_view body, std::string_view tag) {
  auto at = body.find(tag);
  if (at == std::string_view::npos) return -1;
  return std::strtol(std::string(body.substr(at + tag.size())).c_str(), nullptr, 10);
}

Task<> read_loop(Client& c) {
  for (;;) {
    xmpp::Element s = co_await c.stream->read();
    std::string from_room = xmpp::fold_bare(s.attr("from"));
    if (s.name == "presence" && xmpp::resource(s.attr("from")) == c.nick) {
      if (from_room == xmpp::fold_bare(c.room)) c.joined = true;
      if (!c.relay_room.empty() && from_room == xmpp::fold_bare(c.relay_room)) c.relay_joined = true;
    }
    if (s.name != "message" || s.attr("type") != "groupchat") continue;
    auto body = s.child_text("body");
    long n = seq_of(body, c.tag);
    if (n < 0 || c.got.count(n) || from_room != xmpp::fold_bare(c.room)) continue;
    c.got[n] = std::chrono::steady_clock::now();
    c.order.push_back(n);
    if (!c.relay_room.empty() && n >= c.relay_from) {
      xmpp::Element m("message", "jabber:client");
      m.set("to", c.relay_room).set("type", "groupchat").set("id", "r" + std::to_string(n));
      m.add("body", "jabber:client", "#r" + std::to_string(n));
      c.stream->send(m);
    }
  }
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int run_xmpp() {
  if (!test::ProsodyServer::available()) {
    std::fprintf(stderr, "xmpp bench: prosody is not installed\n");
    return 0;
  }
  const std::size_t n = env_size("IMMP_BENCH_XMPP_N", 1000);
  const std::size_t latency_n = env_size("IMMP_BENCH_XMPP_LATENCY_N", 200);
  test::ProsodyServer server(/*debug_log=*/false);
  const std::string room_a = "benchA@" + std::string(test::ProsodyServer::kMuc);
  const std::string room_b = "benchB@" + std::string(test::ProsodyServer::kMuc);
  const std::string room_c = "benchC@" + std::string(test::ProsodyServer::kMuc);
  for (const char* u : {"bridge", "sender", "listener", "receiver", "watcher"}) {
    server.add_user(u, "pw");
  }

  test::TempDir dir("immp-xmpp-bench");
  test::write_file(dir / "config.yaml",
                   "plugs:\n"
                   "  xmpp:\n"
                   "    path: immp.plug.xmpp.XMPPPlug\n"
                   "    config:\n"
                   "      jid: bridge@localhost\n"
                   "      password: pw\n"
                   "      nick: bridge\n"
                   "      server: {host: 127.0.0.1, port: " + std::to_string(server.port()) +
                       ", ca: " + server.ca_file().string() + "}\n"
                   "channels:\n"
                   "  a: {plug: xmpp, source: " + room_a + "}\n"
                   "  b: {plug: xmpp, source: " + room_b + "}\n"
                   "hooks:\n"
                   "  sync:\n"
                   "    path: immp.hook.sync.SyncHook\n"
                   "    config:\n"
                   "      channels: {bridge: [a, b]}\n"
                   "      joins: false\n"
                   "logging:\n"
                   "  version: 1\n"
                   "  handlers: {err: {class: logging.StreamHandler}}\n"
                   "  root: {level: INFO, handlers: [err]}\n");
  std::string bin = std::getenv("IMMP_BIN") ? std::getenv("IMMP_BIN")
                                            : std::string(IMMP_BINARY_DIR) + "/immp";
  test::Process immp({bin, (dir / "config.yaml").string()});
  if (!immp.wait_for(test::Stream::err, "joined " + room_b, 20s) ||
      !immp.wait_for(test::Stream::err, "joined " + room_a, 5s)) {
    std::fprintf(stderr, "xmpp bench: immp did not join: %s\n", immp.err().c_str());
    return 1;
  }

  asio::io_context io;
  auto log = immp::logger("bench.xmpp");
  auto make = [&](const std::string& user, const std::string& room) {
    auto c = std::make_unique<Client>();
    xmpp::StreamOptions o;
    o.host = "127.0.0.1";
    o.port = server.port();
    o.domain = test::ProsodyServer::kDomain;
    o.username = user;
    o.password = "pw";
    o.resource = "bench";
    o.tls_options.ca_file = server.ca_file().string();
    c->stream = std::make_unique<xmpp::Stream>(io.get_executor(), o, log);
    c->room = room;
    c->nick = user;
    return c;
  };
  auto sender = make("sender", room_a);
  auto listener = make("listener", room_a);
  auto receiver = make("receiver", room_b);
  // The like-for-like baseline of the latency run: the listener relays
  // what it hears in room a to room c, unbridged, where the watcher hears
  // it: two server hops, as the bridge's path has, with a plain client's
  // (no store, no hooks) turn in between.
  auto watcher = make("watcher", room_c);
  watcher->tag = "#r";
  listener->relay_room = room_c;
  listener->relay_from = static_cast<long>(n);
  std::vector<Client*> all{sender.get(), listener.get(), receiver.get(), watcher.get()};
  bool failed = false;
  for (Client* c : all) {
    asio::co_spawn(
        io,
        [&, c]() -> Task<> {
          co_await c->stream->open();
          xmpp::Element p("presence", "jabber:client");
          p.set("to", c->room + "/" + c->nick);
          xmpp::Element& x = p.add("x", "http://jabber.org/protocol/muc");
          x.add("history", "http://jabber.org/protocol/muc").set("maxstanzas", "0");
          c->stream->send(p);
          if (!c->relay_room.empty()) {
            xmpp::Element q("presence", "jabber:client");
            q.set("to", c->relay_room + "/" + c->nick);
            q.add("x", "http://jabber.org/protocol/muc")
                .add("history", "http://jabber.org/protocol/muc")
                .set("maxstanzas", "0");
            c->stream->send(q);
          }
          co_await read_loop(*c);
        },
        [&](std::exception_ptr e) {
          if (!e) return;
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            std::fprintf(stderr, "xmpp bench client: %s\n", ex.what());
          }
          failed = true;
        });
  }
  auto run_until = [&](auto done, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && !failed && std::chrono::steady_clock::now() < end) {
      io.run_one_for(10ms);
      immp.drain(0ms);
    }
    return done();
  };
  if (!run_until([&] {
        return sender->joined && listener->joined && listener->relay_joined &&
               receiver->joined && watcher->joined;
      }, 20s)) {
    std::fprintf(stderr, "xmpp bench: clients did not join\n");
    return 1;
  }
  std::map<long, Time> sent_at;
  auto say = [&](long i) {
    xmpp::Element m("message", "jabber:client");
    m.set("to", room_a).set("type", "groupchat").set("id", "m" + std::to_string(i));
    m.add("body", "jabber:client", "#m" + std::to_string(i));
    sent_at[i] = std::chrono::steady_clock::now();
    sender->stream->send(m);
  };

  // Throughput: back to back.
  for (long i = 0; i < static_cast<long>(n); ++i) say(i);
  run_until([&] { return receiver->got.size() >= n && listener->got.size() >= n; }, 120s);
  Time first = sent_at[0];
  auto span = [&](const Client& c) {
    Time last = first;
    for (const auto& [i, t] : c.got) {
      if (i < static_cast<long>(n)) last = std::max(last, t);
    }
    return std::chrono::duration<double>(last - first).count();
  };
  std::size_t received = 0, reordered = 0;
  long prev = -1;
  for (long i : receiver->order) {
    if (i >= static_cast<long>(n)) continue;
    ++received;
    if (i < prev) ++reordered;
    prev = std::max(prev, i);
  }
  std::size_t server_received = 0;
  for (const auto& [i, t] : listener->got) server_received += i < static_cast<long>(n);
  double rate = received / std::max(span(*receiver), 1e-9);
  double server_rate = server_received / std::max(span(*listener), 1e-9);

  // Latency at 20 msg/s.
  std::vector<double> lat, server_lat, relay_lat;
  for (long k = 0; k < static_cast<long>(latency_n); ++k) {
    long i = static_cast<long>(n) + k;
    say(i);
    auto next = std::chrono::steady_clock::now() + 50ms;
    run_until([&] { return std::chrono::steady_clock::now() >= next; }, 1s);
  }
  run_until([&] {
    return receiver->got.size() >= n + latency_n && watcher->got.size() >= latency_n;
  }, 20s);
  for (long k = 0; k < static_cast<long>(latency_n); ++k) {
    long i = static_cast<long>(n) + k;
    auto ms = [&](const Client& c) -> std::optional<double> {
      auto it = c.got.find(i);
      if (it == c.got.end()) return std::nullopt;
      return std::chrono::duration<double, std::milli>(it->second - sent_at[i]).count();
    };
    if (auto v = ms(*receiver)) lat.push_back(*v);
    if (auto v = ms(*listener)) server_lat.push_back(*v);
    if (auto v = ms(*watcher)) relay_lat.push_back(*v);
  }
  std::size_t lost = (n - received) + (latency_n - lat.size());
  double rss = proc_status_mb(std::to_string(immp.pid()), "VmHWM");

  Json j("xmpp");
  j.num("messages", static_cast<double>(n + latency_n))
      .num("lost", static_cast<double>(lost))
      .num("reordered", static_cast<double>(reordered))
      .num("msg_per_s", rate)
      .num("p50_ms", percentile(lat, 0.5))
      .num("p99_ms", percentile(lat, 0.99))
      .num("server_msg_per_s", server_rate)
      .num("server_p99_ms", percentile(server_lat, 0.99))
      .num("server_p50_ms", percentile(server_lat, 0.5))
      .num("plain_relay_p50_ms", percentile(relay_lat, 0.5))
      .num("plain_relay_p99_ms", percentile(relay_lat, 0.99))
      .num("peak_rss_mb", rss);
  j.print();
  immp.signal(SIGTERM);
  immp.wait(5s);
  return 0;
}

Register registered("xmpp", [](int, char**) {
  try {
    return run_xmpp();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xmpp: %s\n", e.what());
    return 1;
  }
});

}  // namespace
}  // namespace immp::bench
