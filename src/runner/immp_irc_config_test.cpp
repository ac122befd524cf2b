// IMMP-form configs of immp.plug.irc.IRCPlug (tests/data/config/immp/irc*.yaml,
// each accepted by IMMP's own validator, see check_with_immp.py there): what
// every IMMP key parses to, and the defaults an IMMP user relies on. What
// the keys do on the wire is tested beside the plug (src/plugs/irc: pacing
// in irc_connection_test.cpp, puppets in irc_puppets_test.cpp, naming in
// irc_render_test.cpp) and against real servers (tests/integration).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <unistd.h>

#include "core/logging.hpp"
#include "plugs/irc/irc_plug.hpp"
#include "runner/runner.hpp"

namespace immp {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path kDir = fs::path(IMMP_SOURCE_DIR) / "tests/data/config/immp";

// A file built into a host (nothing started).
struct Loaded {
  asio::io_context io;
  std::unique_ptr<Runner> runner;

  explicit Loaded(const fs::path& file) { runner = std::make_unique<Runner>(file, io); }
  ~Loaded() {
    runner.reset();
    configure_logging(nullptr, kDir);  // the next test gets the defaults
  }
  plugs::IRCPlug& irc(const std::string& name) {
    auto* plug = dynamic_cast<plugs::IRCPlug*>(runner->host().plug(name));
    if (!plug) throw std::runtime_error("no IRC plug " + name);
    return *plug;
  }
};

// irc.yaml: only the keys IMMP requires; everything else is IMMP's default.
TEST(ImmpIrcConfig, DefaultsAreImmps) {
  Loaded loaded(kDir / "irc.yaml");
  EXPECT_TRUE(loaded.runner->warnings().empty());
  plugs::IRCPlug& irc = loaded.irc("libera");
  const Node& c = irc.config();
  EXPECT_EQ(c.at("server").at("host"), Node("irc.libera.example"));
  EXPECT_EQ(c.at("server").at("port"), Node(6667));
  EXPECT_EQ(c.at("server").at("ssl"), Node(false));
  EXPECT_EQ(c.at("user").at("nick"), Node("bridge"));
  EXPECT_EQ(c.at("user").at("real-name"), Node("IMMP bridge"));
  EXPECT_EQ(c.at("perform"), Node::list());
  EXPECT_EQ(c.at("quit"), Node("Disconnecting"));
  EXPECT_EQ(c.at("accept-invites"), Node(false));
  EXPECT_EQ(c.at("colour-nicks"), Node(false));
  EXPECT_EQ(c.at("quote-reply-to"), Node(true));
  EXPECT_EQ(c.at("puppet"), Node(false));
  EXPECT_EQ(c.at("puppet-prefix"), Node(""));
  EXPECT_EQ(c.at("send-delay"), Node(0.5));

  const irc::ConnectionOptions& o = irc.settings();
  EXPECT_EQ(o.host, "irc.libera.example");
  EXPECT_EQ(o.port, 6667);
  EXPECT_FALSE(o.tls);
  EXPECT_EQ(o.password, "");
  EXPECT_EQ(o.nick, "bridge");
  EXPECT_EQ(o.user, "immp") << "IMMP's ident";
  EXPECT_EQ(o.real_name, "IMMP bridge");
  // IMMP paces every line: 0.5 s after the one before, no burst.
  EXPECT_EQ(o.send_delay, 500ms);
  EXPECT_EQ(o.burst, 1u);
  EXPECT_TRUE(irc.quote_reply_to());
  EXPECT_EQ(irc.max_puppets(), 0u) << "no limit on puppets, as IMMP";
  EXPECT_EQ(irc.channel("#immp"), *loaded.runner->host().channel("room"));
}

// irc_all_keys.yaml: every IMMP key set; `password: null` as IMMP allows.
TEST(ImmpIrcConfig, EveryImmpKeyParses) {
  Loaded loaded(kDir / "irc_all_keys.yaml");
  EXPECT_TRUE(loaded.runner->warnings().empty());
  plugs::IRCPlug& libera = loaded.irc("libera");
  const Node& c = libera.config();
  EXPECT_EQ(c.at("perform"), Node(NodeList{Node("PRIVMSG NickServ :IDENTIFY bridge hunter2"),
                                           Node("MODE bridge +B")}));
  EXPECT_EQ(c.at("quit"), Node("Bridge going down"));
  EXPECT_EQ(c.at("accept-invites"), Node(true));
  EXPECT_EQ(c.at("colour-nicks"), Node(true));
  EXPECT_EQ(c.at("puppet"), Node(true));
  EXPECT_EQ(c.at("puppet-prefix"), Node("m-"));
  const irc::ConnectionOptions& o = libera.settings();
  EXPECT_EQ(o.port, 6697);
  EXPECT_TRUE(o.tls);
  EXPECT_EQ(o.password, "hunter2");
  EXPECT_EQ(o.user, "immp");
  EXPECT_EQ(o.send_delay, 2000ms) << "send-delay: 2.0 is two seconds";
  EXPECT_EQ(o.burst, 1u);
  EXPECT_FALSE(libera.quote_reply_to());
  EXPECT_EQ(libera.max_puppets(), 0u);

  plugs::IRCPlug& oftc = loaded.irc("oftc");
  EXPECT_TRUE(oftc.config().at("server").at("password").is_null());
  EXPECT_EQ(oftc.settings().password, "") << "null: no PASS";
  EXPECT_FALSE(oftc.settings().tls);
  EXPECT_EQ(oftc.settings().send_delay, 250ms);
  EXPECT_EQ(*loaded.runner->host().channel("oftc-private"), oftc.channel("alice"));
}

// A config IMMP refuses: this one checks only what immp says about it.
struct Written {
  fs::path dir = fs::temp_directory_path() / ("immp-irc-config-" + std::to_string(::getpid()));
  fs::path file = dir / "config.yaml";
  explicit Written(const std::string& irc_config) {
    fs::create_directories(dir);
    std::ofstream(file) << "plugs:\n  irc:\n    path: immp.plug.irc.IRCPlug\n    config:\n"
                           "      server: {host: irc.example, port: 6667}\n"
                           "      user: {nick: bridge, real-name: bridge}\n"
                        << irc_config;
  }
  ~Written() { fs::remove_all(dir); }
};

std::string refusal(const std::string& irc_config) {
  Written written(irc_config);
  asio::io_context io;
  try {
    Runner runner(written.file, io);
  } catch (const ConfigError& e) {
    configure_logging(nullptr, kDir);
    return e.what();
  }
  configure_logging(nullptr, kDir);
  return "";
}

// IMMP refuses an integer send-delay ("Expecting float but got int"); so
// do we, saying why: `500` meant milliseconds in earlier versions of immp.
TEST(ImmpIrcConfig, AnIntegerSendDelayIsRefusedAsImmpDoes) {
  std::string why = refusal("      send-delay: 500\n");
  EXPECT_NE(why.find("config.yaml:7:7: plugs.irc.config.send-delay: is in seconds and must be "
                     "a float, as IMMP requires: write 500.0 for 500 seconds (earlier versions of "
                     "immp took milliseconds: 500 ms is 0.500)"),
            std::string::npos)
      << why;
  EXPECT_NE(refusal("      send-delay: 1\n").find("write 1.0 for 1 seconds"), std::string::npos);
  EXPECT_NE(refusal("      send-delay: -0.5\n"), "");
  EXPECT_EQ(refusal("      send-delay: 0.0\n"), "") << "0.0: no pacing";
}

// Our extra keys default to IMMP's behaviour; setting them changes it.
TEST(ImmpIrcConfig, ExtraKeysCanChangeImmpsDefaults) {
  Written written(
      "      send-delay: 0.1\n      burst: 10\n      puppet: true\n      max-puppets: 3\n"
      "      user-extra: 1\n");
  asio::io_context io;
  {
    Runner runner(written.file, io);
    auto* irc = dynamic_cast<plugs::IRCPlug*>(runner.host().plug("irc"));
    ASSERT_NE(irc, nullptr);
    EXPECT_EQ(irc->settings().send_delay, 100ms);
    EXPECT_EQ(irc->settings().burst, 10u);
    EXPECT_EQ(irc->max_puppets(), 3u);
    ASSERT_EQ(runner.warnings().size(), 1u) << "an unknown key is a warning";
  }
  configure_logging(nullptr, kDir);
  EXPECT_NE(refusal("      max-puppets: 0\n"), "");
}

}  // namespace
}  // namespace immp
