// The bot hooks as users meet them: the real `immp -w` binary on a real
// ngircd, people typing in a channel and in private, and the test reading
// exactly what the bot answers and where. One ngircd for the whole suite.
#include <gtest/gtest.h>

#include <cctype>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/irc_client.hpp"
#include "support/irc_server.hpp"
#include "support/process.hpp"

namespace immp::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string immp_binary() { return (fs::path(IMMP_BINARY_DIR) / "immp").string(); }

// The config, with `# comment`-free lines the test looks for afterwards.
std::string config(int port, const std::string& admin) {
  return "plugs:\n"
         "  irc:\n"
         "    path: immp.plug.irc.IRCPlug\n"
         "    config:\n"
         "      server: {host: 127.0.0.1, port: " +
         std::to_string(port) +
         "}\n"
         "      user: {nick: bot, real-name: immp bot}\n"
         "channels:\n"
         "  lobby: {plug: irc, source: '#lobby'}\n"
         "groups:\n"
         "  public:\n"
         "    channels: [lobby]\n"
         "  staff:\n"
         "    private: [irc]\n"
         "hooks:\n"
         "  text:\n"
         "    path: immp.hook.textcommand.TextCommandHook\n"
         "    config:\n"
         "      commands: {rules: Be nice.}\n"
         "  autorespond:\n"
         "    path: immp.hook.autorespond.AutoRespondHook\n"
         "    config:\n"
         "      groups: [public]\n"
         "      responses:\n"
         "        '\\bhello bot\\b': Hello!\n"
         "  commands:\n"
         "    path: immp.hook.command.CommandHook\n"
         "    config:\n"
         "      prefix: ['?']\n"
         "      mapping:\n"
         "        public:\n"
         "          groups: [public]\n"
         "          hooks: [commands, text, autorespond]\n"
         "        staff:\n"
         "          groups: [staff]\n"
         "          hooks: [commands, runner]\n"
         "          admins:\n"
         "            irc: ['" +
         admin + "']\n";
}

class BotsOnIrc : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (NgircdServer::available()) server_ = new NgircdServer();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (!server_) GTEST_SKIP() << "ngircd is not installed";
  }

  // alice joins #lobby first, so that the config can name her as an admin
  // by her full IRC id (nick!user@host, as the server gives it).
  void start(const std::string& nick) {
    alice_ = std::make_unique<IrcClient>(server_->port(), nick);
    alice_->join("#lobby");
    std::string id = nick;
    for (const auto& l : alice_->lines()) {
      if (l.command == "JOIN" && l.nick == nick) id = l.nick + "!" + l.user + "@" + l.host;
    }
    file_ = dir_.path() / "bots.yaml";
    std::ofstream(file_) << config(server_->port(), id);
    immp_ =
        std::make_unique<Process>(std::vector<std::string>{immp_binary(), "-w", file_.string()});
    ASSERT_TRUE(immp_->wait_for(Stream::err, "Host ready", 10s)) << immp_->err();
    // The bot is in the channel once alice sees it join.
    ASSERT_TRUE(alice_->wait_for(
        [](const irc::Line& l) { return l.command == "JOIN" && l.nick == "bot"; }, 10s))
        << immp_->err();
  }

  // alice says `text` to `target`; returns the bot's answer to `where`.
  std::optional<std::string> ask(const std::string& target, const std::string& text,
                                 const std::string& where) {
    alice_->say(target, text);
    auto answer = alice_->wait_for(
        [&](const irc::Line& l) {
          return l.command == "PRIVMSG" && l.nick == "bot" && l.param(0) == where;
        },
        10s);
    if (!answer) return std::nullopt;
    return plain(answer->param(1));
  }

  // IRC text without its formatting codes (bold, italic, colours, ...).
  static std::string plain(const std::string& text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
      char c = text[i];
      if (c == '\x03') {
        while (i + 1 < text.size() &&
               (std::isdigit(static_cast<unsigned char>(text[i + 1])) || text[i + 1] == ',')) {
          ++i;
        }
      } else if (c != '\x02' && c != '\x1d' && c != '\x1f' && c != '\x1e' && c != '\x11' &&
                 c != '\x0f' && c != '\x16') {
        out.push_back(c);
      }
    }
    return out;
  }

  // The bot's next line to `where`.
  std::optional<std::string> next(const std::string& where) {
    auto line = alice_->wait_for(
        [&](const irc::Line& l) {
          return l.command == "PRIVMSG" && l.nick == "bot" && l.param(0) == where;
        },
        10s);
    if (!line) return std::nullopt;
    return plain(line->param(1));
  }

  void stop_cleanly() {
    immp_->signal(SIGTERM);
    auto begin = std::chrono::steady_clock::now();
    EXPECT_EQ(immp_->wait(5s), 0) << immp_->err();
    EXPECT_LT(std::chrono::steady_clock::now() - begin, 1s) << "stopped too slowly";
  }

  static NgircdServer* server_;
  TempDir dir_{"immp-bots-irc"};
  fs::path file_;
  std::unique_ptr<IrcClient> alice_;
  std::unique_ptr<Process> immp_;
};

NgircdServer* BotsOnIrc::server_ = nullptr;

TEST_F(BotsOnIrc, CommandsAndResponsesAnswerInTheChannelAndHelpInPrivate) {
  start("alice");
  EXPECT_EQ(ask("#lobby", "?rules", "#lobby"), "Be nice.");
  EXPECT_EQ(ask("#lobby", "well hello bot!", "#lobby"), "Hello!");
  // A wrong use gets the usage: two lines, each its own PRIVMSG on IRC.
  EXPECT_EQ(ask("#lobby", "?rules now", "#lobby"), "rules:");
  EXPECT_EQ(next("#lobby"), "Answers with a fixed text.");
  // In private, alice (an admin there) is offered the runner's commands.
  alice_->say("bot", "?help");
  std::vector<std::string> help;
  while (help.empty() || help.back() != "- run-write") {
    auto line = next("alice");
    ASSERT_TRUE(line) << immp_->err();
    help.push_back(*line);
  }
  EXPECT_EQ(help, (std::vector<std::string>{"Available commands:", "- help [command]", "- reload",
                                            "- run-write"}));
  stop_cleanly();
}

TEST_F(BotsOnIrc, ArAddIsWrittenBackAndTheRestOfTheFileIsIntact) {
  start("alice");
  EXPECT_EQ(ask("#lobby", "?ar-add \"good (morning|night)\" \"Good {0}, {0}!\"", "#lobby"),
            "\xE2\x9C\x85 Added");
  EXPECT_EQ(ask("#lobby", "good night all", "#lobby"), "Good night, night!");
  EXPECT_EQ(ask("bot", "?run-write", "alice"), "\xE2\x9C\x85 Written");
  // Not written on request: `-w` alone must keep it.
  EXPECT_EQ(ask("#lobby", "?ar-add 'see you' 'Bye for now'", "#lobby"), "\xE2\x9C\x85 Added");
  EXPECT_EQ(ask("#lobby", "ok see you", "#lobby"), "Bye for now");
  stop_cleanly();
  std::string after = test::read_file(file_);
  EXPECT_NE(after.find("good (morning|night)"), std::string::npos) << after;
  EXPECT_NE(after.find("Good {0}, {0}!"), std::string::npos) << after;
  EXPECT_NE(after.find("see you"), std::string::npos) << after;
  EXPECT_NE(after.find("Bye for now"), std::string::npos) << after;
  // Everything else is still there.
  for (const char* kept : {"immp.hook.textcommand.TextCommandHook", "rules: Be nice.", "hello bot",
                           "Hello!", "prefix:", "admins:", "real-name: immp bot", "#lobby"}) {
    EXPECT_NE(after.find(kept), std::string::npos) << kept << " lost:\n" << after;
  }
  EXPECT_EQ(after.find("runner:"), std::string::npos) << "the runner's own hook is not written";
}

TEST_F(BotsOnIrc, ReloadAppliesAChangedFileForAnAdminOnly) {
  start("alice");
  // Someone else cannot reload (not an admin): no answer, not even help.
  IrcClient mallory(server_->port(), "mallory");
  mallory.say("bot", "?reload");
  mallory.say("bot", "?help");
  auto help = mallory.wait_for(
      [](const irc::Line& l) { return l.command == "PRIVMSG" && l.nick == "bot"; }, 10s);
  ASSERT_TRUE(help);
  EXPECT_EQ(plain(help->param(1)), "Available commands:") << "the first answer is to ?help";
  // alice changes the file and reloads.
  std::string text = test::read_file(file_);
  auto at = text.find("rules: Be nice.");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, std::string("rules: Be nice.").size(), "rules: Be very nice.");
  std::ofstream(file_) << text;
  EXPECT_EQ(ask("bot", "?reload", "alice"), "\xE2\x9C\x85 Reloaded");
  EXPECT_EQ(ask("#lobby", "?rules", "#lobby"), "Be very nice.");
  stop_cleanly();
}

}  // namespace
}  // namespace immp::test
