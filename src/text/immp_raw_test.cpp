#include "text/immp_raw.hpp"

#include <gtest/gtest.h>

namespace immp::markup {
namespace {

Segment seg(std::string text) {
  Segment s;
  s.text = std::move(text);
  return s;
}

TEST(ImmpRaw, ReadsAndWritesImmpsFormat) {
  RichText text;
  text.append(seg("plain "));
  Segment bold = seg("bold");
  bold.bold = true;
  text.append(bold);
  text.append(seg(" a<b\\c "));
  Segment link = seg("site");
  link.link = "https://x.test/?a,b";
  text.append(link);
  std::string raw = to_raw(text);
  EXPECT_EQ(raw, "plain <b>bold</> a\\<b\\\\c <l=https://x.test/?a\\,b>site</>");
  EXPECT_EQ(from_raw(raw), text);
  EXPECT_EQ(from_raw("<l>https://y.test</>").segments()[0].link, "https://y.test");
  EXPECT_EQ(from_raw("just text").plain(), "just text");
}

// What an IMMP text command's answer looks like in a config: several tags
// at once, and a tag closed by the next one.
TEST(ImmpRaw, ReadsCombinedTagsAsIMMPsConfigsWriteThem) {
  RichText text = from_raw("See <b,i>the rules</> at <l=https://x.test/rules>our site</>.");
  ASSERT_EQ(text.segments().size(), 5u);
  EXPECT_EQ(text.plain(), "See the rules at our site.");
  EXPECT_TRUE(text.segments()[1].bold);
  EXPECT_TRUE(text.segments()[1].italic);
  EXPECT_FALSE(text.segments()[2].bold);
  EXPECT_EQ(text.segments()[3].link, "https://x.test/rules");
  EXPECT_EQ(text.segments()[4].text, ".");
}

}  // namespace
}  // namespace immp::markup
