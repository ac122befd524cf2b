// The admin UI (immp.hook.webui.WebUIHook) as an operator uses it: the real
// `immp` binary with an IRC plug on a real ngircd, the admin page in
// Debian's headless Chromium. Logging in, a wrong password, a change
// without the CSRF token, and stopping and starting the IRC plug, seen in
// the page and by alice on IRC; the page kept live by the host's pushes
// (states, message counts, the log's tail, with no secret of the config in
// it). Screenshots go to <build>/screenshots/.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <memory>
#include <regex>
#include <string>

#include "integration/web_browser.hpp"
#include "support/irc_client.hpp"
#include "support/irc_server.hpp"
#include "support/process.hpp"

namespace immp::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kPassword = "a long admin password";
constexpr const char* kApiToken = "api-token-never-shown-0123456789";
const fs::path kShots = fs::path(IMMP_BINARY_DIR) / "screenshots";

struct AdminEnv {
  NgircdServer ircd;
  TempDir dir{"immp-web-admin"};
  int web_port = free_port();
  std::unique_ptr<IrcClient> alice;
  std::unique_ptr<Process> immp;

  AdminEnv() {
    alice = std::make_unique<IrcClient>(ircd.port(), "alice");
    alice->join("#lobby");
    write_file(dir / "admin.yaml",
               "plugs:\n"
               "  irc:\n"
               "    path: immp.plug.irc.IRCPlug\n"
               "    config:\n"
               "      server: {host: 127.0.0.1, port: " +
                   std::to_string(ircd.port()) +
                   "}\n"
                   "      user: {nick: bridge, real-name: immp bridge}\n"
                   "  api:\n"
                   "    path: immp.plug.web.WebPlug\n"
                   "    config:\n"
                   "      channels: [lobby]\n"
                   "      tokens: [{name: bot, token: " +
                   std::string(kApiToken) +
                   ", scopes: [read, write]}]\n"
                   "channels:\n"
                   "  lobby: {plug: irc, source: '#lobby'}\n"
                   "hooks:\n"
                   "  http:\n"
                   "    path: immp.hook.web.WebHook\n"
                   "    config: {port: " +
                   std::to_string(web_port) +
                   "}\n"
                   "  admin:\n"
                   "    path: immp.hook.webui.WebUIHook\n"
                   "    config: {route: /admin, password: " +
                   kPassword + "}\n");
    immp = std::make_unique<Process>(std::vector<std::string>{
        (fs::path(IMMP_BINARY_DIR) / "immp").string(), (dir / "admin.yaml").string()});
    if (!immp->wait_for(Stream::err, "Host ready", 20s)) {
      throw std::runtime_error("immp did not start:\n" + immp->err());
    }
    if (!alice->wait_for(
            [](const irc::Line& l) { return l.command == "JOIN" && l.nick == "bridge"; }, 20s)) {
      throw std::runtime_error("the bridge did not join #lobby:\n" + immp->err());
    }
  }
  std::string url(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(web_port) + "/admin" + path;
  }
};

AdminEnv& env() {
  // Destroyed when the test program exits: its immp and ngircd go with it
  // (a leaked one kept running after `make test`).
  static AdminEnv e;
  return e;
}

class WebAdminInBrowser : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!NgircdServer::available()) GTEST_SKIP() << "ngircd is not installed";
    std::string missing = Browser::missing();
    ASSERT_TRUE(missing.empty()) << missing;
  }

  AdminEnv& e = env();
  Browser& b = Browser::shared();

  // Logs in on a page of its own (a browser context: no cookies yet).
  void log_in(const std::string& password, const std::string& page = "main") {
    b.use(page);
    ASSERT_TRUE(b.open(e.url(), page)) << b.last_error();
    ASSERT_TRUE(b.fill("#password", password)) << b.last_error();
    ASSERT_TRUE(b.press("#password", "Enter")) << b.last_error();
  }
  std::string plug_state(const std::string& name) {
    return b.text("#plugs .state[data-of=\"plug:" + name + "\"]");
  }
  // Waits until the page shows the plug in exactly `state`.
  bool wait_state(const std::string& name, const std::string& state) {
    return b.wait_fn("(document.querySelector('#plugs .state[data-of=\"plug:" + name +
                     "\"]') || {}).textContent === '" + state + "'");
  }
};

TEST_F(WebAdminInBrowser, AWrongPasswordIsRefusedAndTheRightOneLetsIn) {
  ASSERT_NO_FATAL_FAILURE(log_in("not the password"));
  ASSERT_TRUE(b.wait_text("[role=alert]", "Wrong password.")) << b.last_error();
  EXPECT_EQ(b.eval("location.pathname"), "/admin/login");
  EXPECT_EQ(b.eval("document.cookie"), "");  // nothing readable, and no session
  EXPECT_TRUE(b.screenshot(kShots / "admin-login.png")) << b.last_error();
  b.page_errors();  // the refusal's 401 is logged as a failed load

  ASSERT_TRUE(b.fill("#password", kPassword)) << b.last_error();
  ASSERT_TRUE(b.press("#password", "Enter")) << b.last_error();
  ASSERT_TRUE(b.wait_text("#plugs", "irc")) << b.last_error();
  EXPECT_EQ(b.eval("location.pathname"), "/admin");
  EXPECT_EQ(plug_state("irc"), "active");
  EXPECT_EQ(b.eval("document.cookie"), "") << "the session cookie must be HttpOnly";
  EXPECT_TRUE(b.wait_text("#hooks", "admin")) << b.last_error();
  EXPECT_TRUE(b.wait_text("#channels", "#lobby")) << b.last_error();
  // The config's password never reaches the page.
  EXPECT_EQ(b.eval("document.documentElement.outerHTML.includes('long admin')"), false);
  EXPECT_TRUE(b.screenshot(kShots / "admin.png")) << b.last_error();
  EXPECT_EQ(b.page_errors(), "");
}

TEST_F(WebAdminInBrowser, AFormPostedWithoutTheCsrfTokenIsRefused) {
  ASSERT_NO_FATAL_FAILURE(log_in(kPassword));
  ASSERT_TRUE(b.wait_text("#plugs", "irc")) << b.last_error();
  // The page's own session, but no token: as a forged form would post.
  auto status = b.eval(
      "fetch('/admin/plug/irc/stop', {method: 'POST', headers: {'Content-Type': "
      "'application/x-www-form-urlencoded'}, body: 'from=elsewhere'}).then(r => r.status)");
  EXPECT_EQ(status, 403);
  auto forged = b.eval(
      "fetch('/admin/plug/irc/stop', {method: 'POST', headers: {'Content-Type': "
      "'application/x-www-form-urlencoded'}, body: 'csrf=" +
      std::string(64, 'a') + "'}).then(r => r.status)");
  EXPECT_EQ(forged, 403);
  ASSERT_TRUE(b.go(e.url())) << b.last_error();
  EXPECT_EQ(plug_state("irc"), "active");
  e.alice->drain(200ms);
  for (const auto& l : e.alice->lines()) EXPECT_NE(l.command + l.nick, "QUITbridge");
}

TEST_F(WebAdminInBrowser, StoppingAndStartingAPlugShowsItsState) {
  ASSERT_NO_FATAL_FAILURE(log_in(kPassword));
  ASSERT_TRUE(b.wait_text("#plugs", "irc")) << b.last_error();
  ASSERT_TRUE(b.click("#plugs tr[data-name=\"irc\"] button.stop")) << b.last_error();
  ASSERT_TRUE(wait_state("irc", "inactive")) << b.last_error();
  EXPECT_TRUE(b.wait_text("[role=status]", "plug irc: inactive")) << b.last_error();
  EXPECT_TRUE(b.wait_text("#events", "irc")) << b.last_error();
  EXPECT_TRUE(e.alice->wait_for(
      [](const irc::Line& l) { return l.command == "QUIT" && l.nick == "bridge"; }, 10s))
      << e.immp->err();
  EXPECT_TRUE(b.screenshot(kShots / "admin-stopped.png")) << b.last_error();

  ASSERT_TRUE(b.click("#plugs tr[data-name=\"irc\"] button.start")) << b.last_error();
  ASSERT_TRUE(b.wait_text("[role=status]", "plug irc:")) << b.last_error();
  EXPECT_TRUE(e.alice->wait_for(
      [](const irc::Line& l) { return l.command == "JOIN" && l.nick == "bridge"; }, 10s))
      << e.immp->err();
  // The page follows the host's state events by itself: the plug's link
  // comes up after the form's answer.
  EXPECT_TRUE(wait_state("irc", "active")) << b.last_error();
  EXPECT_EQ(b.page_errors(), "");
}

TEST_F(WebAdminInBrowser, AChangeMadeElsewhereShowsUpWithoutReloading) {
  ASSERT_NO_FATAL_FAILURE(log_in(kPassword));
  ASSERT_TRUE(b.wait_text("#plugs", "irc")) << b.last_error();
  ASSERT_TRUE(b.wait_fn("document.getElementById('live').dataset.live === 'yes'"))
      << b.last_error();
  // Gone if the page were loaded again.
  b.eval("window.stillThisPage = true");

  // A second admin, in a browser of their own, stops the IRC plug.
  ASSERT_NO_FATAL_FAILURE(log_in(kPassword, "other"));
  ASSERT_TRUE(b.wait_text("#plugs", "irc")) << b.last_error();
  ASSERT_TRUE(b.click("#plugs tr[data-name=\"irc\"] button.stop")) << b.last_error();
  EXPECT_TRUE(b.wait_text("[role=status]", "plug irc: inactive")) << b.last_error();
  b.close("other");
  b.use("main");

  EXPECT_TRUE(wait_state("irc", "inactive")) << b.last_error();
  EXPECT_TRUE(b.wait_text("#plugs tr[data-name=\"irc\"] .actions", "start")) << b.last_error();
  EXPECT_TRUE(b.wait_text("#events", "plug irc")) << b.last_error();
  EXPECT_EQ(b.eval("window.stillThisPage === true"), true) << "the page was reloaded";

  // Started again from this page: its buttons were drawn by the stream.
  ASSERT_TRUE(b.click("#plugs tr[data-name=\"irc\"] button.start")) << b.last_error();
  EXPECT_TRUE(wait_state("irc", "active")) << b.last_error();
  EXPECT_TRUE(e.alice->wait_for(
      [](const irc::Line& l) { return l.command == "JOIN" && l.nick == "bridge"; }, 20s))
      << e.immp->err();
  EXPECT_EQ(b.page_errors(), "");
}

TEST_F(WebAdminInBrowser, MessageCountsAndTheLogAreLiveWithoutSecrets) {
  ASSERT_NO_FATAL_FAILURE(log_in(kPassword));
  ASSERT_TRUE(b.wait_text("#plugs", "irc")) << b.last_error();
  // The bridge may have just rejoined (an earlier test restarted it).
  ASSERT_TRUE(wait_state("irc", "active")) << b.last_error();
  ASSERT_TRUE(b.wait_text("#log", "admin logged in from")) << b.last_error();

  std::string before = b.text("#plugs td[data-count=\"plug:irc:in\"]");
  e.alice->send("PRIVMSG #lobby :counted by the admin page");
  EXPECT_TRUE(
      b.wait_fn("document.querySelector('#plugs td[data-count=\"plug:irc:in\"]')"
                ".textContent.split(' ')[0] !== '" +
                before.substr(0, before.find(' ')) + "'"))
      << b.last_error() << " was " << before;
  EXPECT_TRUE(
      b.wait_fn("document.querySelector('#channels td[data-count=\"channel:lobby:in\"]')"
                ".textContent !== '0'"))
      << b.last_error();

  // The config held the password as it is: immp logged its hash, which the
  // tail shows hidden. Neither the password, nor the hash, nor the API
  // token appears anywhere in the page.
  std::smatch hash;
  std::string err = e.immp->err();
  ASSERT_TRUE(std::regex_search(err, hash, std::regex(R"(\$argon2id\$[^ \n]+)"))) << err;
  EXPECT_TRUE(b.wait_text("#log", "put this hash there instead: [hidden]")) << b.last_error();
  std::string html = b.eval("document.documentElement.outerHTML").as_string().c_str();
  EXPECT_EQ(html.find(hash.str()), std::string::npos);
  EXPECT_EQ(html.find(kApiToken), std::string::npos);
  EXPECT_EQ(html.find("long admin"), std::string::npos);
  EXPECT_TRUE(b.screenshot(kShots / "admin-live.png")) << b.last_error();
  EXPECT_EQ(b.page_errors(), "");
}

// No password configured, `immp -w`: the operator copies the setup token
// from immp's log into the page, chooses a password, and after a clean stop
// the file holds its hash and everything else it held before.
TEST(WebAdminFirstStart, TheSetupTokenFromTheLogSetsAPasswordThatIsWrittenBack) {
  std::string missing = Browser::missing();
  ASSERT_TRUE(missing.empty()) << missing;
  TempDir dir("immp-web-admin-setup");
  int port = free_port();
  fs::path file = dir / "setup.yaml";
  write_file(file,
             "plugs:\n"
             "  dummy:\n"
             "    path: immp.plug.dummy.DummyPlug\n"
             "    config: {interval: 60}\n"
             "channels:\n"
             "  room: {plug: dummy, source: dummy-room}\n"
             "hooks:\n"
             "  http:\n"
             "    path: immp.hook.web.WebHook\n"
             "    config: {port: " +
                 std::to_string(port) +
                 "}\n"
                 "  admin:\n"
                 "    path: immp.hook.webui.WebUIHook\n"
                 "    config: {route: /admin}\n");
  Process immp({(fs::path(IMMP_BINARY_DIR) / "immp").string(), "-w", file.string()});
  ASSERT_TRUE(immp.wait_for(Stream::err, "Host ready", 20s)) << immp.err();
  std::smatch m;
  std::string err = immp.err();
  ASSERT_TRUE(std::regex_search(err, m, std::regex("setup token to choose one: ([0-9a-f]+)")))
      << err;
  const std::string token = m[1].str();

  Browser& b = Browser::shared();
  b.use("setup");
  ASSERT_TRUE(b.open("http://127.0.0.1:" + std::to_string(port) + "/admin", "setup"))
      << b.last_error();
  EXPECT_EQ(b.eval("location.pathname"), "/admin/setup");
  ASSERT_TRUE(b.fill("#token", token)) << b.last_error();
  ASSERT_TRUE(b.fill("#password", "chosen at first start")) << b.last_error();
  ASSERT_TRUE(b.fill("#again", "chosen at first start")) << b.last_error();
  ASSERT_TRUE(b.press("#again", "Enter")) << b.last_error();
  ASSERT_TRUE(b.wait_text("#plugs", "dummy")) << b.last_error();
  EXPECT_EQ(b.eval("location.pathname"), "/admin");
  EXPECT_TRUE(b.wait_text("#log", "the admin password was set from")) << b.last_error();
  // The token is in the log that immp wrote, never in the page.
  std::string html = b.eval("document.documentElement.outerHTML").as_string().c_str();
  EXPECT_EQ(html.find(token), std::string::npos);
  b.close("setup");
  b.use("main");

  immp.signal(SIGTERM);
  EXPECT_EQ(immp.wait(20s), 0) << immp.err();
  std::string written = read_file(file);
  EXPECT_TRUE(std::regex_search(written, std::regex(R"(password: .?\$argon2id\$)"))) << written;
  EXPECT_EQ(written.find("chosen at first start"), std::string::npos) << written;
  const std::string port_text = std::to_string(port);
  for (const char* kept : {"immp.plug.dummy.DummyPlug", "interval: 60", "dummy-room",
                           "immp.hook.web.WebHook", "route: /admin", port_text.c_str()}) {
    EXPECT_NE(written.find(kept), std::string::npos) << kept << " is gone:\n" << written;
  }
  // The next start uses it: no setup token any more.
  Process again({(fs::path(IMMP_BINARY_DIR) / "immp").string(), file.string()});
  ASSERT_TRUE(again.wait_for(Stream::err, "Host ready", 20s)) << again.err();
  EXPECT_EQ(again.err().find("no admin password is set"), std::string::npos) << again.err();
  again.signal(SIGTERM);
  EXPECT_EQ(again.wait(20s), 0);
}

// `immp -w`: the operator opens a hook's config in the page, makes a
// mistake, sees it named beside the form (nothing changes), fixes it, and
// sees the hook answer with the new config; after a clean stop the file
// holds the change and everything else it held.
TEST(WebAdminConfig, AMistakeIsShownInlineAndTheFixIsAppliedAndWrittenBack) {
  std::string missing = Browser::missing();
  ASSERT_TRUE(missing.empty()) << missing;
  TempDir dir("immp-web-admin-config");
  int port = free_port();
  fs::path file = dir / "edit.yaml";
  write_file(file,
             "plugs:\n"
             "  dummy:\n"
             "    path: immp.plug.dummy.DummyPlug\n"
             "    config: {interval: 0.2, text: ping}\n"
             "channels:\n"
             "  room: {plug: dummy, source: dummy}\n"
             "groups:\n"
             "  all: {channels: [room]}\n"
             "hooks:\n"
             "  http:\n"
             "    path: immp.hook.web.WebHook\n"
             "    config: {port: " +
                 std::to_string(port) +
                 "}\n"
                 "  admin:\n"
                 "    path: immp.hook.webui.WebUIHook\n"
                 "    config: {route: /admin, password: " +
                 kPassword +
                 "}\n"
                 "  ar:\n"
                 "    path: immp.hook.autorespond.AutoRespondHook\n"
                 "    config:\n"
                 "      groups: [all]\n"
                 "      responses: {hello: hi}\n");
  Process immp({(fs::path(IMMP_BINARY_DIR) / "immp").string(), "-w", file.string()});
  ASSERT_TRUE(immp.wait_for(Stream::err, "Host ready", 20s)) << immp.err();

  Browser& b = Browser::shared();
  b.use("config");
  const std::string base = "http://127.0.0.1:" + std::to_string(port) + "/admin";
  ASSERT_TRUE(b.open(base, "config")) << b.last_error();
  ASSERT_TRUE(b.fill("#password", kPassword)) << b.last_error();
  ASSERT_TRUE(b.press("#password", "Enter")) << b.last_error();
  ASSERT_TRUE(b.wait_text("#hooks", "ar")) << b.last_error();
  // Nothing answers the dummy's "ping" yet: nothing goes out to the room.
  EXPECT_EQ(b.text("#channels td[data-count=\"channel:room:out\"]"), "0");

  ASSERT_TRUE(b.click("#hooks tr[data-name=\"ar\"] a.edit")) << b.last_error();
  ASSERT_TRUE(b.wait_fn("location.pathname === '/admin/edit/hook/ar'")) << b.last_error();
  EXPECT_EQ(b.eval("document.getElementById('config').value.includes('hello: hi')"), true);
  ASSERT_TRUE(b.fill("#config", "groups: [all]\nresponses: {ping: pong}\ncooldown: never\n"))
      << b.last_error();
  ASSERT_TRUE(b.click("#apply")) << b.last_error();
  ASSERT_TRUE(b.wait_text("#config-error", "hooks.ar.config.cooldown")) << b.last_error();
  EXPECT_TRUE(b.wait_text("#config-error", "(line 3)")) << b.last_error();
  EXPECT_EQ(b.eval("document.getElementById('config').value.includes('cooldown: never')"), true)
      << "what was typed stays to be fixed";
  EXPECT_TRUE(b.screenshot(kShots / "admin-config-error.png")) << b.last_error();
  b.page_errors();  // the refusal's 400 is logged as a failed load
  EXPECT_EQ(read_file(file).find("pong"), std::string::npos) << "a refused edit was written";

  ASSERT_TRUE(b.fill("#config", "groups: [all]\nresponses: {ping: pong}\ncooldown: 0\n"))
      << b.last_error();
  ASSERT_TRUE(b.click("#apply")) << b.last_error();
  ASSERT_TRUE(b.wait_text("[role=status]", "hook ar: config applied (active)")) << b.last_error();
  EXPECT_TRUE(b.wait_text("[role=status]", "saved in the config file")) << b.last_error();
  EXPECT_EQ(b.eval("location.pathname"), "/admin");
  // Applied live: the hook answers the dummy's pings, counted going out.
  EXPECT_TRUE(
      b.wait_fn("document.querySelector('#channels td[data-count=\"channel:room:out\"]')"
                ".textContent !== '0'"))
      << b.last_error() << immp.err();
  EXPECT_TRUE(b.screenshot(kShots / "admin-config-applied.png")) << b.last_error();
  EXPECT_EQ(b.page_errors(), "");
  b.close("config");
  b.use("main");

  immp.signal(SIGTERM);
  EXPECT_EQ(immp.wait(20s), 0) << immp.err();
  std::string written = read_file(file);
  EXPECT_TRUE(std::regex_search(written, std::regex(R"(ping: pong)"))) << written;
  EXPECT_TRUE(std::regex_search(written, std::regex(R"(cooldown: 0)"))) << written;
  EXPECT_EQ(written.find("hello: hi"), std::string::npos) << written;
  const std::string port_text = std::to_string(port);
  for (const char* kept : {"immp.plug.dummy.DummyPlug", "interval: 0.2", "text: ping",
                           "room:", "immp.hook.web.WebHook", "route: /admin", kPassword,
                           "immp.hook.autorespond.AutoRespondHook", port_text.c_str()}) {
    EXPECT_NE(written.find(kept), std::string::npos) << kept << " is gone:\n" << written;
  }
}

}  // namespace
}  // namespace immp::test
