#include "support/nats_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <csignal>
#include <stdexcept>
#include <thread>
#include <unistd.h>

#include "support/irc_server.hpp"  // free_port, wait_for_port

namespace immp::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string binary() {
  for (const char* p : {"/usr/sbin/nats-server", "/usr/bin/nats-server"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "nats-server";
}

}  // namespace

bool NatsServer::available() {
  return ::access("/usr/sbin/nats-server", X_OK) == 0 || ::access("/usr/bin/nats-server", X_OK) == 0;
}

NatsServer::NatsServer() : NatsServer(Options()) {}

NatsServer::NatsServer(Options options)
    : options_(std::move(options)), own_dir_(std::make_unique<TempDir>("immp-nats")),
      dir_(own_dir_->path()), port_(free_port()) {
  start();
}

NatsServer::NatsServer(Options options, fs::path dir)
    : options_(std::move(options)), dir_(std::move(dir)), port_(free_port()) {
  fs::create_directories(dir_);
  start();
}

NatsServer::~NatsServer() { kill(); }

std::string NatsServer::log() const { return read_file(dir_ / "nats.log"); }

void NatsServer::start() {
  if (process_) return;
  std::string conf;
  conf += "listen: 127.0.0.1:" + std::to_string(port_) + "\n";
  conf += "server_name: " + options_.name + "\n";
  if (options_.jetstream) {
    conf += "jetstream {\n  store_dir: \"" + (dir_ / "store").string() + "\"\n}\n";
  }
  if (options_.cluster_port) {
    conf += "cluster {\n  name: immp\n  listen: 127.0.0.1:" + std::to_string(options_.cluster_port) +
            "\n  routes: [\n";
    for (int r : options_.routes) {
      if (r != options_.cluster_port) conf += "    nats-route://127.0.0.1:" + std::to_string(r) + "\n";
    }
    conf += "  ]\n}\n";
  }
  write_file(dir_ / "nats.conf", conf);
  process_ = std::make_unique<Process>(
      std::vector<std::string>{binary(), "-c", (dir_ / "nats.conf").string(), "-l",
                               (dir_ / "nats.log").string()});
  if (!wait_for_port(port_, 10s)) {
    std::string why = log();
    process_.reset();
    throw std::runtime_error("nats-server did not start on port " + std::to_string(port_) + ":\n" + why);
  }
}

void NatsServer::kill() {
  if (!process_) return;
  process_->signal(SIGKILL);
  process_->wait(5s);
  process_.reset();
}

NatsCluster::NatsCluster(int n) : dir_("immp-nats-cluster") {
  std::vector<int> routes;
  for (int i = 0; i < n; ++i) routes.push_back(free_port());
  for (int i = 0; i < n; ++i) {
    NatsServer::Options o;
    o.name = "n" + std::to_string(i + 1);
    o.cluster_port = routes[static_cast<std::size_t>(i)];
    o.routes = routes;
    nodes_.push_back(std::make_unique<NatsServer>(o, dir_ / o.name));
  }
}

std::string NatsCluster::urls() const {
  std::string out;
  for (const auto& n : nodes_) {
    if (!out.empty()) out += ",";
    out += n->url();
  }
  return out;
}

std::string NatsMessage::header(const std::string& key) const {
  std::size_t at = 0;
  while ((at = headers.find("\r\n", at)) != std::string::npos) {
    at += 2;
    if (headers.compare(at, key.size() + 1, key + ":") == 0) {
      std::size_t start = at + key.size() + 1;
      while (start < headers.size() && headers[start] == ' ') ++start;
      return headers.substr(start, headers.find("\r\n", start) - start);
    }
  }
  return {};
}

NatsClient::NatsClient(int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (fd_ >= 0) ::close(fd_);
    throw std::runtime_error("cannot connect to nats-server on port " + std::to_string(port));
  }
  auto deadline = std::chrono::steady_clock::now() + 5s;
  auto info = line(deadline);
  if (!info || !info->starts_with("INFO ")) throw std::runtime_error("nats-server sent no INFO");
  write("CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,"
        "\"name\":\"immp test\",\"lang\":\"c++\",\"version\":\"0\"}\r\n");
}

NatsClient::~NatsClient() {
  if (fd_ >= 0) ::close(fd_);
}

void NatsClient::write(const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error("nats-server closed the connection");
    done += static_cast<std::size_t>(n);
  }
}

bool NatsClient::fill(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
  char chunk[65536];
  ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
  if (n <= 0) throw std::runtime_error("nats-server closed the connection");
  buf_.append(chunk, static_cast<std::size_t>(n));
  return true;
}

std::optional<std::string> NatsClient::line(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    if (auto end = buf_.find("\r\n"); end != std::string::npos) {
      std::string out = buf_.substr(0, end);
      buf_.erase(0, end + 2);
      return out;
    }
    if (!fill(deadline)) return std::nullopt;
  }
}

std::optional<std::string> NatsClient::bytes(std::size_t n, std::chrono::steady_clock::time_point deadline) {
  while (buf_.size() < n + 2) {
    if (!fill(deadline)) return std::nullopt;
  }
  std::string out = buf_.substr(0, n);
  buf_.erase(0, n + 2);
  return out;
}

void NatsClient::subscribe(const std::string& subject) {
  write("SUB " + subject + " " + std::to_string(next_sid_++) + "\r\nPING\r\n");
  // Messages that arrive meanwhile stay in the buffer for next(); only
  // the PONG is looked for here.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    if (buf_.find("PONG\r\n") != std::string::npos) {
      auto at = buf_.find("PONG\r\n");
      // Only a PONG at a line start is ours.
      if (at == 0 || buf_.compare(at - 2, 2, "\r\n") == 0) {
        buf_.erase(at, 6);
        return;
      }
    }
    if (!fill(deadline)) throw std::runtime_error("no PONG from nats-server");
  }
}

void NatsClient::publish(const std::string& subject, const std::string& body, const std::string& reply) {
  write("PUB " + subject + (reply.empty() ? "" : " " + reply) + " " + std::to_string(body.size()) +
        "\r\n" + body + "\r\n");
}

std::optional<NatsMessage> NatsClient::next(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto l = line(deadline);
    if (!l) return std::nullopt;
    if (*l == "PING") {
      write("PONG\r\n");
      continue;
    }
    bool with_headers = l->starts_with("HMSG ");
    if (!with_headers && !l->starts_with("MSG ")) continue;  // +OK, PONG, INFO
    std::vector<std::string> parts;
    std::size_t at = 0;
    while (at < l->size()) {
      std::size_t end = l->find(' ', at);
      if (end == std::string::npos) end = l->size();
      if (end > at) parts.push_back(l->substr(at, end - at));
      at = end + 1;
    }
    NatsMessage m;
    m.subject = parts.at(1);
    std::size_t header_len = 0;
    std::size_t total = 0;
    if (with_headers) {
      if (parts.size() == 6) m.reply = parts[3];
      header_len = std::stoul(parts[parts.size() - 2]);
      total = std::stoul(parts.back());
    } else {
      if (parts.size() == 5) m.reply = parts[3];
      total = std::stoul(parts.back());
    }
    auto payload = bytes(total, deadline + 5s);
    if (!payload) return std::nullopt;
    m.headers = payload->substr(0, header_len);
    m.body = payload->substr(header_len);
    return m;
  }
}

std::optional<std::string> NatsClient::request(const std::string& subject, const std::string& body,
                                               std::chrono::milliseconds timeout) {
  std::string inbox = "_INBOX.immptest." + std::to_string(::getpid()) + "." + std::to_string(next_sid_);
  subscribe(inbox);
  publish(subject, body, inbox);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto m = next(left);
    if (!m) return std::nullopt;
    if (m->subject == inbox) return m->body;
  }
}

}  // namespace immp::test
