// Messages as JSON, as durable outboxes keep them across a restart: every
// field survives to_json -> text -> from_json, users and channels keep the
// name of their plug even when it is gone.
#include "core/message_json.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <memory>
#include <string>

#include "support/memory.hpp"

namespace immp {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::string plug_of(const PlugHandle* handle) { return handle ? handle->name() : "(none)"; }

void expect_same(const Message& want, const Message& got, const std::string& where);

void expect_same_user(const UserPtr& want, const UserPtr& got, const std::string& where) {
  if (!want) {
    EXPECT_EQ(got, nullptr) << where << ": a user appeared";
    return;
  }
  ASSERT_NE(got, nullptr) << where << ": the user was lost";
  EXPECT_EQ(got->id, want->id) << where << ".id";
  EXPECT_EQ(plug_of(got->handle), plug_of(want->handle)) << where << ".handle";
  EXPECT_EQ(got->username, want->username) << where << ".username";
  EXPECT_EQ(got->real_name, want->real_name) << where << ".real_name";
  EXPECT_EQ(got->avatar, want->avatar) << where << ".avatar";
  EXPECT_EQ(got->link, want->link) << where << ".link";
  EXPECT_EQ(got->suggested, want->suggested) << where << ".suggested";
}

void expect_same_users(const std::vector<UserPtr>& want, const std::vector<UserPtr>& got,
                       const std::string& where) {
  ASSERT_EQ(got.size(), want.size()) << where;
  for (std::size_t i = 0; i < want.size(); ++i) {
    expect_same_user(want[i], got[i], where + "[" + std::to_string(i) + "]");
  }
}

void expect_same_text(const std::optional<RichText>& want, const std::optional<RichText>& got,
                      const std::string& where) {
  ASSERT_EQ(got.has_value(), want.has_value()) << where;
  if (!want) return;
  const auto& ws = want->segments();
  const auto& gs = got->segments();
  ASSERT_EQ(gs.size(), ws.size()) << where << ": segments";
  for (std::size_t i = 0; i < ws.size(); ++i) {
    std::string at = where + ".segments[" + std::to_string(i) + "]";
    EXPECT_EQ(gs[i].text, ws[i].text) << at << ".text";
    EXPECT_EQ(gs[i].bold, ws[i].bold) << at << ".bold";
    EXPECT_EQ(gs[i].italic, ws[i].italic) << at << ".italic";
    EXPECT_EQ(gs[i].underline, ws[i].underline) << at << ".underline";
    EXPECT_EQ(gs[i].strike, ws[i].strike) << at << ".strike";
    EXPECT_EQ(gs[i].code, ws[i].code) << at << ".code";
    EXPECT_EQ(gs[i].pre, ws[i].pre) << at << ".pre";
    EXPECT_EQ(gs[i].link, ws[i].link) << at << ".link";
    expect_same_user(ws[i].mention, gs[i].mention, at + ".mention");
  }
}

void expect_same_receipt(const Receipt& want, const Receipt& got, const std::string& where) {
  EXPECT_EQ(got.id, want.id) << where << ".id";
  EXPECT_EQ(plug_of(got.channel.handle), plug_of(want.channel.handle)) << where << ".channel";
  EXPECT_EQ(got.channel.source, want.channel.source) << where << ".channel.source";
  EXPECT_EQ(got.at, want.at) << where << ".at";
  EXPECT_EQ(got.revision, want.revision) << where << ".revision";
  EXPECT_EQ(got.deleted, want.deleted) << where << ".Receipt::deleted";
}

void expect_same_attachment(const Attachment& want, const Attachment& got,
                            const std::string& where) {
  ASSERT_EQ(got.index(), want.index()) << where << ": another kind of attachment";
  if (const auto* w = std::get_if<File>(&want)) {
    const auto& g = std::get<File>(got);
    EXPECT_EQ(g.title, w->title) << where << ".title";
    EXPECT_EQ(g.type, w->type) << where << ".type";
    EXPECT_EQ(g.url, w->url) << where << ".url";
    EXPECT_EQ(g.path, w->path) << where << ".path";
    EXPECT_EQ(g.mime, w->mime) << where << ".mime";
    EXPECT_EQ(g.size, w->size) << where << ".size";
    EXPECT_EQ(plug_of(g.origin), plug_of(w->origin)) << where << ".origin";
    EXPECT_EQ(g.ref, w->ref) << where << ".ref";
  } else if (const auto* w = std::get_if<Location>(&want)) {
    const auto& g = std::get<Location>(got);
    EXPECT_EQ(g.latitude, w->latitude) << where << ".latitude";
    EXPECT_EQ(g.longitude, w->longitude) << where << ".longitude";
    EXPECT_EQ(g.name, w->name) << where << ".name";
    EXPECT_EQ(g.address, w->address) << where << ".address";
  } else {
    const auto& w_msg = std::get<std::shared_ptr<const Message>>(want);
    const auto& g_msg = std::get<std::shared_ptr<const Message>>(got);
    ASSERT_NE(g_msg, nullptr) << where;
    expect_same(*w_msg, *g_msg, where + ".message");
    const auto* w_sent = dynamic_cast<const SentMessage*>(w_msg.get());
    const auto* g_sent = dynamic_cast<const SentMessage*>(g_msg.get());
    ASSERT_EQ(g_sent != nullptr, w_sent != nullptr) << where << ": a forwarded SentMessage";
    if (w_sent) expect_same_receipt(*w_sent, *g_sent, where + ".message");
  }
}

void expect_same(const Message& want, const Message& got, const std::string& where) {
  expect_same_text(want.text, got.text, where + ".text");
  expect_same_user(want.user, got.user, where + ".user");
  EXPECT_EQ(got.action, want.action) << where << ".action";
  EXPECT_EQ(got.edited, want.edited) << where << ".edited";
  EXPECT_EQ(got.deleted, want.deleted) << where << ".deleted";
  ASSERT_EQ(got.reply_to != nullptr, want.reply_to != nullptr) << where << ".reply_to";
  if (want.reply_to) {
    expect_same_receipt(*want.reply_to, *got.reply_to, where + ".reply_to");
    expect_same(*want.reply_to, *got.reply_to, where + ".reply_to");
  }
  EXPECT_EQ(got.thread, want.thread) << where << ".thread";
  ASSERT_EQ(got.reaction.has_value(), want.reaction.has_value()) << where << ".reaction";
  if (want.reaction) {
    EXPECT_EQ(got.reaction->emoji, want.reaction->emoji) << where << ".reaction.emoji";
    EXPECT_EQ(got.reaction->removed, want.reaction->removed) << where << ".reaction.removed";
    ASSERT_EQ(got.reaction->on != nullptr, want.reaction->on != nullptr) << where << ".reaction.on";
    if (want.reaction->on) {
      expect_same_receipt(*want.reaction->on, *got.reaction->on, where + ".reaction.on");
      expect_same(*want.reaction->on, *got.reaction->on, where + ".reaction.on");
    }
  }
  expect_same_users(want.joined, got.joined, where + ".joined");
  expect_same_users(want.left, got.left, where + ".left");
  EXPECT_EQ(got.title, want.title) << where << ".title";
  ASSERT_EQ(got.attachments.size(), want.attachments.size()) << where << ".attachments";
  for (std::size_t i = 0; i < want.attachments.size(); ++i) {
    expect_same_attachment(want.attachments[i], got.attachments[i],
                           where + ".attachments[" + std::to_string(i) + "]");
  }
}

// Through text, as the outbox store keeps it.
SentMessage round_trip(const SentMessage& sent, const Host& into) {
  return sent_from_json(json::parse(json::serialize(sent_to_json(sent))), into);
}

Message round_trip(const Message& msg, const Host& into) {
  return message_from_json(json::parse(json::serialize(message_to_json(msg))), into);
}

// A time the JSON can hold exactly (milliseconds).
Clock::time_point at_ms(std::int64_t ms) {
  return Clock::time_point(std::chrono::milliseconds(ms));
}

struct MessageJson : ::testing::Test {
  asio::io_context io;
  Host host{io.get_executor()};
  plugs::MemoryPlug& a = test::add_memory_plug(host, "a");
  plugs::MemoryPlug& b = test::add_memory_plug(host, "b");
  // A plug name this host knows (a channel or user named it) but has no
  // plug for: the plug was removed.
  const PlugHandle& gone = host.plug_handle("gone");

  UserPtr user(const PlugHandle* handle, const std::string& id) {
    auto u = std::make_shared<User>();
    u->id = id;
    u->handle = handle;
    u->username = id + "_nick";
    u->real_name = "Real " + id;
    u->avatar = "https://example.org/" + id + ".png";
    u->link = "https://example.org/~" + id;
    u->suggested = true;
    return u;
  }

  // Every field set, none to its default.
  SentMessage full() {
    auto grandparent = std::make_shared<SentMessage>(
        Receipt{"gp-1", b.channel("room"), at_ms(1'600'000'000'000), {}, false}, Message{});
    Message parent_body;
    parent_body.text = RichText("the parent");
    parent_body.user = user(&gone, "ghost");
    parent_body.reply_to = grandparent;
    auto parent = std::make_shared<SentMessage>(
        Receipt{"p-1", b.channel("room"), at_ms(1'700'000'000'001), "rev-3", false},
        std::move(parent_body));

    Message m;
    RichText text;
    text.push(Segment{"plain ", false, false, false, false, false, false, "", nullptr});
    text.push(Segment{"all", true, true, true, true, true, true, "https://example.org", nullptr});
    Segment mention;
    mention.text = "@bob";
    mention.italic = true;
    mention.mention = user(b.handle(), "bob");
    text.push(mention);
    m.text = std::move(text);
    m.user = user(a.handle(), "alice");
    m.action = true;
    m.edited = true;
    m.reply_to = parent;
    m.joined = {user(a.handle(), "carol"), user(&gone, "dave")};
    m.left = {user(b.handle(), "erin")};
    m.title = "New topic";
    m.thread = "thread-root-7";
    m.attachments.emplace_back(File{"cat.png", File::Type::image, "https://example.org/cat.png",
                                    "/tmp/cat.png", "image/png", 31337, a.handle(), "file-id-1"});
    m.attachments.emplace_back(
        File{"notes.txt", File::Type::unknown, "https://example.org/n.txt", "", "", {}, {}, ""});
    // Only the plug it came from can fetch it, and that plug is gone.
    m.attachments.emplace_back(File{"", File::Type::voice, "", "", "audio/ogg", 0, &gone, "v-1"});
    m.attachments.emplace_back(Location{51.5072178, -0.1275862, "London", "Westminster, SW1A"});
    Message forwarded;
    forwarded.text = RichText("forwarded plain");
    forwarded.user = user(b.handle(), "frank");
    m.attachments.emplace_back(std::make_shared<const Message>(std::move(forwarded)));
    Message original;
    original.text = RichText("forwarded with its receipt");
    original.user = user(a.handle(), "grace");
    m.attachments.emplace_back(std::make_shared<const SentMessage>(
        Receipt{"orig-9", a.channel("elsewhere"), at_ms(1'650'000'000'500), "r1", false},
        std::move(original)));
    return SentMessage(Receipt{"m-42", a.channel("room"), at_ms(1'700'000'123'456), "rev-1", false},
                       std::move(m));
  }
};

TEST_F(MessageJson, EveryFieldOfASentMessageSurvives) {
  SentMessage want = full();
  SentMessage got = round_trip(want, host);
  expect_same_receipt(want, got, "sent");
  expect_same(want, got, "sent");
  // In the same host, handles are the host's own: a plug found by name.
  EXPECT_EQ(got.channel.handle, a.handle());
  EXPECT_EQ(got.channel.plug(), &a);
  EXPECT_EQ(got.user->plug(), &a);
  EXPECT_EQ(got.text->segments()[2].mention->handle, b.handle());
  // And a second trip changes nothing more.
  EXPECT_EQ(json::serialize(sent_to_json(round_trip(got, host))),
            json::serialize(sent_to_json(want)));
}

TEST_F(MessageJson, EveryFieldOfAMessageSurvives) {
  Message want = full();  // the Message half alone
  Message got = round_trip(want, host);
  expect_same(want, got, "message");
}

TEST_F(MessageJson, AUserOfARemovedPlugKeepsItsPlugsName) {
  auto ghost = user(&gone, "ghost");
  Message msg;
  msg.user = ghost;
  msg.text = RichText("boo");
  SentMessage sent(Receipt{"g-1", Channel{&gone, "attic"}, at_ms(1'700'000'000'000), {}, false},
                   std::move(msg));
  std::string stored = json::serialize(sent_to_json(sent));

  // The same host: the handle it keeps for the name, still without a plug.
  SentMessage here = sent_from_json(json::parse(stored), host);
  ASSERT_TRUE(here.user);
  EXPECT_EQ(here.user->handle, &gone);
  EXPECT_EQ(here.user->plug(), nullptr);
  EXPECT_EQ(here.channel.handle, &gone);
  EXPECT_EQ(here.channel.source, "attic");

  // A new host (a restart) where no plug of that name was ever configured.
  Host after_restart(io.get_executor());
  SentMessage later = sent_from_json(json::parse(stored), after_restart);
  ASSERT_TRUE(later.user);
  ASSERT_NE(later.user->handle, nullptr) << "the plug's name was lost with the plug";
  EXPECT_EQ(later.user->handle->name(), "gone");
  EXPECT_EQ(later.user->handle, &after_restart.plug_handle("gone"));
  EXPECT_EQ(later.user->plug(), nullptr);
  EXPECT_EQ(later.channel.handle, &after_restart.plug_handle("gone"));

  // A host where the plug exists again finds it by that name.
  Host with_plug(io.get_executor());
  auto& back = test::add_memory_plug(with_plug, "gone");
  SentMessage found = sent_from_json(json::parse(stored), with_plug);
  EXPECT_EQ(found.user->plug(), &back);
  EXPECT_EQ(found.channel.plug(), &back);
}

TEST_F(MessageJson, ASyntheticUserStaysWithoutAPlug) {
  Message msg;
  msg.user = user(nullptr, "system");
  Message got = round_trip(msg, host);
  ASSERT_TRUE(got.user);
  EXPECT_EQ(got.user->handle, nullptr);
  expect_same(msg, got, "message");
}

TEST_F(MessageJson, NoTextEmptyTextAndPlainTextStayApart) {
  Message none;
  EXPECT_FALSE(round_trip(none, host).text.has_value());
  Message empty;
  empty.text = RichText();
  std::optional<RichText> got = round_trip(empty, host).text;
  ASSERT_TRUE(got.has_value()) << "an empty text became no text";
  EXPECT_TRUE(got->segments().empty());
  Message untitled;
  untitled.title = "";
  EXPECT_EQ(round_trip(untitled, host).title, std::optional<std::string>("")) << "a cleared title";
  // Plain JSON text, as an operator may post it.
  Message plain = message_from_json(json::parse(R"({"text": "hi there"})"), host);
  ASSERT_TRUE(plain.text);
  EXPECT_EQ(plain.text->plain(), "hi there");
}

TEST_F(MessageJson, DeletedSurvivesOnBothHalves) {
  Message body;
  body.deleted = true;
  SentMessage by_message(Receipt{"d-1", a.channel("room"), at_ms(1), {}, false}, body);
  SentMessage by_receipt(Receipt{"d-2", a.channel("room"), at_ms(1), {}, true}, Message{});
  for (const SentMessage* s : {&by_message, &by_receipt}) {
    SentMessage got = round_trip(*s, host);
    EXPECT_TRUE(got.deleted) << s->id;
    EXPECT_TRUE(got.Receipt::deleted) << s->id;
  }
}

TEST_F(MessageJson, TimesKeepMillisecondsOnly) {
  // Documented loss: `at` is stored in whole milliseconds.
  auto at = at_ms(1'700'000'000'123) + std::chrono::microseconds(456);
  SentMessage sent(Receipt{"t-1", a.channel("room"), at, {}, false}, Message{});
  EXPECT_EQ(round_trip(sent, host).at, at_ms(1'700'000'000'123));
  SentMessage before_1970(Receipt{"t-2", a.channel("room"), at_ms(-5'000), {}, false}, Message{});
  EXPECT_EQ(round_trip(before_1970, host).at, at_ms(-5'000));
}

TEST_F(MessageJson, EveryKindOfFileSurvives) {
  for (File::Type kind : {File::Type::unknown, File::Type::image, File::Type::video,
                          File::Type::audio, File::Type::voice, File::Type::sticker}) {
    Message msg;
    File f;
    f.title = "thing";
    f.type = kind;
    f.origin = b.handle();
    f.ref = "attachment/42";
    f.size = std::uint64_t{5} << 40;  // past 32 bits
    msg.attachments.emplace_back(f);
    Message got = round_trip(msg, host);
    expect_same(msg, got, "kind " + std::to_string(static_cast<int>(kind)));
    const auto& g = std::get<File>(got.attachments.at(0));
    EXPECT_EQ(g.plug(), &b) << "fetched through the plug it came from";
    EXPECT_TRUE(g.fetchable());
  }
}

TEST_F(MessageJson, AFileAnOlderOutboxStoredIsRead) {
  // As outboxes wrote files before kinds, MIME types and origins.
  Message got = message_from_json(json::parse(R"({"attachments": [
      {"type": "file", "title": "cat.png", "image": true, "url": "https://e.org/c", "path": ""},
      {"type": "file", "title": "a.txt", "image": false, "url": "", "path": "/tmp/a"}]})"),
                                  host);
  ASSERT_EQ(got.attachments.size(), 2u);
  const auto& cat = std::get<File>(got.attachments[0]);
  EXPECT_EQ(cat.type, File::Type::image);
  EXPECT_EQ(cat.url, "https://e.org/c");
  EXPECT_FALSE(cat.size.has_value()) << "an unknown size is not zero";
  EXPECT_FALSE(cat.fetchable());
  EXPECT_EQ(std::get<File>(got.attachments[1]).type, File::Type::unknown);
}

TEST_F(MessageJson, AReactionKeepsWhatItIsOnAndWhoReacted) {
  for (bool removed : {false, true}) {
    auto on = std::make_shared<const SentMessage>(
        Receipt{"target-1", b.channel("room"), at_ms(1'700'000'000'000), "rev-2", false},
        Message{});
    Message msg;
    msg.user = user(a.handle(), "alice");
    msg.reaction = Reaction{"👍", removed, on};
    SentMessage sent(Receipt{"r-1", a.channel("room"), at_ms(1'700'000'000'500), {}, false}, msg);
    SentMessage got = round_trip(sent, host);
    expect_same(sent, got, removed ? "removed" : "added");
    ASSERT_TRUE(got.reaction && got.reaction->on);
    EXPECT_EQ(got.reaction->on->channel.plug(), &b);
    EXPECT_FALSE(got.text.has_value()) << "a reaction is no post";
  }
  // A custom emoji by name, on nothing known (a network that says only
  // which message by id elsewhere): still a reaction.
  Message bare;
  bare.reaction = Reaction{":party_parrot:", false, nullptr};
  expect_same(bare, round_trip(bare, host), "bare");
}

TEST_F(MessageJson, AnEditKeepsItsNewRevisionAndTheNetworksTime) {
  Message body;
  body.text = RichText("fixed");
  body.edited = true;
  SentMessage edit(Receipt{"m-1", a.channel("room"), at_ms(1'700'000'999'001), "rev-9", false},
                   std::move(body));
  SentMessage got = round_trip(edit, host);
  EXPECT_TRUE(got.edited);
  EXPECT_EQ(got.id, "m-1");
  EXPECT_EQ(got.revision, "rev-9");
  EXPECT_EQ(got.at, at_ms(1'700'000'999'001));
}

TEST_F(MessageJson, WhatIsNotAMessageIsRefused) {
  EXPECT_THROW(message_from_json(json::value(42), host), std::invalid_argument);
  EXPECT_THROW(sent_from_json(json::parse("[1, 2]"), host), std::invalid_argument);
  EXPECT_EQ(user_from_json(json::value("alice"), host), nullptr);
}

}  // namespace
}  // namespace immp
