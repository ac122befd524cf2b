#include "ws_stream_clients.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <thread>

namespace immp::bench {

namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// RFC 6455's sample key and its accept value: any key will do for a
// benchmark, and this one lets the answer be checked without SHA-1 here.
constexpr std::string_view kKey = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr std::string_view kAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

// One whole frame at the start of `bytes`, as a server sends it
// (unmasked). size == 0: not whole yet.
struct Frame {
  std::size_t size = 0;
  int opcode = 0;
  bool fin = true;
  std::string_view payload;
  explicit operator bool() const { return size != 0; }
};

Frame frame_at(const char* p, std::size_t have) {
  Frame f;
  if (have < 2) return f;
  auto b0 = static_cast<unsigned char>(p[0]);
  auto b1 = static_cast<unsigned char>(p[1]);
  if (b1 & 0x80) throw std::runtime_error("a masked frame from the server");
  std::size_t header = 2;
  std::uint64_t len = b1 & 0x7f;
  if (len == 126) {
    if (have < 4) return f;
    len = (static_cast<std::uint64_t>(static_cast<unsigned char>(p[2])) << 8) |
          static_cast<unsigned char>(p[3]);
    header = 4;
  } else if (len == 127) {
    if (have < 10) return f;
    len = 0;
    for (int i = 2; i < 10; ++i) len = (len << 8) | static_cast<unsigned char>(p[i]);
    header = 10;
  }
  if (have - header < len) return f;
  f.size = header + static_cast<std::size_t>(len);
  f.opcode = b0 & 0x0f;
  f.fin = (b0 & 0x80) != 0;
  f.payload = std::string_view(p + header, static_cast<std::size_t>(len));
  return f;
}

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error(std::string("write: ") + std::strerror(errno));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Reads the upgrade's answer and the "ready" frame; returns what came
// after them (the start of the stream).
std::string handshake(int fd, const std::string& target, const std::string& token) {
  std::string req = "GET " + target +
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: " +
                    std::string(kKey) + "\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer " +
                    token + "\r\n\r\n";
  write_all(fd, req);
  std::string in;
  char buf[4096];
  std::size_t body = std::string::npos;
  for (;;) {
    if (body == std::string::npos) {
      auto end = in.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::string_view head(in.data(), end);
        if (!head.starts_with("HTTP/1.1 101") || head.find(kAccept) == std::string_view::npos) {
          throw std::runtime_error("the upgrade was refused: " + std::string(head));
        }
        body = end + 4;
      }
    }
    if (body != std::string::npos) {
      Frame f = frame_at(in.data() + body, in.size() - body);
      if (f.size) {
        if (f.opcode != 1 || f.payload.find("\"stream\":\"ready\"") == std::string_view::npos) {
          throw std::runtime_error("expected the ready frame, got: " + std::string(f.payload));
        }
        return in.substr(body + f.size);
      }
    }
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("the server hung up during the handshake");
    in.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace

double LatencyHistogram::quantile_ms(double q) const {
  if (total_ == 0) return 0;
  auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen > rank) return static_cast<double>((static_cast<std::int64_t>(i) + 1) * kStepNs) / 1e6;
  }
  return static_cast<double>(static_cast<std::int64_t>(counts_.size()) * kStepNs) / 1e6;
}

struct StreamClients::Conn {
  int fd = -1;
  std::string carry;       // the start of a frame not yet whole
  std::uint64_t next = 0;  // the index expected next
  bool lagged = false;
  bool open = true;
};

struct StreamClients::Reader {
  std::vector<Conn> conns;
  int epoll = -1;
  std::thread thread;
  StreamTally tally;
  std::vector<char> buf = std::vector<char>(256 * 1024);
  std::size_t open = 0;

  ~Reader() {
    for (auto& c : conns) {
      if (c.fd >= 0) ::close(c.fd);
    }
    if (epoll >= 0) ::close(epoll);
  }

  void hang_up(Conn& c, std::uint64_t posted) {
    ::close(c.fd);  // leaves the epoll set too
    c.fd = -1;
    c.open = false;
    --open;
    if (!c.lagged && c.next < posted) ++tally.closed;
  }

  void on_event(Conn& c, std::string_view text, std::int64_t now) {
    // The envelope ends with ..."plain":"b<index>:<ns>"}}: look near the
    // end first.
    constexpr std::string_view kPlain = "\"plain\":\"b";
    std::size_t from = text.size() > 96 ? text.size() - 96 : 0;
    std::size_t at = text.find(kPlain, from);
    if (at == std::string_view::npos) at = text.find(kPlain);
    if (at == std::string_view::npos) return;  // not the bench's
    const char* p = text.data() + at + kPlain.size();
    const char* end = text.data() + text.size();
    std::uint64_t index = 0;
    while (p < end && *p >= '0' && *p <= '9')
      index = index * 10 + static_cast<unsigned>(*p++ - '0');
    if (p >= end || *p != ':') return;
    ++p;
    std::int64_t sent = 0;
    while (p < end && *p >= '0' && *p <= '9') sent = sent * 10 + (*p++ - '0');
    if (index < c.next) {
      ++tally.duplicated;
      return;
    }
    tally.lost += index - c.next;
    c.next = index + 1;
    ++tally.received;
    tally.latency.add(now - sent);
  }

  // Takes the whole frames at the start of `p`; returns the bytes taken.
  std::size_t take(Conn& c, const char* p, std::size_t have, std::int64_t now, bool& closing) {
    std::size_t off = 0;
    std::uint64_t before = tally.received;
    while (Frame f = frame_at(p + off, have - off)) {
      off += f.size;
      if (!f.fin) throw std::runtime_error("a fragmented frame from the server");
      switch (f.opcode) {
        case 1:
          if (f.payload.starts_with("{\"specversion\"")) {
            on_event(c, f.payload, now);
          } else if (f.payload.find("\"stream\":\"lagged\"") != std::string_view::npos) {
            c.lagged = true;
            ++tally.lagged;
          }
          break;
        case 8: closing = true; return off;
        case 9: {
          // A pong with the ping's payload, masked with the zero key.
          std::string pong{static_cast<char>(0x8a),
                           static_cast<char>(0x80 | (f.payload.size() & 0x7f)),
                           0,
                           0,
                           0,
                           0};
          pong.append(f.payload);
          (void)!::write(c.fd, pong.data(), pong.size());
          break;
        }
        default: break;
      }
    }
    if (tally.received != before) ++tally.reads;
    return off;
  }

  void read_conn(Conn& c, std::uint64_t posted) {
    std::size_t have = c.carry.size();
    std::memcpy(buf.data(), c.carry.data(), have);
    bool closing = false;
    for (;;) {
      ssize_t n = ::read(c.fd, buf.data() + have, buf.size() - have);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0) {
        hang_up(c, posted);
        return;
      }
      // One timestamp for everything this read brought.
      std::int64_t now = now_ns();
      bool full = static_cast<std::size_t>(n) == buf.size() - have;
      have += static_cast<std::size_t>(n);
      std::size_t used = take(c, buf.data(), have, now, closing);
      std::memmove(buf.data(), buf.data() + used, have - used);
      have -= used;
      if (closing) {
        hang_up(c, posted);
        return;
      }
      if (have == buf.size()) throw std::runtime_error("a frame bigger than the read buffer");
      if (!full) break;
    }
    c.carry.assign(buf.data(), have);
  }

  // Until every client is complete once the poster is done, `stop`, or
  // `deadline` (steady-clock nanoseconds; epoll wakes at least every 10 ms
  // to look).
  void run(const std::atomic<std::uint64_t>& posted_at, const std::atomic<bool>& stop,
           const std::atomic<std::int64_t>& deadline) {
    epoll_event events[256];
    while (open > 0 && !stop.load(std::memory_order_relaxed)) {
      int n = epoll_wait(epoll, events, 256, 10);
      if (std::chrono::steady_clock::now().time_since_epoch().count() >=
          deadline.load(std::memory_order_acquire)) {
        break;
      }
      std::uint64_t posted = posted_at.load(std::memory_order_acquire);
      for (int i = 0; i < n; ++i) {
        Conn& c = conns[events[i].data.u32];
        if (c.open) read_conn(c, posted);
      }
      if (posted != ~std::uint64_t{0}) {
        // The poster is done: stop once every client has everything.
        bool all = true;
        for (auto& c : conns) all = all && (!c.open || c.lagged || c.next >= posted);
        if (all) break;
      }
    }
  }
};

StreamClients::StreamClients(int port, const std::string& target, const std::string& token,
                             std::size_t count, std::size_t threads) {
  if (threads == 0) threads = 1;
  for (std::size_t t = 0; t < threads; ++t) {
    auto r = std::make_unique<Reader>();
    r->epoll = epoll_create1(EPOLL_CLOEXEC);
    if (r->epoll < 0) throw std::runtime_error("epoll_create1 failed");
    readers_.push_back(std::move(r));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (std::size_t i = 0; i < count; ++i) {
    Reader& r = *readers_[i % threads];
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    r.conns.push_back(Conn{});
    r.conns.back().fd = fd;
    ++r.open;
    timeval limit{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
    }
    r.conns.back().carry = handshake(fd, target, token);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<std::uint32_t>(r.conns.size() - 1);
    if (epoll_ctl(r.epoll, EPOLL_CTL_ADD, fd, &ev) != 0) {
      throw std::runtime_error("epoll_ctl failed");
    }
  }
}

StreamClients::~StreamClients() {
  stop_ = true;
  for (auto& r : readers_) {
    if (r->thread.joinable()) r->thread.join();
  }
}

void StreamClients::start() {
  for (auto& r : readers_) {
    Reader* reader = r.get();
    reader->thread = std::thread([this, reader] {
      try {
        // What the handshake read past the ready frame goes first.
        for (auto& c : reader->conns) {
          if (!c.carry.empty()) {
            bool closing = false;
            std::size_t used = reader->take(c, c.carry.data(), c.carry.size(), now_ns(), closing);
            c.carry.erase(0, used);
          }
        }
        reader->run(posted_, stop_, deadline_);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "web bench reader: %s\n", e.what());
        std::_Exit(1);
      }
    });
  }
}

StreamTally StreamClients::finish(std::uint64_t posted, double deadline_s) {
  posted_.store(posted, std::memory_order_release);
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                      std::chrono::duration<double>(deadline_s));
  // The readers end by themselves when every client is complete, or at the
  // deadline.
  deadline_.store(deadline.time_since_epoch().count(), std::memory_order_release);
  for (auto& r : readers_) {
    if (r->thread.joinable()) r->thread.join();
  }
  stop_ = true;
  StreamTally out;
  for (auto& r : readers_) {
    StreamTally& t = r->tally;
    for (auto& c : r->conns) {
      if (c.lagged || c.next >= posted) continue;
      t.lost += posted - c.next;
      if (c.open) ++t.unfinished;
    }
    out.received += t.received;
    out.lost += t.lost;
    out.duplicated += t.duplicated;
    out.reads += t.reads;
    out.lagged += t.lagged;
    out.closed += t.closed;
    out.unfinished += t.unfinished;
    out.latency.merge(t.latency);
  }
  return out;
}

}  // namespace immp::bench
