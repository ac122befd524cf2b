#include "web_floor_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

namespace immp::bench {

namespace {

// Room for the events of a long run (~450 bytes each); untouched pages
// cost no memory.
constexpr std::size_t kLogCapacity = std::size_t{256} << 20;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void append_number(std::string& out, std::uint64_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out.append(digits, end);
}

// Case-insensitive search for a header's name at a line's start; returns
// its value (up to CR), or an empty view.
std::string_view header_value(std::string_view head, std::string_view name) {
  for (std::size_t at = head.find("\r\n"); at != std::string_view::npos;
       at = head.find("\r\n", at + 2)) {
    std::string_view line = head.substr(at + 2);
    if (line.size() <= name.size() || line[name.size()] != ':') continue;
    bool same = true;
    for (std::size_t i = 0; i < name.size() && same; ++i) {
      char a = line[i] >= 'A' && line[i] <= 'Z' ? static_cast<char>(line[i] + 32) : line[i];
      same = a == name[i];
    }
    if (!same) continue;
    std::string_view v = line.substr(name.size() + 1);
    v = v.substr(0, v.find("\r\n"));
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    return v;
  }
  return {};
}

std::string accept_key(std::string_view key) {
  std::string in(key);
  in += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[20];
  unsigned int size = 0;
  if (EVP_Digest(in.data(), in.size(), digest, &size, EVP_sha1(), nullptr) != 1) {
    throw std::runtime_error("SHA-1 failed");
  }
  unsigned char out[32];
  int n = EVP_EncodeBlock(out, digest, static_cast<int>(size));
  return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
}

// A text frame's header (server to client: unmasked) for `size` bytes.
std::string frame_header(std::size_t size) {
  std::string h(1, static_cast<char>(0x81));
  if (size < 126) {
    h += static_cast<char>(size);
  } else if (size < 65536) {
    h += static_cast<char>(126);
    h += static_cast<char>(size >> 8);
    h += static_cast<char>(size & 0xff);
  } else {
    h += static_cast<char>(127);
    for (int i = 7; i >= 0; --i) h += static_cast<char>((size >> (8 * i)) & 0xff);
  }
  return h;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // Only ever small writes to an empty socket: this does not happen.
      std::this_thread::yield();
      continue;
    }
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

struct FloorServer::Http {
  int fd = -1;
  std::string in;
};

struct FloorServer::Writer {
  struct Client {
    int fd;
    std::size_t sent;  // the log's offset written up to
  };
  std::vector<Client> clients;  // this writer's thread's own
  std::mutex lock;              // guards joining
  std::vector<Client> joining;
  std::atomic<bool> has_joining{false};
  std::thread thread;

  ~Writer() {
    for (auto& c : clients) ::close(c.fd);
    for (auto& c : joining) ::close(c.fd);
  }

  void run(FloorServer& server) {
    const char* log = server.log_.get();
    while (!server.stopping_.load(std::memory_order_relaxed)) {
      if (has_joining.load(std::memory_order_acquire)) {
        std::lock_guard g(lock);
        clients.insert(clients.end(), joining.begin(), joining.end());
        joining.clear();
        has_joining = false;
      }
      std::size_t end = server.end_.load(std::memory_order_acquire);
      bool blocked = false;
      for (std::size_t i = 0; i < clients.size();) {
        Client& c = clients[i];
        if (c.sent < end) {
          ssize_t n = ::write(c.fd, log + c.sent, end - c.sent);
          if (n > 0) {
            c.sent += static_cast<std::size_t>(n);
            blocked = blocked || c.sent < end;
          } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            blocked = true;
          } else {
            ::close(c.fd);
            c = clients.back();
            clients.pop_back();
            continue;
          }
        }
        ++i;
      }
      // Everyone up to date: sleep until the next event (or look again
      // soon for a client whose socket was full).
      std::unique_lock g(server.wake_lock_);
      server.wake_.wait_for(
          g, blocked ? std::chrono::milliseconds(1) : std::chrono::seconds(1), [&] {
            return server.end_.load(std::memory_order_acquire) != end || server.stopping_.load() ||
                   has_joining.load(std::memory_order_acquire);
          });
    }
  }
};

FloorServer::FloorServer(std::size_t writers)
    : log_(new char[kLogCapacity]), capacity_(kLogCapacity) {
  listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_, 4096) != 0 ||
      getsockname(listen_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error(std::string("floor server: ") + std::strerror(errno));
  }
  port_ = ntohs(addr.sin_port);
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_;
  epoll_ctl(epoll_, EPOLL_CTL_ADD, listen_, &ev);
  ev.data.fd = stop_fd_;
  epoll_ctl(epoll_, EPOLL_CTL_ADD, stop_fd_, &ev);
  if (writers == 0) writers = 1;
  for (std::size_t i = 0; i < writers; ++i) {
    writers_.push_back(std::make_unique<Writer>());
    Writer* w = writers_.back().get();
    w->thread = std::thread([this, w] { w->run(*this); });
  }
}

FloorServer::~FloorServer() {
  stop();
  { std::lock_guard g(wake_lock_); }
  wake_.notify_all();
  for (auto& w : writers_) w->thread.join();
  for (auto& c : http_) {
    if (c) ::close(c->fd);
  }
  ::close(listen_);
  ::close(epoll_);
  ::close(stop_fd_);
}

void FloorServer::stop() {
  stopping_ = true;
  std::uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
}

void FloorServer::run() {
  epoll_event events[256];
  std::vector<char> buf(64 * 1024);
  while (!stopping_.load()) {
    int n = epoll_wait(epoll_, events, 256, -1);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == stop_fd_) return;
      if (fd == listen_) {
        for (;;) {
          int c = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
          if (c < 0) break;
          int one = 1;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          if (http_.size() <= static_cast<std::size_t>(c)) http_.resize(c + 1);
          http_[c] = std::make_unique<Http>();
          http_[c]->fd = c;
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.fd = c;
          epoll_ctl(epoll_, EPOLL_CTL_ADD, c, &ev);
        }
        continue;
      }
      Http& c = *http_[fd];
      ssize_t got = ::read(fd, buf.data(), buf.size());
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      bool keep = got > 0;
      if (keep) {
        c.in.append(buf.data(), static_cast<std::size_t>(got));
        keep = serve(c);
      }
      if (!keep) {
        ::close(fd);
        http_[fd].reset();
      } else if (c.fd < 0) {
        http_[fd].reset();  // a stream client now, a writer's
      }
    }
  }
}

bool FloorServer::serve(Http& c) {
  for (;;) {
    std::size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) return true;
    std::string_view head(c.in.data(), end + 2);
    if (head.starts_with("GET ")) {
      std::string_view key = header_value(head, "sec-websocket-key");
      if (key.empty()) return false;
      std::string answer =
          "HTTP/1.1 101 Switching Protocols\r\nServer: floor\r\nUpgrade: websocket\r\n"
          "Connection: upgrade\r\nSec-WebSocket-Accept: " +
          accept_key(key) + "\r\n\r\n";
      std::string ready = R"({"stream":"ready","cursor":"0"})";
      answer += frame_header(ready.size());
      answer += ready;
      epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
      if (!write_all(c.fd, answer)) return false;
      // From the next event on, the writer's: under the lock the writers'
      // end cannot move (only this thread appends).
      Writer& w = *writers_[next_writer_++ % writers_.size()];
      {
        std::lock_guard g(w.lock);
        w.joining.push_back(Writer::Client{c.fd, end_.load()});
        w.has_joining = true;
      }
      ++ws_clients_;
      { std::lock_guard g(wake_lock_); }
      wake_.notify_all();
      c.fd = -1;
      return true;
    }
    if (!head.starts_with("POST ")) return false;
    std::string_view length = header_value(head, "content-length");
    std::size_t size = 0;
    std::from_chars(length.data(), length.data() + length.size(), size);
    if (c.in.size() < end + 4 + size) return true;
    std::string_view body(c.in.data() + end + 4, size);
    constexpr std::string_view kText = "\"text\":\"";
    std::size_t t = body.find(kText);
    std::string_view text;
    if (t != std::string_view::npos) {
      text = body.substr(t + kText.size());
      text = text.substr(0, text.find('"'));
    }
    std::uint64_t seq = ++seq_;
    if (ws_clients_.load(std::memory_order_relaxed) > 0) append_event(text);
    std::string receipt = R"({"receipts":[{"id":")";
    append_number(receipt, seq);
    receipt += R"(","channel":"lobby","at":)";
    append_number(receipt, static_cast<std::uint64_t>(wall_ms()));
    receipt += R"(}],"cursor":")";
    append_number(receipt, seq);
    receipt += "\"}";
    std::string answer =
        "HTTP/1.1 201 Created\r\nServer: floor\r\nContent-Type: application/json\r\n"
        "Content-Length: ";
    append_number(answer, receipt.size());
    answer += "\r\n\r\n";
    answer += receipt;
    c.in.erase(0, end + 4 + size);
    if (!write_all(c.fd, answer)) return false;
  }
}

void FloorServer::append_event(std::string_view text) {
  // The envelope the plug sends for the bench's posts, field for field.
  std::uint64_t seq = seq_;
  std::int64_t at = wall_ms();
  std::string env = R"({"specversion":"1.0","immpversion":1,"id":")";
  append_number(env, seq);
  env += R"(","source":"api/lobby","type":"message","time":"2026-12-03T12:00:00.000Z","subject":")";
  append_number(env, seq);
  env += R"(","datacontenttype":"application/json","data":{"text":[{"text":")";
  env += text;
  env += R"("}],"user":{"id":"bench","plug":"api","username":"bench","real_name":"bench"},"id":")";
  append_number(env, seq);
  env += R"(","channel":{"plug":"api","source":"lobby"},"at":)";
  append_number(env, static_cast<std::uint64_t>(at));
  env += R"(,"plain":")";
  env += text;
  env += "\"}}";
  std::string frame = frame_header(env.size()) + env;
  std::size_t end = end_.load(std::memory_order_relaxed);
  if (end + frame.size() > capacity_) throw std::runtime_error("floor server: the log is full");
  std::memcpy(log_.get() + end, frame.data(), frame.size());
  {
    std::lock_guard g(wake_lock_);
    end_.store(end + frame.size(), std::memory_order_release);
  }
  wake_.notify_all();
}

}  // namespace immp::bench
