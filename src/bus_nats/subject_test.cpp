#include "bus_nats/subject.hpp"

#include <gtest/gtest.h>

#include "plugs/memory/memory_plug.hpp"
#include "support/memory.hpp"

namespace immp::bus_nats {
namespace {

TEST(NatsSubject, ChannelNamesStayOneTokenWhateverTheyHold) {
  EXPECT_EQ(escape_token("lobby"), "lobby");
  EXPECT_EQ(escape_token("#immp"), "%23immp");
  // Dots, spaces and wildcards would split the subject or match others.
  EXPECT_EQ(escape_token("a.b c"), "a%2Eb%20c");
  EXPECT_EQ(escape_token("*"), "%2A");
  EXPECT_EQ(escape_token(">"), "%3E");
  EXPECT_EQ(escape_token("100%"), "100%25");
  EXPECT_EQ(escape_token(""), "%");
  EXPECT_EQ(escape_token("caf\xc3\xa9"), "caf%C3%A9");
  for (std::string s : {"", "#a.b c", "*", ">", "%", "%25", "x\ny", "caf\xc3\xa9", "!room:matrix.org"}) {
    auto token = escape_token(s);
    EXPECT_EQ(token.find_first_of(". *>\t\r\n"), std::string::npos) << token;
    EXPECT_EQ(unescape_token(token), s) << token;
  }
  EXPECT_FALSE(unescape_token("a.b"));
  EXPECT_FALSE(unescape_token("%2"));
  EXPECT_FALSE(unescape_token("%2e"));  // one spelling per name
  EXPECT_FALSE(unescape_token(""));
}

TEST(NatsSubject, EventSubjectsCarryPlugChannelAndKind) {
  asio::io_context io;
  Host host(io.get_executor());
  auto& irc = test::add_memory_plug(host, "irc.net");
  Subjects subjects{"immp", "alpha"};
  EXPECT_EQ(subjects.event(irc.channel("#a.b"), bus::Kind::message), "immp.alpha.irc%2Enet.%23a%2Eb.message");
  EXPECT_EQ(subjects.event(irc.channel("*"), bus::Kind::remove), "immp.alpha.irc%2Enet.%2A.delete");
  EXPECT_EQ(subjects.channel_events("beta", "irc", "#lobby"), "immp.beta.irc.%23lobby.*");
  EXPECT_EQ(subjects.stream(), "immp.alpha.*.*.*");
  EXPECT_EQ(subjects.send(), "immp.alpha.send");
}

TEST(NatsSubject, RemoteChannelsAreHostPlugAndSource) {
  auto r = parse_remote("beta/irc/#lobby");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->prefix, "beta");
  EXPECT_EQ(r->plug, "irc");
  EXPECT_EQ(r->source, "#lobby");
  auto slashes = parse_remote("beta/web/rooms/1");
  ASSERT_TRUE(slashes);
  EXPECT_EQ(slashes->source, "rooms/1");
  EXPECT_FALSE(parse_remote("beta/irc"));
  EXPECT_FALSE(parse_remote("beta/irc/"));
  EXPECT_FALSE(parse_remote("/irc/#a"));
  EXPECT_FALSE(parse_remote("beta//#a"));
  EXPECT_EQ(js_name("immp_alpha.b c"), "immp_alpha_b_c");
}

}  // namespace
}  // namespace immp::bus_nats
