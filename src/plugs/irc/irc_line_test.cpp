#include "plugs/irc/irc_line.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "plugs/irc/irc_casemap.hpp"

namespace immp::irc {
namespace {

using namespace std::chrono;
using namespace std::string_literals;

Line parse_ok(std::string_view raw) {
  std::string error;
  std::optional<Line> line = parse_line(raw, &error);
  EXPECT_TRUE(line) << "refused: " << error;
  return line.value_or(Line{});
}

std::string parse_error(std::string_view raw) {
  std::string error;
  std::optional<Line> line = parse_line(raw, &error);
  EXPECT_FALSE(line) << "accepted: " << raw;
  return error;
}

// ---- parse_line ----

TEST(IrcLineParse, FullPrivmsgWithPrefix) {
  Line line = parse_ok(":nick!user@host.example PRIVMSG #chan :hello world\r\n");
  EXPECT_EQ(line.nick, "nick");
  EXPECT_EQ(line.user, "user");
  EXPECT_EQ(line.host, "host.example");
  EXPECT_EQ(line.command, "PRIVMSG");
  ASSERT_EQ(line.params.size(), 2u);
  EXPECT_EQ(line.params[0], "#chan");
  EXPECT_EQ(line.params[1], "hello world");
  EXPECT_FALSE(line.truncated);
  EXPECT_TRUE(line.tags.empty());
}

TEST(IrcLineParse, TrailingLineEndingsAreOptional) {
  for (const char* raw : {"PING :x", "PING :x\r\n", "PING :x\n", "PING :x\r"}) {
    Line line = parse_ok(raw);
    EXPECT_EQ(line.command, "PING") << raw;
    ASSERT_EQ(line.params.size(), 1u) << raw;
    EXPECT_EQ(line.params[0], "x") << raw;
  }
}

TEST(IrcLineParse, PrefixlessLine) {
  Line line = parse_ok("PING irc.example.org");
  EXPECT_EQ(line.nick, "");
  EXPECT_EQ(line.source(), "");
  EXPECT_EQ(line.command, "PING");
  EXPECT_EQ(line.params, std::vector<std::string>{"irc.example.org"});
}

TEST(IrcLineParse, ServerPrefixIsAllNick) {
  Line line = parse_ok(":irc.example.org NOTICE * :*** Looking up your hostname");
  EXPECT_EQ(line.nick, "irc.example.org");
  EXPECT_EQ(line.user, "");
  EXPECT_EQ(line.host, "");
  EXPECT_EQ(line.params[1], "*** Looking up your hostname");
}

TEST(IrcLineParse, PrefixWithHostOnly) {
  Line line = parse_ok(":nick@host JOIN #a");
  EXPECT_EQ(line.nick, "nick");
  EXPECT_EQ(line.user, "");
  EXPECT_EQ(line.host, "host");
  EXPECT_EQ(line.source(), "nick@host");
}

TEST(IrcLineParse, NumericCommand) {
  Line line = parse_ok(":srv 001 me :Welcome to the network, me");
  EXPECT_EQ(line.command, "001");
  EXPECT_EQ(line.params[0], "me");
  EXPECT_EQ(line.params[1], "Welcome to the network, me");
}

TEST(IrcLineParse, CommandIsUpperCased) {
  EXPECT_EQ(parse_ok("privmsg #a :x").command, "PRIVMSG");
  EXPECT_EQ(parse_ok("Cap LS 302").command, "CAP");
}

TEST(IrcLineParse, InvalidCommandsAreRefusedWithReason) {
  EXPECT_NE(parse_error("PRIV$MSG #a :x").find("invalid IRC command"), std::string::npos);
  EXPECT_NE(parse_error("01 x").find("3-digit"), std::string::npos);
  parse_error("0001 x");
  parse_error("1AB x");
  parse_error(":nick!u@h 12a");
}

TEST(IrcLineParse, EmptyAndBlankLinesAreRefused) {
  EXPECT_EQ(parse_error(""), "empty IRC line");
  EXPECT_EQ(parse_error("\r\n"), "empty IRC line");
  EXPECT_EQ(parse_error("     "), "empty IRC line");
  EXPECT_EQ(parse_error(":prefix.only"), "IRC line has no command");
  EXPECT_EQ(parse_error(":prefix.only   \r\n"), "IRC line has no command");
  EXPECT_EQ(parse_error("@a=b"), "IRC line has no command");
  EXPECT_EQ(parse_error("@a=b :pfx"), "IRC line has no command");
}

TEST(IrcLineParse, ErrorPointerMayBeNull) {
  EXPECT_FALSE(parse_line(""));
  EXPECT_TRUE(parse_line("PING x"));
}

TEST(IrcLineParse, EmbeddedLineBreakOrNulIsRefused) {
  EXPECT_NE(parse_error("PRIVMSG #a :hi\r\nQUIT :bye").find("CR at byte 14"), std::string::npos);
  EXPECT_NE(parse_error("PRIVMSG #a :hi\nQUIT").find("LF"), std::string::npos);
  EXPECT_NE(parse_error("PRIVMSG #a :h\0i"s).find("NUL at byte 13"), std::string::npos);
}

TEST(IrcLineParse, TrailingEmptyParam) {
  Line line = parse_ok("PRIVMSG #a :");
  ASSERT_EQ(line.params.size(), 2u);
  EXPECT_EQ(line.params[1], "");
  EXPECT_EQ(line.str(), "PRIVMSG #a :\r\n");
}

TEST(IrcLineParse, TrailingKeepsColonsAndSpaces) {
  Line line = parse_ok("PRIVMSG #a ::-)  two  spaces ");
  EXPECT_EQ(line.params[1], ":-)  two  spaces ");
}

TEST(IrcLineParse, MultipleSpacesBetweenParts) {
  Line line = parse_ok("   :n!u@h    MODE   #chan  +o   nick   ");
  EXPECT_EQ(line.nick, "n");
  EXPECT_EQ(line.command, "MODE");
  EXPECT_EQ(line.params, (std::vector<std::string>{"#chan", "+o", "nick"}));
}

TEST(IrcLineParse, NoParams) {
  Line line = parse_ok("QUIT");
  EXPECT_TRUE(line.params.empty());
  EXPECT_EQ(line.param(0), "");
}

TEST(IrcLineParse, MoreThanFifteenParamsAreAllKept) {
  std::string raw = "CMD";
  for (int i = 0; i < 20; ++i) raw += " p" + std::to_string(i);
  Line line = parse_ok(raw);
  ASSERT_EQ(line.params.size(), 20u);
  EXPECT_EQ(line.params[19], "p19");
}

TEST(IrcLineParse, InvalidUtf8IsKeptAsBytes) {
  std::string raw = ":n!u@h PRIVMSG #a :caf\xe9 \xff\xfe \xc3";
  Line line = parse_ok(raw);
  EXPECT_EQ(line.params[1], "caf\xe9 \xff\xfe \xc3");
  EXPECT_EQ(line.str(), raw + "\r\n");
}

// ---- tags ----

TEST(IrcLineTags, SimpleTagsAndFlags) {
  Line line = parse_ok("@a=b;c;d= :n PRIVMSG #x :y");
  ASSERT_EQ(line.tags.size(), 3u);
  EXPECT_EQ(line.tags[0], (Tag{"a", "b"}));
  EXPECT_EQ(line.tags[1], (Tag{"c", ""}));
  EXPECT_EQ(line.tags[2], (Tag{"d", ""}));
  ASSERT_TRUE(line.tag("c"));
  EXPECT_EQ(*line.tag("c"), "");
  EXPECT_EQ(line.tag("missing"), nullptr);
  EXPECT_EQ(line.nick, "n");
}

TEST(IrcLineTags, EscapesAreDecoded) {
  Line line = parse_ok(R"(@k=semi\:space\sback\\slash\rcr\nlf PING x)");
  EXPECT_EQ(*line.tag("k"), "semi;space back\\slash\rcr\nlf");
}

TEST(IrcLineTags, UnknownEscapeDropsBackslash) {
  EXPECT_EQ(*parse_ok(R"(@k=a\bc\- PING x)").tag("k"), "abc-");
}

TEST(IrcLineTags, TrailingBackslashIsDropped) {
  EXPECT_EQ(*parse_ok(R"(@k=abc\ PING x)").tag("k"), "abc");
  EXPECT_EQ(*parse_ok(R"(@k=\\\ PING x)").tag("k"), "\\");
}

TEST(IrcLineTags, VendorAndClientTags) {
  Line line = parse_ok("@+example.com/foo=bar;draft/label=x1 :n PRIVMSG #a :hi");
  EXPECT_EQ(*line.tag("+example.com/foo"), "bar");
  EXPECT_EQ(*line.tag("draft/label"), "x1");
}

TEST(IrcLineTags, DuplicateKeyLastWins) {
  Line line = parse_ok("@a=1;a=2 PING x");
  EXPECT_EQ(*line.tag("a"), "2");
  EXPECT_EQ(line.tags.size(), 2u);
}

TEST(IrcLineTags, EmptyKeysAreSkipped) {
  Line line = parse_ok("@;=x;a=1; PING x");
  ASSERT_EQ(line.tags.size(), 1u);
  EXPECT_EQ(line.tags[0], (Tag{"a", "1"}));
}

TEST(IrcLineTags, ValueMayContainEquals) {
  EXPECT_EQ(*parse_ok("@k=a=b PING x").tag("k"), "a=b");
}

TEST(IrcLineTags, EscapeRoundTrip) {
  std::string value = "a;b c\\d\re\nf\\";
  EXPECT_EQ(escape_tag_value(value), R"(a\:b\sc\\d\re\nf\\)");
  EXPECT_EQ(unescape_tag_value(escape_tag_value(value)), value);
}

TEST(IrcLineTags, SerialisedTagsAreEscaped) {
  Line line = parse_ok(R"(@k=x\sy\:z;flag :n PRIVMSG #a :hi)");
  EXPECT_EQ(line.str(), "@k=x\\sy\\:z;flag :n PRIVMSG #a hi\r\n");
}

TEST(IrcLineTags, ServerTime) {
  Line line = parse_ok("@time=2026-11-22T10:00:00.123Z :n PRIVMSG #a :x");
  std::optional<system_clock::time_point> at = line.time();
  ASSERT_TRUE(at);
  sys_days day = year{2026} / 11 / 22;
  EXPECT_EQ(*at, day + 10h + 123ms);
  EXPECT_FALSE(parse_ok("PING x").time());
  EXPECT_FALSE(parse_ok("@time=yesterday PING x").time());
}

// ---- limits ----

TEST(IrcLineLimits, ExactlyAtTheLimitIsNotTruncated) {
  std::string raw = "PRIVMSG #a :" + std::string(510 - 12, 'x');
  ASSERT_EQ(raw.size(), 510u);
  Line line = parse_ok(raw + "\r\n");
  EXPECT_FALSE(line.truncated);
  EXPECT_EQ(line.params[1].size(), 498u);
}

TEST(IrcLineLimits, OverlongBodyIsTruncatedAndFlagged) {
  std::string raw = ":n!u@h PRIVMSG #a :";
  while (raw.size() < 1000) raw += "word ";
  Line line = parse_ok(raw);
  EXPECT_TRUE(line.truncated);
  EXPECT_EQ(line.params[1].size(), 510u - 19u);
  EXPECT_EQ(line.str().size(), 512u);
  EXPECT_FALSE(parse_ok(line.str()).truncated);
}

TEST(IrcLineLimits, TruncationDoesNotCutAUtf8Character) {
  // 498 bytes of text fit; put a 4-byte emoji across the cut.
  std::string raw = "PRIVMSG #a :" + std::string(496, 'x') + "\xF0\x9F\x98\x80" + "tail";
  Line line = parse_ok(raw);
  EXPECT_TRUE(line.truncated);
  EXPECT_EQ(line.params[1], std::string(496, 'x'));
}

TEST(IrcLineLimits, LongTagsDoNotCountAgainstTheBody) {
  std::string tags = "@k=" + std::string(8000, 'v');
  std::string body = "PRIVMSG #a :" + std::string(498, 'x');
  Line line = parse_ok(tags + " " + body);
  EXPECT_FALSE(line.truncated);
  EXPECT_EQ(line.tag("k")->size(), 8000u);
  EXPECT_EQ(line.params[1].size(), 498u);
}

TEST(IrcLineLimits, OverlongTagsAreDroppedAndFlagged) {
  std::string tags = "@a=1;big=" + std::string(9000, 'v') + ";c=3";
  Line line = parse_ok(tags + " PING x");
  EXPECT_TRUE(line.truncated);
  ASSERT_EQ(line.tags.size(), 1u);
  EXPECT_EQ(line.tags[0].key, "a");
  EXPECT_EQ(line.command, "PING");
  EXPECT_EQ(line.params[0], "x");
}

TEST(IrcLineLimits, TagsAtTheLimitAreKept) {
  // '@' + data + ' ' = 8191 bytes.
  std::string data = "k=" + std::string(8189 - 2, 'v');
  Line line = parse_ok("@" + data + " PING x");
  EXPECT_FALSE(line.truncated);
  EXPECT_EQ(line.tag("k")->size(), 8187u);
  Line over = parse_ok("@" + data + "v PING x");
  EXPECT_TRUE(over.truncated);
  EXPECT_TRUE(over.tags.empty());
}

TEST(IrcLineLimits, HugeInputIsHandled) {
  std::string raw = "@" + std::string(100000, 'a') + " :" + std::string(100000, 'b') + " " +
                    std::string(100000, 'C');
  // The command is cut off by the body limit: the prefix eats all 510 bytes.
  EXPECT_FALSE(parse_line(raw));
  std::string raw2 = "PRIVMSG " + std::string(100000, ' ') + ":x";
  Line line = parse_ok(raw2);
  EXPECT_TRUE(line.truncated);
  EXPECT_EQ(line.params.size(), 0u);
}

// ---- str ----

TEST(IrcLineStr, RoundTripsParsedLines) {
  for (const char* raw : {
           ":nick!user@host PRIVMSG #chan :hello world",
           "@a=b;c :srv 005 me CHANTYPES=# CASEMAPPING=rfc1459 :are supported",
           "PING :",
           "PRIVMSG #a ::starts with colon",
           ":a@b!c PRIVMSG x y",
           ":a@b! PRIVMSG x y",
           ":a!@h!x PRIVMSG x y",
           "@k=\\\\\\:\\s\\r\\n :!u@h 421 me FOO :Unknown command",
       }) {
    Line line = parse_ok(raw);
    std::string wire = line.str();
    Line again = parse_ok(wire);
    EXPECT_EQ(again, line) << raw;
    EXPECT_EQ(again.str(), wire) << raw;
  }
}

TEST(IrcLineStr, ColonOnlyWhenNeeded) {
  Line line;
  line.command = "PRIVMSG";
  line.params = {"#a", "word"};
  EXPECT_EQ(line.str(), "PRIVMSG #a word\r\n");
  line.params = {"#a", "two words"};
  EXPECT_EQ(line.str(), "PRIVMSG #a :two words\r\n");
}

TEST(IrcLineStr, HandBuiltLineCannotInjectALine) {
  Line line;
  line.nick = "n\r\nick";
  line.command = "PRIVMSG";
  line.params = {"#a", "hi\r\nQUIT :bye\0"s};
  line.tags = {{"k\n", "v\0"s}};
  std::string wire = line.str();
  EXPECT_EQ(wire, "@k=v :nick PRIVMSG #a :hiQUIT :bye\r\n");
}

// ---- format_line ----

TEST(IrcFormatLine, BuildsPlainAndTrailingParams) {
  EXPECT_EQ(format_line("PRIVMSG", {"#chan", "hello world"}), "PRIVMSG #chan :hello world\r\n");
  EXPECT_EQ(format_line("NICK", {"me"}), "NICK me\r\n");
  EXPECT_EQ(format_line("privmsg", {"#a", ""}), "PRIVMSG #a :\r\n");
  EXPECT_EQ(format_line("PRIVMSG", {"#a", ":)"}), "PRIVMSG #a ::)\r\n");
  EXPECT_EQ(format_line("QUIT", {}), "QUIT\r\n");
  EXPECT_EQ(format_line("001", {"me", "hi"}), "001 me hi\r\n");
}

TEST(IrcFormatLine, RefusesLineBreaksAndNul) {
  std::string error;
  EXPECT_FALSE(format_line("PRIVMSG", {"#a", "hi\r\nQUIT :bye"}, &error));
  EXPECT_NE(error.find("parameter 2 of PRIVMSG"), std::string::npos) << error;
  EXPECT_FALSE(format_line("PRIVMSG", {"#a", "hi\nQUIT"}));
  EXPECT_FALSE(format_line("PRIVMSG", {"#a", "hi\rQUIT"}));
  EXPECT_FALSE(format_line("PRIVMSG", {"#a", "h\0i"s}));
  EXPECT_FALSE(format_line("PRIVMSG", {"#a\r\nQUIT", "x"}));
}

TEST(IrcFormatLine, RefusesBadMiddleParams) {
  std::string error;
  EXPECT_FALSE(format_line("PRIVMSG", {"#a b", "x"}, &error));
  EXPECT_NE(error.find("only the last parameter"), std::string::npos) << error;
  EXPECT_FALSE(format_line("PRIVMSG", {"", "x"}));
  EXPECT_FALSE(format_line("PRIVMSG", {":#a", "x"}));
  EXPECT_FALSE(format_line("MODE", {"#a", "+o", "", "x"}));
}

TEST(IrcFormatLine, RefusesBadCommands) {
  EXPECT_FALSE(format_line("PRIVMSG #a", {"x"}));
  EXPECT_FALSE(format_line("", {"x"}));
  EXPECT_FALSE(format_line("QUIT\r\n", {}));
  EXPECT_FALSE(format_line("12", {}));
}

TEST(IrcFormatLine, RefusesOverlongLines) {
  std::string error;
  // "PRIVMSG #a :" is 12 bytes; the text has a space, so it needs the ':'.
  EXPECT_TRUE(format_line("PRIVMSG", {"#a", " " + std::string(510 - 13, 'x')}));
  EXPECT_FALSE(format_line("PRIVMSG", {"#a", " " + std::string(510 - 12, 'x')}, &error));
  EXPECT_NE(error.find("over the IRC limit of 512"), std::string::npos) << error;
}

TEST(IrcFormatLine, TagsAreEscapedAndChecked) {
  EXPECT_EQ(format_line("TAGMSG", {"#a"}, nullptr, {{"+draft/react", "a b;c"}}),
            "@+draft/react=a\\sb\\:c TAGMSG #a\r\n");
  EXPECT_FALSE(format_line("TAGMSG", {"#a"}, nullptr, {{"bad key", "x"}}));
  EXPECT_FALSE(format_line("TAGMSG", {"#a"}, nullptr, {{"", "x"}}));
  EXPECT_FALSE(format_line("TAGMSG", {"#a"}, nullptr, {{"k=v", "x"}}));
  EXPECT_FALSE(format_line("TAGMSG", {"#a"}, nullptr, {{"k", std::string(9000, 'x')}}));
}

TEST(IrcFormatLine, OutputAlwaysParsesBackToTheSameParams) {
  std::vector<std::string> params = {"#chan", "+o", "a message: with :colons and  spaces"};
  std::optional<std::string> wire = format_line("PRIVMSG", params);
  ASSERT_TRUE(wire);
  Line line = parse_ok(*wire);
  EXPECT_EQ(line.params, params);
}

TEST(IrcAppendLine, AppendsWhatFormatLineGivesAndNothingWhenRefused) {
  std::string out = "PRIVMSG #a :first\r\n";
  ASSERT_TRUE(append_line(out, "privmsg", {"#chan", "hello world"}));
  ASSERT_TRUE(append_line(out, "TAGMSG", {"#a"}, nullptr, {{"+draft/react", "a b;c"}}));
  ASSERT_TRUE(append_line(out, "PRIVMSG", {"#a", ":)"}));
  EXPECT_EQ(out, "PRIVMSG #a :first\r\n" + *format_line("PRIVMSG", {"#chan", "hello world"}) +
                     *format_line("TAGMSG", {"#a"}, nullptr, {{"+draft/react", "a b;c"}}) +
                     *format_line("PRIVMSG", {"#a", ":)"}));
  const std::string before = out;
  std::string error;
  EXPECT_FALSE(append_line(out, "PRIVMSG", {"#a", "hi\r\nQUIT :bye"}, &error));
  EXPECT_NE(error.find("parameter 2 of PRIVMSG"), std::string::npos) << error;
  EXPECT_FALSE(append_line(out, "PRIVMSG", {"#a b", "x"}));
  EXPECT_FALSE(append_line(out, "PRIVMSG", {"#a", " " + std::string(510 - 12, 'x')}, &error));
  EXPECT_NE(error.find("over the IRC limit of 512"), std::string::npos) << error;
  EXPECT_FALSE(append_line(out, "TAGMSG", {"#a"}, nullptr, {{"k", std::string(9000, 'x')}}));
  EXPECT_EQ(out, before) << "a refused line leaves nothing behind";
}

// ---- server time ----

TEST(IrcServerTime, ParsesFractionsAndOffsets) {
  sys_days day = year{2026} / 11 / 22;
  EXPECT_EQ(parse_server_time("2026-11-22T10:00:00Z"), day + 10h);
  EXPECT_EQ(parse_server_time("2026-11-22T10:00:00.5Z"), day + 10h + 500ms);
  EXPECT_EQ(parse_server_time("2026-11-22T10:00:00.000001Z"), day + 10h + 1us);
  EXPECT_EQ(parse_server_time("2026-11-22T12:30:00+02:30"), day + 10h);
  EXPECT_EQ(parse_server_time("2026-11-22T08:00:00-02:00"), day + 10h);
  EXPECT_EQ(parse_server_time("1970-01-01T00:00:00.000Z"), system_clock::time_point{});
}

TEST(IrcServerTime, RefusesMalformed) {
  for (const char* bad : {"", "2026-11-22", "2026-11-22T10:00:00", "2026-11-22 10:00:00Z",
                          "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-11-22T24:00:00Z",
                          "2026-11-22T10:60:00Z", "2026-11-22T10:00:00.Z", "2026-11-22T10:00:00Zx",
                          "0000-01-01T00:00:00Z", "9999-01-01T00:00:00Z", "+026-11-22T10:00:00Z"}) {
    EXPECT_FALSE(parse_server_time(bad)) << bad;
  }
}

TEST(IrcServerTime, FormatsAndRoundTrips) {
  sys_days day = year{2026} / 11 / 22;
  system_clock::time_point at = day + 10h + 123ms;
  EXPECT_EQ(format_server_time(at), "2026-11-22T10:00:00.123Z");
  EXPECT_EQ(parse_server_time(format_server_time(at)), at);
  EXPECT_EQ(format_server_time(system_clock::time_point{} - 1ms), "1969-12-31T23:59:59.999Z");
}

// ---- case mapping ----

TEST(IrcCaseMapping, Rfc1459FoldsBracketsAndTilde) {
  EXPECT_EQ(fold("Nick[A]\\~", CaseMapping::rfc1459), "nick{a}|^");
  EXPECT_TRUE(same_name("Foo[m]", "foo{M}"));
  EXPECT_TRUE(same_name("a~", "A^"));
}

TEST(IrcCaseMapping, StrictRfc1459KeepsTilde) {
  EXPECT_EQ(fold("Nick[A]\\~", CaseMapping::strict_rfc1459), "nick{a}|~");
  EXPECT_FALSE(same_name("a~", "a^", CaseMapping::strict_rfc1459));
}

TEST(IrcCaseMapping, AsciiOnlyLetters) {
  EXPECT_EQ(fold("Nick[A]\\~\xC3\x89", CaseMapping::ascii), "nick[a]\\~\xC3\x89");
  EXPECT_FALSE(same_name("[a]", "{a}", CaseMapping::ascii));
  EXPECT_FALSE(same_name("ab", "abc", CaseMapping::ascii));
}

TEST(IrcCaseMapping, ParsesIsupportTokens) {
  EXPECT_EQ(parse_casemapping("rfc1459"), CaseMapping::rfc1459);
  EXPECT_EQ(parse_casemapping("strict-rfc1459"), CaseMapping::strict_rfc1459);
  EXPECT_EQ(parse_casemapping("ascii"), CaseMapping::ascii);
  EXPECT_FALSE(parse_casemapping("rfc7613"));
}

}  // namespace
}  // namespace immp::irc
