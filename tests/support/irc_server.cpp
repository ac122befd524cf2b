#include "support/irc_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/irc_client.hpp"

namespace immp::test {

using namespace std::chrono_literals;

namespace {

int probe_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

int free_port() {
  // The kernel may offer a port it just offered, once the probe closed: a
  // server given four ports then found two the same ("overlapping
  // listeners", ejabberd). A port is handed out once per test program.
  static std::mutex lock;
  static std::set<int> given;
  std::lock_guard<std::mutex> hold(lock);
  for (int attempt = 0; attempt < 100; ++attempt) {
    int port = probe_port();
    if (given.insert(port).second) return port;
  }
  throw std::runtime_error("cannot find a free port not handed out before");
}

bool wait_for_port(int port, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

bool NgircdServer::available() { return ::access(kBinary, X_OK) == 0; }

NgircdServer::NgircdServer(NgircdOptions options)
    : options_(std::move(options)), dir_("immp-ngircd"), port_(free_port()) {
  const bool root = ::geteuid() == 0;
  if (root) {
    // ngircd drops to nobody; it must still reach its files.
    ::chmod(dir_.path().c_str(), 0777);
  }
  std::string conf;
  conf += "[Global]\n";
  conf += "Name = " + options_.name + "\n";
  conf += "Info = immp test server\n";
  conf += "Listen = 127.0.0.1\n";
  conf += "Ports = " + std::to_string(port_) + "\n";
  conf += "PidFile = " + (dir_ / "ngircd.pid").string() + "\n";
  conf += "MotdPhrase = immp test\n";
  conf += "AdminInfo1 = immp\nAdminInfo2 = tests\nAdminEMail = root@localhost\n";
  if (!options_.password.empty()) conf += "Password = " + options_.password + "\n";
  if (root) conf += "ServerUID = 65534\nServerGID = 65534\n";
  conf += "[Limits]\n";
  conf += "MaxNickLength = 30\n";
  conf += "MaxConnectionsIP = 0\n";
  conf += "MaxJoins = 0\n";
  conf += "PingTimeout = " + std::to_string(options_.ping_timeout) + "\n";
  conf += "PongTimeout = " + std::to_string(options_.pong_timeout) + "\n";
  if (options_.no_penalty) conf += "MaxPenaltyTime = 0\n";
  conf += "[Options]\n";
  conf += "PAM = no\nIdent = no\nDNS = no\n";
  conf += "[Operator]\nName = oper\nPassword = operpass\n";
  write_file(dir_ / "ngircd.conf", conf);
  start();
}

NgircdServer::~NgircdServer() { stop(); }

void NgircdServer::start() {
  if (process_) return;
  process_ = std::make_unique<Process>(
      std::vector<std::string>{kBinary, "-n", "-f", (dir_ / "ngircd.conf").string()});
  if (!wait_for_port(port_, 5s)) {
    std::string out = log();
    process_.reset();
    throw std::runtime_error("ngircd did not start on port " + std::to_string(port_) + ":\n" + out);
  }
}

void NgircdServer::stop() {
  if (!process_) return;
  process_->signal(SIGKILL);
  process_->wait(2s);
  process_.reset();
}

void NgircdServer::freeze() {
  if (process_) process_->signal(SIGSTOP);
}

void NgircdServer::thaw() {
  if (process_) process_->signal(SIGCONT);
}

std::string NgircdServer::log() const {
  if (!process_) return "(not running)";
  return process_->out() + process_->err();
}

bool InspircdServer::available() { return ::access(kBinary, X_OK) == 0; }

InspircdServer::InspircdServer(InspircdOptions options)
    : dir_("immp-inspircd"), port_(free_port()), tls_port_(free_port()) {
  ::chmod(dir_.path().c_str(), 0777);
  auto run = [&](std::vector<std::string> argv) {
    auto r = run_process(std::move(argv), 30s, ProcessOptions{dir_.path(), {}});
    if (r.exit_code != 0) throw std::runtime_error("openssl failed: " + r.err);
  };
  run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
       "ca.pem", "-days", "2", "-subj", "/CN=immp test CA"});
  run({"openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "srv.csr",
       "-subj", "/CN=localhost"});
  write_file(dir_ / "ext.cnf", "subjectAltName=DNS:localhost\n");
  run({"openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
       "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "ext.cnf"});
  for (const char* f : {"ca.pem", "cert.pem", "key.pem"}) ::chmod((dir_ / f).c_str(), 0644);
  std::string d = dir_.path().string();
  std::string conf;
  conf +=
      std::string("<server name=\"") + kName + "\" description=\"immp test\" network=\"Test\">\n";
  conf += "<admin name=\"immp\" nick=\"immp\" email=\"root@localhost\">\n";
  conf += "<bind address=\"127.0.0.1\" port=\"" + std::to_string(port_) + "\" type=\"clients\">\n";
  conf += "<bind address=\"127.0.0.1\" port=\"" + std::to_string(tls_port_) +
          "\" type=\"clients\" sslprofile=\"main\"" +
          // m_ircv3_sts looks for TLS listeners by the older `ssl` key.
          (options.sts ? " ssl=\"main\"" : "") + ">\n";
  conf += "<module name=\"ssl_gnutls\">\n";
  conf += "<sslprofile name=\"main\" provider=\"gnutls\" certfile=\"" + d +
          "/cert.pem\" keyfile=\"" + d + "/key.pem\" hash=\"sha256\" requestclientcert=\"" +
          (options.client_certs ? "yes" : "no") + "\">\n";
  for (const char* m :
       {"cap", "ircv3", "ircv3_echomessage", "ircv3_servertime", "ircv3_capnotify"}) {
    conf += std::string("<module name=\"") + m + "\">\n";
  }
  if (options.message_tags) {
    for (const char* m : {"ircv3_ctctags", "ircv3_msgid"}) {
      conf += std::string("<module name=\"") + m + "\">\n";
    }
  }
  if (options.sts) {
    conf += "<module name=\"ircv3_sts\">\n<sts host=\"*\" port=\"" + std::to_string(tls_port_) +
            "\" duration=\"60\" preload=\"no\">\n";
  }
  if (options.client_certs) conf += "<module name=\"sslinfo\">\n";
  conf += "<connect allow=\"*\" timeout=\"60\" pingfreq=\"120\" recvq=\"" +
          std::to_string(options.recvq) + "\" sendq=\"262144\" threshold=\"" +
          std::to_string(options.threshold) + "\" commandrate=\"" +
          std::to_string(options.commandrate) + "\" fakelag=\"" + (options.fakelag ? "yes" : "no") +
          "\" localmax=\"100\" globalmax=\"100\" limit=\"1000\">\n";
  conf += "<class name=\"all\" commands=\"*\">\n";
  if (options.services) {
    services_port_ = free_port();
    const std::string sp = std::to_string(services_port_);
    const std::string services = kServicesName;
    const std::string pass = kLinkPassword;
    conf += "<bind address=\"127.0.0.1\" port=\"" + sp + "\" type=\"servers\">\n";
    for (const char* m : {"spanningtree", "services_account", "sasl"}) {
      conf += std::string("<module name=\"") + m + "\">\n";
    }
    conf += "<sasl target=\"" + services + "\">\n";
    conf += "<link name=\"" + services + "\" ipaddr=\"127.0.0.1\" port=\"" + sp +
            "\" allowmask=\"127.0.0.1\" sendpass=\"" + pass + "\" recvpass=\"" + pass + "\">\n";
    conf += "<uline server=\"" + services + "\" silent=\"yes\">\n";
  }
  conf += "<pid file=\"" + d + "/inspircd.pid\">\n";
  conf += "<log method=\"file\" type=\"* -USERINPUT -USEROUTPUT\" level=\"default\" target=\"" + d +
          "/log.txt\">\n";
  write_file(dir_ / "inspircd.conf", conf);
  start();
}

void InspircdServer::start() {
  if (process_) return;
  process_ = std::make_unique<Process>(std::vector<std::string>{
      kBinary, "--runasroot", "--nofork", "--config=" + (dir_ / "inspircd.conf").string()});
  if (!wait_for_port(port_, 10s) || !wait_for_port(tls_port_, 5s) ||
      (services_port_ && !wait_for_port(services_port_, 5s))) {
    std::string out = log();
    process_.reset();
    throw std::runtime_error("inspircd did not start:\n" + out);
  }
}

void InspircdServer::stop() {
  if (!process_) return;
  process_->signal(SIGKILL);
  process_->wait(2s);
  process_.reset();
}

InspircdServer::~InspircdServer() { stop(); }

std::string InspircdServer::log() const {
  return process_ ? process_->out() + process_->err() : "(not running)";
}

bool AthemeServices::available() { return ::access(kBinary, X_OK) == 0; }

AthemeServices::AthemeServices(const InspircdServer& ircd) : ircd_(ircd), dir_("immp-atheme") {
  if (!ircd.services_port()) {
    throw std::runtime_error("AthemeServices needs an InspircdServer with options.services");
  }
  const std::string services = InspircdServer::kServicesName;
  std::ostringstream conf;
  for (const char* m : {"protocol/inspircd", "backend/opensex", "crypto/pbkdf2v2", "nickserv/main",
                        "nickserv/register", "nickserv/identify", "nickserv/cert", "saslserv/main",
                        "saslserv/plain", "saslserv/external"}) {
    conf << "loadmodule \"modules/" << m << "\";\n";
  }
  // auth = none: REGISTER needs no e-mail verification; mta /bin/true sends
  // nothing. loglevel without raw data keeps the console (stderr, our pipe)
  // quiet.
  conf << "serverinfo {\n  name = \"" << services << "\";\n  desc = \"immp test services\";\n"
       << "  numeric = \"0AA\";\n  recontime = 1;\n  netname = \"Test\";\n"
       << "  hidehostsuffix = \"users.test\";\n  adminname = \"immp\";\n"
       << "  adminemail = \"root@localhost\";\n  registeremail = \"root@localhost\";\n"
       << "  mta = \"/bin/true\";\n  loglevel = { error; info; admin; network; };\n"
       << "  maxlogins = 5;\n  maxusers = 5;\n  mdlimit = 30;\n  emaillimit = 10;\n"
       << "  emailtime = 300;\n  auth = none;\n  casemapping = rfc1459;\n};\n";
  conf << "uplink \"" << InspircdServer::kName << "\" {\n  host = \"127.0.0.1\";\n"
       << "  port = " << ircd.services_port() << ";\n"
       << "  send_password = \"" << InspircdServer::kLinkPassword << "\";\n"
       << "  receive_password = \"" << InspircdServer::kLinkPassword << "\";\n};\n";
  conf << "nickserv {\n  nick = \"NickServ\";\n  user = \"NickServ\";\n  host = \"" << services
       << "\";\n  real = \"Nickname Services\";\n  maxnicks = 5;\n  expire = 30;\n};\n";
  conf << "saslserv {\n  nick = \"SaslServ\";\n  user = \"SaslServ\";\n  host = \"" << services
       << "\";\n  real = \"SASL Authentication Agent\";\n};\n";
  // No flood or rate limits: tests register and log in in quick succession.
  conf << "general {\n  flood_msgs = 0;\n  flood_time = 10;\n  ratelimit_uses = 0;\n"
       << "  ratelimit_period = 60;\n  commit_interval = 5;\n"
       << "  uplink_sendq_limit = 1048576;\n  language = \"en\";\n};\n";
  write_file(dir_ / "atheme.conf", conf.str());
  const std::string d = dir_.path().string();
  process_ = std::make_unique<Process>(
      std::vector<std::string>{kBinary, "-n", "-c", d + "/atheme.conf", "-D", d, "-l",
                               d + "/atheme.log", "-p", d + "/atheme.pid"});
  if (!process_->wait_for(Stream::err, "finished synching with uplink", 10s)) {
    std::string out = log();
    process_.reset();
    throw std::runtime_error("atheme did not link to inspircd:\n" + out + "\ninspircd:\n" +
                             ircd.log());
  }
}

AthemeServices::~AthemeServices() {
  if (process_) {
    process_->signal(SIGKILL);
    process_->wait(2s);
  }
}

void AthemeServices::register_account(const std::string& name, const std::string& password) {
  IrcClient client(ircd_.port(), name);
  client.send("PRIVMSG NickServ :REGISTER " + password + " " + name + "@example.com");
  auto done = client.wait_for(
      [](const irc::Line& l) {
        return l.command == "NOTICE" && l.params.size() > 1 &&
               (l.params[1].find("is now registered") != std::string::npos ||
                l.params[1].find("is already registered") != std::string::npos);
      },
      10s);
  if (!done || done->params[1].find("is now registered") == std::string::npos) {
    throw std::runtime_error("NickServ did not register " + name + ": " +
                             (done ? done->params[1] : "no answer") + "\n" + log());
  }
  client.send("QUIT");
}

void AthemeServices::add_certificate(const std::string& name, const std::string& password,
                                     const std::string& fingerprint) {
  IrcClient client(ircd_.port(), name + "-cert");
  client.send("PRIVMSG NickServ :IDENTIFY " + name + " " + password);
  auto identified = client.wait_for(
      [](const irc::Line& l) {
        return l.command == "NOTICE" && l.params.size() > 1 &&
               (l.params[1].find("identified for") != std::string::npos ||
                l.params[1].find("now logged in") != std::string::npos ||
                l.params[1].find("nvalid") != std::string::npos);
      },
      10s);
  if (!identified || identified->params[1].find("nvalid") != std::string::npos) {
    throw std::runtime_error("NickServ did not identify " + name + ": " +
                             (identified ? identified->params[1] : "no answer") + "\n" + log());
  }
  client.send("PRIVMSG NickServ :CERT ADD " + fingerprint);
  auto added = client.wait_for(
      [](const irc::Line& l) {
        return l.command == "NOTICE" && l.params.size() > 1 && l.nick == "NickServ" &&
               l.params[1].find("ingerprint") != std::string::npos;
      },
      10s);
  if (!added || added->params[1].find("Added") == std::string::npos) {
    throw std::runtime_error("NickServ did not add the fingerprint for " + name + ": " +
                             (added ? added->params[1] : "no answer") + "\n" + log());
  }
}

std::string AthemeServices::log() const {
  return process_ ? process_->out() + process_->err() : "(not running)";
}

}  // namespace immp::test
