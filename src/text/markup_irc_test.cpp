#include "text/markup_irc.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace immp::markup {

using namespace irc_code;
namespace {

// A compact description of a segment's style, for readable expectations:
// letters b i u s c, "-" for none.
std::string style(const Segment& s) {
  std::string out;
  if (s.bold) out += 'b';
  if (s.italic) out += 'i';
  if (s.underline) out += 'u';
  if (s.strike) out += 's';
  if (s.code) out += 'c';
  return out.empty() ? "-" : out;
}

// "style:text|style:text" for a RichText.
std::string describe(const RichText& text) {
  std::string out;
  for (const Segment& s : text.segments()) {
    if (!out.empty()) out += '|';
    out += style(s) + ":" + s.text;
  }
  return out;
}

Segment seg(std::string text, std::string_view styles = "") {
  Segment s;
  s.text = std::move(text);
  s.bold = styles.find('b') != std::string_view::npos;
  s.italic = styles.find('i') != std::string_view::npos;
  s.underline = styles.find('u') != std::string_view::npos;
  s.strike = styles.find('s') != std::string_view::npos;
  s.code = styles.find('c') != std::string_view::npos;
  return s;
}

RichText rich(std::vector<Segment> segments) { return RichText(std::move(segments)); }

// ---- incoming ----

TEST(IrcFromIrc, PlainText) {
  EXPECT_EQ(describe(from_irc("hello world")), "-:hello world");
  EXPECT_TRUE(from_irc("").segments().empty());
}

TEST(IrcFromIrc, EachStyleToggles) {
  EXPECT_EQ(describe(from_irc("a \x02" "bold\x02 b")), "-:a |b:bold|-: b");
  EXPECT_EQ(describe(from_irc("\x1Ditalic\x1D")), "i:italic");
  EXPECT_EQ(describe(from_irc("\x1Funder\x1F")), "u:under");
  EXPECT_EQ(describe(from_irc("\x1Estrike\x1E")), "s:strike");
  EXPECT_EQ(describe(from_irc("\x11mono\x11")), "c:mono");
}

TEST(IrcFromIrc, UnclosedStyleRunsToTheEnd) {
  EXPECT_EQ(describe(from_irc("x\x02y")), "-:x|b:y");
}

TEST(IrcFromIrc, StylesCombineAndResetClearsAll) {
  EXPECT_EQ(describe(from_irc("\x02" "b\x1D" "bi\x1F" "biu\x0Fplain")),
            "b:b|bi:bi|biu:biu|-:plain");
}

TEST(IrcFromIrc, ReverseIsIgnored) {
  EXPECT_EQ(describe(from_irc("a\x16" "b\x16" "c")), "-:abc");
}

TEST(IrcFromIrc, CodesWithoutTextLeaveNoEmptySegments) {
  EXPECT_EQ(describe(from_irc("\x02\x02\x1D\x0F" "x\x02")), "-:x");
  EXPECT_TRUE(from_irc("\x02\x1D\x03" "04").segments().empty());
}

TEST(IrcFromIrc, AdjacentSameStyleMerges) {
  EXPECT_EQ(describe(from_irc("a\x03" "04b\x03" "c")), "-:abc");
  EXPECT_EQ(from_irc("a\x03" "04b\x03" "c").segments().size(), 1u);
}

// ---- colours ----

TEST(IrcColours, ForegroundAndBackgroundDigitsAreConsumed) {
  EXPECT_EQ(strip_irc("\x03" "12,05text"), "text");
  EXPECT_EQ(strip_irc("\x03" "4text"), "text");
  EXPECT_EQ(strip_irc("\x03" "04text"), "text");
  EXPECT_EQ(strip_irc("\x03" "4,5text"), "text");
  EXPECT_EQ(strip_irc("\x03" "99,99text"), "text");
}

TEST(IrcColours, AtMostTwoDigitsEach) {
  EXPECT_EQ(strip_irc("\x03" "123"), "3");
  EXPECT_EQ(strip_irc("\x03" "12,345"), "5");
  EXPECT_EQ(strip_irc("\x03" "1,2345"), "45");
}

TEST(IrcColours, CommaIsTextUnlessADigitFollows) {
  EXPECT_EQ(strip_irc("\x03" "1,text"), ",text");
  EXPECT_EQ(strip_irc("\x03" "12,"), ",");
  EXPECT_EQ(strip_irc("\x03" "12, x"), ", x");
}

TEST(IrcColours, BareColourCodeResets) {
  EXPECT_EQ(strip_irc("\x03" "04red\x03 plain"), "red plain");
  EXPECT_EQ(strip_irc("\x03"), "");
  EXPECT_EQ(strip_irc("\x03,05x"), ",05x");  // no foreground: comma stays
}

TEST(IrcColours, HexColours) {
  EXPECT_EQ(strip_irc("\x04" "FF00aaText"), "Text");
  EXPECT_EQ(strip_irc("\x04" "FF00AA,00ff00Text"), "Text");
  EXPECT_EQ(strip_irc("\x04" "FF00AA,00fText"), ",00fText");
  EXPECT_EQ(strip_irc("\x04" "FF00Text"), "FF00Text");  // not 6 hex: a reset
  EXPECT_EQ(strip_irc("\x04"), "");
}

TEST(IrcColours, ColourKeepsStyles) {
  EXPECT_EQ(describe(from_irc("\x02" "\x03" "04,01bold red\x03 still bold")),
            "b:bold red still bold");
}

TEST(IrcColours, StateTracksColours) {
  IrcFormat state;
  EXPECT_EQ(read_irc_code("\x03" "4,12x", 0, state), 5u);
  EXPECT_EQ(state.fg, "04");
  EXPECT_EQ(state.bg, "12");
  EXPECT_EQ(read_irc_code("\x03" "7x", 0, state), 2u);
  EXPECT_EQ(state.fg, "07");
  EXPECT_EQ(state.bg, "12");  // a colour without background keeps the old one
  EXPECT_EQ(read_irc_code("\x03", 0, state), 1u);
  EXPECT_TRUE(state.plain());
  EXPECT_EQ(read_irc_code("x", 0, state), 0u);
  EXPECT_EQ(read_irc_code("", 0, state), 0u);
}

TEST(IrcColours, ReopenRestoresState) {
  IrcFormat state;
  state.bold = true;
  state.fg = "04";
  state.bg = "12";
  EXPECT_EQ(state.reopen(), "\x03" "04,12\x02");
  IrcFormat parsed;
  std::string codes = state.reopen();
  for (std::size_t i = 0; i < codes.size();) i += read_irc_code(codes, i, parsed);
  EXPECT_EQ(parsed, state);
}

TEST(IrcColours, ReopenGuardsAFollowingComma) {
  IrcFormat state;
  state.fg = "04";
  std::string codes = state.reopen(',');
  EXPECT_EQ(strip_irc(codes + ",5 apples"), ",5 apples");
  EXPECT_EQ(state.reopen('x'), "\x03" "04");
}

// ---- outgoing ----

TEST(IrcToIrc, PlainText) {
  EXPECT_EQ(to_irc(RichText("hello")), "hello");
  EXPECT_EQ(to_irc(RichText()), "");
}

TEST(IrcToIrc, EachStyleUsesItsCode) {
  EXPECT_EQ(to_irc(rich({seg("a "), seg("b", "b"), seg(" c")})), "a \x02" "b\x02 c");
  EXPECT_EQ(to_irc(rich({seg("i", "i"), seg(".")})), "\x1Di\x1D.");
  EXPECT_EQ(to_irc(rich({seg("u", "u"), seg(".")})), "\x1Fu\x1F.");
  EXPECT_EQ(to_irc(rich({seg("s", "s"), seg(".")})), "\x1Es\x1E.");
  EXPECT_EQ(to_irc(rich({seg("c", "c"), seg(".")})), "\x11" "c\x11.");
}

TEST(IrcToIrc, PreIsMonospace) {
  Segment s = seg("int x;");
  s.pre = true;
  EXPECT_EQ(to_irc(rich({s, seg(".")})), "\x11int x;\x11.");
}

TEST(IrcToIrc, TrailingResetOnlyWhenSomethingIsOpen) {
  EXPECT_EQ(to_irc(rich({seg("x", "b")})), "\x02x\x0F");
  EXPECT_EQ(to_irc(rich({seg("x", "b"), seg("y")})), "\x02x\x02y");
  EXPECT_EQ(to_irc(rich({seg("x")})), "x");
}

TEST(IrcToIrc, MinimalToggles) {
  // Bold stays on across the italic change: only italic toggles.
  EXPECT_EQ(to_irc(rich({seg("a", "b"), seg("b", "bi"), seg("c", "b"), seg("d")})),
            "\x02" "a\x1D" "b\x1D" "c\x02" "d");
  // Closing three styles at once is one reset.
  EXPECT_EQ(to_irc(rich({seg("a", "biu"), seg("b")})), "\x02\x1D\x1F" "a\x0F" "b");
}

TEST(IrcToIrc, LinksAndMentions) {
  Segment link = seg("the docs");
  link.link = "https://example.org/docs";
  EXPECT_EQ(to_irc(rich({seg("see "), link})), "see the docs <https://example.org/docs>");
  Segment bare = seg("https://example.org");
  bare.link = "https://example.org";
  EXPECT_EQ(to_irc(rich({bare})), "https://example.org");
  Segment empty;
  empty.link = "https://example.org/x";
  EXPECT_EQ(to_irc(rich({empty})), "https://example.org/x");

  auto user = std::make_shared<User>();
  user->username = "alice";
  user->real_name = "Alice Liddell";
  Segment mention = seg("@Alice Liddell");
  mention.mention = user;
  EXPECT_EQ(to_irc(rich({mention, seg(": hi")})), "alice: hi");
  auto anonymous = std::make_shared<User>();
  Segment unnamed = seg("@someone");
  unnamed.mention = anonymous;
  EXPECT_EQ(to_irc(rich({unnamed})), "@someone");
}

TEST(IrcToIrc, ControlBytesFromUsersAreRemoved) {
  std::string out = to_irc(RichText(std::string("a\x02" "b\x03" "04c\x01" "ACTION\x0F\0d\x16\x1D", 19)));
  EXPECT_EQ(out, "ab04cACTIONd");
  EXPECT_EQ(to_irc(RichText("tab\tkept")), "tab\tkept");
}

TEST(IrcToIrc, LineBreaksBecomeLf) {
  EXPECT_EQ(to_irc(RichText("a\r\nb\rc\nd")), "a\nb\nc\nd");
  EXPECT_EQ(to_irc(RichText("hi\r\nQUIT :bye")), "hi\nQUIT :bye");
}

TEST(IrcToIrc, EmptySegmentsAddNoCodes) {
  EXPECT_EQ(to_irc(rich({seg("", "b"), seg("x"), seg("", "i")})), "x");
}

// ---- round trip ----

TEST(IrcFormatRoundTrip, EachStyleAndCombination) {
  const char* styles[] = {"b", "i", "u", "s", "c", "bi", "bu", "is", "uc", "bius", "biusc"};
  for (const char* st : styles) {
    RichText text = rich({seg("before "), seg("styled", st), seg(" after")});
    EXPECT_EQ(describe(from_irc(to_irc(text))), describe(text)) << st;
    RichText at_end = rich({seg("x "), seg("open", st)});
    EXPECT_EQ(describe(from_irc(to_irc(at_end))), describe(at_end)) << st;
  }
}

TEST(IrcFormatRoundTrip, OverlappingStyles) {
  RichText text = rich({seg("a", "b"), seg("b", "bi"), seg("c", "i"), seg("d", "iu"),
                        seg("e", "bius"), seg("f", "c"), seg("g")});
  EXPECT_EQ(describe(from_irc(to_irc(text))), describe(text));
}

TEST(IrcFormatRoundTrip, DigitsAfterCodesStayText) {
  RichText text = rich({seg("1", "b"), seg("2"), seg(",3", "i")});
  EXPECT_EQ(describe(from_irc(to_irc(text))), describe(text));
}

// ---- nick colours ----

TEST(IrcColourNick, StableAndWellFormed) {
  std::string a = colour_nick("alice");
  EXPECT_EQ(a, colour_nick("alice"));
  ASSERT_EQ(a.size(), 1 + 2 + 5 + 1);
  EXPECT_EQ(a.front(), '\x03');
  EXPECT_EQ(a.back(), '\x03');
  EXPECT_EQ(a.substr(3, 5), "alice");
  EXPECT_EQ(strip_irc(a + ": hi"), "alice: hi");
}

TEST(IrcColourNick, AvoidsWhiteBlackAndGrey) {
  std::vector<bool> used(100);
  for (int i = 0; i < 500; ++i) {
    std::string c = colour_nick("user" + std::to_string(i));
    int n = std::stoi(c.substr(1, 2));
    used[n] = true;
    EXPECT_TRUE(n >= 2 && n <= 13) << c;
  }
  int distinct = 0;
  for (bool u : used) distinct += u;
  EXPECT_GE(distinct, 10);  // the hash spreads nicks over the palette
}

TEST(IrcColourNick, DigitNickAndCommaNickStayIntact) {
  EXPECT_EQ(strip_irc(colour_nick("1abc")), "1abc");
  EXPECT_EQ(strip_irc(colour_nick(",5x")), ",5x");
  EXPECT_EQ(strip_irc(colour_nick("a\r\nb\x02")), "ab");
}

}  // namespace
}  // namespace immp::markup
