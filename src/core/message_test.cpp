#include "immp/message.hpp"

#include <gtest/gtest.h>

namespace immp {
namespace {

Segment bold(std::string text) {
  Segment s;
  s.text = std::move(text);
  s.bold = true;
  return s;
}

TEST(RichText, ACopySharesItsTextUntilOneSideChanges) {
  RichText original("hello");
  RichText copy = original;
  EXPECT_EQ(copy.segments().data(), original.segments().data()) << "no copy of the segments";
  copy.append(bold(" world"));
  EXPECT_EQ(original.plain(), "hello") << "the original is untouched";
  EXPECT_EQ(copy.plain(), "hello world");
  ASSERT_EQ(copy.segments().size(), 2u);
  EXPECT_TRUE(copy.segments()[1].bold);
  EXPECT_NE(copy.segments().data(), original.segments().data());
}

TEST(RichText, AppendMergesSameFormatAndPushKeepsSegmentsApart) {
  RichText t;
  EXPECT_TRUE(t.segments().empty());
  EXPECT_TRUE(t.empty());
  t.append(bold("a")).append(bold("b"));
  ASSERT_EQ(t.segments().size(), 1u);
  EXPECT_EQ(t.segments()[0].text, "ab");
  t.push(bold("c"));
  EXPECT_EQ(t.segments().size(), 2u);
  EXPECT_EQ(t.plain(), "abc");
}

TEST(RichText, AppendingToItselfDoublesTheText) {
  RichText t("ab");
  t.append(t);
  EXPECT_EQ(t.plain(), "abab");
}

TEST(RichText, EqualityComparesSegmentsNotSharing) {
  RichText a("same");
  RichText b("same");
  EXPECT_EQ(a, b);
  b.append(bold("!"));
  EXPECT_NE(a, b);
  EXPECT_EQ(RichText(), RichText(std::vector<Segment>{}));
}

TEST(Message, MentionsAreTheUsersTheTextNamesEachOnce) {
  PlugHandle net("net");
  auto bob = std::make_shared<User>();
  bob->id = "bob";
  bob->handle = &net;
  auto bob_again = std::make_shared<User>(*bob);  // another object, the same user
  auto carol = std::make_shared<User>();
  carol->id = "carol";
  carol->handle = &net;
  Message msg;
  EXPECT_TRUE(msg.mentions().empty());
  RichText text;
  Segment s;
  s.text = "@bob";
  s.mention = bob;
  text.push(s);
  Segment between;
  between.text = " and ";
  text.push(between);
  s.text = "@carol";
  s.mention = carol;
  text.push(s);
  s.text = " @bob again";
  s.mention = bob_again;
  text.push(s);
  msg.text = text;
  auto users = msg.mentions();
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[0], bob);
  EXPECT_EQ(users[1], carol);
}

TEST(Message, ACopyKeepsThreadAndReactionAndSharesItsText) {
  Message msg;
  msg.text = RichText("hello");
  File f;
  f.title = "cat.png";
  msg.attachments.emplace_back(f);
  msg.thread = "t-1";
  msg.reaction = Reaction{"👍", false, nullptr};
  Message copy = msg;
  EXPECT_EQ(copy.text->segments().data(), msg.text->segments().data());
  EXPECT_EQ(copy.thread, "t-1");
  EXPECT_EQ(copy.reaction->emoji, "👍");
}

}  // namespace
}  // namespace immp
