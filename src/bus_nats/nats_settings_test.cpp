#include "bus_nats/nats_settings.hpp"

#include <gtest/gtest.h>

#include "plugs/memory/memory_plug.hpp"
#include "support/memory.hpp"

namespace immp::bus_nats {
namespace {

class NatsSettingsTest : public ::testing::Test {
 protected:
  NatsSettingsTest() : host(io.get_executor()), mem(test::add_memory_plug(host, "irc")) {
    host.add_channel("lobby", mem.channel("#lobby"));
  }

  // The `bus` section from YAML, validated and read.
  NatsSettings read(const std::string& yaml) {
    Node root = parse_config(yaml, ConfigFormat::yaml, "config.yaml");
    Node& bus = *root.find("bus");
    bus.set_path("bus");
    bus.repath();
    validate(bus, *bus_schema());
    return read_nats_settings(bus, host);
  }
  // The error a bad section gives.
  std::string error(const std::string& yaml) {
    try {
      read(yaml);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(no error)";
  }

  asio::io_context io;
  Host host;
  plugs::MemoryPlug& mem;
};

TEST_F(NatsSettingsTest, ReadsUrlsPrefixBridgesAndJetStream) {
  auto s = read(
      "bus:\n"
      "  url: nats://127.0.0.1:4222, nats://127.0.0.1:4223\n"
      "  prefix: alpha\n"
      "  bridges:\n"
      "    - {channel: lobby, remote: 'beta/irc/#lobby'}\n"
      "    - {channel: 'irc/#other', remote: 'gamma/xmpp/room@muc.example'}\n"
      "  jetstream: {replicas: 3, storage: memory}\n");
  EXPECT_EQ(s.servers, (std::vector<std::string>{"nats://127.0.0.1:4222", "nats://127.0.0.1:4223"}));
  EXPECT_EQ(s.subjects.prefix, "alpha");
  EXPECT_EQ(s.subjects.root, "immp");
  ASSERT_EQ(s.bridges.size(), 2u);
  EXPECT_EQ(s.bridges[0].channel, mem.channel("#lobby"));
  EXPECT_EQ(s.bridges[0].remote.str(), "beta/irc/#lobby");
  EXPECT_EQ(s.bridges[1].channel, mem.channel("#other"));
  EXPECT_EQ(s.bridges[1].remote.source, "room@muc.example");
  EXPECT_TRUE(s.jetstream.enabled);
  EXPECT_EQ(s.jetstream.stream, "immp_alpha");
  EXPECT_EQ(s.jetstream.replicas, 3);
  EXPECT_TRUE(s.jetstream.memory);
  EXPECT_TRUE(s.publish);
  EXPECT_TRUE(s.requests);
}

TEST_F(NatsSettingsTest, AListOfUrlsAndTheHostnameAsPrefix) {
  auto s = read("bus:\n  url: [nats://a:1, 'tls://user:pw@b:2']\n");
  EXPECT_EQ(s.servers.size(), 2u);
  EXPECT_FALSE(s.subjects.prefix.empty());
  EXPECT_EQ(s.subjects.prefix.find('.'), std::string::npos);
  EXPECT_FALSE(s.jetstream.enabled);
  EXPECT_FALSE(wants_nats(nullptr));
}

TEST_F(NatsSettingsTest, MistakesNameTheKeyAndWhatIsWrong) {
  EXPECT_EQ(error("bus:\n  url: http://127.0.0.1:4222\n"),
            "config.yaml:2:3: bus.url: 'http://127.0.0.1:4222': the scheme must be nats:// or "
            "tls://, not http://");
  EXPECT_EQ(error("bus:\n  url: nats://127.0.0.1:99999\n"),
            "config.yaml:2:3: bus.url: 'nats://127.0.0.1:99999': the port must be 1 to 65535");
  EXPECT_EQ(error("bus:\n  url: 127.0.0.1\n"),
            "config.yaml:2:3: bus.url: '127.0.0.1' is not a NATS url: expected nats://host:port");
  EXPECT_EQ(error("bus:\n  url: nats://a:1\n  prefix: my.host\n"),
            "config.yaml:3:3: bus.prefix: 'my.host': a prefix is letters, digits, '-' and '_' "
            "only (one subject token)");
  EXPECT_EQ(error("bus:\n  url: nats://a:1\n  bridges: [{channel: nope, remote: b/irc/x}]\n"),
            "config.yaml:3:14: bus.bridges[0].channel: no channel 'nope' on this host (a name "
            "under channels, or plug/source)");
  EXPECT_EQ(error("bus:\n  url: nats://a:1\n  bridges: [{channel: lobby, remote: beta}]\n"),
            "config.yaml:3:30: bus.bridges[0].remote: 'beta': expected prefix/plug/source "
            "(another host's channel)");
  EXPECT_EQ(error("bus:\n  url: nats://a:1\n  prefix: alpha\n  bridges: [{channel: lobby, remote: alpha/irc/x}]\n"),
            "config.yaml:4:30: bus.bridges[0].remote: 'alpha/irc/x' names this host's own prefix "
            "'alpha': a bridge joins another host");
  EXPECT_EQ(error("bus:\n  url: nats://a:1\n  jetstream: {replicas: 7}\n"),
            "config.yaml:3:15: bus.jetstream.replicas: must be 1 to 5");
  EXPECT_EQ(error("bus:\n  url: nats://a:1\n  jetstream: {storage: disk}\n"),
            "config.yaml:3:15: bus.jetstream.storage: 'disk': expected file or memory");
  EXPECT_EQ(error("bus:\n  url: 12\n"), "config.yaml:2:3: bus.url: expected a string or a list, got an integer");
}

}  // namespace
}  // namespace immp::bus_nats
