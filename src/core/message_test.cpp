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

}  // namespace
}  // namespace immp
