// docs/protocol.md is a contract: every example envelope in it is accepted
// by the code and by the page's JSON Schema, every refused example is
// refused with exactly the error the page shows, and what the host itself
// writes matches the schema.
#include "bus/envelope.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <boost/json.hpp>

#include "support/json_schema.hpp"
#include "support/memory.hpp"

namespace immp::bus {
namespace {

namespace json = boost::json;

struct Block {
  std::string marker;  // the HTML comment before it: "envelope", "invalid: ..."
  std::string body;
  int line = 0;
};

std::vector<Block> blocks() {
  std::ifstream in(std::string(IMMP_SOURCE_DIR) + "/docs/protocol.md");
  std::vector<Block> out;
  std::string line, marker;
  int number = 0;
  bool inside = false;
  Block current;
  while (std::getline(in, line)) {
    ++number;
    if (inside) {
      if (line.rfind("```", 0) == 0) {
        inside = false;
        out.push_back(current);
      } else {
        current.body += line + "\n";
      }
      continue;
    }
    if (line.rfind("<!-- ", 0) == 0 && line.size() > 9) {
      marker = line.substr(5, line.size() - 9);
    } else if (line.rfind("```", 0) == 0) {
      inside = true;
      current = Block{marker, "", number};
      marker.clear();
    } else if (!line.empty()) {
      marker.clear();
    }
  }
  return out;
}

json::value schema() {
  for (const auto& b : blocks()) {
    if (b.marker == "schema") return json::parse(b.body);
  }
  ADD_FAILURE() << "docs/protocol.md has no <!-- schema --> block";
  return json::object();
}

TEST(ProtocolDocs, EveryExampleIsAcceptedOrRefusedAsThePageSays) {
  test::JsonSchema checker(schema());
  int envelopes = 0, refused = 0, frames = 0;
  for (const auto& b : blocks()) {
    SCOPED_TRACE("docs/protocol.md:" + std::to_string(b.line) + " (" + b.marker + ")");
    if (b.marker == "envelope" || b.marker == "emitted") {
      json::value v = json::parse(b.body);
      auto e = check_envelope(v, "event", b.marker == "emitted");
      EXPECT_EQ(e, std::nullopt) << e->str();
      EXPECT_EQ(checker.check(v), "");
      ++envelopes;
    } else if (b.marker.rfind("invalid: ", 0) == 0) {
      json::value v = json::parse(b.body);
      auto e = check_envelope(v, "event", false);
      ASSERT_TRUE(e) << "the code accepts it";
      EXPECT_EQ(e->str(), b.marker.substr(9));
      ++refused;
    } else if (b.marker == "frames") {
      std::istringstream lines(b.body);
      for (std::string line; std::getline(lines, line);) {
        json::value f = json::parse(line);
        ASSERT_TRUE(f.is_object() && f.as_object().contains("op")) << line;
        if (const auto* ev = f.as_object().if_contains("event")) {
          EXPECT_EQ(checker.check(*ev), "") << line;
          auto e = check_envelope(*ev, "event", false);
          EXPECT_EQ(e, std::nullopt) << e->str();
        }
        ++frames;
      }
    }
  }
  EXPECT_GE(envelopes, 6);
  EXPECT_GE(refused, 4);
  EXPECT_GE(frames, 8);
}

TEST(ProtocolDocs, WhatTheHostWritesMatchesTheSchema) {
  test::JsonSchema checker(schema());
  asio::io_context io;
  Host host(io.get_executor());
  test::add_memory_plug(host, "mem");
  Channel ch{&host.plug_handle("mem"), "#room"};
  auto user = std::make_shared<User>();
  user->id = "u1";
  user->username = "alice";
  user->handle = &host.plug_handle("mem");
  Message m;
  RichText text;
  Segment plain;
  plain.text = "hi ";
  text.push(plain);
  Segment bold;
  bold.text = "there";
  bold.bold = true;
  bold.link = "https://example.org";
  text.push(bold);
  m.text = text;
  m.user = user;
  m.thread = "t1";
  m.reply_to =
      std::make_shared<const SentMessage>(Receipt{"p1", ch, Clock::now(), {}, false}, Message{});
  File f;
  f.title = "cat.png";
  f.type = File::Type::image;
  f.size = 10;
  f.url = "https://example.org/cat.png";
  m.attachments.emplace_back(f);
  m.attachments.emplace_back(Location{1.5, 2.5, "here", ""});
  m.attachments.emplace_back(std::make_shared<const Message>(Message{}));
  m.joined.push_back(user);
  SentMessage sent(Receipt{"m1", ch, Clock::now(), "3", false}, m);
  json::value env = to_envelope(sent, 7);
  EXPECT_EQ(checker.check(env), "") << json::serialize(env);
  EXPECT_EQ(check_envelope(env, "event", false), std::nullopt);

  Message reaction;
  reaction.user = user;
  reaction.reaction = Reaction{"👍", true, std::make_shared<const SentMessage>(sent)};
  json::value r = to_envelope(SentMessage(Receipt{"m2", ch, Clock::now(), {}, false}, reaction), 8);
  EXPECT_EQ(checker.check(r), "") << json::serialize(r);
  EXPECT_EQ(r.at("type"), "reaction");
}

}  // namespace
}  // namespace immp::bus
