// IMMP's "raw" form of rich text (RichText.raw / unraw): plain text with
// `<tags>` that switch formatting, `\` escaping `<` and `\`. IMMP's
// NotesHook stores notes in it (so notes from an IMMP database read back
// formatted, and notes written here read back in IMMP), and its
// TextCommandHook reads its configured answers with it.
//
//   "plain <b>bold<b,i>both</> plain <l=https://x>link</>"
//
// Tags: b i u s c p (bold, italic, underline, strike, code, pre), `l`
// (the text is the link) or `l=<url>`, `m=<plug>/<id>/<name>` (a mention:
// read back as text only; the user is not resolved).
#pragma once

#include <string>
#include <string_view>

#include "immp/message.hpp"

namespace immp::markup {

std::string to_raw(const RichText& text);
RichText from_raw(std::string_view raw);

}  // namespace immp::markup
