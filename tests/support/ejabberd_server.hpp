// A real ejabberd for integration tests, beside Prosody (support/xmpp_server.hpp).
//
// EjabberdServer writes an ejabberd.yml into a fresh temporary directory
// (its own Mnesia database and logs there, the throwaway CA and certificate
// of make_xmpp_test_files), and runs Debian's ejabberd through `erl -s
// ejabberd` directly, as the user running the tests (ejabberdctl would
// switch to the ejabberd user), on free loopback ports: c2s with STARTTLS
// and with direct TLS, MUC on kMuc (rooms unlocked, with MAM for
// stanza-ids), stream management, an external component port, and HTTP
// upload (mod_http_upload on kUpload). Accounts are created through the
// Erlang shell on the server's stdin. shared_ejabberd() is one server for
// the whole test program (it takes a few seconds to start).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "support/process.hpp"
#include "support/xmpp_server.hpp"

namespace immp::test {

class EjabberdServer final : public XmppServer {
 public:
  static constexpr const char* kErl = "/usr/bin/erl";
  static constexpr const char* kLibs = "/usr/lib/x86_64-linux-gnu";
  static bool available();

  EjabberdServer();
  ~EjabberdServer() override;

  std::string name() const override { return "ejabberd"; }

  // Registers the account (ejabberd_auth:try_register); throws when the
  // server refuses it.
  void add_user(const std::string& name, const std::string& password) override;
  void stop() override;
  void start() override;
  // Its log file and what the Erlang shell printed.
  std::string log() const override;

 private:
  std::size_t log_seen_ = 0;  // bytes of ejabberd.log from earlier runs
};

// One server for the whole test program, started on first use.
EjabberdServer& shared_ejabberd();

}  // namespace immp::test
