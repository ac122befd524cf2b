#include "plugs/xmpp/xmpp_component.hpp"

#include <gtest/gtest.h>

namespace immp::xmpp {
namespace {

TEST(XmppComponent, APuppetsJidIsStableSafeAndKeepsUsersApart) {
  EXPECT_EQ(puppet_local_part("irc", "bob"), "irc.bob");
  EXPECT_EQ(puppet_local_part("irc", "bob"), puppet_local_part("irc", "bob"));
  // Case and punctuation would fold two users into one: a hash keeps them apart.
  std::string upper = puppet_local_part("irc", "Bob");
  EXPECT_NE(upper, puppet_local_part("irc", "bob"));
  EXPECT_NE(puppet_local_part("irc", "a b"), puppet_local_part("irc", "a_b"));
  for (const auto& id :
       {std::string("Bob"), std::string("ünï cödé@x/y z"), std::string(300, 'x'), std::string()}) {
    std::string local = puppet_local_part("Discord Net", id);
    EXPECT_LE(local.size(), 64u) << local;
    for (char c : local) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                  c == '_')
          << local;
    }
  }
  EXPECT_NE(puppet_local_part("irc", "x"), puppet_local_part("web", "x"));
}

TEST(XmppComponent, ANickKeepsTheNameButNotWhatRoomsRefuse) {
  EXPECT_EQ(puppet_nick("Bob Smith"), "Bob Smith");
  EXPECT_EQ(puppet_nick("  a/b\x01 "), "ab");
  EXPECT_EQ(puppet_nick(""), "user");
  EXPECT_EQ(puppet_nick(std::string(100, 'n')).size(), 48u);
}

TEST(XmppComponent, StanzasAreWrittenInTheComponentNamespace) {
  Element m("message", std::string(kNsClient));
  m.add("body", std::string(kNsClient), "hi");
  m.add("origin-id", "urn:xmpp:sid:0").set("id", "1");
  to_component_namespace(m);
  EXPECT_EQ(m.str(kNsComponent),
            "<message><body>hi</body><origin-id xmlns='urn:xmpp:sid:0' id='1'/></message>");
}

TEST(XmppComponent, PuppetsAreKeptPerRoomAndFoundByNickAndJid) {
  Puppets p("bridge.example");
  Puppet& bob = p.get("Room@muc.example", "irc", "bob", "Bob");
  EXPECT_EQ(bob.jid, "irc.bob@bridge.example/immp");
  EXPECT_EQ(bob.nick, "Bob");
  EXPECT_EQ(p.by_nick("room@muc.example", "Bob"), nullptr) << "not in the room yet";
  bob.state = Puppet::State::joined;
  EXPECT_EQ(p.by_nick("room@muc.example", "Bob"), &bob);
  EXPECT_EQ(p.by_jid("room@muc.example", "irc.bob@bridge.example/immp"), &bob);
  EXPECT_NE(&p.get("other@muc.example", "irc", "bob", "Bob"), &bob);
  EXPECT_TRUE(p.is_ours("irc.bob@Bridge.Example/immp"));
  EXPECT_FALSE(p.is_ours("alice@example"));
  p.all_out();
  EXPECT_EQ(p.by_nick("room@muc.example", "Bob"), nullptr);
  EXPECT_TRUE(p.present("room@muc.example").empty());
}

}  // namespace
}  // namespace immp::xmpp
