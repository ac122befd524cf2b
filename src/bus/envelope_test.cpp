// The envelope operators see and send: every message of the stream becomes
// a CloudEvents 1.0 event whose attributes say where and what, and whose
// data reads back as the same message; what operators send is checked and
// a problem names the field.
#include "bus/envelope.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "core/message_json.hpp"
#include "support/memory.hpp"

namespace immp::bus {
namespace {

namespace json = boost::json;

class EnvelopeTest : public ::testing::Test {
 protected:
  asio::io_context io;
  Host host{io.get_executor()};
  plugs::MemoryPlug& plug = test::add_memory_plug(host, "mem");

  SentMessage sent(Message m, std::string id = "m1") {
    Receipt r;
    r.id = std::move(id);
    r.channel = Channel{&host.plug_handle("mem"), "#room"};
    r.at = Clock::time_point(std::chrono::milliseconds(1764583200123));
    return SentMessage(std::move(r), std::move(m));
  }

  std::optional<FieldError> check(std::string_view text, bool any_type = false) {
    return check_envelope(json::parse(text), "event", any_type);
  }
};

TEST_F(EnvelopeTest, AMessageBecomesACloudEvent) {
  Message m;
  m.text = RichText("hello");
  auto user = std::make_shared<User>();
  user->id = "u1";
  user->username = "alice";
  user->handle = &host.plug_handle("mem");
  m.user = user;
  m.raw = json::value(json::object{{"tags", "x"}});
  json::object e = to_envelope(sent(m), 42);
  EXPECT_EQ(e.at("specversion"), "1.0");
  EXPECT_EQ(e.at("immpversion"), 1);
  EXPECT_EQ(e.at("id"), "42");
  EXPECT_EQ(e.at("source"), "mem/#room");
  EXPECT_EQ(e.at("type"), "message");
  EXPECT_EQ(e.at("time"), "2025-12-01T10:00:00.123Z");
  EXPECT_EQ(e.at("subject"), "m1");
  const auto& data = e.at("data").as_object();
  EXPECT_EQ(data.at("plain"), "hello");
  EXPECT_EQ(data.at("user").at("username"), "alice");
  EXPECT_EQ(data.at("raw").at("tags"), "x");
  // What the host writes, it accepts back.
  EXPECT_EQ(check_envelope(e, "event", false), std::nullopt);
  // And data reads back as the same message (message_json is the one
  // serialisation).
  SentMessage back = sent_from_json(e.at("data"), host);
  EXPECT_EQ(back.plain(), "hello");
  EXPECT_EQ(back.user->username, "alice");
  EXPECT_EQ(back.id, "m1");
}

TEST_F(EnvelopeTest, TheTypeSaysTheKind) {
  auto type_of = [&](Message m) {
    return std::string(to_envelope(sent(m), 1).at("type").as_string());
  };
  Message edit;
  edit.text = RichText("fixed");
  edit.edited = true;
  EXPECT_EQ(type_of(edit), "edit");
  Message del;
  del.deleted = true;
  EXPECT_EQ(type_of(del), "delete");
  Message join;
  join.joined.push_back(std::make_shared<User>());
  EXPECT_EQ(type_of(join), "join");
  Message part;
  part.left.push_back(std::make_shared<User>());
  EXPECT_EQ(type_of(part), "part");
  Message react;
  react.reaction = Reaction{"👍", false, nullptr};
  EXPECT_EQ(type_of(react), "reaction");
}

TEST_F(EnvelopeTest, ABadEnvelopeNamesTheField) {
  auto problem = [&](std::string_view text, bool any_type = false) {
    auto e = check(text, any_type);
    return e ? e->str() : std::string("(accepted)");
  };
  EXPECT_EQ(problem(R"([1])"), "event: expected an object (a CloudEvents envelope), got an array");
  EXPECT_EQ(problem(R"({"id":"1","source":"mem/#r","type":"message","data":{}})"),
            "event.specversion: missing");
  EXPECT_EQ(
      problem(R"({"specversion":"0.3","id":"1","source":"mem/#r","type":"message","data":{}})"),
      "event.specversion: expected \"1.0\" (CloudEvents 1.0)");
  EXPECT_EQ(problem(R"({"specversion":"1.0","id":7,"source":"mem/#r","type":"message","data":{}})"),
            "event.id: expected a string, got an integer");
  EXPECT_EQ(problem(R"({"specversion":"1.0","id":"1","source":"mem/#r","type":"shout","data":{}})"),
            "event.type: 'shout' is not a kind: expected message, edit, delete, join, part or "
            "reaction");
  EXPECT_EQ(problem(R"({"specversion":"1.0","id":"1","source":"mem/#r","type":"message"})"),
            "event.data: missing (the message)");
  EXPECT_EQ(problem(R"({"specversion":"1.0","id":"1","source":"m","type":"message",
                       "data":{"text":[{"text":"a"},{"text":"b","bold":"yes"}]}})"),
            "event.data.text[1].bold: expected a boolean, got a string");
  EXPECT_EQ(problem(R"({"specversion":"1.0","id":"1","source":"m","type":"message",
                       "data":{"txt":"hi"}})"),
            "event.data.txt: unknown field (did you mean 'text'?)");
  EXPECT_EQ(problem(R"({"specversion":"1.0","id":"1","source":"m","type":"message",
                       "data":{"attachments":[{"type":"location","latitude":"north"}]}})"),
            "event.data.attachments[0].longitude: missing");
  EXPECT_EQ(problem(R"({"specversion":"1.0","id":"1","source":"m","type":"message",
                       "data":{"text":"x"},"Bad-Attr":1})"),
            "event.Bad-Attr: not a CloudEvents attribute (extension names are 1 to 20 "
            "lower-case letters or digits)");
  // Emitted events may carry a type of their own, and need no data.
  EXPECT_EQ(
      problem(R"({"specversion":"1.0","id":"1","source":"weather","type":"weather.update"})", true),
      "(accepted)");
}

TEST_F(EnvelopeTest, ASourceNamesAChannelByConfigNameOrPlugAndSource) {
  host.add_channel("lobby", Channel{&host.plug_handle("mem"), "#lobby"});
  auto by_name = resolve_source(host, "lobby");
  ASSERT_TRUE(by_name);
  EXPECT_EQ(by_name->source, "#lobby");
  auto by_path = resolve_source(host, "mem/#a/b");
  ASSERT_TRUE(by_path);
  EXPECT_EQ(by_path->source, "#a/b");
  EXPECT_FALSE(resolve_source(host, "nosuchplug/#x"));
  EXPECT_FALSE(resolve_source(host, "nothing"));
}

}  // namespace
}  // namespace immp::bus
