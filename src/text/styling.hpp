// XEP-0393 message styling, the plain-text formatting of XMPP clients:
// *bold* _italic_ ~strike~ `code` and ``` blocks. Beside the dialects of
// markup.hpp; the same contract: the writer never fails, the reader is
// tolerant (what it cannot read stays text).
//
// XEP-0393 has no escape: a literal "*word*" in prose is read as bold by
// every styling client, ours included. Underline has no marker (dropped);
// a link is written as its text followed by the URL in parentheses (just
// the URL when they are the same), since styling has no link syntax.
#pragma once

#include <string>
#include <string_view>

#include "immp/message.hpp"

namespace immp::markup {

std::string to_styling(const RichText& text);
RichText from_styling(std::string_view text);

}  // namespace immp::markup
