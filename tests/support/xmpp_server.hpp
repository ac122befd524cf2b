// Real XMPP servers for integration tests, and real XMPP users.
//
// XmppServer is what tests need of a server, whichever it is: ProsodyServer
// here, EjabberdServer in support/ejabberd_server.hpp. Both serve the same
// names (kDomain, kMuc, kComponent), so a test runs unchanged on either.
//
// ProsodyServer writes a prosody.cfg.lua into a fresh temporary directory
// (accounts in plain files there, a throwaway CA made with the openssl CLI,
// a certificate for "localhost"), runs Debian's prosody in the foreground on
// free loopback ports and kills it in its destructor. shared_prosody() is
// one server for the whole test program.
//
//   ProsodyServer& s = test::shared_prosody();
//   s.add_user("alice", "secret");
//   XmppUser alice(s, "alice", "secret", "room@conference.localhost", "Alice");
//   ASSERT_TRUE(alice.wait_ready(10s));
//   alice.send("<message to='room@conference.localhost' type='groupchat'>...");
//   ASSERT_TRUE(alice.wait_message([](const xmpp::Element& m) { ... }, 5s));
//
// XmppUser is Debian's python3-slixmpp in a child process: an independent
// client, not our own stream code. It prints each stanza it receives as one
// line of XML; the test reads them back with xmpp::StreamParser.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "plugs/xmpp/xmpp_xml.hpp"
#include "support/process.hpp"

namespace immp::test {

class XmppServer {
 public:
  static constexpr const char* kDomain = "localhost";
  static constexpr const char* kMuc = "conference.localhost";
  // A second host whose certificate is the one of "localhost": a name
  // mismatch for clients that log in there.
  static constexpr const char* kMismatch = "mismatch.test";
  static constexpr const char* kComponent = "bridge.localhost";
  static constexpr const char* kComponentSecret = "component-secret";
  // The HTTP upload service (XEP-0363), served over plain HTTP on
  // http_port().
  static constexpr const char* kUpload = "upload.localhost";

  virtual ~XmppServer() = default;
  XmppServer(const XmppServer&) = delete;
  XmppServer& operator=(const XmppServer&) = delete;
  // "prosody", "ejabberd": for test names and messages.
  virtual std::string name() const = 0;
  int port() const { return port_; }                      // c2s, STARTTLS
  int tls_port() const { return tls_port_; }              // c2s, direct TLS
  int component_port() const { return component_port_; }  // XEP-0114
  int http_port() const { return http_port_; }            // HTTP upload (PUT and GET of files)
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::filesystem::path ca_file() const { return dir() / "ca.pem"; }
  // A CA that signed nothing the server shows: "unknown CA" for clients.
  std::filesystem::path other_ca_file() const { return dir() / "other-ca.pem"; }
  // Creates an account on kDomain (while the server runs).
  virtual void add_user(const std::string& name, const std::string& password) = 0;
  // A fresh account name, unique in this server's life ("u7").
  std::string fresh_user(const std::string& prefix = "u") {
    return prefix + std::to_string(++counter_);
  }
  // Kills the server (every client sees the link drop) / starts it again
  // on the same ports, waiting until it listens.
  virtual void stop() = 0;
  virtual void start() = 0;
  bool running() const { return process_ != nullptr; }
  virtual std::string log() const = 0;

 protected:
  // A fresh directory /tmp/<dir_prefix>.XXXXXX holding the test CA, the
  // certificates and the client script (make_xmpp_test_files), and free
  // loopback ports for every listener.
  explicit XmppServer(std::string_view dir_prefix);

  TempDir dir_;
  int port_, tls_port_, component_port_, http_port_;
  std::unique_ptr<Process> process_;

 private:
  int counter_ = 0;
};

// In `dir`: a throwaway CA (ca.pem), another that signed nothing
// (other-ca.pem), and a certificate for localhost and *.localhost signed by
// the first (cert.pem, key.pem); also the test client's script (client.py).
void make_xmpp_test_files(const std::filesystem::path& dir);

class ProsodyServer final : public XmppServer {
 public:
  static constexpr const char* kBinary = "/usr/bin/prosody";
  static bool available();

  // `debug_log`: Prosody logs every stanza to prosody.log in its directory
  // (for tests' failure messages); off, it logs as a production server
  // does (benchmarks: its own delivery is then measured as it runs).
  explicit ProsodyServer(bool debug_log = true);
  ~ProsodyServer();

  std::string name() const override { return "prosody"; }

  // Creates (or changes the password of) an account on kDomain.
  void add_user(const std::string& name, const std::string& password) override;
  void stop() override;
  void start() override;
  std::string log() const override;
  // Runs Lua in the running server (mod_admin_shell), as an admin at
  // `prosodyctl shell` would: for what no client can do, such as removing
  // an occupant from a room without telling anyone. Returns its output;
  // throws when it fails.
  std::string shell(const std::string& lua);
};

// One server for the whole test program, started on first use.
ProsodyServer& shared_prosody();

// A person on the server: slixmpp logged in as `user`, in `room` as `nick`
// when a room is given.
class XmppUser {
 public:
  // `history`: how many messages of the room's history to ask for on join.
  XmppUser(const XmppServer& server, const std::string& user, const std::string& password,
           const std::string& room = {}, const std::string& nick = {},
           const std::string& history = "0");
  ~XmppUser();

  // Until logged in (and joined). False after `timeout`.
  bool wait_ready(std::chrono::milliseconds timeout);
  // Sends one stanza, written as XML on one line (no newlines inside).
  void send(const std::string& xml);
  // Says `text` in the room, with `id` as both id and origin-id.
  void say(const std::string& text, const std::string& id);

  // The stanzas received so far (reads what is ready).
  const std::vector<xmpp::Element>& stanzas();
  // Groupchat messages with a body, in order.
  std::vector<xmpp::Element> messages();
  std::vector<std::string> bodies();
  // Whether a stanza received so far satisfies `match` (reads what is
  // ready first). Tests wait with run_until(io, [&] { return u.has(...); }).
  bool has(const std::function<bool(const xmpp::Element&)>& match);
  // Reads whatever is ready, without waiting.
  void pump();
  std::string output() const;
  const std::string& jid() const { return jid_; }

 private:
  std::unique_ptr<Process> process_;
  xmpp::StreamParser parser_;
  std::size_t parsed_ = 0;  // bytes of stdout given to the parser
  std::vector<xmpp::Element> stanzas_;
  std::string room_;
  std::string jid_;
};

}  // namespace immp::test
