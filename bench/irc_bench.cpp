// irc: the IRC plug end to end, as users run a bridge: two real ngircd
// servers on loopback, the real `immp` binary (a child process, so its
// memory and CPU are its own) with one IRC plug on each, and the sync hook
// with a SQLite database bridging #a on server 1 and #b on server 2.
//
// Clients: a sender and a listener in #a on server 1, a receiver and a
// second listener in #b on server 2. The listener in the sender's own
// channel timestamps the same messages without any bridge: the server's
// own round trip (`server_*`), measured by the same clients in the same
// run.
//
// One JSON line per run:
//   throughput: N (IMMP_BENCH_IRC_N, default 2,000) messages back to back,
//               #a -> #b, flood control off (send-delay 0.0);
//   latency:    IMMP_BENCH_IRC_LATENCY_N (default 200) at 20 messages/s;
//   idle:       immp's CPU use over 2 s of idle, RSS (peak, anon, file);
//   backlog:    a second immp with the IRC plug's flood control on (its
//               defaults, IMMP's: send-delay 0.5 s, each line 0.5 s after
//               the one before). The sender floods #a with
//               IMMP_BENCH_IRC_BACKLOG (default 100) lines at once, so the
//               bridge has that backlog to pace out to #b (about
//               (100 - 1) x 0.5 s). Meanwhile the receiver in #b says a line
//               every 600 ms; we measure how long they take to reach #a while
//               the backlog drains: what is queued for a network must never
//               hold back what comes in from it. The #b lines go out to #a
//               through the other plug, which paces too (a line 500 ms after
//               the one before): 600 ms apart, each finds that plug ready
//               and goes at once. Target: p99 under 100 ms.
//
// allocs_per_msg: operator new calls (and SQLite mallocs) in the immp
// process per relayed message, all threads, counted by the bench's counting
// allocator preloaded into it (libimmp_bench_alloc.so, LD_PRELOAD).
//
// The servers do not throttle the clients (MaxPenaltyTime = 0; every
// client, immp too, is an operator with user mode +F): only immp's own
// flood control paces anything.
//
// IMMP_BENCH_IRC_RUNS picks runs by name, comma-separated (default
// "throughput,latency,idle,backlog"), e.g. "throughput" alone under a
// profiler (with IMMP_BENCH_IRC_REPEAT for a longer window).
//
// IMMP_BENCH_IRC_PIPELINE sets the IRC plugs' outbox pipeline (default 32;
// 1: one put() at a time per channel, as before pipelining).
//
// IMMP_BIN names the immp binary (default: the one built beside this
// bench; IMMP_BENCH_IRC_START_S, default 15, is how long it may take to
// start, e.g. under valgrind); IMMP_BENCH_IRC_TRACE prints arrivals per millisecond on stderr.
// A wrapper that drops LD_PRELOAD (so that callgrind counts no counting
// allocator) must ignore SIGUSR2 (`trap '' USR2` before `exec valgrind`):
// the bench asks the allocator for its figures with it, and without the
// allocator it ends immp, which then relays nothing.
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
#include <iterator>
#include <map>
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
#ifndef IMMP_BENCH_ALLOC_PRELOAD
#define IMMP_BENCH_ALLOC_PRELOAD ""
#endif

namespace immp::bench {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

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

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

double status_mb(pid_t pid, const std::string& key) {
  return proc_status_mb(std::to_string(pid), key);
}

struct CpuSample {
  double cpu_ns = 0;   // time on a CPU, all threads
  double wakeups = 0;  // context switches (each one a wake-up), all threads
};

CpuSample cpu_sample(pid_t pid) {
  CpuSample s;
  fs::path tasks = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (const auto& t : fs::directory_iterator(tasks, ec)) {
    // schedstat: "<ns on cpu> <ns waiting> <timeslices>", nanosecond exact.
    std::istringstream sched(read_text(t.path() / "schedstat"));
    double run = 0, wait = 0, slices = 0;
    sched >> run >> wait >> slices;
    s.cpu_ns += run;
    s.wakeups += slices;
  }
  return s;
}

std::string yaml_quote(const std::string& s) { return "\"" + s + "\""; }

// The immp binary bridging #a on server 1 and #b on server 2.
class ImmpProcess {
 public:
  ImmpProcess(int port1, int port2, bool flood_control) : dir_("immp-irc-bench") {
    std::string conf = "plugs:\n";
    auto plug = [&](const char* name, int port) {
      conf += std::string("  ") + name + ":\n    path: immp.plug.irc.IRCPlug\n    config:\n";
      conf += "      server: {host: 127.0.0.1, port: " + std::to_string(port) + "}\n";
      conf += "      user: {nick: bridge}\n";
      if (!flood_control) {
        conf += "      send-delay: 0.0\n";
        conf += "      burst: 1\n";
      }
      conf += "      perform: [" + yaml_quote("OPER oper operpass") + ", " +
              yaml_quote("MODE bridge +F") + "]\n";
      // IMMP_BENCH_IRC_PIPELINE: put()s in flight per channel (the
      // outbox's pipeline; 1 sends one message at a time).
      if (const char* v = std::getenv("IMMP_BENCH_IRC_PIPELINE"); v && *v) {
        conf += std::string("    outbox: {pipeline: ") + v + "}\n";
      }
    };
    plug("irc1", port1);
    plug("irc2", port2);
    conf += "channels:\n";
    conf += "  a: {plug: irc1, source: \"#a\"}\n";
    conf += "  b: {plug: irc2, source: \"#b\"}\n";
    conf += "hooks:\n";
    conf += "  db:\n    path: immp.hook.database.DatabaseHook\n";
    conf += "    config: {url: \"sqlite:///" + (dir_ / "immp.db").string() + "\"}\n";
    conf += "  sync:\n    path: immp.hook.sync.SyncHook\n";
    conf += "    config:\n      channels: {bridge: [a, b]}\n      joins: false\n";
    test::write_file(dir_ / "immp.yaml", conf);
    fs::path bin = immp_binary();
    if (!fs::exists(bin)) throw std::runtime_error("no immp binary at " + bin.string());
    test::ProcessOptions options;
    options.cwd = dir_.path();
    alloc_file_ = dir_ / "allocs";
    if (fs::path preload = IMMP_BENCH_ALLOC_PRELOAD; !preload.empty() && fs::exists(preload)) {
      options.env["LD_PRELOAD"] = preload.string();
      options.env["IMMP_BENCH_ALLOC_FILE"] = alloc_file_.string();
      counting_ = true;
    }
    process_ = std::make_unique<test::Process>(
        std::vector<std::string>{bin.string(), (dir_ / "immp.yaml").string()}, options);
    // IMMP_BENCH_IRC_START_S: longer for an IMMP_BIN under a profiler.
    auto start = std::chrono::seconds(env_size("IMMP_BENCH_IRC_START_S", 15));
    if (!process_->wait_for(test::Stream::err, "Host ready", start)) {
      throw std::runtime_error("immp did not start:\n" + process_->err() + process_->out());
    }
  }
  ~ImmpProcess() { stop(); }

  pid_t pid() const { return process_->pid(); }
  const std::string& err() const { return process_->err(); }
  // SIGTERM and a graceful close; the exit code.
  std::optional<int> stop() {
    if (!process_ || process_->exit_code()) return process_ ? process_->exit_code() : std::nullopt;
    process_->signal(SIGTERM);
    return process_->wait(15s);
  }

  // What the preloaded counting allocator counted so far (SIGUSR2 makes
  // it write the figures); nullopt without it.
  std::optional<AllocCounts> allocs() {
    if (!counting_) return std::nullopt;
    process_->signal(SIGUSR2);
    auto deadline = Clock::now() + 2s;
    while (Clock::now() < deadline) {
      std::istringstream in(read_text(alloc_file_));
      unsigned long dump = 0;
      AllocCounts c;
      if (in >> dump >> c.news >> c.mallocs >> c.bytes >> c.aligned && dump > dumps_) {
        dumps_ = dump;
        return c;
      }
      std::this_thread::sleep_for(1ms);
    }
    return std::nullopt;
  }

 private:
  test::TempDir dir_;
  std::unique_ptr<test::Process> process_;
  fs::path alloc_file_;
  bool counting_ = false;
  unsigned long dumps_ = 0;
};

std::optional<AllocCounts> difference(const std::optional<AllocCounts>& before,
                                      const std::optional<AllocCounts>& after) {
  if (!before || !after) return std::nullopt;
  return AllocCounts{after->news - before->news, after->mallocs - before->mallocs,
                     after->bytes - before->bytes, after->aligned - before->aligned};
}

void add_allocs(Json& line, const std::optional<AllocCounts>& c, std::size_t messages) {
  if (c) {
    line.allocs(*c, messages);
  } else {
    line.num("allocs_per_msg", -1, 0);  // the preload library was not found
  }
}

// ---- the rig ---------------------------------------------------------------------

struct Rig {
  BenchClient* sender = nullptr;    // in #a on server 1
  BenchClient* listener = nullptr;  // in #a on server 1: the server's own delivery, and
                                    // what immp relays from #b
  BenchClient* receiver = nullptr;  // in #b on server 2: what immp relayed; talks back
  BenchClient* listener_b = nullptr;  // in #b on server 2: the server's own delivery there
  std::vector<BenchClient*> all;
  // Who counts what: set per run.
  Arrivals direct;     // at listener: sender's lines, no bridge
  Arrivals bridged;    // at receiver: sender's lines, relayed
  Arrivals back;       // at listener: receiver's lines, relayed to #a
  Arrivals back_direct;  // at listener_b: receiver's lines, no bridge
  bool joined_a = false, joined_b = false;

  void wire() {
    auto joins = [](std::string_view l) {
      return l.rfind(":bridge!", 0) == 0 && l.find(" JOIN ") != std::string_view::npos;
    };
    sender->on_line = [this, joins](std::string_view l, Clock::time_point) { joined_a |= joins(l); };
    listener->on_line = [this](std::string_view l, Clock::time_point t) {
      direct.take(l, t);
      back.take(l, t);
    };
    receiver->on_line = [this, joins](std::string_view l, Clock::time_point t) {
      joined_b |= joins(l);
      bridged.take(l, t);
    };
    listener_b->on_line = [this](std::string_view l, Clock::time_point t) { back_direct.take(l, t); };
  }
  // Waits until the bridge joined #a and #b (a new immp process).
  void await_bridge() {
    joined_a = joined_b = false;
    pump(all, Clock::now() + 15s, [&] { return joined_a && joined_b; });
    if (!joined_a || !joined_b) throw std::runtime_error("immp did not join #a and #b");
  }
};

std::string numbered(const char* channel, char tag, std::size_t i) {
  return std::string("PRIVMSG ") + channel + " :" + tag + " " + std::to_string(i) + "\r\n";
}

// ---- throughput and latency (flood control off) ---------------------------------

struct RunResult {
  std::size_t n = 0;
  std::size_t lost = 0, reordered = 0, duplicates = 0;
  double seconds = 0, msg_per_s = 0, p50 = 0, p99 = 0, max = 0;
  double server_msg_per_s = 0, server_p50 = 0, server_p99 = 0;
  double cpu_us_per_msg = 0;  // immp's CPU time (all threads) per message
  std::optional<AllocCounts> allocs;
};

void trace(char tag, Clock::time_point start, const Arrivals& direct, const Arrivals& bridged) {
  if (!std::getenv("IMMP_BENCH_IRC_TRACE")) return;
  // Arrivals per millisecond after the first send, for finding stalls.
  std::map<long, std::pair<int, int>> bins;
  auto ms = [&](Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t - start).count();
  };
  for (std::size_t i = 0; i < direct.at.size(); ++i) {
    if (direct.at[i] != Clock::time_point{}) ++bins[ms(direct.at[i])].first;
  }
  for (std::size_t i = 0; i < bridged.at.size(); ++i) {
    if (bridged.at[i] != Clock::time_point{}) ++bins[ms(bridged.at[i])].second;
  }
  for (auto& [t, c] : bins) {
    std::fprintf(stderr, "%c %5ld ms: direct %4d bridged %4d\n", tag, t, c.first, c.second);
  }
}

// Sends n messages tagged `tag` into #a, message i at start + i * interval
// (all at once when interval is zero), then waits up to `grace` after the
// last one for every copy in #b.
RunResult run(Rig& rig, ImmpProcess& immp, char tag, std::size_t n,
              std::chrono::nanoseconds interval, std::chrono::milliseconds grace) {
  auto allocs_before = immp.allocs();
  auto cpu_before = cpu_sample(immp.pid());
  rig.direct.reset(tag, n);
  rig.bridged.reset(tag, n);
  std::vector<Clock::time_point> sent(n);
  auto start = Clock::now();
  if (interval.count() == 0) {
    std::string all;
    for (std::size_t i = 0; i < n; ++i) all += numbered("#a", tag, i);
    start = Clock::now();
    std::fill(sent.begin(), sent.end(), start);
    rig.sender->send(all);
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      auto due = start + interval * static_cast<long>(i);
      pump(rig.all, due, nullptr);
      std::string l = numbered("#a", tag, i);
      sent[i] = Clock::now();
      rig.sender->send(l);
    }
  }
  auto all_in = [&] { return rig.bridged.distinct == n && rig.direct.distinct == n; };
  pump(rig.all, Clock::now() + grace, all_in);
  // A little longer, to see duplicates that would follow.
  pump(rig.all, Clock::now() + 100ms, nullptr);
  trace(tag, start, rig.direct, rig.bridged);
  RunResult r;
  r.n = n;
  r.cpu_us_per_msg =
      (cpu_sample(immp.pid()).cpu_ns - cpu_before.cpu_ns) / 1e3 / static_cast<double>(n);
  r.allocs = difference(allocs_before, immp.allocs());
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
  Json line("irc");
  line.str("run", name)
      .str("path", "ngircd 1 #a -> immp (irc1 -> sync + SQLite -> irc2) -> ngircd 2 #b")
      .str("flood_control", "off (send-delay 0.0)")
      .count("messages", r.n)
      .count("lost", r.lost)
      .count("reordered", r.reordered)
      .count("duplicates", r.duplicates)
      .num("seconds", r.seconds, 4)
      .num("msg_per_s", r.msg_per_s, 0)
      .num("p50_ms", r.p50)
      .num("p99_ms", r.p99)
      .num("max_ms", r.max)
      .num("server_msg_per_s", r.server_msg_per_s, 0)
      .num("server_p50_ms", r.server_p50)
      .num("server_p99_ms", r.server_p99)
      .num("immp_cpu_us_per_msg", r.cpu_us_per_msg, 2);
  add_allocs(line, r.allocs, r.n);
  line.num("peak_rss_mb", rss_mb, 1).print();
}

// ---- backlog (flood control on) ---------------------------------------------------

struct Backlog {
  std::size_t backlog = 100;
  std::chrono::milliseconds interval{50};  // between the #b user's lines in a group
  std::size_t group = 1;                   // lines per group: the plug's burst
  std::chrono::milliseconds period{600};   // group to group: past the plug's send-delay
};

int run_backlog(Rig& rig, ImmpProcess& immp, const Backlog& b) {
  // Warm the way back too (#b -> #a), then let the bridge's buckets fill
  // before the flood.
  rig.receiver->send("PRIVMSG #b :x 0\r\nPRIVMSG #b :x 1\r\n");
  pump(rig.all, Clock::now() + 3s, nullptr);
  const std::size_t max_back = 1000;
  rig.direct.reset('f', b.backlog);
  rig.bridged.reset('f', b.backlog);
  rig.back.reset('r', max_back);
  rig.back_direct.reset('r', max_back);
  std::vector<Clock::time_point> sent_back(max_back);
  auto allocs_before = immp.allocs();
  auto cpu_before = cpu_sample(immp.pid());
  std::string flood;
  for (std::size_t i = 0; i < b.backlog; ++i) flood += numbered("#a", 'f', i);
  auto start = Clock::now();
  rig.sender->send(flood);
  // The #b user talks while the backlog drains.
  std::size_t said = 0, said_while_draining = 0;
  auto drained = [&] { return rig.bridged.distinct == b.backlog; };
  auto deadline = start + 300s;
  for (std::size_t g = 0; !drained() && Clock::now() < deadline && said < max_back; ++g) {
    auto group_start = start + 300ms + b.period * static_cast<long>(g);
    for (std::size_t j = 0; j < b.group && said < max_back; ++j) {
      pump(rig.all, group_start + b.interval * static_cast<long>(j), nullptr);
      if (j == 0 && drained()) break;
      std::string l = numbered("#b", 'r', said);
      sent_back[said] = Clock::now();
      rig.receiver->send(l);
      if (!drained()) ++said_while_draining;
      ++said;
    }
  }
  // Whatever is still on its way.
  pump(rig.all, Clock::now() + 10s, [&] {
    return drained() && rig.back.distinct == said && rig.back_direct.distinct == said;
  });
  sent_back.resize(said);
  trace('f', start, rig.direct, rig.bridged);
  trace('r', start, rig.back_direct, rig.back);
  double cpu_us = (cpu_sample(immp.pid()).cpu_ns - cpu_before.cpu_ns) / 1e3;
  auto allocs = difference(allocs_before, immp.allocs());
  auto lat = latencies_ms(sent_back, rig.back);
  auto direct = latencies_ms(sent_back, rig.back_direct);
  double drain_s = std::chrono::duration<double>(last_arrival(rig.bridged) - start).count();
  double p99 = percentile_ms(lat, 0.99);
  std::size_t lost = (b.backlog - rig.bridged.distinct) + (said - rig.back.distinct);
  std::size_t relayed = rig.bridged.distinct + rig.back.distinct;
  Json line("irc");
  line.str("run", "backlog")
      .str("path", "#b user -> ngircd 2 -> immp (irc2 -> sync + SQLite -> irc1) -> ngircd 1 #a, "
                   "while irc2 paces a backlog out to #b")
      .str("flood_control", "on (defaults: send-delay 0.5 s, burst 1)")
      .count("backlog", b.backlog)
      .count("backlog_lost", b.backlog - rig.bridged.distinct)
      .count("backlog_reordered", rig.bridged.reordered)
      .num("backlog_drain_s", drain_s, 2)
      .num("backlog_drain_expected_s", static_cast<double>(b.backlog - 1) * 0.5, 2)
      .count("lines", said)
      .count("lines_while_draining", said_while_draining)
      .num("line_interval_ms", static_cast<double>(b.interval.count()), 0)
      .count("line_group", b.group)
      .num("line_group_period_ms", static_cast<double>(b.period.count()), 0)
      .count("lost", said - rig.back.distinct)
      .count("duplicates", rig.back.duplicates + rig.bridged.duplicates)
      .num("p50_ms", percentile_ms(lat, 0.50))
      .num("p99_ms", p99)
      .num("max_ms", lat.empty() ? -1 : *std::max_element(lat.begin(), lat.end()))
      .num("server_p50_ms", percentile_ms(direct, 0.50))
      .num("server_p99_ms", percentile_ms(direct, 0.99))
      .num("immp_cpu_us_per_msg", relayed ? cpu_us / static_cast<double>(relayed) : -1, 2);
  add_allocs(line, allocs, relayed);
  line.num("peak_rss_mb", status_mb(immp.pid(), "VmHWM"), 1)
      .num("target_p99_ms", 100, 0)
      .flag("target_met", lost == 0 && said_while_draining > 0 && p99 >= 0 && p99 < 100)
      .print();
  return lost ? 1 : 0;
}

// Whether IMMP_BENCH_IRC_RUNS names `run` (all runs when unset).
bool wanted(std::string_view run) {
  const char* v = std::getenv("IMMP_BENCH_IRC_RUNS");
  if (!v || !*v) return true;
  std::string_view list(v);
  while (!list.empty()) {
    auto comma = list.find(',');
    if (list.substr(0, comma) == run) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

int irc(int, char**) {
  if (!test::NgircdServer::available()) {
    std::fprintf(stderr, "irc: %s is not installed; skipped\n", test::NgircdServer::kBinary);
    return 0;
  }
  const std::size_t n = env_size("IMMP_BENCH_IRC_N", 2'000);
  const std::size_t latency_n = env_size("IMMP_BENCH_IRC_LATENCY_N", 200);
  Backlog backlog;
  backlog.backlog = env_size("IMMP_BENCH_IRC_BACKLOG", 100);
  try {
    test::NgircdOptions o1, o2;
    o1.no_penalty = o2.no_penalty = true;
    o1.name = "irc1.test";
    o2.name = "irc2.test";
    test::NgircdServer server1(o1);
    test::NgircdServer server2(o2);
    BenchClient sender(server1.port(), "sender");
    BenchClient listener(server1.port(), "listener");
    BenchClient receiver(server2.port(), "receiver");
    BenchClient listener_b(server2.port(), "listenerb");
    sender.join("#a");
    listener.join("#a");
    receiver.join("#b");
    listener_b.join("#b");
    Rig rig;
    rig.sender = &sender;
    rig.listener = &listener;
    rig.receiver = &receiver;
    rig.listener_b = &listener_b;
    rig.all = {&sender, &listener, &receiver, &listener_b};
    rig.wire();
    int status = 0;
    if (wanted("throughput") || wanted("latency") || wanted("idle")) {
      ImmpProcess immp(server1.port(), server2.port(), false);
      rig.await_bridge();
      std::fprintf(stderr, "irc: immp runs as pid %d\n", static_cast<int>(immp.pid()));
      // Connected and joined, before any message: the baseline.
      double rss_ready = status_mb(immp.pid(), "VmRSS");
      // Warm-up: the first messages open the database's tables and caches.
      auto warm = run(rig, immp, 'w', 50, 1ms, 5s);
      if (warm.lost) {
        throw std::runtime_error("warm-up: " + std::to_string(warm.lost) +
                                 " messages were not relayed\n" + immp.err());
      }
      // IMMP_BENCH_IRC_REPEAT: more throughput runs (several figures; a
      // longer window for a profiler).
      std::size_t throughput_lost = 0;
      for (std::size_t i = 0, k = std::max<std::size_t>(1, env_size("IMMP_BENCH_IRC_REPEAT", 1));
           wanted("throughput") && i < k; ++i) {
        RunResult throughput = run(rig, immp, 't', n, 0ns, 30s);
        throughput_lost += throughput.lost;
        print("throughput", throughput, status_mb(immp.pid(), "VmHWM"));
      }
      RunResult latency;
      if (wanted("latency")) {
        latency = run(rig, immp, 'l', latency_n, 50ms, 5s);
        print("latency", latency, status_mb(immp.pid(), "VmHWM"));
      }
      double rss = status_mb(immp.pid(), "VmHWM");

      if (throughput_lost || latency.lost) status = 1;
      if (wanted("idle")) {
        // Idle: let the database's batched writes settle, then sample.
        pump(rig.all, Clock::now() + 500ms, nullptr);
        auto allocs_before = immp.allocs();
        auto before = cpu_sample(immp.pid());
        auto t0 = Clock::now();
        pump(rig.all, Clock::now() + 2s, nullptr);
        auto after = cpu_sample(immp.pid());
        auto idle_allocs = difference(allocs_before, immp.allocs());
        double wall_ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
        double idle_pct = 100.0 * (after.cpu_ns - before.cpu_ns) / wall_ns;
        double wakeups = (after.wakeups - before.wakeups) / (wall_ns / 1e9);
        // What the resident memory is: shared libraries' pages (file) or
        // the process's own (anon).
        double anon = status_mb(immp.pid(), "RssAnon");
        double file = status_mb(immp.pid(), "RssFile");
        auto code = immp.stop();
        Json("irc")
            .str("run", "idle")
            .num("idle_cpu_pct", idle_pct, 4)
            .num("idle_wakeups_per_s", wakeups, 1)
            .num("idle_allocs_per_s", idle_allocs ? static_cast<double>(idle_allocs->total()) / 2 : -1, 1)
            .raw("allocs_per_msg", "null")  // no messages: see idle_allocs_per_s
            .num("peak_rss_mb", rss, 1)
            .num("rss_ready_mb", rss_ready, 1)
            .num("rss_anon_mb", anon, 1)
            .num("rss_file_mb", file, 1)
            .num("exit_code", code.value_or(-1), 0)
            .print();
      }
    }
    if (wanted("backlog")) {
      ImmpProcess immp(server1.port(), server2.port(), true);
      rig.await_bridge();
      // Warm-up both ways (paced by the plugs).
      auto warm = run(rig, immp, 'v', 3, 50ms, 5s);
      if (warm.lost) throw std::runtime_error("backlog warm-up: not relayed\n" + immp.err());
      status |= run_backlog(rig, immp, backlog);
    }
    return status;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "irc: %s\n", e.what());
    return 1;
  }
}

Register registered("irc", irc);

}  // namespace
}  // namespace immp::bench
