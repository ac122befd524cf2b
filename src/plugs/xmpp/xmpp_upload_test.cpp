#include "plugs/xmpp/xmpp_upload.hpp"

#include <gtest/gtest.h>

namespace immp::xmpp {
namespace {

// The one stanza in `xml`, parsed as the stream would.
Element parse(const std::string& xml) {
  StreamParser p;
  auto error = p.feed(
      "<stream:stream xmlns='jabber:client' "
      "xmlns:stream='http://etherx.jabber.org/streams'>" +
      xml);
  EXPECT_FALSE(error) << error->str();
  p.next();  // the stream's opening
  auto e = p.next();
  EXPECT_TRUE(e.has_value());
  return e ? e->element : Element();
}

TEST(XmppUpload, AServiceIsKnownByItsFeatureAndTellsItsLargestFile) {
  auto info = parse(
      "<iq type='result' from='upload.example' id='1'>"
      "<query xmlns='http://jabber.org/protocol/disco#info'>"
      "<identity category='store' type='file' name='HTTP File Upload'/>"
      "<feature var='urn:xmpp:http:upload:0'/>"
      "<x type='result' xmlns='jabber:x:data'>"
      "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:http:upload:0</value></field>"
      "<field var='max-file-size'><value>5242880</value></field></x></query></iq>");
  auto s = parse_upload_service(info, "upload.example");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->jid, "upload.example");
  EXPECT_EQ(s->max_size, 5242880u);
}

TEST(XmppUpload, AServiceWithoutTheFeatureIsNone) {
  auto info = parse(
      "<iq type='result' from='conference.example' id='1'>"
      "<query xmlns='http://jabber.org/protocol/disco#info'>"
      "<identity category='conference' type='text'/>"
      "<feature var='http://jabber.org/protocol/muc'/></query></iq>");
  EXPECT_FALSE(parse_upload_service(info, "conference.example"));
  auto error = parse(
      "<iq type='error' from='x' id='1'><error type='cancel'>"
      "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
  EXPECT_FALSE(parse_upload_service(error, "x"));
}

TEST(XmppUpload, TheSlotRequestNamesTheFile) {
  std::string xml =
      slot_request("upload.example", "cat.png", 1234, "image/png").str("jabber:client");
  EXPECT_EQ(xml,
            "<iq type='get' to='upload.example'><request xmlns='urn:xmpp:http:upload:0' "
            "filename='cat.png' size='1234' content-type='image/png'/></iq>");
}

TEST(XmppUpload, ASlotKeepsOnlyTheHeadersTheStandardAllows) {
  auto answer = parse(
      "<iq type='result' from='upload.example' id='1'>"
      "<slot xmlns='urn:xmpp:http:upload:0'>"
      "<put url='https://upload.example/put/cat.png'>"
      "<header name='Authorization'>Basic Zm9v</header>"
      "<header name='Host'>evil.example</header>"
      "<header name='Cookie'>a=1&#10;X-Injected: yes</header>"
      "</put><get url='https://upload.example/get/cat.png'/></slot></iq>");
  SlotAnswer a = parse_slot(answer);
  ASSERT_TRUE(a.slot) << a.error;
  EXPECT_EQ(a.slot->put_url, "https://upload.example/put/cat.png");
  EXPECT_EQ(a.slot->get_url, "https://upload.example/get/cat.png");
  ASSERT_EQ(a.slot->headers.size(), 1u);
  EXPECT_EQ(a.slot->headers[0].first, "Authorization");
}

TEST(XmppUpload, ARefusalSaysWhy) {
  auto answer = parse(
      "<iq type='error' from='upload.example' id='1'><error type='modify'>"
      "<not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
      "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>File too large</text></error></iq>");
  SlotAnswer a = parse_slot(answer);
  EXPECT_FALSE(a.slot);
  EXPECT_EQ(a.error, "not-acceptable (File too large)");
  SlotAnswer empty = parse_slot(parse("<iq type='result' id='1'/>"));
  EXPECT_FALSE(empty.slot);
  EXPECT_NE(empty.error.find("no slot"), std::string::npos);
}

TEST(XmppUpload, AFileNobodyCanFetchIsShownAsWhatItWas) {
  File f;
  f.title = "cat.png";
  f.type = File::Type::image;
  EXPECT_EQ(file_stand_in(f), "[image: cat.png]");
  EXPECT_EQ(file_stand_in(File{}), "[file]");
}

}  // namespace
}  // namespace immp::xmpp
