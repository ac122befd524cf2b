#include "text/markup_irc.hpp"

#include <array>
#include <cstdint>

namespace immp::markup {

using namespace irc_code;

namespace {

constexpr std::string_view kCodes("\x02\x03\x04\x0F\x11\x16\x1D\x1E\x1F");

// The first formatting code in `text` from `from` on, or npos. Codes are
// all control bytes: a byte at or above 0x20 is passed with one compare
// (find_first_of searches the nine codes once per byte).
std::size_t find_code(std::string_view text, std::size_t from) {
  for (std::size_t i = from; i < text.size(); ++i) {
    char c = text[i];
    if (static_cast<unsigned char>(c) < 0x20 && kCodes.find(c) != std::string_view::npos) return i;
  }
  return std::string_view::npos;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Up to two digits at text[i], advancing i; padded to two ("4" -> "04").
std::string read_colour_number(std::string_view text, std::size_t& i) {
  std::string out;
  while (out.size() < 2 && i < text.size() && is_digit(text[i])) out.push_back(text[i++]);
  if (out.size() == 1) out.insert(out.begin(), '0');
  return out;
}

// Exactly six hex digits at text[i] (upper-cased), or empty.
std::string read_hex_colour(std::string_view text, std::size_t i) {
  if (i + 6 > text.size()) return {};
  std::string out(text.substr(i, 6));
  for (char& c : out) {
    if (!is_hex(c)) return {};
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

struct Style {
  bool bold = false;
  bool italic = false;
  bool underline = false;
  bool strike = false;
  bool code = false;

  bool operator==(const Style&) const = default;
  int count() const { return bold + italic + underline + strike + code; }
};

Style style_of(const IrcFormat& state) {
  return {state.bold, state.italic, state.underline, state.strike, state.monospace};
}

Style style_of(const Segment& segment) {
  return {segment.bold, segment.italic, segment.underline, segment.strike,
          segment.code || segment.pre};
}

// Codes that take `from` to `to`: toggles, or a reset and re-opening when
// that is shorter.
std::string transition(const Style& from, const Style& to) {
  std::string toggles;
  if (from.bold != to.bold) toggles += kBold;
  if (from.italic != to.italic) toggles += kItalic;
  if (from.underline != to.underline) toggles += kUnderline;
  if (from.strike != to.strike) toggles += kStrike;
  if (from.code != to.code) toggles += kMonospace;
  if (toggles.size() > static_cast<std::size_t>(1 + to.count())) {
    return std::string(1, kReset) + transition(Style{}, to);
  }
  return toggles;
}

// Text the user wrote, made safe for IRC; see to_irc().
// Copies runs of kept bytes at once; only a dropped or changed byte ends one.
void append_safe(std::string& out, std::string_view text) {
  std::size_t run = 0;  // the first byte not copied yet
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (static_cast<unsigned char>(c) >= 0x20 || c == '\n' || c == '\t') continue;
    out.append(text.substr(run, i - run));
    run = i + 1;
    // CR LF is one break (its LF is kept); a lone CR is one too.
    if (c == '\r' && !(i + 1 < text.size() && text[i + 1] == '\n')) out += '\n';
  }
  out.append(text.substr(run));
}

std::string rendered_text(const Segment& segment) {
  std::string text = segment.text;
  if (segment.mention && !segment.mention->username.empty()) text = segment.mention->username;
  if (!segment.link.empty()) {
    if (text.empty() || text == segment.link) {
      text = segment.link;
    } else {
      text += " <" + segment.link + ">";
    }
  }
  return text;
}

}  // namespace

std::string IrcFormat::reopen(char next) const {
  std::string out;
  if (!fg.empty()) {
    out += fg.size() == 2 ? kColour : kHexColour;
    out += fg;
    if (!bg.empty()) out += "," + bg;
  }
  bool colour_last = !out.empty();
  if (bold) out += kBold;
  if (italic) out += kItalic;
  if (underline) out += kUnderline;
  if (strike) out += kStrike;
  if (monospace) out += kMonospace;
  if (reverse) out += kReverse;
  colour_last = colour_last && out.back() != kBold && out.back() != kItalic &&
                out.back() != kUnderline && out.back() != kStrike &&
                out.back() != kMonospace && out.back() != kReverse;
  if (colour_last && bg.empty() && next == ',') {
    out += kBold;
    out += kBold;
  }
  return out;
}

std::size_t read_irc_code(std::string_view text, std::size_t pos, IrcFormat& state) {
  if (pos >= text.size()) return 0;
  switch (text[pos]) {
    case kBold: state.bold = !state.bold; return 1;
    case kItalic: state.italic = !state.italic; return 1;
    case kUnderline: state.underline = !state.underline; return 1;
    case kStrike: state.strike = !state.strike; return 1;
    case kMonospace: state.monospace = !state.monospace; return 1;
    case kReverse: state.reverse = !state.reverse; return 1;
    case kReset: state = IrcFormat{}; return 1;
    case kColour: {
      std::size_t i = pos + 1;
      std::string fg = read_colour_number(text, i);
      if (fg.empty()) {
        state.fg.clear();
        state.bg.clear();
        return 1;
      }
      // The comma belongs to the code only when a digit follows it (the rule
      // of mIRC, HexChat and irssi): "\x031,text" keeps ",text" as text.
      std::string bg;
      if (i + 1 < text.size() && text[i] == ',' && is_digit(text[i + 1])) {
        ++i;
        bg = read_colour_number(text, i);
      }
      state.fg = fg;
      if (!bg.empty()) {
        state.bg = bg;
      } else if (state.bg.size() != 2) {
        state.bg.clear();  // a hex background does not survive a mIRC colour
      }
      return i - pos;
    }
    case kHexColour: {
      std::size_t i = pos + 1;
      std::string fg = read_hex_colour(text, i);
      if (fg.empty()) {
        state.fg.clear();
        state.bg.clear();
        return 1;
      }
      i += 6;
      std::string bg;
      if (i < text.size() && text[i] == ',') bg = read_hex_colour(text, i + 1);
      if (!bg.empty()) i += 7;
      state.fg = fg;
      if (!bg.empty()) {
        state.bg = bg;
      } else if (state.bg.size() != 6) {
        state.bg.clear();
      }
      return i - pos;
    }
    default: return 0;
  }
}

RichText from_irc(std::string_view text) {
  // Most lines have no formatting: one plain segment, built in place.
  if (find_code(text, 0) == std::string_view::npos) {
    return text.empty() ? RichText() : RichText(std::string(text));
  }
  std::vector<Segment> segments;
  IrcFormat state;
  std::size_t i = 0;
  while (i < text.size()) {
    if (std::size_t n = read_irc_code(text, i, state)) {
      i += n;
      continue;
    }
    std::size_t end = find_code(text, i);
    if (end == std::string_view::npos) end = text.size();
    Style style = style_of(state);
    if (segments.empty() || !(style_of(segments.back()) == style)) {
      Segment segment;
      segment.bold = style.bold;
      segment.italic = style.italic;
      segment.underline = style.underline;
      segment.strike = style.strike;
      segment.code = style.code;
      segments.push_back(std::move(segment));
    }
    segments.back().text.append(text.substr(i, end - i));
    i = end;
  }
  return RichText(std::move(segments));
}

std::string to_irc(const RichText& text) {
  std::string out;
  Style current;
  for (const Segment& segment : text.segments()) {
    // The body goes straight into `out`; the codes that lead to its style
    // go in before it once it is known not to be empty.
    const std::size_t start = out.size();
    bool plain = segment.link.empty() && !(segment.mention && !segment.mention->username.empty());
    append_safe(out, plain ? std::string_view(segment.text) : rendered_text(segment));
    if (out.size() == start) continue;
    Style wanted = style_of(segment);
    if (std::string codes = transition(current, wanted); !codes.empty()) out.insert(start, codes);
    current = wanted;
  }
  if (current.count() > 0) out += kReset;
  return out;
}

std::string strip_irc(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  IrcFormat state;
  for (std::size_t i = 0; i < text.size();) {
    if (std::size_t n = read_irc_code(text, i, state)) {
      i += n;
    } else {
      out += text[i++];
    }
  }
  return out;
}

std::string colour_nick(std::string_view nick) {
  // Why FNV-1a: the colour must be the same on every run and machine, so a
  // nick keeps its colour across restarts (std::hash promises neither).
  static constexpr std::array<std::string_view, 12> kPalette = {
      "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13"};
  std::string safe;
  append_safe(safe, nick);
  std::erase(safe, '\n');
  std::uint32_t hash = 2166136261u;
  for (char c : safe) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 16777619u;
  }
  std::string out(1, kColour);
  out += kPalette[hash % kPalette.size()];
  // A nick starting with ",<digit>" would be read as a background colour.
  if (!safe.empty() && safe[0] == ',') out += "\x02\x02";
  out += safe;
  out += kColour;
  return out;
}

}  // namespace immp::markup
