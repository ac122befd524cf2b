// nats-server for tests: one server, or a JetStream cluster of several on
// loopback, each on free ports in a fresh temporary directory (its
// config, JetStream store and log there), killed by the destructor.
//
//   if (!NatsServer::available()) GTEST_SKIP() << "nats-server is not installed";
//   NatsServer server;                 // JetStream on
//   config: "bus: {url: " + server.url() + "}"
//
//   NatsCluster cluster(3);            // routes between all three
//   cluster.urls();                    // "nats://127.0.0.1:a,nats://127.0.0.1:b,..."
//   cluster.kill(1);                   // SIGKILL, as a crashed machine
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace immp::test {

class NatsServer {
 public:
  // Whether Debian's nats-server is installed.
  static bool available();

  struct Options {
    std::string name = "n1";
    bool jetstream = true;
    // For a cluster: this node's route port and every node's route port.
    int cluster_port = 0;
    std::vector<int> routes;
  };
  // Starts the server in `dir` (a fresh temporary directory when empty)
  // and waits until it accepts clients. Throws std::runtime_error with
  // its log when it does not.
  NatsServer();
  explicit NatsServer(Options options);
  NatsServer(Options options, std::filesystem::path dir);
  ~NatsServer();
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  // Ends it with SIGKILL (nothing flushed: a crash); start() runs it again
  // on the same port with the same store.
  void kill();
  void start();
  bool running() const { return process_ != nullptr; }
  std::string log() const;

 private:
  Options options_;
  std::unique_ptr<TempDir> own_dir_;
  std::filesystem::path dir_;
  int port_;
  std::unique_ptr<Process> process_;
};

// `n` JetStream servers on loopback with routes between all of them.
class NatsCluster {
 public:
  explicit NatsCluster(int n = 3);
  std::string urls() const;
  NatsServer& node(int i) { return *nodes_.at(static_cast<std::size_t>(i)); }
  int size() const { return static_cast<int>(nodes_.size()); }

 private:
  TempDir dir_;
  std::vector<std::unique_ptr<NatsServer>> nodes_;
};

// One message a NatsClient received: its subject, reply subject, the
// header block as sent ("NATS/1.0\r\nNats-Msg-Id: ...\r\n\r\n", empty
// when it had none) and the payload.
struct NatsMessage {
  std::string subject;
  std::string reply;
  std::string headers;
  std::string body;
  // The value of one header, empty when absent.
  std::string header(const std::string& key) const;
};

// A plain NATS client speaking the text protocol over a blocking socket:
// what a test (or an operator in any language) does without a library.
// Answers the server's PINGs while it reads.
class NatsClient {
 public:
  // Connects to 127.0.0.1:`port`; throws std::runtime_error when it cannot.
  explicit NatsClient(int port);
  ~NatsClient();
  NatsClient(const NatsClient&) = delete;
  NatsClient& operator=(const NatsClient&) = delete;

  // Subscribes to `subject` (wildcards allowed) and waits until the server
  // has the interest (a PING/PONG round trip).
  void subscribe(const std::string& subject);
  void publish(const std::string& subject, const std::string& body, const std::string& reply = {});
  // The next message of any subscription, or nullopt after `timeout`.
  std::optional<NatsMessage> next(std::chrono::milliseconds timeout);
  // Publishes `body` with a fresh inbox as reply subject and waits for the
  // answer's payload; nullopt after `timeout`.
  std::optional<std::string> request(const std::string& subject, const std::string& body,
                                     std::chrono::milliseconds timeout);

 private:
  void write(const std::string& data);
  // A line without its CRLF, or nullopt at the deadline.
  std::optional<std::string> line(std::chrono::steady_clock::time_point deadline);
  std::optional<std::string> bytes(std::size_t n, std::chrono::steady_clock::time_point deadline);
  bool fill(std::chrono::steady_clock::time_point deadline);
  int fd_ = -1;
  std::string buf_;
  int next_sid_ = 1;
};

}  // namespace immp::test
