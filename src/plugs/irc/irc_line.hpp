// One IRC protocol line: parsing (RFC 1459/2812 with IRCv3 message-tags),
// serialising, and a checked writer that refuses anything that could inject a
// second command. Pure and synchronous; bytes are bytes (no UTF-8 required).
#pragma once

#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace immp::irc {

// Wire limits. kMaxTagsBytes counts the leading '@' and the space after the
// tags; kMaxLineBytes counts everything after the tags including CRLF.
inline constexpr std::size_t kMaxTagsBytes = 8191;
inline constexpr std::size_t kMaxLineBytes = 512;
inline constexpr std::size_t kMaxBodyBytes = kMaxLineBytes - 2;  // without CRLF

// One IRCv3 message tag. `value` is unescaped; a tag sent without '=' and one
// sent with an empty value are the same thing (empty `value`).
struct Tag {
  std::string key;
  std::string value;

  bool operator==(const Tag&) const = default;
};

// One parsed line. A line from parse_line() never contains CR, LF or NUL in
// any field except tag values (which str() escapes).
struct Line {
  std::vector<Tag> tags;  // in wire order; duplicates kept (tag() finds the last)
  // The prefix ("source") split as nick!user@host. A server prefix such as
  // "irc.example.org" is all `nick`; user/host are empty when absent.
  std::string nick;
  std::string user;
  std::string host;
  std::string command;              // upper case: letters, or a 3-digit numeric
  std::vector<std::string> params;  // middle params, then the trailing one
  // The input was over a wire limit and was cut: tags beyond kMaxTagsBytes
  // dropped and/or the rest cut to kMaxBodyBytes. The line is still usable.
  bool truncated = false;

  bool operator==(const Line&) const = default;

  // The value of the last tag named `key`, null if absent.
  const std::string* tag(std::string_view key) const;
  // The prefix as on the wire without ':' ("nick!user@host"), empty if none.
  std::string source() const;
  // params[i], or an empty string if there are fewer params.
  const std::string& param(std::size_t i) const;
  // The `time` tag (IRCv3 server-time), if present and well-formed.
  std::optional<std::chrono::system_clock::time_point> time() const;

  // The line on the wire, ending in "\r\n", tag values escaped. The last
  // param gets a ':' only when it needs one. For a Line from parse_line(),
  // parse_line(str()) gives the same Line back (without `truncated`).
  // For hand-built Lines, CR, LF and NUL are dropped from every field so the
  // result is always exactly one line; other mistakes (an empty middle param,
  // one with a space) are not checked here: use format_line() for that.
  std::string str() const;
};

// Parses one line, with or without its trailing CR/LF. Returns nullopt (and a
// sentence in *error if given) for an empty line, a missing or malformed
// command, or CR/LF/NUL inside the line. Never throws on any input.
std::optional<Line> parse_line(std::string_view raw, std::string* error = nullptr);

// Builds a wire line ("\r\n"-terminated) to send, or nullopt with a reason in
// *error. Refuses: a command that is not letters or a 3-digit numeric; CR, LF
// or NUL in any param; a param other than the last that is empty, starts with
// ':' or contains a space; a tag key that is empty or contains '=', ';',
// space, CR, LF or NUL; a line over kMaxLineBytes (tags excluded) or tags over
// kMaxTagsBytes. This is the guarantee that message text cannot inject a
// command: every user-controlled string must go through here.
std::optional<std::string> format_line(std::string_view command,
                                       const std::vector<std::string>& params,
                                       std::string* error = nullptr,
                                       const std::vector<Tag>& tags = {});

// format_line() appended to `out` without building a Line: the same bytes,
// the same refusals (then `out` is left as it was). For the send path,
// where one buffer holds all the lines of a message.
bool append_line(std::string& out, std::string_view command,
                 std::initializer_list<std::string_view> params, std::string* error = nullptr,
                 const std::vector<Tag>& tags = {});

// The first CR, LF or NUL in `text` (what would end or break a wire line),
// npos when none. A byte loop rather than find_first_of("\r\n\0"), which
// searches the set once per byte: this runs over every line read and sent.
inline std::size_t find_line_break(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (static_cast<unsigned char>(c) <= '\r' && (c == '\r' || c == '\n' || c == '\0')) return i;
  }
  return std::string_view::npos;
}

// IRCv3 tag value escaping: ';' -> "\:", ' ' -> "\s", '\' -> "\\",
// CR -> "\r", LF -> "\n". Unescaping drops the backslash of unknown escapes
// and a trailing lone backslash.
std::string escape_tag_value(std::string_view value);
std::string unescape_tag_value(std::string_view escaped);

// IRCv3 server-time: "YYYY-MM-DDThh:mm:ss[.fraction]Z" (a "+hh:mm"/"-hh:mm"
// offset is also accepted). nullopt when malformed or out of range.
std::optional<std::chrono::system_clock::time_point> parse_server_time(std::string_view text);
// The inverse, always UTC with milliseconds: "2026-11-22T10:00:00.123Z".
std::string format_server_time(std::chrono::system_clock::time_point at);

}  // namespace immp::irc
