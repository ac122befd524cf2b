#include "support/xmpp_server.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <stdexcept>

#include "support/irc_server.hpp"

namespace immp::test {

namespace {

using namespace std::chrono_literals;

// The XMPP user: slixmpp that writes what it receives to stdout as one XML
// stream (so newlines inside stanzas are harmless), and sends each line of
// stdin as a raw stanza. Python's stdout is unbuffered (-u).
constexpr const char* kClientScript = R"PY(
import asyncio, logging, os, sys
import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

jid, password, host, port, ca, room, nick, history = sys.argv[1:9]

class User(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(jid, password)
        self.pending = b""
        self.ca_certs = ca
        self.register_plugin('xep_0045')
        self.register_plugin('xep_0199')
        self.add_event_handler('session_start', self.start)
        self.add_event_handler('failed_auth', lambda e: print("<failed-auth xmlns='test'/>", flush=True))
        # Every message and presence exactly once, whatever plugin claims it.
        for name in ('message', 'presence'):
            self.register_handler(Callback('show ' + name,
                MatchXPath('{jabber:client}%s' % name), self.show))

    def show(self, stanza):
        print(str(stanza), flush=True)

    async def start(self, event):
        self.send_presence()
        if room:
            # slixmpp waits for the event "muc::<room>::self-presence" named
            # with the room as given, but fires it with the room as the
            # server writes it (case-folded): fold first, or a room written
            # with capitals never completes its join.
            await self.plugin['xep_0045'].join_muc_wait(room.lower(), nick, maxstanzas=int(history), timeout=20)
        print("<ready xmlns='test' jid='%s'/>" % self.boundjid.full, flush=True)
        loop = asyncio.get_event_loop()
        loop.add_reader(sys.stdin.fileno(), self.line)

    def line(self):
        # Every whole line that is there: readline() would leave the rest in
        # Python's buffer, where no reader event ever finds it.
        data = os.read(sys.stdin.fileno(), 65536)
        if not data:
            # The test is gone (or done): so is its user. Waiting for a
            # disconnect would leave the reader firing on end of file.
            os._exit(0)
        self.pending += data
        while b"\n" in self.pending:
            text, self.pending = self.pending.split(b"\n", 1)
            text = text.decode().strip()
            if text:
                self.send_raw(text)

print("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", flush=True)
user = User()
user.connect((host, int(port)))
asyncio.get_event_loop().run_forever()
)PY";

void run_checked(const std::vector<std::string>& argv, const std::filesystem::path& cwd) {
  auto r = run_process(argv, 60s, {cwd});
  if (r.exit_code != 0) throw std::runtime_error(argv[0] + " failed: " + r.err);
}

}  // namespace

void make_xmpp_test_files(const std::filesystem::path& d) {
  run_checked({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
               "-out", "ca.pem", "-days", "2", "-subj", "/CN=immp test CA"},
              d);
  run_checked({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
               "other-ca.key", "-out", "other-ca.pem", "-days", "2", "-subj", "/CN=other CA"},
              d);
  run_checked({"openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out",
               "srv.csr", "-subj", "/CN=localhost"},
              d);
  write_file(d / "ext.cnf", "subjectAltName=DNS:localhost,DNS:*.localhost\n");
  run_checked({"openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
               "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "ext.cnf"},
              d);
  for (const char* f : {"ca.pem", "cert.pem", "key.pem"}) ::chmod((d / f).c_str(), 0644);
  write_file(d / "client.py", kClientScript);
}

bool ProsodyServer::available() { return ::access(kBinary, X_OK) == 0; }

XmppServer::XmppServer(std::string_view dir_prefix)
    : dir_(dir_prefix),
      port_(free_port()),
      tls_port_(free_port()),
      component_port_(free_port()),
      http_port_(free_port()) {
  make_xmpp_test_files(dir_.path());
}

ProsodyServer::ProsodyServer(bool debug_log) : XmppServer("immp-prosody") {
  const auto& d = dir_.path();
  std::string p = d.string();
  write_file(d / "prosody.cfg.lua",
             "run_as_root = true\n"
             "daemonize = false\n"
             "pidfile = '" + p + "/prosody.pid'\n"
             "data_path = '" + p + "/data'\n"
             "modules_enabled = { 'roster'; 'saslauth'; 'tls'; 'disco'; 'ping'; 'smacks'; "
             "'posix'; 'admin_shell' }\n"
             "admin_socket = '" + p + "/admin.sock'\n"
             "interfaces = { '127.0.0.1' }\n"
             "c2s_ports = { " + std::to_string(port_) + " }\n"
             "c2s_direct_tls_ports = { " + std::to_string(tls_port_) + " }\n"
             "component_ports = { " + std::to_string(component_port_) + " }\n"
             "component_interfaces = { '127.0.0.1' }\n"
             "s2s_ports = { }\n"
             // mod_http_file_share's slots are on plain HTTP at 127.0.0.1,
             // whatever host name the request carries.
             "http_ports = { " + std::to_string(http_port_) + " }\n"
             "http_interfaces = { '127.0.0.1' }\nhttps_ports = { }\n"
             "http_external_url = 'http://127.0.0.1:" + std::to_string(http_port_) + "/'\n"
             "http_default_host = '" + kUpload + "'\n"
             "authentication = 'internal_plain'\n"
             "storage = 'internal'\n"
             "c2s_require_encryption = true\n"
             "limits = { c2s = { rate = '10mb/s' } }\n"
             "log = { " + (debug_log ? "debug = '" + p + "/prosody.log'; " : std::string()) +
                 "info = '*console' }\n"
             "certificates = '" + p + "'\n"
             "ssl = { certificate = '" + p + "/cert.pem'; key = '" + p + "/key.pem' }\n"
             "VirtualHost 'localhost'\n"
             "VirtualHost '" + kMismatch + "'\n"
             "Component '" + kMuc + "' 'muc'\n"
             "  muc_room_locking = false\n"
             "  muc_room_default_history_length = 1000\n"
             "  modules_enabled = { 'muc_mam' }\n"
             "Component '" + kComponent + "'\n"
             "  component_secret = '" + kComponentSecret + "'\n"
             "Component '" + kUpload + "' 'http_file_share'\n"
             "  http_file_share_size_limit = 1048576\n");
  std::filesystem::create_directories(d / "data");
  start();
}

ProsodyServer::~ProsodyServer() { stop(); }

std::string ProsodyServer::shell(const std::string& lua) {
  auto r = run_process({"/usr/bin/prosodyctl", "--config", (dir_.path() / "prosody.cfg.lua").string(),
                        "shell", "> " + lua},
                       10s);
  std::string output = r.out + r.err;
  if (r.exit_code != 0 || r.out.find("Result:") == std::string::npos) {
    throw std::runtime_error("prosodyctl shell failed: " + output);
  }
  return r.out;
}

void ProsodyServer::add_user(const std::string& name, const std::string& password) {
  // internal_plain's account file (Prosody's datamanager: the host with
  // '.' written as %2e).
  write_file(dir_ / "data" / "localhost" / "accounts" / (name + ".dat"),
             "return {\n\t[\"password\"] = \"" + password + "\";\n};\n");
}

void ProsodyServer::stop() { process_.reset(); }

void ProsodyServer::start() {
  process_ = std::make_unique<Process>(
      std::vector<std::string>{kBinary, "--config", (dir_ / "prosody.cfg.lua").string(), "-F"});
  if (!process_->wait_for(Stream::err, "Activated service 'c2s' on", 10s) &&
      !process_->wait_for(Stream::out, "Activated service 'c2s' on", 1s)) {
    throw std::runtime_error("prosody did not start: " + log());
  }
  if (!wait_for_port(port_, 10s) || !wait_for_port(tls_port_, 10s) ||
      !wait_for_port(http_port_, 10s)) {
    throw std::runtime_error("prosody does not listen: " + log());
  }
}

std::string ProsodyServer::log() const {
  return process_ ? process_->out() + process_->err() : std::string("(not running)");
}

ProsodyServer& shared_prosody() {
  static ProsodyServer server;
  return server;
}

// ---- XmppUser ---------------------------------------------------------------

XmppUser::XmppUser(const XmppServer& server, const std::string& user,
                   const std::string& password, const std::string& room, const std::string& nick,
                   const std::string& history)
    : parser_(xmpp::ParseLimits{16 * 1024 * 1024, 64}), room_(room) {
  std::string jid = user + "@" + XmppServer::kDomain + "/test";
  process_ = std::make_unique<Process>(std::vector<std::string>{
      "/usr/bin/python3", "-u", (server.dir() / "client.py").string(), jid, password, "127.0.0.1",
      std::to_string(server.port()), server.ca_file().string(), room, nick, history});
}

XmppUser::~XmppUser() = default;

void XmppUser::pump() {
  process_->running();  // reads what is ready, without waiting
  const std::string& out = process_->out();
  if (parsed_ < out.size()) {
    auto error = parser_.feed(std::string_view(out).substr(parsed_));
    parsed_ = out.size();
    if (error) throw std::runtime_error("the test client printed bad XML: " + error->str());
    while (auto e = parser_.next()) {
      if (e->kind == xmpp::StreamEvent::Kind::stanza) {
        if (e->element.name == "ready" && e->element.ns == "test") {
          jid_ = std::string(e->element.attr("jid"));
        }
        stanzas_.push_back(std::move(e->element));
      }
    }
  }
}

bool XmppUser::wait_ready(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    process_->wait_for(Stream::out, "<ready ", 50ms);
    pump();
    if (!jid_.empty()) return true;
    for (const auto& s : stanzas_) {
      if (s.name == "failed-auth") return false;
    }
    if (!process_->running()) return false;
  }
  return false;
}

void XmppUser::send(const std::string& xml) { process_->write(xml + "\n"); }

void XmppUser::say(const std::string& text, const std::string& id) {
  xmpp::Element m("message", "jabber:client");
  m.set("to", room_).set("type", "groupchat").set("id", id);
  m.add("body", "jabber:client", text);
  m.add("origin-id", "urn:xmpp:sid:0").set("id", id);
  std::string xml = m.str("jabber:client");
  for (char& c : xml) {
    if (c == '\n') c = ' ';  // one line; tests say one-line texts
  }
  send(xml);
}

const std::vector<xmpp::Element>& XmppUser::stanzas() {
  pump();
  return stanzas_;
}

std::vector<xmpp::Element> XmppUser::messages() {
  pump();
  std::vector<xmpp::Element> out;
  for (const auto& s : stanzas_) {
    if (s.name == "message" && s.attr("type") == "groupchat" && s.child("body")) out.push_back(s);
  }
  return out;
}

std::vector<std::string> XmppUser::bodies() {
  std::vector<std::string> out;
  for (const auto& m : messages()) out.emplace_back(m.child_text("body"));
  return out;
}

bool XmppUser::has(const std::function<bool(const xmpp::Element&)>& match) {
  pump();
  for (const auto& s : stanzas_) {
    if (match(s)) return true;
  }
  return false;
}

std::string XmppUser::output() const { return process_->out() + process_->err(); }

}  // namespace immp::test
