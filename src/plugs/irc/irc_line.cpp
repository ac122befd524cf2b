#include "plugs/irc/irc_line.hpp"

#include <cstdint>
#include <cstdio>

#include "text/utf8.hpp"

namespace immp::irc {

namespace {

constexpr std::string_view kForbidden("\r\n\0", 3);

void set_error(std::string* error, std::string text) {
  if (error) *error = std::move(text);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Letters only, or exactly three digits.
bool valid_command(std::string_view command) {
  if (command.empty()) return false;
  if (is_digit(command[0])) {
    return command.size() == 3 && is_digit(command[1]) && is_digit(command[2]);
  }
  for (char c : command) {
    if (!is_alpha(c)) return false;
  }
  return true;
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// `text` without the bytes in `drop`.
std::string without(std::string_view text, std::string_view drop) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (drop.find(c) == std::string_view::npos) out.push_back(c);
  }
  return out;
}

// Splits the prefix (without ':') as nick!user@host; see Line.
void split_source(std::string_view source, Line& line) {
  std::size_t bang = source.find('!');
  if (bang != std::string_view::npos) {
    line.nick = source.substr(0, bang);
    std::string_view rest = source.substr(bang + 1);
    std::size_t at = rest.find('@');
    line.user = rest.substr(0, at);
    if (at != std::string_view::npos) line.host = rest.substr(at + 1);
    return;
  }
  std::size_t at = source.find('@');
  line.nick = source.substr(0, at);
  if (at != std::string_view::npos) line.host = source.substr(at + 1);
}

// Parses "a=b;c;d=e" (without '@'), keeping only tags that end within
// `limit` bytes of tag data; returns false if any were dropped.
bool parse_tags(std::string_view data, std::size_t limit, std::vector<Tag>& tags) {
  std::size_t start = 0;
  while (start <= data.size()) {
    std::size_t end = data.find(';', start);
    if (end == std::string_view::npos) end = data.size();
    if (end > limit) return false;
    std::string_view item = data.substr(start, end - start);
    std::size_t eq = item.find('=');
    std::string_view key = item.substr(0, eq);
    // Why: an empty key ("@;a" or "@=x") names nothing; skipping it is the
    // lenient reading and keeps str() re-parseable.
    if (!key.empty()) {
      Tag tag{std::string(key), {}};
      if (eq != std::string_view::npos) tag.value = unescape_tag_value(item.substr(eq + 1));
      tags.push_back(std::move(tag));
    }
    start = end + 1;
  }
  return true;
}

bool is_space(char c) { return c == ' '; }

}  // namespace

std::string escape_tag_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case ';': out += "\\:"; break;
      case ' ': out += "\\s"; break;
      case '\\': out += "\\\\"; break;
      case '\r': out += "\\r"; break;
      case '\n': out += "\\n"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string unescape_tag_value(std::string_view escaped) {
  std::string out;
  out.reserve(escaped.size());
  for (std::size_t i = 0; i < escaped.size(); ++i) {
    char c = escaped[i];
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i == escaped.size()) break;  // a trailing lone backslash is dropped
    switch (escaped[i]) {
      case ':': out.push_back(';'); break;
      case 's': out.push_back(' '); break;
      case '\\': out.push_back('\\'); break;
      case 'r': out.push_back('\r'); break;
      case 'n': out.push_back('\n'); break;
      default: out.push_back(escaped[i]);  // unknown escape: drop the backslash
    }
  }
  return out;
}

std::optional<Line> parse_line(std::string_view raw, std::string* error) {
  std::string_view s = raw;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  if (std::size_t bad = find_line_break(s); bad != std::string_view::npos) {
    const char* what = s[bad] == '\0' ? "NUL" : s[bad] == '\r' ? "CR" : "LF";
    set_error(error, "IRC line contains " + std::string(what) + " at byte " +
                         std::to_string(bad) + " (one line expected)");
    return std::nullopt;
  }

  Line line;
  std::size_t i = 0;
  while (i < s.size() && is_space(s[i])) ++i;

  if (i < s.size() && s[i] == '@') {
    std::size_t end = s.find(' ', i);
    if (end == std::string_view::npos) end = s.size();
    std::string_view data = s.substr(i + 1, end - i - 1);
    // The limit counts '@' and the space after the tags.
    if (!parse_tags(data, kMaxTagsBytes - 2, line.tags)) line.truncated = true;
    i = end;
    while (i < s.size() && is_space(s[i])) ++i;
  }

  std::string_view rest = s.substr(i);
  if (rest.size() > kMaxBodyBytes) {
    // Never inside a code point: a valid text stays valid.
    rest = unicode::prefix_bytes(rest, kMaxBodyBytes);
    line.truncated = true;
  }

  std::size_t j = 0;
  if (j < rest.size() && rest[j] == ':') {
    std::size_t end = rest.find(' ', j);
    if (end == std::string_view::npos) end = rest.size();
    split_source(rest.substr(j + 1, end - j - 1), line);
    j = end;
    while (j < rest.size() && is_space(rest[j])) ++j;
  }

  std::size_t end = rest.find(' ', j);
  if (end == std::string_view::npos) end = rest.size();
  std::string_view command = rest.substr(j, end - j);
  if (command.empty()) {
    set_error(error, s.find_first_not_of(' ') == std::string_view::npos
                         ? "empty IRC line"
                         : "IRC line has no command");
    return std::nullopt;
  }
  if (!valid_command(command)) {
    std::string shown(command.substr(0, 32));
    set_error(error, "invalid IRC command \"" + shown +
                         "\" (expected letters or a 3-digit numeric)");
    return std::nullopt;
  }
  line.command = upper(command);
  j = end;

  // Counted first, so the params take one allocation, not one per growth
  // (most lines have two or more).
  std::size_t count = 0;
  for (std::size_t k = j;;) {
    while (k < rest.size() && is_space(rest[k])) ++k;
    if (k >= rest.size()) break;
    ++count;
    if (rest[k] == ':') break;
    k = rest.find(' ', k);
    if (k == std::string_view::npos) break;
  }
  line.params.reserve(count);

  while (true) {
    while (j < rest.size() && is_space(rest[j])) ++j;
    if (j >= rest.size()) break;
    if (rest[j] == ':') {
      line.params.emplace_back(rest.substr(j + 1));
      break;
    }
    end = rest.find(' ', j);
    if (end == std::string_view::npos) end = rest.size();
    line.params.emplace_back(rest.substr(j, end - j));
    j = end;
  }
  return line;
}

const std::string* Line::tag(std::string_view key) const {
  for (auto it = tags.rbegin(); it != tags.rend(); ++it) {
    if (it->key == key) return &it->value;
  }
  return nullptr;
}

const std::string& Line::param(std::size_t i) const {
  static const std::string kEmpty;
  return i < params.size() ? params[i] : kEmpty;
}

std::string Line::source() const {
  // Why the conditions: the split in parse_line takes the first '!' and then
  // the first '@' after it; write '!' whenever leaving it out would make a
  // re-parse split differently.
  std::string out = nick;
  bool bang = !user.empty() || nick.find('@') != std::string::npos ||
              host.find('!') != std::string::npos;
  if (bang) out += "!" + user;
  if (!host.empty()) out += "@" + host;
  return out;
}

std::optional<std::chrono::system_clock::time_point> Line::time() const {
  const std::string* value = tag("time");
  if (!value) return std::nullopt;
  return parse_server_time(*value);
}

std::string Line::str() const {
  static constexpr std::string_view kBreaksLine("\r\n\0", 3);
  static constexpr std::string_view kBreaksToken("\r\n\0 ", 4);
  std::string out;
  bool first_tag = true;
  for (const Tag& t : tags) {
    std::string key = without(t.key, std::string_view("\r\n\0 ;=", 6));
    if (key.empty()) continue;
    out += first_tag ? '@' : ';';
    first_tag = false;
    out += key;
    std::string value = without(t.value, std::string_view("\0", 1));
    if (!value.empty()) out += "=" + escape_tag_value(value);
  }
  if (!first_tag) out += ' ';
  std::string src = without(source(), kBreaksToken);
  if (!src.empty()) out += ":" + src + " ";
  out += without(command, kBreaksToken);
  for (std::size_t k = 0; k < params.size(); ++k) {
    std::string p = without(params[k], kBreaksLine);
    out += ' ';
    bool last = k + 1 == params.size();
    if (last && (p.empty() || p[0] == ':' || p.find(' ') != std::string::npos)) out += ':';
    out += p;
  }
  out += "\r\n";
  return out;
}

namespace {

// The checks and the writing of format_line(), on views: nothing is built
// unless refused (the reason) or written (the line, appended to `out`).
bool append_checked(std::string& out, std::string_view command, const std::string_view* params,
                    std::size_t count, std::string* error, const std::vector<Tag>& tags) {
  if (!valid_command(command)) {
    set_error(error, "refusing to send invalid IRC command \"" +
                         without(command.substr(0, 32), kForbidden) + "\"");
    return false;
  }
  for (std::size_t k = 0; k < count; ++k) {
    std::string_view p = params[k];
    auto where = [&] {
      return "parameter " + std::to_string(k + 1) + " of " + std::string(command);
    };
    if (find_line_break(p) != std::string_view::npos) {
      set_error(error, "refusing to send " + where() + ": it contains CR, LF or NUL");
      return false;
    }
    if (k + 1 < count) {
      if (p.empty() || p[0] == ':' || p.find(' ') != std::string_view::npos) {
        set_error(error, "refusing to send " + where() +
                             ": only the last parameter may be empty, start with ':' or "
                             "contain spaces");
        return false;
      }
    }
  }
  for (const Tag& t : tags) {
    if (t.key.empty() || t.key.find_first_of(std::string_view("\r\n\0 ;=", 6)) !=
                             std::string::npos) {
      set_error(error, "refusing to send tag key \"" + without(t.key, kForbidden) +
                           "\": empty or contains '=', ';', space, CR, LF or NUL");
      return false;
    }
    if (t.value.find('\0') != std::string::npos) {
      set_error(error, "refusing to send tag " + t.key + ": its value contains NUL");
      return false;
    }
  }
  // As Line::str() writes it (every field is clean by now).
  const std::size_t start = out.size();
  for (std::size_t i = 0; i < tags.size(); ++i) {
    out += i == 0 ? '@' : ';';
    out += tags[i].key;
    if (!tags[i].value.empty()) {
      out += '=';
      out += escape_tag_value(tags[i].value);
    }
  }
  if (!tags.empty()) out += ' ';
  const std::size_t tag_bytes = out.size() - start;
  out += command;  // then upper-cased in place: no push_back per letter
  for (std::size_t k = out.size() - command.size(); k < out.size(); ++k) {
    if (out[k] >= 'a' && out[k] <= 'z') out[k] = static_cast<char>(out[k] - 'a' + 'A');
  }
  for (std::size_t k = 0; k < count; ++k) {
    std::string_view p = params[k];
    out += ' ';
    if (k + 1 == count && (p.empty() || p[0] == ':' || p.find(' ') != std::string_view::npos)) {
      out += ':';
    }
    out += p;
  }
  out += "\r\n";
  const std::size_t body = out.size() - start - tag_bytes;
  if (tag_bytes > kMaxTagsBytes) {
    out.resize(start);
    set_error(error, "refusing to send " + std::string(command) + ": tags are " +
                         std::to_string(tag_bytes) + " bytes, over the limit of " +
                         std::to_string(kMaxTagsBytes));
    return false;
  }
  if (body > kMaxLineBytes) {
    out.resize(start);
    set_error(error, "refusing to send " + std::string(command) + ": the line is " +
                         std::to_string(body) + " bytes, over the IRC limit of " +
                         std::to_string(kMaxLineBytes) + " (split the text first)");
    return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> format_line(std::string_view command,
                                       const std::vector<std::string>& params,
                                       std::string* error, const std::vector<Tag>& tags) {
  // Views of the params: inline for the usual few.
  constexpr std::size_t kInline = 16;
  std::string_view inline_views[kInline];
  std::vector<std::string_view> many;
  std::string_view* views = inline_views;
  if (params.size() > kInline) {
    many.assign(params.begin(), params.end());
    views = many.data();
  } else {
    for (std::size_t k = 0; k < params.size(); ++k) views[k] = params[k];
  }
  std::string out;
  if (!append_checked(out, command, views, params.size(), error, tags)) return std::nullopt;
  return out;
}

bool append_line(std::string& out, std::string_view command,
                 std::initializer_list<std::string_view> params, std::string* error,
                 const std::vector<Tag>& tags) {
  return append_checked(out, command, params.begin(), params.size(), error, tags);
}

namespace {

// Reads exactly `n` digits at `pos`; advances `pos`.
std::optional<int> read_digits(std::string_view text, std::size_t& pos, std::size_t n) {
  if (pos + n > text.size()) return std::nullopt;
  int value = 0;
  for (std::size_t k = 0; k < n; ++k) {
    char c = text[pos + k];
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  pos += n;
  return value;
}

bool expect(std::string_view text, std::size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_server_time(std::string_view text) {
  using namespace std::chrono;
  std::size_t pos = 0;
  auto y = read_digits(text, pos, 4);
  if (!y || !expect(text, pos, '-')) return std::nullopt;
  auto mo = read_digits(text, pos, 2);
  if (!mo || !expect(text, pos, '-')) return std::nullopt;
  auto d = read_digits(text, pos, 2);
  if (!d || !(expect(text, pos, 'T') || expect(text, pos, 't'))) return std::nullopt;
  auto h = read_digits(text, pos, 2);
  if (!h || !expect(text, pos, ':')) return std::nullopt;
  auto mi = read_digits(text, pos, 2);
  if (!mi || !expect(text, pos, ':')) return std::nullopt;
  auto s = read_digits(text, pos, 2);
  if (!s) return std::nullopt;
  std::int64_t nanos = 0;
  if (expect(text, pos, '.')) {
    std::size_t digits = 0;
    while (pos < text.size() && is_digit(text[pos])) {
      if (digits < 9) nanos = nanos * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    for (std::size_t k = digits; k < 9; ++k) nanos *= 10;
  }
  int offset_minutes = 0;
  if (expect(text, pos, 'Z') || expect(text, pos, 'z')) {
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    auto oh = read_digits(text, pos, 2);
    if (!oh || !expect(text, pos, ':')) return std::nullopt;
    auto om = read_digits(text, pos, 2);
    if (!om || *oh > 23 || *om > 59) return std::nullopt;
    offset_minutes = sign * (*oh * 60 + *om);
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  // Why 1900..2200: well inside what a nanosecond system_clock can hold, so
  // the arithmetic below cannot overflow; server-time is never outside it.
  if (*y < 1900 || *y > 2200 || *h > 23 || *mi > 59 || *s > 60) return std::nullopt;
  year_month_day date{year{*y}, month{static_cast<unsigned>(*mo)},
                      day{static_cast<unsigned>(*d)}};
  if (!date.ok()) return std::nullopt;
  sys_time<nanoseconds> at = sys_days(date) + hours(*h) + minutes(*mi) + seconds(*s) +
                             nanoseconds(nanos) - minutes(offset_minutes);
  return time_point_cast<system_clock::duration>(at);
}

std::string format_server_time(std::chrono::system_clock::time_point at) {
  using namespace std::chrono;
  auto ms = time_point_cast<milliseconds>(at);
  if (ms > at) ms -= milliseconds(1);  // floor, also before 1970
  auto days = floor<std::chrono::days>(ms);
  year_month_day date{days};
  hh_mm_ss<milliseconds> time{ms - days};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()), static_cast<int>(time.hours().count()),
                static_cast<int>(time.minutes().count()),
                static_cast<int>(time.seconds().count()),
                static_cast<int>(time.subseconds().count()));
  return buf;
}

}  // namespace immp::irc
