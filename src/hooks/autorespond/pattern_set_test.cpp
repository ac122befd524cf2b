#include "hooks/autorespond/pattern_set.hpp"

#include <gtest/gtest.h>

namespace immp::hooks {
namespace {

using Hits = std::vector<std::size_t>;

Hits hits(const PatternSet& set, std::string_view text) {
  Hits out;
  set.match(text, out);
  return out;
}

TEST(PatternSet, FindsEveryPatternThatMatchesIgnoringCase) {
  PatternSet set({"hello", "\\bbye\\b", "^start", "end$"});
  EXPECT_TRUE(set.problems().empty());
  EXPECT_EQ(hits(set, "well HELLO there"), Hits{0});
  EXPECT_EQ(hits(set, "start, hello, bye"), (Hits{0, 1, 2}));
  EXPECT_EQ(hits(set, "goodbye"), Hits{}) << "word boundary";
  EXPECT_EQ(hits(set, "the end"), Hits{3});
  EXPECT_EQ(hits(set, "nothing"), Hits{});
}

TEST(PatternSet, APatternRe2RefusesStillWorksThroughTheFallback) {
  // Python look-ahead and a back-reference: not RE2 syntax.
  PatternSet set({"foo(?=bar)", "(\\w)\\1\\1", "plain"});
  ASSERT_EQ(set.problems().size(), 2u);
  EXPECT_TRUE(set.problems()[0].fallback);
  EXPECT_EQ(set.problems()[0].index, 0u);
  EXPECT_EQ(hits(set, "FOOBAR and plain"), (Hits{0, 2}));
  EXPECT_EQ(hits(set, "foobaz"), Hits{});
  EXPECT_EQ(hits(set, "aaa"), Hits{1});
  EXPECT_EQ(set.groups(1, "xyzzz")->at(1), "z");
}

TEST(PatternSet, APatternNeitherEngineTakesNeverMatchesAndSaysWhy) {
  PatternSet set({"(unclosed", "ok"});
  ASSERT_EQ(set.problems().size(), 1u);
  EXPECT_FALSE(set.problems()[0].fallback);
  EXPECT_NE(set.problems()[0].error.find("missing )"), std::string::npos)
      << set.problems()[0].error;
  EXPECT_EQ(hits(set, "(unclosed ok"), Hits{1});
}

TEST(PatternSet, GroupsOfTheFirstMatch) {
  PatternSet set({"my name is (\\w+)( really)?"});
  auto g = set.groups(0, "Hi, my name is Bob!");
  ASSERT_TRUE(g);
  EXPECT_EQ(*g, (std::vector<std::string>{"my name is Bob", "Bob", ""}));
  EXPECT_FALSE(set.groups(0, "nope"));
}

TEST(PatternSet, ReplaceUsesPythonsGroupReferences) {
  PatternSet set({"(\\w+)@example\\.com", "x*", "(?=b)"});
  EXPECT_EQ(set.replace(0, "mail bob@example.com or amy@EXAMPLE.com", "\\1 at \\g<0>!"),
            "mail bob at bob@example.com! or amy at amy@EXAMPLE.com!");
  EXPECT_EQ(set.replace(1, "abc", "-"), "-a-b-c-") << "empty matches as Python's re.sub";
  EXPECT_EQ(set.replace(2, "abab", "|"), "a|ba|b") << "fallback engine";
}

TEST(FormatPositional, AsPythonsStrFormat) {
  EXPECT_EQ(format_positional("{} and {}", {"a", "b"}), "a and b");
  EXPECT_EQ(format_positional("{1}{0}", {"a", "b"}), "ba");
  EXPECT_EQ(format_positional("{{literal}} {}", {"x"}), "{literal} x");
  EXPECT_EQ(format_positional("{5} {name}", {"x"}), "{5} {name}");
}

TEST(PatternSet, AThousandPatternsCompileIntoTheSet) {
  std::vector<std::string> patterns;
  for (int i = 0; i < 1000; ++i) patterns.push_back("\\bword" + std::to_string(i) + "\\b");
  PatternSet set(patterns);
  EXPECT_TRUE(set.problems().empty());
  EXPECT_EQ(hits(set, "say word999 and word10"), (Hits{10, 999}));
  EXPECT_EQ(hits(set, "say word1000"), Hits{});
}

}  // namespace
}  // namespace immp::hooks
