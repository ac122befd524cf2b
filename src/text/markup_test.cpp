#include "text/markup.hpp"

#include <gtest/gtest.h>

#include <iterator>
#include <random>

namespace immp::markup {
namespace {

Segment seg(std::string text, std::string_view style = "", std::string link = "") {
  Segment s;
  s.text = std::move(text);
  for (char c : style) {
    switch (c) {
      case 'b': s.bold = true; break;
      case 'i': s.italic = true; break;
      case 'u': s.underline = true; break;
      case 's': s.strike = true; break;
      case 'c': s.code = true; break;
      case 'p': s.pre = true; break;
    }
  }
  s.link = std::move(link);
  return s;
}

RichText rich(std::vector<Segment> segments) { return RichText(std::move(segments)); }

// Texts a user writes, formatted every way the model allows.
std::vector<RichText> samples() {
  return {
      rich({seg("plain text")}),
      rich({seg("a "), seg("bold", "b"), seg(" and "), seg("italic", "i"), seg(" word")}),
      rich({seg("under", "u"), seg(" "), seg("struck", "s"), seg(" "), seg("both", "bi")}),
      rich({seg("nested "), seg("bold ", "b"), seg("bold italic", "bi"), seg(" bold", "b"),
            seg(" out")}),
      rich({seg("run "), seg("f(x)", "c"), seg(" now")}),
      rich({seg("see "), seg("the docs", "", "https://example.org/a?b=c&d=e"), seg(".")}),
      rich({seg("see "), seg("bold link", "b", "https://example.org/x"), seg(" ok")}),
      rich({seg("line one\nline two")}),
      rich({seg("code:\n"), seg("int main() {\n  return 0;\n}", "p"), seg("\nafter")}),
      rich({seg("special <tag> & \"quotes\" *stars* _under_ ~tilde~ `tick` [x](y) \\ |")}),
      rich({seg("unicode 😀 中文 é")}),
      rich({seg("café", "b"), seg(" 🇫🇷", "i")}),
  };
}

void expect_round_trip(Dialect dialect, std::string (*to)(const RichText&),
                       RichText (*from)(std::string_view), bool skip_unsafe_slack = false) {
  auto all = samples();
  for (std::size_t i = 0; i < all.size(); ++i) {
    // Slack cannot escape its markers: a lone "*" in prose can pair up.
    if (skip_unsafe_slack && i == 9) continue;
    const RichText& t = all[i];
    std::string markup = to(t);
    RichText back = from(markup);
    EXPECT_EQ(back, normalise_for(dialect, t)) << "sample " << i << ": " << markup;
  }
}

std::string html(const RichText& t) { return to_html(t); }

TEST(MarkupHtml, RoundTrips) { expect_round_trip(Dialect::html, html, from_html); }

TEST(MarkupHtml, EscapesEverythingElse) {
  EXPECT_EQ(to_html(rich({seg("<b>&</b>")})), "&lt;b&gt;&amp;&lt;/b&gt;");
  EXPECT_EQ(to_html(rich({seg("x", "", "https://e.org/?a=\"1\"&b")})),
            "<a href=\"https://e.org/?a=&quot;1&quot;&amp;b\">x</a>");
  EXPECT_EQ(to_html(rich({seg("a\nb")}), {.br_newlines = true}), "a<br/>b");
  EXPECT_EQ(to_html(rich({seg("bold", "bi")})), "<b><i>bold</i></b>");
}

TEST(MarkupHtml, ParsesTolerantly) {
  EXPECT_EQ(from_html("<strong>a</strong><em>b</em><del>c</del><ins>d</ins>"),
            rich({seg("a", "b"), seg("b", "i"), seg("c", "s"), seg("d", "u")}));
  EXPECT_EQ(from_html("<span class=x>hi</span> <font color=red>there</font>"),
            rich({seg("hi there")}));
  EXPECT_EQ(from_html("a < b && c > d <"), rich({seg("a < b && c > d <")}));
  EXPECT_EQ(from_html("x<script>alert(1)</script>y<!-- c -->z"), rich({seg("xyz")}));
  EXPECT_EQ(from_html("&#x1F600;&#128512;&lt;&nope;"), rich({seg("😀😀<&nope;")}));
  EXPECT_EQ(from_html("<mx-reply><blockquote>old</blockquote></mx-reply>new"),
            rich({seg("new")}));
  EXPECT_EQ(from_html("<p>one</p><p>two<br>three</p>"), rich({seg("one\ntwo\nthree")}));
  EXPECT_EQ(from_html("<pre><code class=\"language-cpp\">x</code></pre>"),
            rich({seg("x", "p")}));
  EXPECT_EQ(from_html("<a href='u'>l</a>"), rich({seg("l", "", "u")}));
  EXPECT_EQ(from_html("</b>unbalanced<i>"), rich({seg("unbalanced")}));
}

TEST(MarkupMarkdown, RoundTrips) { expect_round_trip(Dialect::markdown, to_markdown, from_markdown); }

TEST(MarkupMarkdown, EscapesMarkdown) {
  EXPECT_EQ(to_markdown(rich({seg("*not bold*")})), "\\*not bold\\*");
  EXPECT_EQ(to_markdown(rich({seg("# not a heading")})), "\\# not a heading");
  EXPECT_EQ(to_markdown(rich({seg("1. not a list")})), "1\\. not a list");
  EXPECT_EQ(to_markdown(rich({seg("bold ", "b"), seg("x")})), "**bold** x");
  EXPECT_EQ(to_markdown(rich({seg("a`b", "c")})), "``a`b``");
}

TEST(MarkupMarkdown, ParsesCommonMark) {
  EXPECT_EQ(from_markdown("**b** *i* _i_ ~~s~~ `c` [l](http://x)"),
            rich({seg("b", "b"), seg(" "), seg("i", "i"), seg(" "), seg("i", "i"), seg(" "),
                  seg("s", "s"), seg(" "), seg("c", "c"), seg(" "), seg("l", "", "http://x")}));
  EXPECT_EQ(from_markdown("para one\n\npara two"), rich({seg("para one\n\npara two")}));
  EXPECT_EQ(from_markdown("# Title\n- one\n- two"), rich({seg("Title\none\ntwo")}));
  EXPECT_EQ(from_markdown("<u>under</u>"), rich({seg("under", "u")}));
  EXPECT_EQ(from_markdown("```cpp\nint x;\n```"), rich({seg("int x;", "p")}));
}

TEST(MarkupSlack, RoundTrips) {
  expect_round_trip(Dialect::slack, to_slack, from_slack, /*skip_unsafe_slack=*/true);
}

TEST(MarkupSlack, WritesMrkdwn) {
  EXPECT_EQ(to_slack(rich({seg("b", "b"), seg(" "), seg("i", "i"), seg(" "), seg("s", "s")})),
            "*b* _i_ ~s~");
  EXPECT_EQ(to_slack(rich({seg("a < b & c")})), "a &lt; b &amp; c");
  EXPECT_EQ(to_slack(rich({seg("docs", "", "https://e.org/a|b")})), "<https://e.org/a%7Cb|docs>");
  EXPECT_EQ(to_slack(rich({seg("bold ", "b"), seg("x")})), "*bold* x");
}

TEST(MarkupSlack, ReadsMrkdwn) {
  EXPECT_EQ(from_slack("*b* _i_ ~s~ `c`"),
            rich({seg("b", "b"), seg(" "), seg("i", "i"), seg(" "), seg("s", "s"), seg(" "),
                  seg("c", "c")}));
  EXPECT_EQ(from_slack("2*3*4 snake_case_name"), rich({seg("2*3*4 snake_case_name")}));
  EXPECT_EQ(from_slack("<https://e.org|the site> <https://e.org>"),
            rich({seg("the site", "", "https://e.org"), seg(" "),
                  seg("https://e.org", "", "https://e.org")}));
  EXPECT_EQ(from_slack("hi <@U123> in <#C1|general> <!here>"),
            rich({seg("hi @U123 in #general @here")}));
  EXPECT_EQ(from_slack("&lt;b&gt; &amp;"), rich({seg("<b> &")}));
  EXPECT_EQ(from_slack("```pre *x*```"), rich({seg("pre *x*", "p")}));
}

TEST(MarkupDiscord, RoundTrips) { expect_round_trip(Dialect::discord, to_discord, from_discord); }

TEST(MarkupDiscord, WritesDiscordMarkdown) {
  EXPECT_EQ(to_discord(rich({seg("b", "b"), seg(" "), seg("i", "i"), seg(" "), seg("u", "u"),
                             seg(" "), seg("s", "s")})),
            "**b** *i* __u__ ~~s~~");
  EXPECT_EQ(to_discord(rich({seg("*x* _y_")})), "\\*x\\* \\_y\\_");
  EXPECT_EQ(to_discord(rich({seg("site", "", "https://e.org")})), "[site](<https://e.org>)");
}

TEST(MarkupDiscord, ReadsDiscordMarkdown) {
  EXPECT_EQ(from_discord("***bi*** __u__ ~~s~~ `c` \\*lit\\*"),
            rich({seg("bi", "bi"), seg(" "), seg("u", "u"), seg(" "), seg("s", "s"), seg(" "),
                  seg("c", "c"), seg(" *lit*")}));
  EXPECT_EQ(from_discord("```py\nprint(1)\n```"), rich({seg("print(1)", "p")}));
  EXPECT_EQ(from_discord("[t](https://e.org) 2*3"),
            rich({seg("t", "", "https://e.org"), seg(" 2*3")}));
}

// Random texts of words (no punctuation: see docs/text.md for what the
// delimiter dialects cannot hold) in random styles and links.
TEST(Markup, RandomTextsRoundTripInEveryDialect) {
  std::mt19937 rng(20261201);
  const char* words[] = {"alpha", "beta", "x1", "café", "😀", "中文", "e\xCC\x81"};
  for (int round = 0; round < 500; ++round) {
    std::vector<Segment> segments;
    int n = 1 + static_cast<int>(rng() % 6);
    for (int k = 0; k < n; ++k) {
      std::string text;
      int w = 1 + static_cast<int>(rng() % 3);
      for (int j = 0; j < w; ++j) {
        if (j > 0 || k > 0) text += ' ';  // styles start and end at word edges
        text += words[rng() % std::size(words)];
      }
      std::string style;
      for (char c : std::string_view("biusc")) {
        if (rng() % 3 == 0) style += c;
      }
      std::string link = rng() % 5 == 0 ? "https://example.org/" + std::to_string(rng() % 3) : "";
      segments.push_back(seg(text, style, link));
    }
    RichText t = rich(segments);
    EXPECT_EQ(from_html(to_html(t)), normalise_for(Dialect::html, t)) << to_html(t);
    EXPECT_EQ(from_markdown(to_markdown(t)), normalise_for(Dialect::markdown, t)) << to_markdown(t);
    EXPECT_EQ(from_slack(to_slack(t)), normalise_for(Dialect::slack, t)) << to_slack(t);
    EXPECT_EQ(from_discord(to_discord(t)), normalise_for(Dialect::discord, t)) << to_discord(t);
    if (HasFailure()) break;
  }
}

TEST(Markup, MentionsBecomeTheirText) {
  Segment m = seg("@bob");
  m.mention = std::make_shared<User>();
  RichText t = rich({seg("hi "), m});
  EXPECT_EQ(from_html(to_html(t)), normalise_for(Dialect::html, t));
  EXPECT_EQ(from_html(to_html(t)), rich({seg("hi @bob")}));
}

}  // namespace
}  // namespace immp::markup
