// Splitting outgoing IRC text into lines that fit the 512-byte limit, and
// CTCP (ACTION and others).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace immp::irc {

inline constexpr char kCtcpDelimiter = '\x01';
// "\x01ACTION " and the closing "\x01".
inline constexpr std::size_t kActionOverhead = 9;

// Bytes left for the text of `command` to `target` as the server relays it:
// 512 - 2 (CRLF) - len(":" + prefix + " " + command + " " + target + " :").
// `prefix` is our full "nick!user@host" as the server sees it (the server
// prepends it when relaying, so it must be counted). 0 if nothing fits.
std::size_t message_budget(std::string_view prefix, std::string_view command,
                           std::string_view target);
// message_budget(prefix, "PRIVMSG", target).
std::size_t privmsg_budget(std::string_view prefix, std::string_view target);

// Splits IRC text (formatting codes allowed, '\n' between lines) into
// message bodies of at most `budget` bytes each:
// - each '\n' ("\r\n" and "\r" too) starts a new message;
// - a line too long breaks at its last space within the budget (that space
//   is dropped), else at a UTF-8 character boundary: a multi-byte sequence is
//   never cut, a formatting code (with its colour digits) never cut;
// - formatting open at a break (bold, colours, ...) is re-opened at the start
//   of the next message, because IRC clients reset it per message;
// - messages with nothing visible (empty, only spaces or codes) are dropped;
// - NUL and \x01 are removed, so no CR, LF, NUL or CTCP marker is ever in the
//   output. Send a CTCP through ctcp_action()/split_action() instead.
// Formatting is dropped at the start of a message if it leaves no room for a
// character; a character longer than the budget on its own is dropped. For
// any realistic budget (> 40 bytes) neither happens.
std::vector<std::string> split_text(std::string_view text, std::size_t budget);

// "\x01ACTION " + text + "\x01". `text` must already be split and clean.
std::string ctcp_action(std::string_view text);

// split_text() for a /me: each message is wrapped by ctcp_action() and fits
// `budget` (the budget of a plain PRIVMSG) including the wrapping.
std::vector<std::string> split_action(std::string_view text, std::size_t budget);

// A CTCP message: "\x01COMMAND params\x01" (the closing \x01 is optional, as
// many clients omit it). Views into the text given to parse_ctcp().
struct Ctcp {
  std::string_view command;  // as sent; compare case-sensitively ("ACTION")
  std::string_view params;   // after the first space, empty if none
};

// The CTCP in a PRIVMSG/NOTICE text, nullopt if it is not one (no leading
// \x01, or an empty command).
std::optional<Ctcp> parse_ctcp(std::string_view text);

// The text of a CTCP ACTION ("/me"), nullopt if `text` is not an ACTION.
// "\x01ACTION\x01" is an empty action.
std::optional<std::string_view> parse_action(std::string_view text);

// True if `text` is a CTCP message (starts with \x01 and names a command).
bool is_ctcp(std::string_view text);

}  // namespace immp::irc
