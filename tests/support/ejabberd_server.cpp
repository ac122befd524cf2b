#include "support/ejabberd_server.hpp"

#include <unistd.h>

#include <cctype>
#include <stdexcept>

#include "support/irc_server.hpp"

namespace immp::test {

namespace {

using namespace std::chrono_literals;

// Names and passwords go into Erlang binaries: only what needs no escape.
void check_plain(const std::string& s) {
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      throw std::invalid_argument("ejabberd test accounts take [A-Za-z0-9._-] only: " + s);
    }
  }
}

}  // namespace

bool EjabberdServer::available() {
  return ::access(kErl, X_OK) == 0 &&
         std::filesystem::exists(std::filesystem::path(kLibs) / "ejabberd-23.01-1" / "ebin");
}

EjabberdServer::EjabberdServer() : XmppServer("immp-ejabberd") {
  const auto& d = dir_.path();
  write_file(d / "server.pem", read_file(d / "cert.pem") + read_file(d / "key.pem"));
  const std::string p = d.string();
  const std::string http = "http://127.0.0.1:" + std::to_string(http_port_);
  write_file(d / "ejabberd.yml",
             // One host: mod_http_upload takes one put_url per host, and the
             // name-mismatch host is Prosody's to test.
             "hosts: [localhost]\n"
             "loglevel: info\n"
             "certfiles: ['" + p + "/server.pem']\n"
             "ca_file: '" + p + "/ca.pem'\n"
             "listen:\n"
             "  - {port: " + std::to_string(port_) + ", ip: '127.0.0.1', module: ejabberd_c2s,"
             " starttls_required: true, max_stanza_size: 1048576, shaper: none}\n"
             "  - {port: " + std::to_string(tls_port_) + ", ip: '127.0.0.1', module: ejabberd_c2s,"
             " tls: true, max_stanza_size: 1048576, shaper: none}\n"
             "  - port: " + std::to_string(component_port_) + "\n"
             "    ip: '127.0.0.1'\n"
             "    module: ejabberd_service\n"
             "    shaper: none\n"
             "    hosts: {'" + kComponent + "': {password: '" + kComponentSecret + "'}}\n"
             "  - port: " + std::to_string(http_port_) + "\n"
             "    ip: '127.0.0.1'\n"
             "    module: ejabberd_http\n"
             "    request_handlers: {/upload: mod_http_upload}\n"
             "auth_method: internal\n"
             "acl:\n"
             "  local: {user_regexp: ''}\n"
             "access_rules:\n"
             "  local: {allow: local}\n"
             "  c2s: {allow: all}\n"
             "shaper_rules:\n"
             "  c2s_shaper: none\n"
             "  max_user_sessions: 100\n"
             "modules:\n"
             "  mod_disco: {}\n"
             "  mod_ping: {}\n"
             "  mod_roster: {}\n"
             "  mod_stream_mgmt: {}\n"
             "  mod_mam: {}\n"
             "  mod_muc:\n"
             "    host: '" + kMuc + "'\n"
             "    access_create: all\n"
             "    history_size: 1000\n"
             "    max_users_presence: 1000\n"
             "    default_room_options: {mam: true, persistent: false}\n"
             "  mod_http_upload:\n"
             "    host: '" + kUpload + "'\n"
             "    put_url: '" + http + "/upload'\n"
             "    get_url: '" + http + "/upload'\n"
             "    docroot: '" + p + "/upload'\n"
             "    max_size: 1048576\n");
  start();
}

EjabberdServer::~EjabberdServer() { stop(); }

void EjabberdServer::stop() {
  if (!process_) return;
  log_seen_ = read_file(dir_ / "ejabberd.log").size();
  process_.reset();  // SIGKILL: the server goes as a crash would
}

void EjabberdServer::start() {
  const auto& d = dir_.path();
  const std::size_t from = read_file(d / "ejabberd.log").size();
  // The Erlang shell stays on stdin (no -noshell): add_user() talks to it.
  process_ = std::make_unique<Process>(
      std::vector<std::string>{kErl, "-mnesia", "dir", "\"" + (d / "db").string() + "\"",
                               "-s", "ejabberd"},
      ProcessOptions{d,
                     {{"EJABBERD_CONFIG_PATH", (d / "ejabberd.yml").string()},
                      {"EJABBERD_LOG_PATH", (d / "ejabberd.log").string()},
                      {"ERL_LIBS", kLibs}}});
  // Started when the log says so (the shell answers before that).
  auto deadline = std::chrono::steady_clock::now() + 120s;  // slow on a loaded machine
  for (;;) {
    std::string log = read_file(d / "ejabberd.log");
    if (log.size() > from && log.find(" is started in the node ", from) != std::string::npos) {
      break;
    }
    if (!process_->running() || std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("ejabberd did not start: " + this->log());
    }
    process_->drain(50ms);
  }
  if (!wait_for_port(port_, 10s) || !wait_for_port(tls_port_, 10s) ||
      !wait_for_port(http_port_, 10s) || !wait_for_port(component_port_, 10s)) {
    throw std::runtime_error("ejabberd does not listen: " + log());
  }
}

void EjabberdServer::add_user(const std::string& name, const std::string& password) {
  check_plain(name);
  check_plain(password);
  if (!process_) throw std::runtime_error("ejabberd is not running");
  const std::string marker = "registered " + name + " ";
  const std::size_t from = process_->out().size();
  process_->write("io:format(\"" + marker + "~p~n\", [ejabberd_auth:try_register(<<\"" + name +
                  "\">>, <<\"" + kDomain + "\">>, <<\"" + password + "\">>)]).\n");
  if (!process_->wait_for(Stream::out, marker, 10s, from)) {
    throw std::runtime_error("ejabberd did not register " + name + ": " + log());
  }
  process_->wait_for(Stream::out, "\n", 1s, process_->out().find(marker, from));
  std::string line = process_->out().substr(process_->out().find(marker, from));
  line = line.substr(marker.size(), line.find('\n') - marker.size());
  if (line != "ok") throw std::runtime_error("ejabberd refused the account " + name + ": " + line);
}

std::string EjabberdServer::log() const {
  std::string file = read_file(dir_ / "ejabberd.log");
  std::string out = file.size() > log_seen_ ? file.substr(log_seen_) : file;
  if (process_) out += "\n--- shell ---\n" + process_->out() + process_->err();
  return out;
}

EjabberdServer& shared_ejabberd() {
  static EjabberdServer server;
  return server;
}

}  // namespace immp::test
