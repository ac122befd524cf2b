#include "plugs/xmpp/xmpp_xml.hpp"

#include <gtest/gtest.h>

#include <string>

namespace immp::xmpp {
namespace {

constexpr std::string_view kOpen =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' from='example.org' id='s1' version='1.0'>";

// The stream header, then `rest`. (Not `std::string(kOpen) + "..."`: GCC 12
// warns falsely of array bounds on that at -O2.)
std::string opened(std::string_view rest) {
  std::string s;
  s.reserve(kOpen.size() + rest.size());
  s.append(kOpen);
  s.append(rest);
  return s;
}

std::vector<StreamEvent> drain(StreamParser& p) {
  std::vector<StreamEvent> out;
  while (auto e = p.next()) out.push_back(std::move(*e));
  return out;
}

TEST(XmppXml, CutsTheStreamIntoStanzasWhateverTheChunks) {
  std::string wire = opened("<message to='a@b' type='groupchat' xml:lang='en'><body>hi &amp; "
                     "&lt;there&gt; &#x1F600;</body><x xmlns='urn:unknown'><y/></x></message>"
                     "  \n<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq></stream:stream>");
  // Byte by byte and at once give the same events.
  for (std::size_t chunk : {std::size_t(1), std::size_t(7), wire.size()}) {
    StreamParser p;
    for (std::size_t i = 0; i < wire.size(); i += chunk) {
      ASSERT_FALSE(p.feed(std::string_view(wire).substr(i, chunk))) << chunk;
    }
    auto events = drain(p);
    ASSERT_EQ(events.size(), 4u) << chunk;
    EXPECT_EQ(events[0].kind, StreamEvent::Kind::open);
    EXPECT_EQ(events[0].element.attr("id"), "s1");
    const Element& m = events[1].element;
    EXPECT_TRUE(m.is("message", "jabber:client"));
    EXPECT_EQ(m.attr("xml:lang"), "en");
    EXPECT_EQ(m.child_text("body"), "hi & <there> \xF0\x9F\x98\x80");
    ASSERT_NE(m.child("x", "urn:unknown"), nullptr);
    EXPECT_NE(m.child("x", "urn:unknown")->child("y"), nullptr);
    EXPECT_TRUE(events[2].element.child("ping", "urn:xmpp:ping"));
    EXPECT_EQ(events[3].kind, StreamEvent::Kind::close);
  }
}

TEST(XmppXml, SerialisesWithEscapesAndOnlyTheNeededNamespaces) {
  Element m("message", "jabber:client");
  m.set("to", "room@muc.example").set("type", "groupchat").set("id", "a'b\"c");
  m.add("body", "jabber:client", "1 < 2 & 3 > \x02" "bold\x02");
  m.add("origin-id", "urn:xmpp:sid:0").set("id", "x");
  std::string xml = m.str("jabber:client");
  EXPECT_EQ(xml,
            "<message to='room@muc.example' type='groupchat' id='a&apos;b&quot;c'>"
            "<body>1 &lt; 2 &amp; 3 &gt; \xEF\xBF\xBD" "bold\xEF\xBF\xBD</body>"
            "<origin-id xmlns='urn:xmpp:sid:0' id='x'/></message>");
  // It reads back as written.
  StreamParser p;
  ASSERT_FALSE(p.feed(opened(xml)));
  auto events = drain(p);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].element.attr("id"), "a'b\"c");
  EXPECT_EQ(events[1].element.child("origin-id", "urn:xmpp:sid:0")->attr("id"), "x");
}

// Found by the fuzzer: an element in the xml namespace ("xml:" is bound by
// XML itself) was written as a default-namespace declaration of that URI,
// which no parser accepts, so a relayed stanza would have broken our stream.
TEST(XmppXml, ElementsInTheXmlNamespaceKeepTheirPrefix) {
  StreamParser p;
  ASSERT_FALSE(p.feed(opened("<message type='groupchat'><xml:odd xmlns='urn:x'><y/></xml:odd>"
                             "<z/></message>")));
  auto events = drain(p);
  ASSERT_EQ(events.size(), 2u);
  std::string xml = events[1].element.str("jabber:client");
  EXPECT_EQ(xml, "<message type='groupchat'><xml:odd><y xmlns='urn:x'/></xml:odd><z/></message>");
  StreamParser again;
  ASSERT_FALSE(again.feed(opened(xml)));
  auto back = drain(again);
  ASSERT_EQ(back.size(), 2u);
  const Element* odd = back[1].element.child("odd", "http://www.w3.org/XML/1998/namespace");
  ASSERT_NE(odd, nullptr);
  EXPECT_NE(odd->child("y", "urn:x"), nullptr);
  EXPECT_NE(back[1].element.child("z", "jabber:client"), nullptr);
}

TEST(XmppXml, InvalidUtf8IsReplacedWhenWritten) {
  EXPECT_EQ(escape("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(escape("\xEF\xBF\xBE"), "\xEF\xBF\xBD");  // U+FFFE is not an XML character
}

std::optional<ParseError> feed_all(StreamParser& p, std::string_view text) {
  return p.feed(text);
}

TEST(XmppXml, RefusesEntityExpansionWithoutExpandingAnything) {
  StreamParser p;
  auto e = feed_all(p,
                    "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
                    "<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>]>"
                    "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>&lol2;");
  ASSERT_TRUE(e);
  EXPECT_NE(e->what.find("document type declaration"), std::string::npos) << e->str();
  EXPECT_EQ(e->line, 1u);
  EXPECT_FALSE(p.has_event());
  // Nothing more is parsed after an error.
  EXPECT_TRUE(p.feed("<more/>"));
}

TEST(XmppXml, RefusesAnUndeclaredEntity) {
  StreamParser p;
  auto e = feed_all(p, opened("<message><body>&foo;</body></message>"));
  ASSERT_TRUE(e);
  EXPECT_NE(e->str().find("entity"), std::string::npos) << e->str();
}

TEST(XmppXml, RefusesDeepNestingNamingTheElement) {
  StreamParser p(ParseLimits{1024 * 1024, 16});
  std::string deep = opened("<message>");
  for (int i = 0; i < 10000; ++i) deep += "<a>";
  auto e = feed_all(p, deep);
  ASSERT_TRUE(e);
  EXPECT_NE(e->what.find("deeper than 16 levels (at <a>)"), std::string::npos) << e->str();
  EXPECT_EQ(e->line, 1u);
  EXPECT_GT(e->column, kOpen.size());
  // The stream header was read before the bad stanza, and kept.
  ASSERT_TRUE(p.has_event());
  EXPECT_EQ(p.next()->kind, StreamEvent::Kind::open);
}

TEST(XmppXml, RefusesAHugeStanzaBeforeBufferingIt) {
  StreamParser p(ParseLimits{64 * 1024, 32});
  ASSERT_FALSE(p.feed(kOpen));
  ASSERT_FALSE(p.feed("<message><body>"));
  std::string chunk(4096, 'x');
  std::optional<ParseError> e;
  std::size_t sent = 0;
  while (!e && sent < 10 * 1024 * 1024) {
    e = p.feed(chunk);
    sent += chunk.size();
  }
  ASSERT_TRUE(e);
  EXPECT_LT(sent, 128u * 1024) << "the limit was checked late";
  EXPECT_NE(e->what.find("larger than 65536 bytes"), std::string::npos) << e->str();
  // A huge start tag (one unbounded attribute) is cut off as early.
  StreamParser q(ParseLimits{64 * 1024, 32});
  ASSERT_FALSE(q.feed(kOpen));
  ASSERT_FALSE(q.feed("<message to='"));
  e.reset();
  sent = 0;
  while (!e && sent < 10 * 1024 * 1024) {
    e = q.feed(chunk);
    sent += chunk.size();
  }
  ASSERT_TRUE(e);
  EXPECT_LT(sent, 128u * 1024);
}

TEST(XmppXml, ManySmallStanzasAreNotOneBigOne) {
  StreamParser p(ParseLimits{1024, 32});
  ASSERT_FALSE(p.feed(kOpen));
  for (int i = 0; i < 1000; ++i) {
    ASSERT_FALSE(p.feed("<message><body>hello there</body></message> ")) << i;
  }
  EXPECT_EQ(drain(p).size(), 1001u);
}

TEST(XmppXml, RefusesCommentsProcessingInstructionsAndStrayText) {
  for (std::string bad : {"<!-- hi -->", "<?php echo 1; ?>", "hello"}) {
    StreamParser p;
    auto e = feed_all(p, opened(bad));
    ASSERT_TRUE(e) << bad;
    EXPECT_FALSE(e->what.empty());
  }
}

TEST(XmppXml, RefusesAStreamThatIsNotAStream) {
  StreamParser p;
  auto e = feed_all(p, "<html><body>");
  ASSERT_TRUE(e);
  EXPECT_NE(e->what.find("<stream:stream>"), std::string::npos);
}

TEST(XmppXml, ReportsMalformedXmlWithItsPosition) {
  StreamParser p;
  auto e = feed_all(p, opened("\n<message><body>x</message>"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->line, 2u);
  EXPECT_NE(e->str().find("malformed XML: mismatched tag"), std::string::npos) << e->str();
}

TEST(XmppXml, ResetStartsANewStream) {
  StreamParser p;
  ASSERT_FALSE(p.feed(opened("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")));
  EXPECT_EQ(drain(p).size(), 2u);
  p.reset();
  ASSERT_FALSE(p.feed(opened("<a/>")));
  auto events = drain(p);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, StreamEvent::Kind::open);
}

}  // namespace
}  // namespace immp::xmpp
