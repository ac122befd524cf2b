// How an outgoing immp::Message looks on IRC, as IMMP renders it: the author
// of a message from another network as "<name> text" (name coloured with
// colour-nicks), actions as "* name text" (our own as CTCP ACTION), edits
// marked, attachments as their URLs, replies quoted with quote-reply-to.
// Pure: the result is a list of PRIVMSG texts, each within the budget.
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
  // The budget of one PRIVMSG text (privmsg_budget() of our prefix and the
  // target).
  std::size_t budget = 400;
};

// Marker appended to an edited message.
inline constexpr std::string_view kEditedMarker = " (edited)";

// The PRIVMSG texts for `msg`, in order, each at most `budget` bytes, none
// containing CR, LF or NUL. A CTCP ACTION is used only for an action posted
// under our own name (with_name false). Empty when there is nothing to say.
std::vector<std::string> render_message(const Message& msg, const RenderOptions& options);

// The name as shown on IRC: control bytes and line breaks removed, spaces
// kept; "someone" when empty.
std::string clean_name(std::string_view name);

// The name IMMP's IRC plug gives an author: the username, or the real name
// when there is none (User::display_name() prefers the real name), else the
// id.
const std::string& author_name(const User& user);

}  // namespace immp::irc
