// The web chat (web/chat) as a person uses it: the real `immp` binary
// bridges its web plug to a real ngircd with the sync hook, and the page
// runs in Debian's headless Chromium. What the person in the browser sees
// and what alice on IRC sees are what is checked: history on opening,
// messages both ways, a reply, an edit and a deletion drawn, and a page
// that comes back after immp restarts with nothing missed and nothing
// twice. Screenshots go to <build>/screenshots/.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <memory>
#include <string>

#include "integration/web_browser.hpp"
#include "support/irc_client.hpp"
#include "support/irc_server.hpp"
#include "support/process.hpp"

namespace immp::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kToken = "browser-token-0123456789";
const fs::path kShots = fs::path(IMMP_BINARY_DIR) / "screenshots";

// One IRC server, one immp and one browser for the program.
struct ChatEnv {
  NgircdServer ircd;
  TempDir dir{"immp-web-chat"};
  int web_port = free_port();
  std::unique_ptr<IrcClient> alice;
  std::unique_ptr<Process> immp;

  ChatEnv() {
    alice = std::make_unique<IrcClient>(ircd.port(), "alice");
    alice->join("#lobby");
    write_file(dir / "chat.yaml", config());
    start();
  }

  std::string config() const {
    return "plugs:\n"
           "  irc:\n"
           "    path: immp.plug.irc.IRCPlug\n"
           "    config:\n"
           "      server: {host: 127.0.0.1, port: " +
           std::to_string(ircd.port()) +
           "}\n"
           "      user: {nick: bridge, real-name: immp bridge}\n"
           "  web:\n"
           "    path: immp.plug.web.WebPlug\n"
           "    config:\n"
           "      channels: [lobby]\n"
           "      chat: " +
           (fs::path(IMMP_SOURCE_DIR) / "web/chat").string() +
           "\n"
           "      tokens:\n"
           "        - {name: guest, token: " +
           kToken +
           ", scopes: [read, write]}\n"
           "channels:\n"
           "  irc-lobby: {plug: irc, source: '#lobby'}\n"
           "  web-lobby: {plug: web, source: lobby}\n"
           "hooks:\n"
           "  http:\n"
           "    path: immp.hook.web.WebHook\n"
           "    config: {port: " +
           std::to_string(web_port) +
           "}\n"
           "  database:\n"
           "    path: immp.hook.database.DatabaseHook\n"
           "    config: {url: 'sqlite:///" +
           (dir / "chat.db").string() +
           "'}\n"
           "  sync:\n"
           "    path: immp.hook.sync.SyncHook\n"
           "    config:\n"
           "      channels: {lobby: [irc-lobby, web-lobby]}\n"
           "      name-format: \"{{ user.real_name }}\"\n";
  }

  // Starts immp and waits until its IRC side has joined.
  void start() {
    immp = std::make_unique<Process>(std::vector<std::string>{
        (fs::path(IMMP_BINARY_DIR) / "immp").string(), (dir / "chat.yaml").string()});
    if (!immp->wait_for(Stream::err, "Host ready", 20s)) {
      throw std::runtime_error("immp did not start:\n" + immp->err());
    }
    auto joined = alice->wait_for(
        [](const irc::Line& l) { return l.command == "JOIN" && l.nick == "bridge"; }, 20s);
    if (!joined) throw std::runtime_error("the bridge did not join #lobby:\n" + immp->err());
  }
  // Stops immp as an operator would (SIGTERM); its exit code.
  std::optional<int> stop() {
    immp->signal(SIGTERM);
    return immp->wait(15s);
  }

  std::string base() const { return "http://127.0.0.1:" + std::to_string(web_port); }
  std::string chat_url() const { return base() + "/chat/#token=" + kToken; }
};

ChatEnv& env() {
  // Destroyed when the test program exits: its immp and ngircd go with it
  // (a leaked one kept running after `make test`).
  static ChatEnv e;
  return e;
}

// A stream client beside the page (curl on the SSE stream): waits until
// what IRC said has reached the web plug, so the page's history holds it.
class StreamWatch {
 public:
  explicit StreamWatch(const ChatEnv& e)
      : curl_({"curl", "-sN", "-H", std::string("Authorization: Bearer ") + kToken,
               e.base() + "/api/v1/stream?channels=web/lobby"}) {
    if (!curl_.wait_for(Stream::out, "event: ready", 10s)) {
      throw std::runtime_error("no stream: " + curl_.out() + curl_.err());
    }
  }
  bool saw(const std::string& text) { return curl_.wait_for(Stream::out, text, 10s); }

 private:
  Process curl_;
};

class WebChatInBrowser : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!NgircdServer::available()) GTEST_SKIP() << "ngircd is not installed";
    std::string missing = Browser::missing();
    ASSERT_TRUE(missing.empty()) << missing;
  }

  ChatEnv& e = env();
  Browser& b = Browser::shared();

  // Opens the chat and waits until it shows the channel live.
  void open_chat() {
    ASSERT_TRUE(b.open(e.chat_url())) << b.last_error();
    ASSERT_TRUE(b.wait_fn("document.body.dataset.state === 'live'")) << b.last_error() << "\n"
                                                                     << b.text("#status");
  }
  // How many messages in the page show `text`.
  int shown(const std::string& text) {
    auto n = b.eval(
        "[...document.querySelectorAll('#log .msg .body')].filter(e => e.textContent "
        "=== " +
        boost::json::serialize(boost::json::value(text)) + ").length");
    return n.is_int64() ? static_cast<int>(n.as_int64()) : -1;
  }
  // The line the bridge relayed to #lobby that contains `text`.
  std::optional<irc::Line> on_irc(const std::string& text) {
    return e.alice->wait_for(
        [&](const irc::Line& l) {
          return l.command == "PRIVMSG" && l.nick == "bridge" &&
                 l.param(1).find(text) != std::string::npos;
        },
        10s);
  }
  void say_in_page(const std::string& text) {
    ASSERT_TRUE(b.fill("#text", text)) << b.last_error();
    ASSERT_TRUE(b.press("#text", "Enter")) << b.last_error();
  }
  std::string msg(const std::string& text) {
    return "#log .msg:has(.body:text-is(" + boost::json::serialize(boost::json::value(text)) + "))";
  }
};

TEST_F(WebChatInBrowser, ShowsTheHistoryAndTalksWithIrcBothWays) {
  {
    StreamWatch watch(e);
    e.alice->say("#lobby", "said before the page opened");
    ASSERT_TRUE(watch.saw("said before the page opened")) << e.immp->err();
  }
  ASSERT_NO_FATAL_FAILURE(open_chat());
  ASSERT_TRUE(b.wait_text("#log .msg", "said before the page opened")) << b.last_error();
  EXPECT_EQ(b.text(msg("said before the page opened") + " .author"), "alice");
  EXPECT_EQ(b.text("#channel"), "#lobby");

  ASSERT_TRUE(b.fill("#name", "Bob in a browser")) << b.last_error();
  ASSERT_NO_FATAL_FAILURE(say_in_page("hello from the browser"));
  auto relayed = on_irc("hello from the browser");
  ASSERT_TRUE(relayed) << e.immp->err();
  EXPECT_NE(relayed->param(1).find("Bob in a browser"), std::string::npos) << relayed->param(1);
  ASSERT_TRUE(b.wait_text("#log .msg", "hello from the browser")) << b.last_error();
  EXPECT_EQ(b.text(msg("hello from the browser") + " .author"), "Bob in a browser");
  EXPECT_EQ(b.eval("document.getElementById('text').value"), "");

  e.alice->say("#lobby", "hi back from IRC");
  ASSERT_TRUE(b.wait_text("#log .msg", "hi back from IRC")) << b.last_error();
  EXPECT_EQ(shown("hello from the browser"), 1);
  EXPECT_EQ(shown("hi back from IRC"), 1);
  EXPECT_TRUE(b.screenshot(kShots / "chat.png")) << b.last_error();
  EXPECT_EQ(b.page_errors(), "");
}

TEST_F(WebChatInBrowser, DrawsRepliesEditsAndDeletions) {
  ASSERT_NO_FATAL_FAILURE(open_chat());
  ASSERT_NO_FATAL_FAILURE(say_in_page("a question worth answering"));
  ASSERT_TRUE(b.wait_text("#log .msg", "a question worth answering")) << b.last_error();
  ASSERT_TRUE(on_irc("a question worth answering"));

  // Reply: the answer quotes what it answers, here and on IRC.
  ASSERT_TRUE(b.click(msg("a question worth answering") + " button.reply")) << b.last_error();
  EXPECT_TRUE(b.wait_text("#replying", "a question worth answering")) << b.last_error();
  ASSERT_NO_FATAL_FAILURE(say_in_page("the first answer"));
  ASSERT_TRUE(b.wait_text("#log .msg", "the first answer")) << b.last_error();
  EXPECT_EQ(b.text(msg("the first answer") + " .reply"), "↪ a question worth answering");
  EXPECT_TRUE(on_irc("the first answer")) << e.immp->err();

  // Edit: the message changes in place and says so.
  ASSERT_TRUE(b.click(msg("the first answer") + " button.edit")) << b.last_error();
  EXPECT_EQ(b.eval("document.getElementById('text').value"), "the first answer");
  ASSERT_NO_FATAL_FAILURE(say_in_page("the corrected answer"));
  ASSERT_TRUE(b.wait_text("#log .msg .body", "the corrected answer")) << b.last_error();
  EXPECT_EQ(shown("the first answer"), 0);
  EXPECT_EQ(b.text(msg("the corrected answer") + " .edited"), "(edited)");
  EXPECT_EQ(b.text(msg("the corrected answer") + " .reply"), "↪ a question worth answering");

  // Delete: the question is struck from the page.
  ASSERT_TRUE(b.click(msg("a question worth answering") + " button.delete")) << b.last_error();
  ASSERT_TRUE(b.wait_text("#log .msg.deleted", "message deleted")) << b.last_error();
  EXPECT_EQ(shown("a question worth answering"), 0);
  EXPECT_TRUE(b.screenshot(kShots / "chat-reply-edit-delete.png")) << b.last_error();

  // Opened again, the history shows the same: the edit, not the first
  // revision, and the deletion.
  ASSERT_NO_FATAL_FAILURE(open_chat());
  ASSERT_TRUE(b.wait_text("#log .msg .body", "the corrected answer")) << b.last_error();
  EXPECT_EQ(shown("the first answer"), 0);
  EXPECT_EQ(shown("a question worth answering"), 0);
  EXPECT_EQ(shown("the corrected answer"), 1);
  EXPECT_EQ(b.page_errors(), "");
}

TEST_F(WebChatInBrowser, ComesBackAfterImmpRestartsWithNothingMissed) {
  ASSERT_NO_FATAL_FAILURE(open_chat());
  e.alice->say("#lobby", "before the restart");
  ASSERT_TRUE(b.wait_text("#log .msg", "before the restart")) << b.last_error();

  ASSERT_EQ(e.stop(), 0) << e.immp->err();
  ASSERT_TRUE(b.wait_fn("document.body.dataset.state === 'reconnecting'")) << b.last_error();
  EXPECT_TRUE(b.screenshot(kShots / "chat-reconnecting.png")) << b.last_error();
  // The page stays away until after alice spoke: what she said reaches
  // it only through the history, as when a restart outruns a page.
  ASSERT_TRUE(b.offline(true)) << b.last_error();
  e.start();
  {
    StreamWatch watch(e);
    e.alice->say("#lobby", "said while the page was away");
    ASSERT_TRUE(watch.saw("said while the page was away")) << e.immp->err();
  }
  ASSERT_TRUE(b.offline(false)) << b.last_error();
  ASSERT_TRUE(b.wait_text("#log .msg", "said while the page was away", 15s)) << b.last_error();
  ASSERT_TRUE(b.wait_fn("document.body.dataset.state === 'live'")) << b.last_error();
  e.alice->say("#lobby", "after the page came back");
  ASSERT_TRUE(b.wait_text("#log .msg", "after the page came back")) << b.last_error();
  EXPECT_EQ(shown("before the restart"), 1);
  EXPECT_EQ(shown("said while the page was away"), 1);
  EXPECT_EQ(shown("after the page came back"), 1);
  // And the page still talks to IRC.
  ASSERT_NO_FATAL_FAILURE(say_in_page("back and talking"));
  EXPECT_TRUE(on_irc("back and talking")) << e.immp->err();
}

}  // namespace
}  // namespace immp::test
