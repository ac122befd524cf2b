// How an outgoing immp::Message looks on IRC, as IMMP renders it: the author
// of a message from another network as "<name> text" (name coloured with
// colour-nicks), actions as "* name text" (our own as CTCP ACTION),
// attachments as their URLs. A reply is an arrow under a quote of its
// parent, an edit is marked before the text:
//
//   [<bob> what time is it?]          the parent, quoted (quote-reply-to)
//   └─> [edit] <alice> five o'clock   the reply; "[edit]" if it is an edit
//       and a second line             later lines of the reply indented
//
// The quote is left out when the parent is the channel's last message (the
// reply sits right under it), and without quote-reply-to (then the arrow is
// "─>" on every line). Pure: the result is a list of PRIVMSG texts, each
// within the budget.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "immp/message.hpp"

namespace immp::irc {

struct RenderOptions {
  // Prefix each line with the author's name: the message comes from someone
  // else (another network) and we post it under our own nick.
  bool with_name = true;
  bool colour_nicks = false;
  bool quote_reply_to = true;
  // The message replied to is the channel's last one, right above the reply:
  // no quote line (the arrow stays).
  bool reply_is_last = false;
  // The message replied to, when msg.reply_to names it by id only (sync's
  // bare receipt) and the plug still knows it: what the quote shows. Not
  // owned; must outlive the call.
  const Message* parent = nullptr;
  // The budget of one PRIVMSG text (privmsg_budget() of our prefix and the
  // target).
  std::size_t budget = 400;
};

// Before every line of an edit (IMMP's marker).
inline constexpr std::string_view kEditMarker = "[edit] ";
// Before the first line of a reply; kReplyIndent before its later lines.
// Without quote-reply-to, kReplyArrowShort before each line.
inline constexpr std::string_view kReplyArrow = "└─> ";
inline constexpr std::string_view kReplyIndent = "    ";
inline constexpr std::string_view kReplyArrowShort = "─> ";
// How much of the parent a quote shows, in characters (grapheme clusters),
// its line breaks made spaces; longer parents end in "...".
inline constexpr std::size_t kQuoteChars = 160;

// The PRIVMSG texts for `msg`, in order, each at most `budget` bytes, none
// containing CR, LF or NUL. A CTCP ACTION is used only for an action posted
// under our own name (with_name false). Empty when there is nothing to say.
std::vector<std::string> render_message(const Message& msg, const RenderOptions& options);

// Whether render_message(msg, options) starts with a quote of the parent:
// then the reply itself starts at its second text.
bool quotes_parent(const Message& msg, const RenderOptions& options);

// The name as shown on IRC: control bytes and line breaks removed, spaces
// kept; "someone" when empty.
std::string clean_name(std::string_view name);

// The name IMMP's IRC plug gives an author: the username, or the real name
// when there is none (User::display_name() prefers the real name), else the
// id.
const std::string& author_name(const User& user);

}  // namespace immp::irc
