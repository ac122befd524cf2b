#include "hooks/webui/webui_hook.hpp"

#include <gtest/gtest.h>

#include <regex>

#include "core/outbox.hpp"
#include "immp/host.hpp"
#include "operators/operators_hook.hpp"
#include "operators/settings.hpp"
#include "runner/runner.hpp"
#include "support/async.hpp"
#include "support/hooks.hpp"
#include "support/memory.hpp"
#include "support/process.hpp"
#include "support/web_client.hpp"
#include "support/web_server.hpp"

namespace immp::webui {
namespace {

using namespace std::chrono_literals;

constexpr const char* kPassword = "correct horse battery";

// One host for the program: the web server, the admin UI (with the
// password as it is, hashed at start) and a memory network to steer.
struct Env {
  asio::io_context io;
  test::TempDir dir{"immp-webui"};
  std::unique_ptr<Host> host;
  web::WebHook* web = nullptr;
  WebUIHook* ui = nullptr;
  plugs::MemoryPlug* net = nullptr;

  Env() {
    HostOptions o;
    o.base_dir = dir.path();
    host = std::make_unique<Host>(io.get_executor(), o);
    web = &test::add_hook<web::WebHook>(*host, "web", "port: 0\n");
    ui = &test::add_hook<WebUIHook>(*host, "admin",
                                    std::string("route: /admin/\npassword: ") + kPassword + "\n");
    net = &test::add_memory_plug(*host, "net");
    host->add_channel("lobby", net->channel("#lobby"));
    test::run(io, host->open());
  }
};

Env& env() {
  static Env* e = new Env();
  return *e;
}

// What curl got: the status, the headers and the body.
struct Got {
  int status = 0;
  std::string head;
  std::string body;
};

// One request by curl with the cookie jar `jar` (a browser of its own);
// `data` are curl's arguments for the body, if any.
Got fetch(asio::io_context& io, const std::string& jar, const std::string& method,
          const std::string& url, const std::vector<std::string>& data = {}) {
  std::vector<std::string> args{"-i", "-b", jar, "-c", jar, "-X", method};
  args.insert(args.end(), data.begin(), data.end());
  args.push_back(url);
  std::string out = test::curl(io, args);
  Got got;
  auto end = out.find("\r\n\r\n");
  got.head = out.substr(0, end);
  got.body = end == std::string::npos ? "" : out.substr(end + 4);
  got.status = test::status_of(out);
  return got;
}

// The CSRF token of the form on a page.
std::string csrf_of(const std::string& html) {
  std::smatch m;
  static const std::regex kCsrf(R"re(name="csrf" value="([0-9a-f]+)")re");
  return std::regex_search(html, m, kCsrf) ? m[1].str() : std::string();
}

class WebUITest : public ::testing::Test {
 protected:
  Env& e = env();

  // A browser of its own: a cookie jar per test.
  std::string jar =
      (e.dir /
       (std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ".jar"))
          .string();

  Got http(const std::string& method, const std::string& path, const std::string& form = "") {
    std::vector<std::string> data;
    if (!form.empty()) data = {"--data-raw", form};
    return fetch(e.io, jar, method, e.web->base_url() + path, data);
  }
  // Logs in; returns the session's CSRF token (from the admin page).
  std::string login(const std::string& password = kPassword) {
    Got form = http("GET", "/admin/login");
    EXPECT_EQ(form.status, 200) << form.head;
    Got in = http("POST", "/admin/login", "csrf=" + csrf_of(form.body) + "&password=" + password);
    EXPECT_EQ(in.status, 303) << in.head << in.body;
    Got page = http("GET", "/admin");
    EXPECT_EQ(page.status, 200) << page.head;
    return csrf_of(page.body);
  }
};

TEST_F(WebUITest, OnlyTheRightPasswordLogsIn) {
  Got first = http("GET", "/admin");
  EXPECT_EQ(first.status, 303);
  EXPECT_NE(first.head.find("Location: /admin/login"), std::string::npos) << first.head;

  Got form = http("GET", "/admin/login");
  ASSERT_EQ(form.status, 200);
  EXPECT_NE(form.body.find("type=\"password\""), std::string::npos);
  Got wrong = http("POST", "/admin/login", "csrf=" + csrf_of(form.body) + "&password=hunter22");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_NE(wrong.body.find("Wrong password."), std::string::npos);
  EXPECT_EQ(wrong.head.find("immp_admin="), std::string::npos) << wrong.head;
  EXPECT_EQ(http("GET", "/admin").status, 303);

  Got right = http("POST", "/admin/login",
                   "csrf=" + csrf_of(wrong.body) + "&password=correct+horse+battery");
  ASSERT_EQ(right.status, 303) << right.body;
  std::smatch cookie;
  ASSERT_TRUE(
      std::regex_search(right.head, cookie, std::regex("Set-Cookie: immp_admin=[0-9a-f]+[^\r]*")))
      << right.head;
  EXPECT_NE(cookie.str().find("; HttpOnly"), std::string::npos) << cookie.str();
  EXPECT_NE(cookie.str().find("; SameSite=Strict"), std::string::npos) << cookie.str();
  EXPECT_NE(cookie.str().find("; Path=/admin"), std::string::npos) << cookie.str();
  EXPECT_EQ(cookie.str().find("Secure"), std::string::npos) << "plain HTTP: " << cookie.str();

  Got page = http("GET", "/admin");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("data-of=\"plug:net\" data-state=\"active\""), std::string::npos);
  EXPECT_NE(page.body.find("<td>lobby</td>"), std::string::npos);
  EXPECT_NE(page.head.find("Content-Security-Policy: default-src 'self'"), std::string::npos);
  // Nothing of the config reaches the browser: not even the password.
  EXPECT_EQ(page.body.find("horse"), std::string::npos);

  std::string csrf = csrf_of(page.body);
  EXPECT_EQ(http("POST", "/admin/logout", "csrf=" + csrf).status, 303);
  EXPECT_EQ(http("GET", "/admin").status, 303);
  EXPECT_EQ(http("GET", "/admin/state.json").status, 401);
}

TEST_F(WebUITest, ALoginFormFromElsewhereIsRefused) {
  http("GET", "/admin/login");
  Got forged = http("POST", "/admin/login", std::string("csrf=0123&password=") + kPassword);
  EXPECT_EQ(forged.status, 403);
  EXPECT_EQ(http("GET", "/admin").status, 303);
}

TEST_F(WebUITest, AChangeWithoutTheSessionsTokenIsRefused) {
  std::string csrf = login();
  ASSERT_FALSE(csrf.empty());
  EXPECT_EQ(http("POST", "/admin/plug/net/stop", "").status, 403);
  EXPECT_EQ(http("POST", "/admin/plug/net/stop", "csrf=" + std::string(64, '0')).status, 403);
  EXPECT_EQ(e.net->state(), State::active);

  Got stop = http("POST", "/admin/plug/net/stop", "csrf=" + csrf);
  EXPECT_EQ(stop.status, 303);
  EXPECT_EQ(e.net->state(), State::inactive);
  Got page = http("GET", "/admin");
  EXPECT_NE(page.body.find("plug net: inactive"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("data-of=\"plug:net\" data-state=\"inactive\""), std::string::npos);
  EXPECT_NE(http("GET", "/admin/state.json").body.find(R"({"name":"net","state":"inactive")"),
            std::string::npos);

  EXPECT_EQ(http("POST", "/admin/plug/net/start", "csrf=" + csrf).status, 303);
  EXPECT_EQ(e.net->state(), State::active);
  EXPECT_EQ(http("POST", "/admin/plug/net/disable", "csrf=" + csrf).status, 303);
  EXPECT_EQ(e.net->state(), State::disabled);
  EXPECT_EQ(http("POST", "/admin/plug/net/enable", "csrf=" + csrf).status, 303);
  EXPECT_EQ(e.net->state(), State::active);
  // The server of this page and the page itself cannot be stopped here.
  EXPECT_EQ(http("POST", "/admin/hook/web/stop", "csrf=" + csrf).status, 400);
  EXPECT_EQ(http("POST", "/admin/hook/admin/stop", "csrf=" + csrf).status, 400);
  EXPECT_EQ(http("POST", "/admin/plug/nowhere/stop", "csrf=" + csrf).status, 404);
  EXPECT_EQ(http("POST", "/admin/plug/net/explode", "csrf=" + csrf).status, 404);
}

// The session cookie's value, from the test's cookie jar.
std::string session_cookie(const std::string& jar) {
  std::string text = test::read_file(jar);
  std::smatch m;
  static const std::regex kSession("\timmp_admin\t([0-9a-f]+)");
  return std::regex_search(text, m, kSession) ? m[1].str() : std::string();
}

TEST_F(WebUITest, TheLiveStreamSendsStateChangesCountsAndTheLog) {
  login();
  std::string id = session_cookie(jar);
  ASSERT_FALSE(id.empty());
  // A configured secret that reaches the log (here the admin password
  // itself) is hidden before it leaves the host.
  logger("immp.test")->warn("someone typed {} into a chat", kPassword);
  std::string request =
      "GET /admin/events HTTP/1.1\r\nHost: x\r\nCookie: immp_admin=" + id + "\r\n\r\n";
  std::size_t pages = e.ui->live_pages();
  bool done = false;
  test::RawExchange got;
  auto client = [&]() -> Task<> {
    got = co_await test::read_until(e.web->port(), request, [](const std::string& s) {
      return s.find(R"("name":"net","network":"Memory","state":"inactive")") != std::string::npos &&
             s.find(R"("lobby":{"in":1,"out":0})") != std::string::npos;
    });
    done = true;
  };
  asio::co_spawn(e.io, client(), asio::detached);
  ASSERT_TRUE(test::run_until(e.io, [&] { return e.ui->live_pages() > pages; }));
  e.net->inject("#lobby", "one message in");
  test::run(e.io, e.host->stop("net"));
  ASSERT_TRUE(test::run_until(e.io, [&] { return done; })) << got.reply;
  EXPECT_EQ(test::status_of(got.reply), 200);
  EXPECT_NE(got.reply.find("text/event-stream"), std::string::npos);
  EXPECT_NE(got.reply.find("event: state\ndata: {\"plugs\":[{\"name\":\"net\""), std::string::npos)
      << got.reply;
  EXPECT_NE(got.reply.find("event: counts\ndata: {"), std::string::npos);
  EXPECT_NE(got.reply.find("someone typed [hidden] into a chat"), std::string::npos) << got.reply;
  EXPECT_EQ(got.reply.find("horse"), std::string::npos) << "the password reached the browser";
  EXPECT_NE(got.reply.find("event: log\ndata: {"), std::string::npos);
  test::run(e.io, e.host->start("net"));

  // Without a session: refused, no stream.
  std::string anonymous = test::curl(e.io, {"-i", e.web->base_url() + "/admin/events"});
  EXPECT_EQ(test::status_of(anonymous), 401) << anonymous;
}

TEST_F(WebUITest, LoggingOutEndsTheLiveStream) {
  std::string csrf = login();
  std::string id = session_cookie(jar);
  std::string request =
      "GET /admin/events HTTP/1.1\r\nHost: x\r\nCookie: immp_admin=" + id + "\r\n\r\n";
  std::size_t pages = e.ui->live_pages();
  bool done = false;
  test::RawExchange got;
  auto client = [&]() -> Task<> {
    got = co_await test::read_until(e.web->port(), request, [](const std::string& s) {
      return s.find("event: logout") != std::string::npos;
    });
    done = true;
  };
  asio::co_spawn(e.io, client(), asio::detached);
  ASSERT_TRUE(test::run_until(e.io, [&] { return e.ui->live_pages() > pages; }));
  // A form of the page (with its token) ends the session; the stream sees it
  // at its next wake-up (at the latest the next second's counts).
  EXPECT_EQ(http("POST", "/admin/logout", "csrf=" + csrf).status, 303);
  ASSERT_TRUE(test::run_until(e.io, [&] { return done; })) << got.reply;
  EXPECT_TRUE(test::run_until(e.io, [&] { return e.ui->live_pages() == pages; }));
}

TEST_F(WebUITest, ChannelsAreAddedAndRemoved) {
  std::string csrf = login();
  EXPECT_EQ(
      http("POST", "/admin/channel", "csrf=" + csrf + "&name=dev&plug=net&source=%23dev").status,
      303);
  ASSERT_TRUE(e.host->channel("dev"));
  EXPECT_EQ(e.host->channel("dev")->source, "#dev");
  EXPECT_EQ(http("POST", "/admin/channel", "name=x&plug=net&source=y").status, 403);
  EXPECT_FALSE(e.host->channel("x"));
  http("POST", "/admin/channel", "csrf=" + csrf + "&name=dev&plug=net&source=%23other");
  EXPECT_NE(http("GET", "/admin").body.find("there is a channel &#39;dev&#39; already"),
            std::string::npos);
  EXPECT_EQ(http("POST", "/admin/channel/dev/remove", "csrf=" + csrf).status, 303);
  EXPECT_FALSE(e.host->channel("dev"));
}

// A message the network refuses for good is dropped by the channel's
// outbox, and the channel's row says so.
TEST_F(WebUITest, ChannelsShowWhatTheirOutboxDropped) {
  login();
  EXPECT_NE(http("GET", "/admin").body.find("data-dropped=\"lobby\">0<"), std::string::npos);
  const Channel lobby = *e.host->channel("lobby");  // a copy: channel() returns one
  std::uint64_t before = detail::outbox_drops(*e.host, lobby);
  e.net->set_rejecting(true);
  auto msg = std::make_shared<Message>();
  msg->text = RichText("a message the network refuses");
  e.host->post(lobby, std::move(msg));
  ASSERT_TRUE(test::run_until(e.io, [&] { return detail::outbox_drops(*e.host, lobby) == before + 1; }));
  e.net->set_rejecting(false);
  EXPECT_EQ(before, 0u);
  EXPECT_NE(http("GET", "/admin").body.find("data-dropped=\"lobby\">1<"), std::string::npos);
}

// Last of the program's logins: 127.0.0.1 must wait a minute after it.
TEST_F(WebUITest, WrongPasswordsAreLimitedPerAddress) {
  Got form = http("GET", "/admin/login");
  std::string csrf = csrf_of(form.body);
  // Wrong passwords until refused (earlier tests of this program may have
  // spent some of the minute's allowance).
  std::size_t tries = 0;
  for (; tries <= WebUIHook::kLoginLimit; ++tries) {
    Got wrong = http("POST", "/admin/login", "csrf=" + csrf + "&password=guess");
    csrf = csrf_of(wrong.body);
    if (wrong.status == 429) break;
    ASSERT_EQ(wrong.status, 401);
  }
  EXPECT_LE(tries, WebUIHook::kLoginLimit);
  EXPECT_GE(tries, 1u);
  // Even the right password waits now.
  Got limited = http("POST", "/admin/login", "csrf=" + csrf + "&password=" + kPassword);
  EXPECT_EQ(limited.status, 429);
  EXPECT_NE(limited.head.find("Retry-After: "), std::string::npos) << limited.head;
  EXPECT_EQ(http("GET", "/admin").status, 303);
}

TEST(WebUITls, UnderTlsTheSessionCookieIsSecure) {
  asio::io_context io;
  test::TempDir dir("immp-webui-tls");
  auto cert = test::make_self_signed("localhost");
  test::write_file(dir / "cert.pem", cert.cert_pem);
  test::write_file(dir / "key.pem", cert.key_pem);
  HostOptions o;
  o.base_dir = dir.path();
  Host host(io.get_executor(), o);
  auto& web =
      test::add_hook<web::WebHook>(host, "web", "port: 0\ntls: {cert: cert.pem, key: key.pem}\n");
  test::add_hook<WebUIHook>(host, "admin", std::string("route: /admin\npassword: ") + kPassword);
  test::run(io, host.open());
  std::string jar = (dir / "jar").string();
  auto curl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"-k", "-i", "-b", jar, "-c", jar});
    return test::curl(io, args);
  };
  std::string form = curl({web.base_url() + "/admin/login"});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(form, m, std::regex(R"re(name="csrf" value="([0-9a-f]+)")re")));
  std::string in = curl({"--data-raw", "csrf=" + m[1].str() + "&password=" + kPassword,
                         web.base_url() + "/admin/login"});
  EXPECT_EQ(test::status_of(in), 303) << in;
  EXPECT_TRUE(std::regex_search(
      in, std::regex("Set-Cookie: immp_admin=[0-9a-f]+; [^\r]*HttpOnly; SameSite=Strict; Secure")))
      << in;
  test::run(io, host.close());
}

TEST(WebUIConfig, BadSettingsNameTheKey) {
  asio::io_context io;
  Host host(io.get_executor());
  try {
    test::make_from_yaml<WebUIHook>(host, "admin", "hooks",
                                    "route: admin\npassword: long enough\n");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("hooks.admin.config.route: must start with '/'"),
              std::string::npos)
        << e.what();
  }
  try {
    test::make_from_yaml<WebUIHook>(host, "admin", "hooks", "route: /admin\npassword: short\n");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("password: too short"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace immp::webui

namespace immp::webui {
namespace {

// No password configured: the first visitor with the log's one-time token
// chooses it.
TEST(WebUISetup, WithoutAPasswordTheLogsTokenSetsOne) {
  asio::io_context io;
  test::TempDir dir("immp-webui-setup");
  // What the operator reads: the log.
  auto log = std::make_shared<LogTail>(1000);
  add_log_tap(log);
  HostOptions o;
  o.base_dir = dir.path();
  Host host(io.get_executor(), o);
  auto& web = test::add_hook<web::WebHook>(host, "web", "port: 0\n");
  auto& ui = test::add_hook<WebUIHook>(host, "admin", "route: /admin\n");
  test::run(io, host.open());
  remove_log_tap(log);
  std::string token;
  for (const auto& r : log->since(0)) {
    std::smatch m;
    static const std::regex kToken(
        "open (http://[^ ]+/admin/setup) and give this one-time setup "
        "token to choose one: ([0-9a-f]+)");
    if (std::regex_search(r.text, m, kToken)) {
      EXPECT_EQ(m[1].str(), web.base_url() + "/admin/setup");
      EXPECT_EQ(r.level, "WARNING");
      token = m[2].str();
    }
  }
  ASSERT_FALSE(token.empty()) << "no setup token in the log";

  std::string jar = (dir / "jar").string();
  auto http = [&](const std::string& path, const std::string& form = "") {
    std::vector<std::string> args{"-i", "-b", jar, "-c", jar};
    if (!form.empty()) args.insert(args.end(), {"--data-raw", form});
    args.push_back(web.base_url() + path);
    return test::curl(io, args);
  };
  auto csrf_of = [](const std::string& html) {
    std::smatch m;
    return std::regex_search(html, m, std::regex(R"re(name="csrf" value="([0-9a-f]+)")re"))
               ? m[1].str()
               : std::string();
  };
  EXPECT_NE(http("/admin").find("Location: /admin/setup"), std::string::npos);
  EXPECT_NE(http("/admin/login").find("Location: /admin/setup"), std::string::npos);
  std::string form = http("/admin/setup");
  ASSERT_EQ(test::status_of(form), 200) << form;
  EXPECT_NE(form.find("one-time setup token"), std::string::npos);
  EXPECT_EQ(form.find(token), std::string::npos) << "the page must not show the token";

  std::string wrong =
      http("/admin/setup", "csrf=" + csrf_of(form) + "&token=" + std::string(32, '0') +
                               "&password=new+admin+pw&again=new+admin+pw");
  EXPECT_EQ(test::status_of(wrong), 401);
  EXPECT_NE(wrong.find("Wrong setup token"), std::string::npos);
  std::string differ = http("/admin/setup", "csrf=" + csrf_of(wrong) + "&token=" + token +
                                                "&password=new+admin+pw&again=other+pw+1");
  EXPECT_EQ(test::status_of(differ), 400);
  EXPECT_NE(differ.find("The two passwords differ."), std::string::npos);
  std::string forged =
      http("/admin/setup", "csrf=00&token=" + token + "&password=new+admin+pw&again=new+admin+pw");
  EXPECT_EQ(test::status_of(forged), 403);
  std::string again = http("/admin/setup");
  std::string set = http("/admin/setup", "csrf=" + csrf_of(again) + "&token=" + token +
                                             "&password=new+admin+pw&again=new+admin+pw");
  ASSERT_EQ(test::status_of(set), 303) << set;
  EXPECT_NE(set.find("Set-Cookie: immp_admin="), std::string::npos);
  EXPECT_EQ(test::status_of(http("/admin")), 200);
  // The hash is the config now (the runner writes it back with -w).
  EXPECT_TRUE(is_password_hash(ui.config().at("password").as_string()));
  // The token worked once.
  EXPECT_NE(http("/admin/setup").find("Location: /admin/login"), std::string::npos);
  std::filesystem::remove(jar);
  std::string login = http("/admin/login");
  std::string in = http("/admin/login", "csrf=" + csrf_of(login) + "&password=new+admin+pw");
  EXPECT_EQ(test::status_of(in), 303) << in;
  test::run(io, host.close());
}

}  // namespace
}  // namespace immp::webui

namespace immp::webui {
namespace {

// Operators are listed with their state and can be halted, resumed and
// stopped from the page.
TEST(WebUIOperators, OperatorsAreShownAndControlled) {
  asio::io_context io;
  test::TempDir dir("immp-webui-ops");
  HostOptions o;
  o.base_dir = dir.path();
  Host host(io.get_executor(), o);
  auto& web = test::add_hook<web::WebHook>(host, "web", "port: 0\n");
  test::add_hook<WebUIHook>(host, "admin", std::string("route: /admin\npassword: ") + kPassword);
  auto& mem = test::add_memory_plug(host, "mem");
  host.add_channel("room", mem.channel("#room"));
  Node entry = parse_config("command: python3\nargs: [" + std::string(IMMP_SOURCE_DIR) +
                                "/tests/operators/fake_operator.py]\nconfig: {mode: echo, "
                                "room: room}\n",
                            ConfigFormat::yaml, "test.yaml");
  entry.set_path("operators.echoer");
  entry.repath();
  validate(entry, *operators::operator_schema());
  operators::OperatorsOptions options;
  options.runtime_root = dir / "run";
  options.operators.push_back(operators::read_settings("echoer", entry, dir.path()));
  auto& ops = host.add_hook(
      std::make_unique<operators::OperatorsHook>(Init{"operators", Node::map(), host}, options));
  test::run(io, host.open());
  ASSERT_TRUE(test::run_until(
      io,
      [&] {
        auto s = ops.status("echoer");
        return s && s->phase == operators::Phase::ready;
      },
      std::chrono::seconds(20)));

  std::string jar = (dir / "jar").string();
  auto http = [&](const std::string& path, const std::string& form = "") {
    std::vector<std::string> args{"-i", "-b", jar, "-c", jar};
    if (!form.empty()) args.insert(args.end(), {"--data-raw", form});
    args.push_back(web.base_url() + path);
    return test::curl(io, args);
  };
  auto csrf_of = [](const std::string& html) {
    std::smatch m;
    return std::regex_search(html, m, std::regex(R"re(name="csrf" value="([0-9a-f]+)")re"))
               ? m[1].str()
               : std::string();
  };
  std::string login = http("/admin/login");
  http("/admin/login", "csrf=" + csrf_of(login) + "&password=" + kPassword);
  std::string page = http("/admin");
  ASSERT_EQ(test::status_of(page), 200);
  EXPECT_NE(page.find("data-of=\"operator:echoer\" data-state=\"ready\">ready<"), std::string::npos)
      << page;
  std::string csrf = csrf_of(page);
  EXPECT_EQ(test::status_of(http("/admin/operator/echoer/halt", "from=elsewhere")), 403);
  EXPECT_FALSE(ops.status("echoer")->halted);

  EXPECT_EQ(test::status_of(http("/admin/operator/echoer/halt", "csrf=" + csrf)), 303);
  EXPECT_TRUE(ops.status("echoer")->halted);
  page = http("/admin");
  EXPECT_NE(page.find("operator echoer: ready, halted"), std::string::npos) << page;
  EXPECT_NE(page.find(">ready, halted<"), std::string::npos);
  EXPECT_NE(page.find("aria-label=\"resume echoer\""), std::string::npos);
  EXPECT_EQ(test::status_of(http("/admin/operator/echoer/resume", "csrf=" + csrf)), 303);
  EXPECT_FALSE(ops.status("echoer")->halted);
  EXPECT_EQ(test::status_of(http("/admin/operator/echoer/stop", "csrf=" + csrf)), 303);
  EXPECT_EQ(ops.status("echoer")->phase, operators::Phase::stopped);
  EXPECT_NE(http("/admin").find("aria-label=\"start echoer\""), std::string::npos);
  EXPECT_EQ(test::status_of(http("/admin/operator/nobody/stop", "csrf=" + csrf)), 404);
  EXPECT_EQ(test::status_of(http("/admin/operator/echoer/explode", "csrf=" + csrf)), 404);
  test::run(io, host.close(), std::chrono::seconds(30));
}

}  // namespace
}  // namespace immp::webui

// ---- configs: edited and added from the page, under the runner -------------

namespace immp::webui {
namespace {

constexpr const char* kApiToken = "api-token-that-stays-secret";

// A host built by the runner from a file, with -w: what `immp -w` runs.
struct RunnerEnv {
  asio::io_context io;
  test::TempDir dir{"immp-webui-edit"};
  std::filesystem::path file = dir / "immp.yaml";
  std::string written;  // the file as the test wrote it
  std::unique_ptr<Runner> runner;
  web::WebHook* web = nullptr;

  RunnerEnv() {
    written = std::string(
                  "plugs:\n"
                  "  dummy:\n"
                  "    path: immp.plug.dummy.DummyPlug\n"
                  "    config: {interval: 3600, text: hello}\n"
                  "  api:\n"
                  "    path: immp.plug.web.WebPlug\n"
                  "    config:\n"
                  "      channels: [room]\n"
                  "      tokens: [{name: bot, token: ") +
              kApiToken +
              ", scopes: [read]}]\n"
              "channels:\n"
              "  room: {plug: dummy, source: dummy}\n"
              "groups:\n"
              "  all: {channels: [room]}\n"
              "hooks:\n"
              "  web:\n"
              "    path: immp.hook.web.WebHook\n"
              "    config: {port: 0}\n"
              "  admin:\n"
              "    path: immp.hook.webui.WebUIHook\n"
              "    config: {route: /admin, password: " +
              kPassword +
              "}\n"
              "  ar:\n"
              "    path: immp.hook.autorespond.AutoRespondHook\n"
              "    config:\n"
              "      groups: [all]\n"
              "      responses: {hello: hi there}\n";
    test::write_file(file, written);
    runner = std::make_unique<Runner>(file, io, /*write_back=*/true);
    web = dynamic_cast<web::WebHook*>(runner->host().hook("web"));
    test::run(io, runner->host().open());
  }
  ~RunnerEnv() {
    if (runner->host().is_open()) test::run(io, runner->host().close());
  }
  Host& host() { return runner->host(); }
};

class WebUIEdit : public ::testing::Test {
 protected:
  RunnerEnv e;
  std::string jar = (e.dir / "cookies.jar").string();

  Got http(const std::string& method, const std::string& path,
           const std::vector<std::pair<std::string, std::string>>& fields = {}) {
    std::vector<std::string> data;
    for (const auto& [key, value] : fields) data.insert(data.end(), {"--data-urlencode", key + "=" + value});
    return fetch(e.io, jar, method, e.web->base_url() + path, data);
  }
  // The form's text as the page shows it (HTML entities undone).
  static std::string textarea_of(const std::string& html) {
    std::smatch m;
    static const std::regex kArea(R"re(<textarea[^>]*>([^<]*)</textarea>)re");
    if (!std::regex_search(html, m, kArea)) return "";
    std::string text = m[1].str();
    for (auto [entity, c] : {std::pair{"&quot;", "\""}, std::pair{"&#39;", "'"},
                             std::pair{"&lt;", "<"}, std::pair{"&gt;", ">"},
                             std::pair{"&amp;", "&"}}) {
      for (auto at = text.find(entity); at != std::string::npos; at = text.find(entity, at + 1)) {
        text.replace(at, std::string_view(entity).size(), c);
      }
    }
    return text;
  }
  std::string login() {
    Got form = http("GET", "/admin/login");
    Got in = http("POST", "/admin/login", {{"csrf", csrf_of(form.body)}, {"password", kPassword}});
    EXPECT_EQ(in.status, 303) << in.head << in.body;
    Got page = http("GET", "/admin");
    EXPECT_EQ(page.status, 200) << page.head;
    return csrf_of(page.body);
  }
  std::string on_disk() { return test::read_file(e.file); }
};

TEST_F(WebUIEdit, AMistakeIsShownBesideTheFormNamingTheKeyAndChangesNothing) {
  std::string csrf = login();
  Got page = http("GET", "/admin");
  EXPECT_NE(page.body.find("href=\"/admin/edit/hook/ar\""), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("href=\"/admin/add\""), std::string::npos);
  // Neither this page nor its server can be edited from it.
  EXPECT_EQ(page.body.find("/admin/edit/hook/admin"), std::string::npos);
  EXPECT_EQ(page.body.find("/admin/edit/hook/web"), std::string::npos);
  EXPECT_EQ(http("GET", "/admin/edit/hook/admin").status, 404);

  Got form = http("GET", "/admin/edit/hook/ar");
  ASSERT_EQ(form.status, 200) << form.body;
  std::string text = textarea_of(form.body);
  EXPECT_NE(text.find("hello: hi there"), std::string::npos) << text;

  Hook* before = e.host().hook("ar");
  Got wrong = http("POST", "/admin/edit/hook/ar",
                   {{"csrf", csrf},
                    {"config", "groups: [all]\nresponses: {hello: hi there}\ncooldown: soon\n"}});
  EXPECT_EQ(wrong.status, 400);
  EXPECT_NE(wrong.body.find("role=\"alert\""), std::string::npos) << wrong.body;
  EXPECT_NE(wrong.body.find("hooks.ar.config.cooldown"), std::string::npos) << wrong.body;
  EXPECT_NE(wrong.body.find("(line 3)"), std::string::npos) << wrong.body;
  EXPECT_NE(wrong.body.find("expected a number"), std::string::npos) << wrong.body;
  // What was typed stays in the form, to be fixed.
  EXPECT_NE(textarea_of(wrong.body).find("cooldown: soon"), std::string::npos);

  // The constructor's own complaint too: a group that does not exist.
  Got no_group = http("POST", "/admin/edit/hook/ar",
                      {{"csrf", csrf}, {"config", "groups: [nowhere]\n"}});
  EXPECT_EQ(no_group.status, 400);
  EXPECT_NE(no_group.body.find("hooks.ar.config.groups[0]"), std::string::npos) << no_group.body;
  EXPECT_NE(no_group.body.find("no group named"), std::string::npos) << no_group.body;
  // YAML that does not parse names its line.
  Got syntax = http("POST", "/admin/edit/hook/ar", {{"csrf", csrf}, {"config", "groups: [all\n"}});
  EXPECT_EQ(syntax.status, 400);
  EXPECT_NE(syntax.body.find("id=\"config-error\""), std::string::npos) << syntax.body;

  EXPECT_EQ(e.host().hook("ar"), before) << "the running hook was replaced";
  EXPECT_EQ(before->state(), State::active);
  EXPECT_EQ(on_disk(), e.written);
  // Without the session's token, nothing at all.
  EXPECT_EQ(http("POST", "/admin/edit/hook/ar", {{"config", "groups: [all]\n"}}).status, 403);
  EXPECT_EQ(e.host().hook("ar"), before);
}

TEST_F(WebUIEdit, AValidEditReplacesTheRunningPlugAndIsWrittenBack) {
  std::string csrf = login();
  Plug* before = e.host().plug("dummy");
  Got form = http("GET", "/admin/edit/plug/dummy");
  ASSERT_EQ(form.status, 200);
  std::string text = textarea_of(form.body);
  auto at = text.find("hello");
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, 5, "changed live");
  Got done = http("POST", "/admin/edit/plug/dummy", {{"csrf", csrf}, {"config", text}});
  ASSERT_EQ(done.status, 303) << done.body;

  Plug* after = e.host().plug("dummy");
  ASSERT_NE(after, nullptr);
  EXPECT_NE(after, before);
  EXPECT_EQ(after->state(), State::active);
  EXPECT_EQ(after->config().at("text").as_string(), "changed live");
  EXPECT_EQ(e.host().channel("room")->plug(), after) << "the channel follows the new instance";
  Got page = http("GET", "/admin");
  EXPECT_NE(page.body.find("plug dummy: config applied (active); saved in the config file"),
            std::string::npos)
      << page.body;

  // Written at once (-w), and again at a clean stop: the change and
  // everything else the file held.
  EXPECT_NE(on_disk().find("changed live"), std::string::npos) << on_disk();
  test::run(e.io, e.host().close());
  e.runner->write_back();  // what `immp -w` does once the host is closed
  Node now = load_config_file(e.file);
  Node expected = parse_config(e.written, ConfigFormat::yaml, "expected");
  expected.find("plugs")->find("dummy")->find("config")->set("text", "changed live");
  EXPECT_EQ(now, expected) << on_disk();
}

TEST_F(WebUIEdit, SecretsAreShownHiddenAndKeptWhenLeftSo) {
  std::string csrf = login();
  Got form = http("GET", "/admin/edit/plug/api");
  ASSERT_EQ(form.status, 200);
  EXPECT_EQ(form.body.find(kApiToken), std::string::npos) << form.body;
  std::string text = textarea_of(form.body);
  EXPECT_TRUE(std::regex_search(text, std::regex(R"(token: .\[hidden\].)"))) << text;
  // The operator widens the bot's scopes and leaves the token as shown.
  auto at = text.find("- read");
  ASSERT_NE(at, std::string::npos) << text;
  std::string indent(at - (text.rfind('\n', at) + 1), ' ');
  text.replace(at, 6, "- read\n" + indent + "- write");
  Got done = http("POST", "/admin/edit/plug/api", {{"csrf", csrf}, {"config", text}});
  ASSERT_EQ(done.status, 303) << done.body << "\n" << text;
  const Node& tokens = e.host().plug("api")->config().at("tokens");
  EXPECT_EQ(tokens.as_list().at(0).at("token").as_string(), kApiToken);
  EXPECT_EQ(tokens.as_list().at(0).at("scopes").as_list().size(), 2u);
  Node now = load_config_file(e.file);
  EXPECT_EQ(now.at("plugs").at("api").at("config").at("tokens").as_list().at(0).at("token"),
            Node(kApiToken));
  Got again = http("GET", "/admin/edit/plug/api");
  EXPECT_EQ(again.body.find(kApiToken), std::string::npos);

  // A "[hidden]" with nothing stored behind it is refused, not saved.
  Got added = http("POST", "/admin/add",
                   {{"csrf", csrf},
                    {"kind", "plug"},
                    {"name", "api2"},
                    {"path", "immp.plug.web.WebPlug"},
                    {"config", "channels: [room]\ntokens: [{name: x, token: \"[hidden]\"}]\n"}});
  EXPECT_EQ(added.status, 400);
  EXPECT_NE(added.body.find("plugs.api2.config.tokens[0].token"), std::string::npos)
      << added.body;
  EXPECT_EQ(e.host().plug("api2"), nullptr);
}

TEST_F(WebUIEdit, APlugOrHookIsAddedAndStarted) {
  std::string csrf = login();
  Got form = http("GET", "/admin/add");
  ASSERT_EQ(form.status, 200);
  EXPECT_NE(form.body.find("<option value=\"immp.plug.dummy.DummyPlug\">"), std::string::npos);

  Got unknown = http("POST", "/admin/add",
                     {{"csrf", csrf},
                      {"kind", "plug"},
                      {"name", "extra"},
                      {"path", "immp.plug.dummy.DumyPlug"},
                      {"config", ""}});
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("plugs.extra.path"), std::string::npos) << unknown.body;
  EXPECT_NE(unknown.body.find("did you mean &#39;immp.plug.dummy.DummyPlug&#39;"),
            std::string::npos)
      << unknown.body;
  Got taken = http("POST", "/admin/add",
                   {{"csrf", csrf},
                    {"kind", "hook"},
                    {"name", "ar"},
                    {"path", "immp.hook.autorespond.AutoRespondHook"},
                    {"config", "groups: [all]"}});
  EXPECT_EQ(taken.status, 400);
  EXPECT_NE(taken.body.find("the name &#39;ar&#39; is taken"), std::string::npos) << taken.body;

  Got added = http("POST", "/admin/add",
                   {{"csrf", csrf},
                    {"kind", "plug"},
                    {"name", "extra"},
                    {"path", "immp.plug.dummy.DummyPlug"},
                    {"config", "interval: 60\n"}});
  ASSERT_EQ(added.status, 303) << added.body;
  Plug* extra = e.host().plug("extra");
  ASSERT_NE(extra, nullptr);
  EXPECT_EQ(extra->state(), State::active);
  EXPECT_NE(http("GET", "/admin").body.find("plug extra: added (active)"), std::string::npos);
  Node now = load_config_file(e.file);
  EXPECT_EQ(now.at("plugs").at("extra").at("path").as_string(), "immp.plug.dummy.DummyPlug");
  EXPECT_EQ(now.at("plugs").at("extra").at("config").at("interval").as_int(), 60);
}

// Per channel, what waits in its outbox: a network that is down shows
// there first.
TEST_F(WebUIEdit, ChannelsShowWhatWaitsInTheirOutbox) {
  login();
  test::run(e.io, e.host().stop("dummy"));
  auto msg = std::make_shared<Message>();
  msg->text = RichText("queued while the network is down");
  e.host().post(*e.host().channel("room"), std::move(msg));
  Got page = http("GET", "/admin");
  EXPECT_NE(page.body.find("data-waiting=\"room\">1<"), std::string::npos) << page.body;
  test::run(e.io, e.host().start("dummy"));
  ASSERT_TRUE(test::run_until(e.io, [&] {
    return detail::outbox_depth(e.host(), *e.host().channel("room")) == 0;
  }));
  EXPECT_NE(http("GET", "/admin").body.find("data-waiting=\"room\">0<"), std::string::npos);
}

}  // namespace
}  // namespace immp::webui
