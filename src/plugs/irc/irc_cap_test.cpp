#include "plugs/irc/irc_cap.hpp"

#include <gtest/gtest.h>

namespace immp::irc {
namespace {

CapReply cap(std::string_view raw) {
  auto line = parse_line(raw);
  EXPECT_TRUE(line) << raw;
  auto reply = parse_cap(*line);
  EXPECT_TRUE(reply) << raw;
  return reply.value_or(CapReply{});
}

TEST(IrcCap, ParsesAnLsListWithValues) {
  auto r = cap(":irc.test CAP * LS :multi-prefix sasl=PLAIN,EXTERNAL server-time");
  EXPECT_EQ(r.sub, "LS");
  EXPECT_FALSE(r.more);
  ASSERT_EQ(r.caps.size(), 3u);
  EXPECT_EQ(r.caps.at("sasl"), "PLAIN,EXTERNAL");
  EXPECT_EQ(r.caps.at("multi-prefix"), "");
}

TEST(IrcCap, MultilineLsSaysMoreFollows) {
  auto r = cap(":irc.test CAP * LS * :echo-message batch");
  EXPECT_TRUE(r.more);
  EXPECT_EQ(r.caps.size(), 2u);
  EXPECT_FALSE(cap(":irc.test CAP nick LS :away-notify").more);
}

TEST(IrcCap, AckAndNakNameTheirCaps) {
  auto r = cap(":irc.test CAP nick ack :echo-message server-time");
  EXPECT_EQ(r.sub, "ACK");
  EXPECT_EQ(r.caps.count("echo-message"), 1u);
  EXPECT_EQ(cap(":irc.test CAP nick NAK :sasl").caps.count("sasl"), 1u);
}

TEST(IrcCap, NotACapReply) {
  auto line = parse_line(":irc.test CAP");
  ASSERT_TRUE(line);
  EXPECT_FALSE(parse_cap(*line));
  auto privmsg = parse_line(":a!b@c PRIVMSG #x :CAP * LS :sasl");
  EXPECT_FALSE(parse_cap(*privmsg));
}

TEST(IrcCap, ChoosesOnlyOfferedCapsAndSaslWhenConfigured) {
  std::map<std::string, std::string> offered{
      {"echo-message", ""}, {"sasl", "PLAIN"}, {"unknown-cap", ""}, {"server-time", ""}};
  auto chosen = choose_caps(offered, false);
  EXPECT_EQ(chosen, (std::vector<std::string>{"server-time", "echo-message"}));
  auto with_sasl = choose_caps(offered, true);
  EXPECT_EQ(with_sasl.back(), "sasl");
  EXPECT_TRUE(choose_caps({}, true).empty());
}

TEST(IrcCap, SaslMechanismList) {
  EXPECT_EQ(sasl_mechanisms("PLAIN,external"), (std::set<std::string>{"EXTERNAL", "PLAIN"}));
  EXPECT_TRUE(sasl_mechanisms("").empty());
}

TEST(IrcCap, Base64MatchesRfc4648Vectors) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
}

TEST(IrcCap, PlainPayloadAndChunks) {
  // The example of the IRCv3 SASL specification.
  auto chunks = sasl_chunks(sasl_plain_payload("jilles", "sesame"));
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0], "AGppbGxlcwBzZXNhbWU=");
  // Exactly 400 bytes of base64 (300 raw) needs a closing "+".
  auto exact = sasl_chunks(std::string(300, 'x'));
  ASSERT_EQ(exact.size(), 2u);
  EXPECT_EQ(exact[0].size(), 400u);
  EXPECT_EQ(exact[1], "+");
  auto longer = sasl_chunks(std::string(301, 'x'));
  ASSERT_EQ(longer.size(), 2u);
  EXPECT_EQ(longer[1].size(), 4u);
  EXPECT_EQ(sasl_chunks(""), (std::vector<std::string>{"+"}));
}

}  // namespace
}  // namespace immp::irc
