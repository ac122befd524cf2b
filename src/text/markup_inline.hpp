// Internal to src/text: what the delimiter markups (Markdown, Slack,
// Discord) share. Not part of any plug's API.
#pragma once

#include <string>
#include <string_view>

#include "immp/message.hpp"

namespace immp::markup::detail {

// How a dialect writes RichText.
struct Writer {
  // Markers; empty when the dialect lacks the style (it is dropped).
  std::string_view bold, italic, underline_open, underline_close, strike;
  // Appends plain text with the dialect's escaping. `line_start`: the text
  // starts a line (some characters only need escaping there).
  void (*escape)(std::string& out, std::string_view text, bool line_start);
  // Appends inline code, a code block (at a line start), a link around
  // already-rendered `inner`.
  void (*code)(std::string& out, std::string_view text);
  void (*pre)(std::string& out, std::string_view text);
  void (*link)(std::string& out, std::string_view inner, std::string_view url);
};

// Renders with a stack of open styles: a style stays open across segments
// that share it, markers never touch whitespace (it moves outside them), and
// a link wraps its run of segments with all styles opened inside it.
std::string write(const RichText& text, const Writer& writer);

// What write() makes of `text`'s styles, as RichText: whitespace at the
// edge of a styled run keeps only the styles open on both sides of it (the
// ones write() does not close or open around it). Mentions and styles the
// writer lacks are dropped.
RichText settle(const RichText& text, const Writer& writer);

const Writer& markdown_writer();
const Writer& slack_writer();
const Writer& discord_writer();

// True for bytes of ASCII punctuation (what a backslash escapes).
bool is_ascii_punct(char c);

}  // namespace immp::markup::detail
