#include "http_post_clients.hpp"

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
#include <vector>

namespace immp::bench {

namespace {

struct Conn {
  int fd = -1;
  std::string in;  // what has come of the answer so far
  bool waiting = false;
};

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char a = text[i] >= 'A' && text[i] <= 'Z' ? static_cast<char>(text[i] + 32) : text[i];
    if (a != prefix[i]) return false;
  }
  return true;
}

// The size of the whole answer at the start of `in`, 0 if not all there.
// Throws unless it is a 201 with a Content-Length.
std::size_t answer_size(std::string_view in) {
  std::size_t end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) return 0;
  std::string_view head = in.substr(0, end + 2);
  if (!head.starts_with("HTTP/1.1 201 ")) {
    throw std::runtime_error("POST answered " + std::string(in.substr(0, 200)));
  }
  std::size_t length = std::string_view::npos;
  for (std::size_t at = head.find("\r\n"); at != std::string_view::npos && at + 2 < head.size();
       at = head.find("\r\n", at + 2)) {
    std::string_view line = head.substr(at + 2);
    if (iequals_prefix(line, "content-length:")) {
      length = 0;
      for (std::size_t i = 15; i < line.size() && line[i] != '\r'; ++i) {
        if (line[i] >= '0' && line[i] <= '9')
          length = length * 10 + static_cast<unsigned>(line[i] - '0');
      }
      break;
    }
  }
  if (length == std::string_view::npos) throw std::runtime_error("an answer without a length");
  std::size_t size = end + 4 + length;
  return in.size() >= size ? size : 0;
}

void send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // A request is a few hundred bytes and the socket is empty: a full
      // buffer means the server stopped reading.
      throw std::runtime_error("the server does not take requests");
    }
    if (n <= 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

PostTally run_posts(int port, const std::string& request, std::size_t conns, double seconds) {
  int epoll = epoll_create1(EPOLL_CLOEXEC);
  if (epoll < 0) throw std::runtime_error("epoll_create1 failed");
  std::vector<Conn> all(conns);
  auto close_all = [&] {
    for (auto& c : all) {
      if (c.fd >= 0) ::close(c.fd);
    }
    ::close(epoll);
  };
  PostTally out;
  try {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (std::size_t i = 0; i < conns; ++i) {
      Conn& c = all[i];
      c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (c.fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
      int one = 1;
      setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
      }
      fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = static_cast<std::uint32_t>(i);
      if (epoll_ctl(epoll, EPOLL_CTL_ADD, c.fd, &ev) != 0) throw std::runtime_error("epoll_ctl");
    }
    auto start = std::chrono::steady_clock::now();
    auto end = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(seconds));
    std::size_t waiting = 0;
    for (auto& c : all) {
      send_all(c.fd, request);
      c.waiting = true;
      ++waiting;
    }
    bool more = true;  // still sending
    std::vector<char> buf(64 * 1024);
    epoll_event events[256];
    while (waiting > 0) {
      int n = epoll_wait(epoll, events, 256, 1000);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::runtime_error("the server stopped answering");
      // Like the server's clock: the deadline is checked once a wake-up.
      if (more && std::chrono::steady_clock::now() >= end) more = false;
      for (int i = 0; i < n; ++i) {
        Conn& c = all[events[i].data.u32];
        for (;;) {
          ssize_t got = ::read(c.fd, buf.data(), buf.size());
          if (got < 0 && errno == EINTR) continue;
          if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
          if (got <= 0) throw std::runtime_error("the server hung up");
          c.in.append(buf.data(), static_cast<std::size_t>(got));
          if (static_cast<std::size_t>(got) < buf.size()) break;
        }
        while (std::size_t size = answer_size(c.in)) {
          if (!c.waiting) throw std::runtime_error("an answer to no request");
          c.in.erase(0, size);
          ++out.answered;
          c.waiting = false;
          --waiting;
          if (more) {
            send_all(c.fd, request);
            c.waiting = true;
            ++waiting;
          }
        }
      }
    }
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } catch (...) {
    close_all();
    throw;
  }
  close_all();
  return out;
}

}  // namespace immp::bench
