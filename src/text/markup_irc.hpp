// IRC's mIRC formatting codes <-> immp::RichText: the IRC dialect of the
// renderers (markup.hpp has the others).
//
// Codes understood: \x02 bold, \x1D italic, \x1F underline, \x1E strike,
// \x11 monospace, \x16 reverse, \x0F reset, \x03 colour (1-2 digit fg, then
// ",bg" only when a digit follows the comma; \x03 alone resets the colour),
// \x04 hex colour (exactly RRGGBB, then ",RRGGBB" likewise). Each style code
// toggles. Colours and reverse have no RichText equivalent and are dropped.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "immp/message.hpp"

namespace immp::markup {

// The codes, one byte each.
namespace irc_code {

inline constexpr char kBold = '\x02';
inline constexpr char kColour = '\x03';
inline constexpr char kHexColour = '\x04';
inline constexpr char kReset = '\x0F';
inline constexpr char kMonospace = '\x11';
inline constexpr char kReverse = '\x16';
inline constexpr char kItalic = '\x1D';
inline constexpr char kStrike = '\x1E';
inline constexpr char kUnderline = '\x1F';
}  // namespace irc_code

// The formatting in effect at some point of an IRC text.
struct IrcFormat {
  bool bold = false;
  bool italic = false;
  bool underline = false;
  bool strike = false;
  bool monospace = false;
  bool reverse = false;
  // Current colours: 2 digits for mIRC colours, 6 hex digits for \x04 ones;
  // empty when unset. fg and bg are always of the same kind.
  std::string fg;
  std::string bg;

  bool operator==(const IrcFormat&) const = default;
  bool plain() const { return *this == IrcFormat{}; }

  // Codes that turn plain text into this state, colour first. `next` is the
  // byte that will follow them: when it would be read as part of the colour
  // code (a ',' after a colour without background), a no-op "\x02\x02" is
  // added to keep it text. Empty for a plain state.
  std::string reopen(char next = '\0') const;
};

// If a formatting code starts at text[pos], applies it to `state` and returns
// its length in bytes (at least 1); otherwise returns 0.
std::size_t read_irc_code(std::string_view text, std::size_t pos, IrcFormat& state);

// IRC text (one line of a PRIVMSG, CTCP already removed) as RichText.
// Segments carry bold/italic/underline/strike and code (for monospace);
// adjacent runs of the same style are merged, and no segment is empty.
RichText from_irc(std::string_view text);

// RichText as IRC text. Styles become codes with as few toggles as possible
// and a trailing reset only if a style is still open at the end; `pre` is
// sent as monospace. A link is "text <url>", or just the url when the text is
// empty or the url itself; a mention is the user's username when it has one.
// Safety: "\r\n" and "\r" become "\n" (one IRC line each once split), and all
// other control bytes the text itself contains (NUL, \x01 CTCP markers, stray
// formatting codes) are removed, so user text cannot forge a CTCP, leak
// formatting or break a line. Tabs are kept.
std::string to_irc(const RichText& text);

// `text` without any formatting code.
std::string strip_irc(std::string_view text);

// "\x03NN" + nick + "\x03" with NN chosen by a stable hash of the nick from a
// palette without white, black and greys (IMMP's colour-nicks). Control
// bytes in the nick are removed. The closing \x03 would swallow digits that
// follow it: follow it with a non-digit (usually ':' or ' ').
std::string colour_nick(std::string_view nick);

}  // namespace immp::markup
