// irc: the IRC plug end to end against one real ngircd on loopback.
//
// A sender client posts numbered messages into #a; the real `immp` binary
// (a child process, so its memory and CPU are its own) relays #a to #b with
// the sync hook and a SQLite database; a receiver in #b timestamps arrivals.
// A listener in #a timestamps the same messages without any bridge: that is
// the server's own round trip (`server_*`), measured by the same clients in
// the same run.
//
// Two runs, one JSON line each:
//   throughput: N (IMMP_BENCH_IRC_N, default 2,000) messages back to back;
//   latency:    IMMP_BENCH_IRC_LATENCY_N (default 200) at 20 messages/s.
// Then immp's peak RSS (VmHWM) and its CPU use over 2 s of idle.
//
// The server does not throttle the clients (MaxPenaltyTime = 0; every
// client, immp too, is an operator with user mode +F), and immp's own flood
// control is off (send-delay 0).
//
// IMMP_BIN names the immp binary (default: the one built beside this bench).
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench.hpp"
#include "support/irc_server.hpp"
#include "support/process.hpp"

#ifndef IMMP_BINARY_DIR
#define IMMP_BINARY_DIR "."
#endif

namespace immp::bench {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::size_t env_size(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

// A minimal IRC client for measuring: one socket, lines handed to a
// callback with the time they were read. Answers PINGs. Registers, becomes
// an operator and sets +F (ngircd's relaxed flood protection).
class BenchClient {
 public:
  using OnLine = std::function<void(std::string_view line, Clock::time_point at)>;

  BenchClient(int port, std::string nick) : nick_(std::move(nick)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error(nick_ + ": cannot connect to port " + std::to_string(port));
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    send("NICK " + nick_ + "\r\nUSER " + nick_ + " 0 * :" + nick_ + "\r\n");
    expect(" 001 ", "was not welcomed");
    send("OPER oper operpass\r\nMODE " + nick_ + " +F\r\n");
    expect(" MODE " + nick_ + " :+F", "did not get user mode +F");
  }
  ~BenchClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  BenchClient(const BenchClient&) = delete;
  BenchClient& operator=(const BenchClient&) = delete;

  int fd() const { return fd_; }
  const std::string& nick() const { return nick_; }

  void join(const std::string& channel) {
    send("JOIN " + channel + "\r\n");
    expect(" 366 " + nick_ + " " + channel + " ", "could not join " + channel);
  }

  // Writes all of `data` (whole lines), reading meanwhile so that neither
  // side can block the other.
  void send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd_, POLLOUT, 0};
        ::poll(&p, 1, 100);
        read_available();
      } else {
        throw std::runtime_error(nick_ + ": send failed (disconnected by the server?)");
      }
    }
  }

  // Reads what has arrived; every complete line goes to on_line. False once
  // the server closed the link.
  bool read_available() {
    char chunk[65536];
    for (;;) {
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n == 0) return open_ = false;
      if (n < 0) return open_ = errno == EAGAIN || errno == EWOULDBLOCK;
      auto at = Clock::now();
      if (quickack_) {
        // ngircd never sets TCP_NODELAY: Nagle holds its next small write
        // until we ACK, and a client that never writes ACKs late (delayed
        // ACK, up to 40 ms). ACK at once, like a busy interactive client.
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
      }
      buffer_.append(chunk, static_cast<std::size_t>(n));
      std::size_t start = 0, nl;
      while ((nl = buffer_.find('\n', start)) != std::string::npos) {
        std::string_view line(buffer_.data() + start, nl - start);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.substr(0, 5) == "PING ") {
          std::string pong = "PONG " + std::string(line.substr(5)) + "\r\n";
          ::send(fd_, pong.data(), pong.size(), MSG_NOSIGNAL);
        } else if (on_line) {
          on_line(line, at);
        }
        if (line.substr(0, 6) == "ERROR ") last_error_ = std::string(line);
        start = nl + 1;
      }
      buffer_.erase(0, start);
    }
  }

  bool open() const { return open_; }
  const std::string& last_error() const { return last_error_; }
  OnLine on_line;

 private:
  // Reads until a line containing `needle` arrived (the lines before it are
  // dropped, not handed to on_line).
  void expect(const std::string& needle, const std::string& what) {
    auto saved = std::move(on_line);
    bool found = false;
    on_line = [&](std::string_view line, Clock::time_point) {
      if (line.find(needle) != std::string_view::npos) found = true;
    };
    auto deadline = Clock::now() + 10s;
    while (!found && Clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      ::poll(&p, 1, 50);
      if (!read_available()) break;
    }
    on_line = std::move(saved);
    if (!found) throw std::runtime_error(nick_ + " " + what + " " + last_error_);
  }

  std::string nick_;
  int fd_ = -1;
  bool open_ = true;
  bool quickack_ = std::getenv("IMMP_BENCH_IRC_DELAYED_ACK") == nullptr;
  std::string buffer_;
  std::string last_error_;
};

// Reads every client until `until` (a steady-clock time point), returning
// early when `done` says so.
void pump(const std::vector<BenchClient*>& clients, Clock::time_point until,
          const std::function<bool()>& done) {
  std::vector<pollfd> fds;
  for (auto* c : clients) fds.push_back({c->fd(), POLLIN, 0});
  for (;;) {
    if (done && done()) return;
    auto now = Clock::now();
    if (now >= until) return;
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(until - now);
    timespec ts{static_cast<time_t>(left.count() / 1'000'000'000),
                static_cast<long>(left.count() % 1'000'000'000)};
    for (auto& p : fds) p.revents = 0;
    int r = ::ppoll(fds.data(), fds.size(), &ts, nullptr);
    if (r <= 0) continue;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      if (!clients[i]->read_available()) {
        throw std::runtime_error(clients[i]->nick() + " was disconnected: " +
                                 clients[i]->last_error());
      }
    }
  }
}

// Arrivals of numbered messages "<tag> <seq>" at one client.
struct Arrivals {
  char tag = 0;
  std::vector<Clock::time_point> at;  // first arrival per seq
  std::size_t distinct = 0;
  std::size_t duplicates = 0;
  std::size_t reordered = 0;  // arrived after a higher number
  long max_seen = -1;

  void reset(char t, std::size_t n) {
    tag = t;
    at.assign(n, Clock::time_point{});
    distinct = duplicates = reordered = 0;
    max_seen = -1;
  }
  // A PRIVMSG line whose text ends in "<tag> <seq>" (the bridge prefixes
  // "<nick> ").
  void take(std::string_view line, Clock::time_point when) {
    auto cmd = line.find(" PRIVMSG ");
    if (cmd == std::string_view::npos) return;
    auto colon = line.find(" :", cmd + 9);
    if (colon == std::string_view::npos) return;
    std::string_view text = line.substr(colon + 2);
    auto sp = text.rfind(' ');
    if (sp == std::string_view::npos || sp == 0 || text[sp - 1] != tag) return;
    if (sp >= 2 && text[sp - 2] != ' ' && text[sp - 2] != '>') return;
    long seq = 0;
    for (char c : text.substr(sp + 1)) {
      if (c < '0' || c > '9') return;
      seq = seq * 10 + (c - '0');
    }
    if (seq < 0 || static_cast<std::size_t>(seq) >= at.size()) return;
    if (at[seq] != Clock::time_point{}) {
      ++duplicates;
      return;
    }
    at[seq] = when;
    ++distinct;
    if (seq < max_seen) ++reordered;
    max_seen = std::max(max_seen, seq);
  }
};

double percentile_ms(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

std::vector<double> latencies_ms(const std::vector<Clock::time_point>& sent, const Arrivals& a) {
  std::vector<double> out;
  for (std::size_t i = 0; i < sent.size() && i < a.at.size(); ++i) {
    if (a.at[i] == Clock::time_point{} || sent[i] == Clock::time_point{}) continue;
    out.push_back(std::chrono::duration<double, std::milli>(a.at[i] - sent[i]).count());
  }
  return out;
}

Clock::time_point last_arrival(const Arrivals& a) {
  Clock::time_point last{};
  for (auto t : a.at) last = std::max(last, t);
  return last;
}

// ---- the immp process --------------------------------------------------------

fs::path immp_binary() {
  if (const char* v = std::getenv("IMMP_BIN"); v && *v) return v;
  return fs::path(IMMP_BINARY_DIR) / "immp";
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// "VmHWM:   12345 kB" -> MiB.
double status_mb(pid_t pid, const std::string& key) {
  std::string s = read_file("/proc/" + std::to_string(pid) + "/status");
  auto at = s.find(key + ":");
  if (at == std::string::npos) return -1;
  return std::strtod(s.c_str() + at + key.size() + 1, nullptr) / 1024.0;
}

struct CpuSample {
  double cpu_ns = 0;       // time on a CPU, all threads
  double wakeups = 0;      // context switches (each one a wake-up), all threads
};

CpuSample cpu_sample(pid_t pid) {
  CpuSample s;
  fs::path tasks = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (const auto& t : fs::directory_iterator(tasks, ec)) {
    // schedstat: "<ns on cpu> <ns waiting> <timeslices>", nanosecond exact.
    std::istringstream sched(read_file(t.path() / "schedstat"));
    double run = 0, wait = 0, slices = 0;
    sched >> run >> wait >> slices;
    s.cpu_ns += run;
    s.wakeups += slices;
  }
  return s;
}

std::string yaml_quote(const std::string& s) { return "\"" + s + "\""; }

class ImmpProcess {
 public:
  ImmpProcess(int port, const std::string& nick) : dir_("immp-irc-bench") {
    std::string conf;
    conf += "plugs:\n  irc:\n    path: immp.plug.irc.IRCPlug\n    config:\n";
    conf += "      server: {host: 127.0.0.1, port: " + std::to_string(port) + "}\n";
    conf += "      user: {nick: " + nick + "}\n";
    conf += "      send-delay: 0\n";  // flood control off
    conf += "      burst: 1\n";
    conf += "      perform: [" + yaml_quote("OPER oper operpass") + ", " +
            yaml_quote("MODE " + nick + " +F") + "]\n";
    conf += "channels:\n";
    conf += "  a: {plug: irc, source: \"#a\"}\n";
    conf += "  b: {plug: irc, source: \"#b\"}\n";
    conf += "hooks:\n";
    conf += "  db:\n    path: immp.hook.database.DatabaseHook\n";
    conf += "    config: {url: \"sqlite:///immp.db\"}\n";
    conf += "  sync:\n    path: immp.hook.sync.SyncHook\n";
    conf += "    config:\n      channels: {bridge: [a, b]}\n";
    test::write_file(dir_ / "immp.yaml", conf);
    fs::path bin = immp_binary();
    if (!fs::exists(bin)) throw std::runtime_error("no immp binary at " + bin.string());
    process_ = std::make_unique<test::Process>(
        std::vector<std::string>{bin.string(), (dir_ / "immp.yaml").string()});
    if (!process_->wait_for(test::Stream::err, "Host ready", 15s)) {
      throw std::runtime_error("immp did not start:\n" + process_->err() + process_->out());
    }
  }
  ~ImmpProcess() { stop(); }

  pid_t pid() const { return process_->pid(); }
  bool running() { return process_ && process_->running(); }
  const std::string& err() const { return process_->err(); }
  // SIGTERM and a graceful close; the exit code.
  std::optional<int> stop() {
    if (!process_ || process_->exit_code()) return process_ ? process_->exit_code() : std::nullopt;
    process_->signal(SIGTERM);
    return process_->wait(15s);
  }

 private:
  test::TempDir dir_;
  std::unique_ptr<test::Process> process_;
};

// ---- the runs ------------------------------------------------------------------

struct Rig {
  BenchClient* sender;
  BenchClient* listener;  // in #a: the server's own delivery, no bridge
  BenchClient* receiver;  // in #b: what immp relayed
  std::vector<BenchClient*> all;
  Arrivals direct;
  Arrivals bridged;
};

struct RunResult {
  std::size_t n = 0;
  std::size_t lost = 0, reordered = 0, duplicates = 0;
  double seconds = 0, msg_per_s = 0, p50 = 0, p99 = 0, max = 0;
  double server_msg_per_s = 0, server_p50 = 0, server_p99 = 0;
  double cpu_us_per_msg = 0;  // immp's CPU time (all threads) per message
};

// Sends n messages tagged `tag`, message i at start + i * interval (all at
// once when interval is zero), then waits up to `grace` after the last one
// for every copy.
RunResult run(Rig& rig, pid_t immp, char tag, std::size_t n, std::chrono::nanoseconds interval,
              std::chrono::milliseconds grace) {
  auto cpu_before = cpu_sample(immp);
  rig.direct.reset(tag, n);
  rig.bridged.reset(tag, n);
  std::vector<Clock::time_point> sent(n);
  auto line = [&](std::size_t i) {
    return "PRIVMSG #a :" + std::string(1, tag) + " " + std::to_string(i) + "\r\n";
  };
  auto start = Clock::now();
  if (interval.count() == 0) {
    std::string all;
    for (std::size_t i = 0; i < n; ++i) all += line(i);
    start = Clock::now();
    std::fill(sent.begin(), sent.end(), start);
    rig.sender->send(all);
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      auto due = start + interval * static_cast<long>(i);
      pump(rig.all, due, nullptr);
      std::string l = line(i);
      sent[i] = Clock::now();
      rig.sender->send(l);
    }
  }
  auto all_in = [&] { return rig.bridged.distinct == n && rig.direct.distinct == n; };
  pump(rig.all, Clock::now() + grace, all_in);
  // A little longer, to see duplicates that would follow.
  pump(rig.all, Clock::now() + 100ms, nullptr);
  if (std::getenv("IMMP_BENCH_IRC_TRACE")) {
    // Arrivals per millisecond after the first send, for finding stalls.
    std::map<long, std::pair<int, int>> bins;
    for (std::size_t i = 0; i < n; ++i) {
      auto ms = [&](Clock::time_point t) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(t - start).count();
      };
      if (rig.direct.at[i] != Clock::time_point{}) ++bins[ms(rig.direct.at[i])].first;
      if (rig.bridged.at[i] != Clock::time_point{}) ++bins[ms(rig.bridged.at[i])].second;
    }
    for (auto& [ms, c] : bins) std::fprintf(stderr, "%c %4ld ms: direct %4d bridged %4d\n", tag, ms, c.first, c.second);
  }
  RunResult r;
  r.n = n;
  r.cpu_us_per_msg = (cpu_sample(immp).cpu_ns - cpu_before.cpu_ns) / 1e3 / static_cast<double>(n);
  r.lost = n - rig.bridged.distinct;
  r.reordered = rig.bridged.reordered;
  r.duplicates = rig.bridged.duplicates;
  auto last = last_arrival(rig.bridged);
  r.seconds = std::chrono::duration<double>(last - start).count();
  r.msg_per_s = r.seconds > 0 ? static_cast<double>(rig.bridged.distinct) / r.seconds : 0;
  auto lat = latencies_ms(sent, rig.bridged);
  r.p50 = percentile_ms(lat, 0.50);
  r.p99 = percentile_ms(lat, 0.99);
  r.max = lat.empty() ? -1 : *std::max_element(lat.begin(), lat.end());
  auto server_last = last_arrival(rig.direct);
  double server_seconds = std::chrono::duration<double>(server_last - start).count();
  r.server_msg_per_s =
      server_seconds > 0 ? static_cast<double>(rig.direct.distinct) / server_seconds : 0;
  auto direct = latencies_ms(sent, rig.direct);
  r.server_p50 = percentile_ms(direct, 0.50);
  r.server_p99 = percentile_ms(direct, 0.99);
  return r;
}

void print(const char* name, const RunResult& r, double rss_mb) {
  std::printf(
      "{\"bench\":\"irc\",\"run\":\"%s\",\"messages\":%zu,\"lost\":%zu,\"reordered\":%zu,"
      "\"duplicates\":%zu,\"seconds\":%.4f,\"msg_per_s\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
      "\"max_ms\":%.3f,\"server_msg_per_s\":%.0f,\"server_p50_ms\":%.3f,\"server_p99_ms\":%.3f,"
      "\"immp_cpu_us_per_msg\":%.2f,\"peak_rss_mb\":%.1f,\"flood_control\":\"off\"}\n",
      name, r.n, r.lost, r.reordered, r.duplicates, r.seconds, r.msg_per_s, r.p50, r.p99, r.max,
      r.server_msg_per_s, r.server_p50, r.server_p99, r.cpu_us_per_msg, rss_mb);
  std::fflush(stdout);
}

int irc(int, char**) {
  if (!test::NgircdServer::available()) {
    std::fprintf(stderr, "irc: %s is not installed; skipped\n", test::NgircdServer::kBinary);
    return 0;
  }
  const std::size_t n = env_size("IMMP_BENCH_IRC_N", 2'000);
  const std::size_t latency_n = env_size("IMMP_BENCH_IRC_LATENCY_N", 200);
  try {
    test::NgircdOptions options;
    options.no_penalty = true;
    test::NgircdServer server(options);
    BenchClient sender(server.port(), "sender");
    BenchClient listener(server.port(), "listener");
    BenchClient receiver(server.port(), "receiver");
    sender.join("#a");
    listener.join("#a");
    receiver.join("#b");
    Rig rig{&sender, &listener, &receiver, {&sender, &listener, &receiver}, {}, {}};
    // The bridge is in both channels once the clients there saw it join.
    bool joined_a = false, joined_b = false;
    auto joins = [](std::string_view l) {
      return l.rfind(":bridge!", 0) == 0 && l.find(" JOIN ") != std::string_view::npos;
    };
    sender.on_line = [&](std::string_view l, Clock::time_point) { joined_a |= joins(l); };
    listener.on_line = [&](std::string_view l, Clock::time_point t) { rig.direct.take(l, t); };
    receiver.on_line = [&](std::string_view l, Clock::time_point t) {
      joined_b |= joins(l);
      rig.bridged.take(l, t);
    };
    ImmpProcess immp(server.port(), "bridge");
    pump(rig.all, Clock::now() + 10s, [&] { return joined_a && joined_b; });
    if (!joined_a || !joined_b) throw std::runtime_error("immp did not join #a and #b");

    // Warm-up: the first messages open the database's tables and caches.
    std::fprintf(stderr, "irc: immp runs as pid %d\n", static_cast<int>(immp.pid()));
    // Connected and joined, before any message: the baseline.
    double rss_ready = status_mb(immp.pid(), "VmRSS");
    auto warm = run(rig, immp.pid(), 'w', 50, 1ms, 5s);
    if (warm.lost) {
      throw std::runtime_error("warm-up: " + std::to_string(warm.lost) +
                               " messages were not relayed\n" + immp.err());
    }
    // IMMP_BENCH_IRC_REPEAT: more throughput runs (several figures; a
    // longer window for a profiler).
    RunResult throughput;
    std::size_t throughput_lost = 0;
    for (std::size_t i = 0, k = std::max<std::size_t>(1, env_size("IMMP_BENCH_IRC_REPEAT", 1));
         i < k; ++i) {
      throughput = run(rig, immp.pid(), 't', n, 0ns, 30s);
      throughput_lost += throughput.lost;
      print("throughput", throughput, status_mb(immp.pid(), "VmHWM"));
    }
    auto latency = run(rig, immp.pid(), 'l', latency_n, 50ms, 5s);
    double rss = status_mb(immp.pid(), "VmHWM");
    print("latency", latency, rss);

    // Idle: let the database's batched writes settle, then sample.
    pump(rig.all, Clock::now() + 500ms, nullptr);
    auto before = cpu_sample(immp.pid());
    auto t0 = Clock::now();
    pump(rig.all, Clock::now() + 2s, nullptr);
    auto after = cpu_sample(immp.pid());
    double wall_ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    double idle_pct = 100.0 * (after.cpu_ns - before.cpu_ns) / wall_ns;
    double wakeups = (after.wakeups - before.wakeups) / (wall_ns / 1e9);
    // What the resident memory is: shared libraries' pages (file) or
    // the process's own (anon).
    double anon = status_mb(immp.pid(), "RssAnon");
    double file = status_mb(immp.pid(), "RssFile");
    auto code = immp.stop();
    std::printf(
        "{\"bench\":\"irc\",\"run\":\"idle\",\"idle_cpu_pct\":%.4f,\"idle_wakeups_per_s\":%.1f,"
        "\"peak_rss_mb\":%.1f,\"rss_ready_mb\":%.1f,\"rss_anon_mb\":%.1f,\"rss_file_mb\":%.1f,"
        "\"exit_code\":%d}\n",
        idle_pct, wakeups, rss, rss_ready, anon, file, code.value_or(-1));
    std::fflush(stdout);
    return throughput_lost || latency.lost ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "irc: %s\n", e.what());
    return 1;
  }
}

Register registered("irc", irc);

}  // namespace
}  // namespace immp::bench
