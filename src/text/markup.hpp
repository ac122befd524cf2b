// Renderers between immp::RichText and the markups networks use. Each
// dialect has a to_* (RichText -> markup, everything that is not markup
// escaped) and a from_* (markup -> RichText, tolerant: it never fails, and
// what it cannot read stays text).
//
// Round trips: from_X(to_X(t)) == normalise_for(Dialect::X, t) for text a
// user writes (see normalise_for and docs/text.md for what each dialect
// cannot carry). Mentions are rendered as their text (the plug that knows
// the network's mention syntax replaces them first); parsed text has none.
// All input must be valid UTF-8 (repair it with unicode::repair_utf8);
// every to_* output is valid UTF-8 when its input is.
#pragma once

#include <string>
#include <string_view>

#include "immp/message.hpp"

namespace immp::markup {

enum class Dialect { html, markdown, slack, discord };

// ---- the HTML subset of Telegram and Matrix ----
// Tags: b/strong, i/em, u/ins, s/strike/del, code, pre, a href, br; other
// tags are dropped with their text kept (<script> and <style> with their
// text), entities decoded (named: amp lt gt quot apos nbsp; numeric).
struct HtmlOptions {
  // Line breaks as <br/> (Matrix's formatted_body) instead of "\n"
  // (Telegram's parse_mode HTML, where a tag for them is an error).
  bool br_newlines = false;
};
std::string to_html(const RichText& text, const HtmlOptions& options = {});
RichText from_html(std::string_view html);

// ---- CommonMark (with GFM strikethrough), parsed by cmark-gfm ----
// **bold**, *italic*, ~~strike~~, `code`, fenced ``` blocks for pre,
// [text](url); underline, which Markdown lacks, as <u>...</u> (read back).
// Paragraphs come back separated by "\n\n", a code block by "\n"; headings,
// quotes and list items as their text, one per line.
std::string to_markdown(const RichText& text);
RichText from_markdown(std::string_view markdown);

// ---- Slack's mrkdwn ----
// *bold* _italic_ ~strike~ `code` ```pre``` <url|text>; & < > as &amp; &lt;
// &gt;. Slack has no escape for * _ ~ `: a marker only counts at a word
// boundary, so a lone "*" stays text. <@U123>, <#C123|name>, <!here> come
// back as @U123, #name, @here.
std::string to_slack(const RichText& text);
RichText from_slack(std::string_view mrkdwn);

// ---- Discord's Markdown ----
// **bold** *italic* __underline__ ~~strike~~ `code` ```pre``` [text](url),
// other markup characters escaped with a backslash.
std::string to_discord(const RichText& text);
RichText from_discord(std::string_view markdown);

// `text` reduced to what `dialect` can carry (normalised): no mentions (and
// for Slack no underline, for Markdown no links on code blocks); `pre`
// without other styles; `code` without underline where the dialect cannot
// combine them.
RichText normalise_for(Dialect dialect, const RichText& text);

}  // namespace immp::markup
