#include "plugs/irc/irc_render.hpp"

#include <gtest/gtest.h>

#include "text/markup_irc.hpp"
#include "plugs/irc/irc_split.hpp"

namespace immp::irc {
namespace {

using Lines = std::vector<std::string>;

UserPtr user(std::string name) {
  auto u = std::make_shared<User>();
  u->id = name;
  u->username = name;
  return u;
}

Message text_from(std::string who, std::string text) {
  Message m;
  m.user = user(std::move(who));
  m.text = RichText(std::move(text));
  return m;
}

TEST(IrcRender, MessageFromElsewhereShowsTheAuthor) {
  EXPECT_EQ(render_message(text_from("alice", "hi"), {}), Lines{"<alice> hi"});
}

TEST(IrcRender, OwnMessageHasNoName) {
  RenderOptions o;
  o.with_name = false;
  EXPECT_EQ(render_message(text_from("alice", "hi"), o), Lines{"hi"});
}

TEST(IrcRender, ColourNicksColourOnlyTheName) {
  RenderOptions o;
  o.colour_nicks = true;
  auto lines = render_message(text_from("alice", "hi"), o);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "<" + markup::colour_nick("alice") + "> hi");
  EXPECT_EQ(markup::strip_irc(lines[0]), "<alice> hi");
}

TEST(IrcRender, ActionsFromElsewhereAreStarLines) {
  auto m = text_from("alice", "waves");
  m.action = true;
  EXPECT_EQ(render_message(m, {}), Lines{"* alice waves"});
  RenderOptions own;
  own.with_name = false;
  EXPECT_EQ(render_message(m, own), Lines{"\x01" "ACTION waves\x01"});
}

// IMMP's marker: "[edit]" before the author, on every line of the edit.
TEST(IrcRender, EditsAreMarkedBeforeTheText) {
  auto m = text_from("alice", "fixed\nand more");
  m.edited = true;
  EXPECT_EQ(render_message(m, {}), (Lines{"[edit] <alice> fixed", "[edit] <alice> and more"}));
  RenderOptions own;
  own.with_name = false;
  m.text = RichText("waves");
  m.action = true;
  EXPECT_EQ(render_message(m, own), Lines{"\x01" "ACTION [edit] waves\x01"});
}

TEST(IrcRender, FormattingBecomesMircCodes) {
  Message m;
  m.user = user("bob");
  Segment plain;
  plain.text = "a ";
  Segment bold;
  bold.text = "b";
  bold.bold = true;
  m.text = RichText({plain, bold});
  auto lines = render_message(m, {});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("<bob> a \x02" "b", 0), 0u) << lines[0];
  EXPECT_EQ(markup::from_irc(lines[0].substr(6)), m.text->normalised());
}

TEST(IrcRender, EveryLineCarriesTheNameAndFitsTheBudget) {
  std::string words;
  for (int i = 0; i < 200; ++i) words += "word" + std::to_string(i) + " ";
  RenderOptions o;
  o.budget = 100;
  auto lines = render_message(text_from("alice", "first\nsecond\n" + words), o);
  ASSERT_GT(lines.size(), 3u);
  EXPECT_EQ(lines[0], "<alice> first");
  EXPECT_EQ(lines[1], "<alice> second");
  std::string rebuilt;
  for (std::size_t i = 2; i < lines.size(); ++i) {
    EXPECT_LE(lines[i].size(), 100u);
    ASSERT_EQ(lines[i].rfind("<alice> ", 0), 0u) << lines[i];
    rebuilt += lines[i].substr(8);
    while (!rebuilt.empty() && rebuilt.back() == ' ') rebuilt.pop_back();
    rebuilt += ' ';
  }
  EXPECT_EQ(rebuilt, words);
}

TEST(IrcRender, LineBreaksInTextNeverReachOneLine) {
  auto lines = render_message(text_from("eve", "hi\r\nQUIT :bye\rx\0y"), {});
  for (const auto& l : lines) {
    EXPECT_EQ(l.find_first_of(std::string("\r\n\0", 3)), std::string::npos) << l;
  }
  EXPECT_EQ(lines.size(), 3u);
}

TEST(IrcRender, NamesCannotInjectControlBytes) {
  auto lines = render_message(text_from("ev\r\nil\x01", "x"), {});
  EXPECT_EQ(lines, Lines{"<evil> x"});
}

TEST(IrcRender, AttachmentsAreTheirUrls) {
  Message m;
  m.user = user("alice");
  File f;
  f.url = "https://example.org/cat.png";
  f.title = "cat.png";
  m.attachments.push_back(f);
  EXPECT_EQ(render_message(m, {}), Lines{"<alice> cat.png: https://example.org/cat.png"});
}

std::shared_ptr<SentMessage> parent(const char* nick, const char* text) {
  auto original = std::make_shared<SentMessage>();
  original->id = "p1";
  original->user = user(nick);
  original->text = RichText(text);
  return original;
}

// quote-reply-to is on by default, as IMMP's: the parent in brackets, then
// the reply under an arrow.
TEST(IrcRender, RepliesQuoteTheirParentAsIMMPDoes) {
  auto m = text_from("alice", "me too");
  m.reply_to = parent("bob", "I like tea");
  EXPECT_EQ(render_message(m, {}), (Lines{"[<bob> I like tea]", "└─> <alice> me too"}));
  EXPECT_TRUE(quotes_parent(m, {}));
}

TEST(IrcRender, NoQuoteWhenTheParentIsRightAbove) {
  auto m = text_from("alice", "me too");
  m.reply_to = parent("bob", "I like tea");
  RenderOptions o;
  o.reply_is_last = true;
  EXPECT_EQ(render_message(m, o), Lines{"└─> <alice> me too"});
  EXPECT_FALSE(quotes_parent(m, o));
}

TEST(IrcRender, WithoutQuoteReplyToOnlyTheShortArrow) {
  auto m = text_from("alice", "me too\nand coffee");
  m.reply_to = parent("bob", "I like tea");
  RenderOptions o;
  o.quote_reply_to = false;
  EXPECT_EQ(render_message(m, o), (Lines{"─> <alice> me too", "─> <alice> and coffee"}));
}

TEST(IrcRender, LaterLinesOfAReplyAreIndented) {
  auto m = text_from("alice", "one\ntwo");
  m.reply_to = parent("bob", "line 1\nline 2");
  m.edited = true;
  EXPECT_EQ(render_message(m, {}), (Lines{"[edit] [<bob> line 1  line 2]",
                                          "└─> [edit] <alice> one",
                                          "    [edit] <alice> two"}));
}

TEST(IrcRender, QuotesAreCutToOneLineOf160Characters) {
  std::string longer;
  for (int i = 0; i < 41; ++i) longer += "😀 ab";  // 4 characters each
  auto m = text_from("alice", "ok");
  m.reply_to = parent("bob", longer.c_str());
  auto lines = render_message(m, {});
  ASSERT_EQ(lines.size(), 2u);
  // IMMP's trim: 158 characters, then "...".
  std::string expected = "[<bob> ";
  for (int i = 0; i < 39; ++i) expected += "😀 ab";
  expected += "😀 ...]";
  EXPECT_EQ(lines[0], expected);
}

TEST(IrcRender, QuotedActionsAndFormattingKeepTheirLook) {
  auto m = text_from("alice", "ha");
  auto p = parent("bob", "");
  p->action = true;
  Segment bold;
  bold.text = "dances";
  bold.bold = true;
  p->text = RichText(std::vector<Segment>{bold});
  m.reply_to = p;
  EXPECT_EQ(render_message(m, {}).front(), "[* bob \x02" "dances\x0F]");
}

// IMMP names an author by username first; the real name only when there is
// no username (and the id when there is neither).
TEST(IrcRender, AuthorsAreNamedByUsernameFirst) {
  auto jane = std::make_shared<User>();
  jane->id = "U42";
  jane->username = "jdoe";
  jane->real_name = "Jane Doe";
  Message m;
  m.user = jane;
  m.text = RichText("hi");
  EXPECT_EQ(render_message(m, {}), Lines{"<jdoe> hi"});
  m.action = true;
  EXPECT_EQ(render_message(m, {}), Lines{"* jdoe hi"});

  auto no_username = std::make_shared<User>(*jane);
  no_username->username.clear();
  m.user = no_username;
  m.action = false;
  EXPECT_EQ(render_message(m, {}), Lines{"<Jane Doe> hi"});

  auto only_id = std::make_shared<User>();
  only_id->id = "U42";
  m.user = only_id;
  EXPECT_EQ(render_message(m, {}), Lines{"<U42> hi"});

  // The quoted author too.
  auto reply = text_from("alice", "me too");
  auto original = std::make_shared<SentMessage>();
  original->user = jane;
  original->text = RichText("I like tea");
  reply.reply_to = original;
  EXPECT_EQ(render_message(reply, {}).front(), "[<jdoe> I like tea]");
}

TEST(IrcRender, NothingToSay) {
  Message m;
  m.user = user("alice");
  EXPECT_TRUE(render_message(m, {}).empty());
}

}  // namespace
}  // namespace immp::irc
