// Real IRC servers for integration tests. NgircdServer writes an ngircd.conf
// into a fresh temporary directory, runs /usr/sbin/ngircd in the foreground
// on a free loopback port, and kills it (and removes the directory) in its
// destructor, also when the test fails.
//
//   NgircdServer server;                    // default flood rules
//   IrcClient alice(server.port(), "alice");
//   server.stop(); server.start();          // same port, for reconnect tests
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "support/process.hpp"

namespace immp::test {

struct NgircdOptions {
  std::string name = "irc.test";
  std::string password;       // [Global] Password: PASS required when set
  int ping_timeout = 120;     // seconds of silence before the server PINGs a client
  int pong_timeout = 20;      // seconds it then waits for PONG
  // [Limits] MaxPenaltyTime = 0: no throttling at all. Only for benchmarks;
  // tests keep ngircd's default flood rules (a burst of 10, then ~3 lines/s).
  bool no_penalty = false;
};

// A free TCP port on 127.0.0.1 (bound and released), never one this program
// was given before; another process may still take it first, in theory.
int free_port();
// Waits until 127.0.0.1:port accepts a connection; false after `timeout`.
bool wait_for_port(int port, std::chrono::milliseconds timeout);

class NgircdServer {
 public:
  static constexpr const char* kBinary = "/usr/sbin/ngircd";
  static bool available();

  // Starts the server; throws std::runtime_error with its output when it
  // does not accept connections within 5 s.
  explicit NgircdServer(NgircdOptions options = {});
  ~NgircdServer();
  NgircdServer(const NgircdServer&) = delete;
  NgircdServer& operator=(const NgircdServer&) = delete;

  int port() const { return port_; }
  const std::string& name() const { return options_.name; }
  // Kills the server at once (every client sees the link drop).
  void stop();
  // Starts it again on the same port.
  void start();
  // Suspends the server (SIGSTOP): the kernel still takes what clients
  // write, but nothing is read or answered until stop() or thaw().
  void freeze();
  void thaw();
  bool running() const { return process_ != nullptr; }
  // What the server printed so far, for failure messages.
  std::string log() const;

 private:
  NgircdOptions options_;
  TempDir dir_;
  int port_;
  std::unique_ptr<Process> process_;
};

// The <connect> class of InspircdServer: its flood rules. InspIRCd adds a
// penalty of 1 per command (more for some), takes `commandrate` / 1000 of
// it away each second, and at `threshold` either delays the client's
// commands (fakelag) or, with fakelag off, disconnects it ("Excess Flood").
// A client with more than `recvq` unprocessed bytes is disconnected too.
struct InspircdOptions {
  int threshold = 10;
  int commandrate = 1000;  // thousandths of a command per second
  int recvq = 8192;
  bool fakelag = true;
  // Also listen for a services server (m_spanningtree, m_services_account,
  // m_sasl with target InspircdServer::kServicesName, <uline>) on
  // services_port(): AthemeServices links there and answers SASL.
  bool services = false;
  // IRCv3 client tags and message ids (m_ircv3_ctctags, m_ircv3_msgid):
  // +draft/reply and +draft/react travel, every message carries a msgid.
  bool message_tags = false;
  // IRCv3 STS (m_ircv3_sts): the plaintext port advertises the TLS port,
  // the TLS port a policy of 60 s, for any host name.
  bool sts = false;
  // The TLS port asks for client certificates (m_sslinfo, SHA-256
  // fingerprints), which m_sasl passes to services for SASL EXTERNAL.
  bool client_certs = false;
};

// InspIRCd 3 with IRCv3 (cap, echo-message, server-time) on a plain port and
// a TLS port whose certificate (for "localhost" only) is signed by a
// throwaway CA made with the openssl CLI (ca_file()).
class InspircdServer {
 public:
  static constexpr const char* kBinary = "/usr/sbin/inspircd";
  static constexpr const char* kName = "irc2.test";
  static constexpr const char* kServicesName = "services.localhost";
  static constexpr const char* kLinkPassword = "immp-link";
  static bool available();

  explicit InspircdServer(InspircdOptions options = {});
  ~InspircdServer();
  InspircdServer(const InspircdServer&) = delete;
  InspircdServer& operator=(const InspircdServer&) = delete;

  int port() const { return port_; }
  int tls_port() const { return tls_port_; }
  // The server-link port for services; 0 unless InspircdOptions::services.
  int services_port() const { return services_port_; }
  std::filesystem::path ca_file() const { return dir_ / "ca.pem"; }
  // Kills the server at once (every client sees the link drop).
  void stop();
  // Starts it again with the same config and ports; throws
  // std::runtime_error with its output when it does not listen within 10 s.
  void start();
  bool running() const { return process_ != nullptr; }
  std::string log() const;

 private:
  TempDir dir_;
  int port_;
  int tls_port_;
  int services_port_ = 0;
  std::unique_ptr<Process> process_;
};

// Atheme IRC services (/usr/bin/atheme-services, Debian's atheme-services)
// linked as InspircdServer::kServicesName to an InspircdServer started with
// InspircdOptions::services: NickServ registers accounts, SaslServ answers
// SASL PLAIN. Runs in the foreground with its config and database in a
// fresh temporary directory; killed (and the directory removed) by the
// destructor, also when the test fails.
//
//   InspircdOptions o; o.services = true;
//   InspircdServer ircd(o);
//   AthemeServices services(ircd);           // returns once linked
//   services.register_account("bridge", "secret");
class AthemeServices {
 public:
  static constexpr const char* kBinary = "/usr/bin/atheme-services";
  static bool available();

  // Starts atheme and waits until it finished its burst with `ircd`;
  // throws std::runtime_error with both servers' output after 10 s.
  explicit AthemeServices(const InspircdServer& ircd);
  ~AthemeServices();
  AthemeServices(const AthemeServices&) = delete;
  AthemeServices& operator=(const AthemeServices&) = delete;

  // Registers the account `name` (a client with that nick sends NickServ
  // REGISTER; no e-mail verification). Throws std::runtime_error when
  // NickServ does not confirm within 10 s.
  void register_account(const std::string& name, const std::string& password);
  // Lets `name` log in with the certificate whose SHA-256 fingerprint is
  // `fingerprint` (lower-case hex, no colons): NickServ CERT ADD.
  void add_certificate(const std::string& name, const std::string& password,
                       const std::string& fingerprint);
  std::string log() const;

 private:
  const InspircdServer& ircd_;
  TempDir dir_;
  std::unique_ptr<Process> process_;
};

}  // namespace immp::test
