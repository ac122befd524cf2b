#include "plugs/irc/irc_split.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "text/markup_irc.hpp"
#include "plugs/irc/irc_line.hpp"
#include "text/utf8.hpp"

namespace immp::irc {
namespace {

using Lines = std::vector<std::string>;

std::vector<std::string> words(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string join(const Lines& lines, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i) out += sep;
    out += lines[i];
  }
  return out;
}

std::string without_spaces(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c != ' ' && c != '\n') out += c;
  }
  return out;
}

// The properties every split must have.
void expect_well_formed(const Lines& lines, std::size_t budget) {
  for (const std::string& line : lines) {
    EXPECT_LE(line.size(), budget) << line;
    EXPECT_FALSE(line.empty());
    EXPECT_EQ(line.find_first_of(std::string_view("\r\n\0\x01", 4)), std::string::npos) << line;
    EXPECT_TRUE(unicode::valid_utf8(line)) << line;
  }
}

// ---- budgets ----

TEST(IrcBudget, PrivmsgBudgetCountsOurPrefix) {
  // ":nick!user@host PRIVMSG #chan :" is 31 bytes; 512 - 2 - 31 = 479.
  EXPECT_EQ(privmsg_budget("nick!user@host", "#chan"), 479u);
  EXPECT_EQ(message_budget("nick!user@host", "NOTICE", "#chan"), 480u);
  std::string prefix = "nick!user@host";
  std::string target = "#chan";
  std::string line =
      ":" + prefix + " PRIVMSG " + target + " :" + std::string(privmsg_budget(prefix, target), 'x');
  EXPECT_EQ(line.size() + 2, kMaxLineBytes);
}

TEST(IrcBudget, SaturatesAtZero) {
  EXPECT_EQ(privmsg_budget(std::string(600, 'h'), "#a"), 0u);
}

// ---- simple splitting ----

TEST(IrcSplit, ShortTextIsOneLine) {
  EXPECT_EQ(split_text("hello world", 100), (Lines{"hello world"}));
}

TEST(IrcSplit, ExactlyTheBudgetFits) {
  EXPECT_EQ(split_text("abcde", 5), (Lines{"abcde"}));
  EXPECT_EQ(split_text("abcdef", 5), (Lines{"abcde", "f"}));
}

TEST(IrcSplit, NewlinesMakeSeparateLines) {
  EXPECT_EQ(split_text("one\ntwo\r\nthree\rfour", 100), (Lines{"one", "two", "three", "four"}));
}

TEST(IrcSplit, EmptyLinesAreDropped) {
  EXPECT_EQ(split_text("\n\none\n\n   \n\x02\x02\ntwo\n", 100), (Lines{"one", "two"}));
  EXPECT_TRUE(split_text("", 100).empty());
  EXPECT_TRUE(split_text("\r\n", 100).empty());
}

TEST(IrcSplit, BreaksAtTheLastSpaceWithinTheBudget) {
  EXPECT_EQ(split_text("the quick brown fox", 10), (Lines{"the quick", "brown fox"}));
  EXPECT_EQ(split_text("aaa bbb ccc ddd", 7), (Lines{"aaa bbb", "ccc ddd"}));
}

TEST(IrcSplit, LongWordBreaksAtCharacterBoundary) {
  EXPECT_EQ(split_text("abcdefghij", 4), (Lines{"abcd", "efgh", "ij"}));
  EXPECT_EQ(split_text("hi abcdefghij", 4), (Lines{"hi", "abcd", "efgh", "ij"}));
}

TEST(IrcSplit, LeadingSpacesAreNotABreakPoint) {
  EXPECT_EQ(split_text("   abcdef", 5), (Lines{"   ab", "cdef"}));
}

TEST(IrcSplit, NulAndCtcpMarkersAreRemoved) {
  EXPECT_EQ(split_text(std::string("a\0b\x01" "c", 5), 100), (Lines{"abc"}));
}

// ---- UTF-8 ----

TEST(IrcSplitUtf8, NeverCutsAMultibyteCharacter) {
  std::string emoji = "\xF0\x9F\x98\x80";  // U+1F600, 4 bytes
  std::string cjk = "\xE6\xBC\xA2";        // U+6F22, 3 bytes
  std::string text;
  for (int i = 0; i < 50; ++i) text += (i % 3 ? cjk : emoji) + (i % 7 == 0 ? "é" : "");
  for (std::size_t budget = 4; budget < 40; ++budget) {
    Lines lines = split_text(text, budget);
    expect_well_formed(lines, budget);
    EXPECT_EQ(join(lines, ""), text) << budget;
  }
}

TEST(IrcSplitUtf8, EmojiExactlyAtTheBoundary) {
  std::string text = std::string(8, 'x') + "\xF0\x9F\x98\x80" + "y";
  // Budget 10: the emoji would straddle bytes 9-12, so it moves to line 2.
  EXPECT_EQ(split_text(text, 10), (Lines{std::string(8, 'x'), "\xF0\x9F\x98\x80y"}));
  EXPECT_EQ(split_text(text, 12), (Lines{std::string(8, 'x') + "\xF0\x9F\x98\x80", "y"}));
}

TEST(IrcSplitUtf8, CjkWithoutSpaces) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "\xE4\xB8\xAD";  // 中
  Lines lines = split_text(text, 400);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].size(), 399u);
  expect_well_formed(lines, 400);
}

TEST(IrcSplitUtf8, InvalidBytesPassThroughOneByOne) {
  std::string text = "ab\xff\xfe" "cd";
  Lines lines = split_text(text, 3);
  EXPECT_EQ(join(lines, ""), text);
  for (const auto& l : lines) EXPECT_LE(l.size(), 3u);
}

// ---- formatting across breaks ----

std::string style(const Segment& s) {
  std::string out;
  if (s.bold) out += 'b';
  if (s.italic) out += 'i';
  if (s.underline) out += 'u';
  if (s.strike) out += 's';
  if (s.code) out += 'c';
  return out;
}

// What a reader sees: every visible byte with its style, spaces and line breaks
// skipped.
std::vector<std::string> styled_chars(const Lines& lines) {
  std::vector<std::string> out;
  for (const std::string& line : lines) {
    RichText text = markup::from_irc(line);
    for (const Segment& s : text.segments()) {
      for (char c : s.text) {
        if (c != ' ' && c != '\n') out.push_back(std::string(1, c) + style(s));
      }
    }
  }
  return out;
}

// The colour in effect at the first visible byte of `line`.
std::string colour_at_start(std::string_view line) {
  markup::IrcFormat state;
  for (std::size_t i = 0; i < line.size();) {
    std::size_t n = markup::read_irc_code(line, i, state);
    if (n == 0) break;
    i += n;
  }
  return state.fg + "," + state.bg;
}

TEST(IrcSplitFormat, BoldIsReopenedOnTheContinuation) {
  std::string text = "\x02" "bold words here\x02 plain";
  Lines lines = split_text(text, 11);
  EXPECT_EQ(lines, (Lines{"\x02" "bold words", "\x02here", "plain"}));
  EXPECT_EQ(styled_chars(lines), styled_chars({text}));
}

TEST(IrcSplitFormat, FormattingCarriesOverNewlines) {
  Lines lines = split_text("\x1D" "one\ntwo\x1D\nthree", 100);
  EXPECT_EQ(lines, (Lines{"\x1D" "one", "\x1Dtwo", "three"}));
}

TEST(IrcSplitFormat, EveryStyleIsReopened) {
  std::string text = "\x02\x1D\x1F\x1E\x11" + std::string(30, 'x');
  Lines lines = split_text(text, 15);
  expect_well_formed(lines, 15);
  ASSERT_GT(lines.size(), 2u);
  for (const std::string& line : lines) EXPECT_EQ(line.substr(0, 5), "\x02\x1D\x1F\x1E\x11");
  EXPECT_EQ(styled_chars(lines), styled_chars({text}));
}

TEST(IrcSplitFormat, ColoursAreReopened) {
  std::string text = "\x03" "4,12red on blue text that wraps\x03 plain words";
  Lines lines = split_text(text, 14);
  expect_well_formed(lines, 14);
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(colour_at_start(lines[0]), "04,12");
  EXPECT_EQ(colour_at_start(lines[1]), "04,12");
  EXPECT_EQ(colour_at_start(lines.back()), ",");
  EXPECT_EQ(without_spaces(markup::strip_irc(join(lines, ""))),
            without_spaces(markup::strip_irc(text)));
}

TEST(IrcSplitFormat, ReopenedColourDoesNotEatAComma) {
  std::string text = "\x03" "04abc ,5 apples";
  Lines lines = split_text(text, 8);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(markup::strip_irc(lines[1]).substr(0, 2), ",5");
  EXPECT_EQ(colour_at_start(lines[1]), "04,");
}

TEST(IrcSplitFormat, CodesAreNeverCut) {
  // "\x03" "04,12" is six bytes; with budget 4 it cannot go before 'x' at all.
  Lines lines = split_text("ab\x03" "04,12xy", 4);
  expect_well_formed(lines, 4);
  EXPECT_EQ(markup::strip_irc(join(lines, "")), "abxy");
  for (const std::string& line : lines) EXPECT_EQ(line.find("\x03" "04,1"), std::string::npos);
}

TEST(IrcSplitFormat, TrailingCodesAreNotSentAlone) {
  EXPECT_EQ(split_text("abcd\x02\x1D", 4), (Lines{"abcd"}));
  EXPECT_EQ(split_text("abcd \x02\x02 ", 4), (Lines{"abcd"}));
}

TEST(IrcSplitFormat, TinyBudgetsNeverOverflowOrHang) {
  std::string text = "\x02\x03" "04,05\xF0\x9F\x98\x80 a\xE4\xB8\xAD b";
  for (std::size_t budget = 0; budget < 12; ++budget) {
    Lines lines = split_text(text, budget);
    for (const std::string& line : lines) EXPECT_LE(line.size(), budget);
  }
  EXPECT_TRUE(split_text("abc", 0).empty());
  EXPECT_EQ(split_text("\xF0\x9F\x98\x80" "a", 3), (Lines{"a"}));  // emoji cannot fit
}

// ---- random texts: the properties hold for any mix ----

// Splits 400 random texts made of `pieces` with budgets in [min, max] and
// checks every property. `reopen_max` is the longest formatting that can be
// re-opened with these pieces; words that fit beside it must stay whole.
void check_random_texts(const std::vector<std::string>& pieces, std::size_t min_budget,
                        std::size_t max_budget, std::size_t reopen_max, unsigned seed) {
  std::mt19937 rng(seed);
  int words_checked = 0;
  for (int round = 0; round < 400; ++round) {
    std::string text;
    int nwords = std::uniform_int_distribution<int>(1, 60)(rng);
    for (int w = 0; w < nwords; ++w) {
      int len = std::uniform_int_distribution<int>(1, 5)(rng);
      for (int k = 0; k < len; ++k) {
        text += pieces[std::uniform_int_distribution<std::size_t>(0, pieces.size() - 1)(rng)];
      }
      int gap = std::uniform_int_distribution<int>(0, 12)(rng);
      text += gap == 0 ? "\n" : gap == 1 ? "  " : " ";
    }
    std::size_t budget = std::uniform_int_distribution<std::size_t>(min_budget, max_budget)(rng);
    Lines lines = split_text(text, budget);
    SCOPED_TRACE("budget " + std::to_string(budget) + " text " + text);
    expect_well_formed(lines, budget);
    // No visible byte is lost, added or restyled.
    EXPECT_EQ(styled_chars(lines), styled_chars({text}));
    std::size_t longest = 0;
    for (const std::string& w : words(text)) longest = std::max(longest, w.size());
    if (longest + reopen_max <= budget) {
      ++words_checked;
      EXPECT_EQ(words(markup::strip_irc(join(lines, " "))), words(markup::strip_irc(text)));
    }
  }
  EXPECT_GT(words_checked, 100);
}

const std::vector<std::string> kTextPieces = {
    "a", "bc", "def", "\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80",
    "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD", "1", ","};

TEST(IrcSplitProperty, RandomTextsWithAllCodes) {
  std::vector<std::string> pieces = kTextPieces;
  for (const char* code : {"\x02", "\x1D", "\x1F", "\x1E", "\x11", "\x0F", "\x16", "\x03" "04",
                           "\x03" "4,12", "\x03", "\x04" "FF8800", "\x04" "112233,445566"}) {
    pieces.push_back(code);
  }
  // Longest re-open: "\x04RRGGBB,RRGGBB" and six toggles.
  check_random_texts(pieces, 40, 120, 20, 12345);
}

TEST(IrcSplitProperty, RandomTextsWithSmallBudgets) {
  std::vector<std::string> pieces = kTextPieces;
  for (const char* code : {"\x02", "\x1D", "\x1F", "\x1E", "\x11", "\x0F", "\x16", "\x03" "04",
                           "\x03" "4,12", "\x03", "\x03" "5"}) {
    pieces.push_back(code);
  }
  // Longest re-open: "\x03NN,NN" and six toggles.
  check_random_texts(pieces, 16, 40, 12, 777);
}

TEST(IrcSplitProperty, RandomPlainTexts) {
  check_random_texts(kTextPieces, 8, 60, 0, 4242);
}

TEST(IrcSplitProperty, OneFittingLineIsSplitAsByTheGeneralPath) {
  // A line without control bytes that fits takes a shortcut; a trailing
  // line break (an empty line, dropped) sends the same text through the
  // general path. Both must agree, spaces and invalid bytes included.
  std::vector<std::string> pieces = kTextPieces;
  for (const char* piece : {" ", "  ", "\xFF", "\xC3", "\x7F", "~"}) pieces.push_back(piece);
  std::mt19937 rng(99);
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    int n = std::uniform_int_distribution<int>(0, 30)(rng);
    for (int k = 0; k < n; ++k) {
      text += pieces[std::uniform_int_distribution<std::size_t>(0, pieces.size() - 1)(rng)];
    }
    std::size_t budget = std::uniform_int_distribution<std::size_t>(0, 80)(rng);
    SCOPED_TRACE("budget " + std::to_string(budget) + " text " + text);
    EXPECT_EQ(split_text(text, budget), split_text(text + "\n", budget));
  }
  EXPECT_TRUE(split_text("   ", 10).empty());
  EXPECT_EQ(split_text(" a ", 3), (Lines{" a "}));
}

// ---- injection ----

TEST(IrcSplitInjection, TextCannotForgeAQuit) {
  for (const char* hostile : {"hi\r\nQUIT :bye", "hi\nQUIT :bye", "hi\rQUIT :bye",
                              "hi\r\n:evil!u@h QUIT :bye", "\r\nQUIT", "a\0\r\nQUIT"}) {
    std::string text = markup::to_irc(RichText(std::string(hostile)));
    for (const std::string& body : split_text(text, privmsg_budget("me!u@h", "#c"))) {
      std::optional<std::string> wire = format_line("PRIVMSG", {"#c", body});
      ASSERT_TRUE(wire) << body;
      EXPECT_EQ(wire->find_first_of("\r\n"), wire->size() - 2);
      std::optional<Line> line = parse_line(*wire);
      ASSERT_TRUE(line);
      EXPECT_EQ(line->command, "PRIVMSG");
      EXPECT_EQ(line->params[0], "#c");
    }
    // Straight to split_text without to_irc, too.
    for (const std::string& body : split_text(hostile, 400)) {
      std::optional<std::string> wire = format_line("PRIVMSG", {"#c", body});
      ASSERT_TRUE(wire);
      EXPECT_EQ(parse_line(*wire)->command, "PRIVMSG");
    }
  }
  EXPECT_EQ(split_text("hi\r\nQUIT :bye", 400), (Lines{"hi", "QUIT :bye"}));
}

TEST(IrcSplitInjection, TextCannotForgeACtcp) {
  std::string text = markup::to_irc(RichText("\x01" "DCC SEND evil 0 0 0\x01"));
  for (const std::string& body : split_text(text, 400)) EXPECT_FALSE(is_ctcp(body));
  for (const std::string& body : split_text("\x01VERSION\x01", 400)) EXPECT_FALSE(is_ctcp(body));
}

// ---- CTCP ----

TEST(IrcCtcp, ActionWrapAndParse) {
  EXPECT_EQ(ctcp_action("waves"), "\x01" "ACTION waves\x01");
  EXPECT_EQ(parse_action("\x01" "ACTION waves hello\x01"), "waves hello");
  EXPECT_EQ(parse_action("\x01" "ACTION waves"), "waves");  // closing \x01 omitted
  EXPECT_EQ(parse_action("\x01" "ACTION\x01"), "");
  EXPECT_EQ(parse_action("\x01" "ACTION \x01"), "");
  EXPECT_FALSE(parse_action("ACTION waves"));
  EXPECT_FALSE(parse_action("\x01" "VERSION\x01"));
  EXPECT_FALSE(parse_action("\x01" "ACTIONwaves\x01"));
  EXPECT_FALSE(parse_action(""));
}

TEST(IrcCtcp, GenericDetector) {
  std::optional<Ctcp> v = parse_ctcp("\x01VERSION\x01");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->command, "VERSION");
  EXPECT_EQ(v->params, "");
  std::optional<Ctcp> p = parse_ctcp("\x01PING 12345 678\x01");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->command, "PING");
  EXPECT_EQ(p->params, "12345 678");
  EXPECT_FALSE(parse_ctcp("\x01\x01"));
  EXPECT_FALSE(parse_ctcp("\x01"));
  EXPECT_FALSE(parse_ctcp("\x01 x"));
  EXPECT_FALSE(parse_ctcp("plain text"));
  EXPECT_TRUE(is_ctcp("\x01" "ACTION x\x01"));
  EXPECT_FALSE(is_ctcp("x\x01" "ACTION x\x01"));
}

TEST(IrcCtcp, SplitActionFitsTheBudgetWithWrapping) {
  std::string text;
  for (int i = 0; i < 60; ++i) text += "word" + std::to_string(i) + " ";
  std::size_t budget = 50;
  Lines lines = split_action(text, budget);
  ASSERT_GT(lines.size(), 1u);
  std::string rejoined;
  for (const std::string& line : lines) {
    EXPECT_LE(line.size(), budget);
    std::optional<std::string_view> inner = parse_action(line);
    ASSERT_TRUE(inner) << line;
    EXPECT_EQ(line.back(), '\x01');
    rejoined += std::string(*inner) + " ";
  }
  EXPECT_EQ(words(rejoined), words(text));
}

}  // namespace
}  // namespace immp::irc
