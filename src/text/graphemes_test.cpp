#include "text/graphemes.hpp"

#include <gtest/gtest.h>

#include "text/utf8.hpp"

namespace immp::unicode {
namespace {

// A family: man ZWJ woman ZWJ girl, one cluster of 18 bytes.
const std::string kFamily = "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7";
// e + combining acute.
const std::string kEAcute = "e\xCC\x81";
// The flag of France: two regional indicators.
const std::string kFlag = "\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7";

TEST(Graphemes, CountsWhatReadersSee) {
  EXPECT_EQ(count_graphemes(""), 0u);
  EXPECT_EQ(count_graphemes("abc"), 3u);
  EXPECT_EQ(count_graphemes(kFamily), 1u);
  EXPECT_EQ(count_graphemes(kEAcute + kFlag + "x"), 3u);
  EXPECT_EQ(count_graphemes("\r\n"), 1u);
  EXPECT_EQ(grapheme_boundaries(kEAcute + "x"), (std::vector<std::size_t>{0, 3, 4}));
}

TEST(Graphemes, SplitNeverCutsACluster) {
  std::string s = "ab" + kFlag + kEAcute + kFlag + "cd";
  for (std::size_t n = 8; n < 20; ++n) {
    std::string joined;
    for (auto piece : split_graphemes(s, n)) {
      EXPECT_LE(piece.size(), n);
      // Each piece starts and ends on a boundary of the whole text.
      EXPECT_EQ(count_graphemes(joined) + count_graphemes(piece), count_graphemes(joined + std::string(piece)));
      joined += piece;
    }
    EXPECT_EQ(joined, s);
  }
}

TEST(Graphemes, SplitCutsAnOversizedClusterBetweenCodePoints) {
  auto pieces = split_graphemes(kFamily, 8);
  std::string joined;
  for (auto piece : pieces) {
    EXPECT_LE(piece.size(), 8u);
    EXPECT_TRUE(valid_utf8(piece));
    joined += piece;
  }
  EXPECT_EQ(joined, kFamily);
}

TEST(Graphemes, TruncatesWithAnEllipsis) {
  EXPECT_EQ(truncate_graphemes("short", 10), "short");
  EXPECT_EQ(truncate_graphemes("abcdef", 4), "abc…");
  EXPECT_EQ(truncate_graphemes(kFlag + kFlag + kFlag, 2, "..."), "...");
  EXPECT_EQ(truncate_graphemes(kEAcute + kEAcute + "xyz", 3), kEAcute + kEAcute + "…");
  EXPECT_EQ(prefix_graphemes(kFamily + "x", 1), kFamily);
}

TEST(Graphemes, InvalidBytesAreClustersOfTheirOwn) {
  std::string s = "a\xFF" "b";
  EXPECT_EQ(count_graphemes(s), 3u);
}

}  // namespace
}  // namespace immp::unicode
