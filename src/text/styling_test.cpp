#include "text/styling.hpp"

#include <gtest/gtest.h>

namespace immp::markup {
namespace {

Segment seg(std::string text, bool bold = false, bool italic = false, bool strike = false,
            bool code = false) {
  Segment s;
  s.text = std::move(text);
  s.bold = bold;
  s.italic = italic;
  s.strike = strike;
  s.code = code;
  return s;
}

TEST(Styling, WritesTheMarkersClientsShow) {
  RichText t(std::vector<Segment>{seg("hello "), seg("bold", true), seg(" and "),
                                  seg("it", false, true), seg(" "), seg("gone", false, false, true),
                                  seg(" "), seg("x = 1", false, false, false, true)});
  EXPECT_EQ(to_styling(t), "hello *bold* and _it_ ~gone~ `x = 1`");
}

TEST(Styling, LinksBecomeTextAndUrl) {
  Segment l = seg("the docs");
  l.link = "https://e.org/d";
  Segment bare = seg("https://e.org");
  bare.link = "https://e.org";
  EXPECT_EQ(to_styling(RichText(std::vector<Segment>{l, seg(" "), bare})),
            "the docs (https://e.org/d) https://e.org");
}

TEST(Styling, ReadsSpansAsXep0393Says) {
  EXPECT_EQ(from_styling("a *b* _c_ ~d~ `e`"),
            RichText(std::vector<Segment>{seg("a "), seg("b", true), seg(" "),
                                          seg("c", false, true), seg(" "),
                                          seg("d", false, false, true), seg(" "),
                                          seg("e", false, false, false, true)})
                .normalised());
  // Not spans: whitespace after the opener or before the closer, an empty
  // span, a span across lines, a marker inside a word.
  for (std::string s : {"* not bold*", "*not bold *", "**", "*a\nb*", "2*3*4"}) {
    EXPECT_EQ(from_styling(s).plain(), s) << s;
    const RichText read = from_styling(s);
    for (const auto& g : read.segments()) EXPECT_FALSE(g.bold) << s;
  }
  // Nested.
  auto nested = from_styling("*_both_*");
  ASSERT_EQ(nested.segments().size(), 1u);
  EXPECT_TRUE(nested.segments()[0].bold);
  EXPECT_TRUE(nested.segments()[0].italic);
  // Code spans hold their markers literally.
  auto code = from_styling("`*x*`");
  ASSERT_EQ(code.segments().size(), 1u);
  EXPECT_TRUE(code.segments()[0].code);
  EXPECT_EQ(code.segments()[0].text, "*x*");
}

TEST(Styling, ReadsPreformattedBlocks) {
  auto t = from_styling("before\n```\nint *p*;\n```\nafter");
  EXPECT_EQ(t.plain(), "before\nint *p*;\nafter");
  bool pre = false;
  for (const auto& s : t.segments()) pre |= s.pre && s.text == "int *p*;";
  EXPECT_TRUE(pre);
}

TEST(Styling, RoundTripsWhatPeopleWrite) {
  for (std::string s : {"plain text", "*bold* text", "_it_ and ~s~", "`code`", "a *b _c_* d"}) {
    EXPECT_EQ(to_styling(from_styling(s)), s);
  }
}

}  // namespace
}  // namespace immp::markup
