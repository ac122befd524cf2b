#include "text/utf8.hpp"

#include <gtest/gtest.h>

namespace immp::unicode {
namespace {

TEST(Utf8, ValidatesStrictly) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("plain \xC3\xA9 \xF0\x9F\x98\x80 中文"));
  EXPECT_FALSE(valid_utf8("\xC3"));              // truncated
  EXPECT_FALSE(valid_utf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(valid_utf8("\x80"));              // lone continuation
}

TEST(Utf8, RepairReplacesEachMaximalSubpart) {
  EXPECT_EQ(repair_utf8("caf\xe9!"), "caf\xEF\xBF\xBD!");
  EXPECT_EQ(repair_utf8("ok"), "ok");
  // A truncated 3-byte sequence is one error, as browsers count it.
  EXPECT_EQ(repair_utf8("a\xE2\x82z"), "a\xEF\xBF\xBDz");
  EXPECT_EQ(repair_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_TRUE(valid_utf8(repair_utf8("\xFF\xFE\xED\xA0\x80\xF0\x9F")));
}

TEST(Utf8, IteratesCodePoints) {
  std::string s = "a\xC3\xA9\xF0\x9F\x98\x80\xFFz";
  std::vector<char32_t> cps;
  std::vector<std::size_t> offsets;
  for (auto it = CodePoints(s).begin(); it != CodePoints(s).end(); ++it) {
    cps.push_back((*it).value);
    offsets.push_back(it.offset());
  }
  EXPECT_EQ(cps, (std::vector<char32_t>{U'a', U'é', U'😀', kReplacement, U'z'}));
  EXPECT_EQ(offsets, (std::vector<std::size_t>{0, 1, 3, 7, 8}));
  EXPECT_EQ(count_code_points(s), 5u);
}

TEST(Utf8, AppendsCodePoints) {
  std::string out;
  append_utf8(out, U'é');
  append_utf8(out, U'😀');
  append_utf8(out, 0xD800);  // a surrogate is not a scalar value
  EXPECT_EQ(out, "\xC3\xA9\xF0\x9F\x98\x80\xEF\xBF\xBD");
}

TEST(Utf8, PrefixesNeverCutACodePoint) {
  std::string s = "ab\xF0\x9F\x98\x80" "cd";
  EXPECT_EQ(prefix_bytes(s, 3), "ab");
  EXPECT_EQ(prefix_bytes(s, 5), "ab");
  EXPECT_EQ(prefix_bytes(s, 6), "ab\xF0\x9F\x98\x80");
  EXPECT_EQ(prefix_bytes(s, 100), s);
  EXPECT_EQ(prefix_code_points(s, 3), "ab\xF0\x9F\x98\x80");
  EXPECT_EQ(prefix_code_points(s, 99), s);
}

TEST(Utf8, SplitsIntoBoundedPieces) {
  std::string s = "héllo wörld 😀😀";
  for (std::size_t n = 1; n < 12; ++n) {
    std::string joined;
    for (auto piece : split_bytes(s, n)) {
      EXPECT_TRUE(piece.size() <= n || count_code_points(piece) == 1) << n;
      EXPECT_TRUE(valid_utf8(piece)) << n;
      joined += piece;
    }
    EXPECT_EQ(joined, s);
  }
  EXPECT_TRUE(split_bytes("", 5).empty());
}

}  // namespace
}  // namespace immp::unicode
