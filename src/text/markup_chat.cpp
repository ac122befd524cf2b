// Slack's mrkdwn and Discord's Markdown: delimiter markups without a
// published grammar, read here the way their clients show them.
#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

#include "text/markup.hpp"
#include "text/markup_inline.hpp"

namespace immp::markup {

namespace {

using detail::is_ascii_punct;

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }
bool is_word(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x80;
}

// Breaks runs that would read as markup where no escape exists (inside
// Slack's or Discord's code): a zero-width space after each backtick of a run
// as long as the fence.
std::string break_fence(std::string_view text, std::size_t fence) {
  std::string out;
  std::size_t run = 0;
  for (char c : text) {
    out += c;
    run = c == '`' ? run + 1 : 0;
    if (run == fence - 1 && fence > 1) {
      out += "\xE2\x80\x8B";
      run = 0;
    }
  }
  return out;
}

// ---- writers ----

void slack_escape(std::string& out, std::string_view text, bool) {
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      default: out += c;
    }
  }
}
void slack_code(std::string& out, std::string_view text) {
  out += '`';
  std::string body;
  slack_escape(body, text, false);
  std::replace(body.begin(), body.end(), '`', '\'');  // Slack cannot escape one
  out += body;
  out += '`';
}
void slack_pre(std::string& out, std::string_view text) {
  std::string body;
  slack_escape(body, text, false);
  out += "```";
  out += break_fence(body, 3);
  out += "```\n";
}
void slack_link(std::string& out, std::string_view inner, std::string_view url) {
  out += '<';
  for (char c : url) {
    if (c == '|') {
      out += "%7C";
    } else if (c == '>') {
      out += "%3E";
    } else if (c == '<') {
      out += "%3C";
    } else {
      out += c;
    }
  }
  if (!inner.empty() && inner != url) {
    out += '|';
    out += inner;
  }
  out += '>';
}

void discord_escape(std::string& out, std::string_view text, bool line_start) {
  std::size_t i = 0;
  if (line_start && !text.empty() && (text[0] == '#' || text[0] == '>' || text[0] == '-')) {
    out += '\\';
    out += text[0];
    i = 1;
  }
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\' || c == '*' || c == '_' || c == '~' || c == '`' || c == '|' || c == '[' ||
        c == ']' || c == '<' || c == ':' ) {
      // ':' keeps "<:emoji:id>" and "https://" from being read as markup.
      if (c == ':' && !(i + 2 < text.size() && text[i + 1] == '/' && text[i + 2] == '/')) {
        out += c;
        continue;
      }
      out += '\\';
    }
    out += c;
  }
}
void discord_code(std::string& out, std::string_view text) {
  bool ticks = text.find('`') != std::string_view::npos;
  std::string_view fence = ticks ? "``" : "`";
  std::string body = ticks ? break_fence(text, 2) : std::string(text);
  bool pad = ticks && (body.front() == '`' || body.back() == '`');
  out += fence;
  if (pad) out += ' ';
  out += body;
  if (pad) out += ' ';
  out += fence;
}
void discord_pre(std::string& out, std::string_view text) {
  out += "```\n";
  out += break_fence(text, 3);
  out += "```\n";
}
void discord_link(std::string& out, std::string_view inner, std::string_view url) {
  out += '[';
  out += inner;
  out += "](<";
  for (char c : url) {
    if (c == '>') {
      out += "%3E";
    } else if (c == ')') {
      out += "%29";
    } else {
      out += c;
    }
  }
  out += ">)";
}

constexpr detail::Writer kSlack{"*", "_", "", "", "~", slack_escape, slack_code, slack_pre,
                                slack_link};
constexpr detail::Writer kDiscord{"**", "*", "__", "__", "~~", discord_escape, discord_code,
                                  discord_pre, discord_link};

// ---- the reader both share ----

enum Style { kBold, kItalic, kUnderline, kStrike };

struct Marker {
  std::string_view token;
  Style style;
};

struct Syntax {
  std::vector<Marker> markers;  // longest first
  bool backslash = false;       // Discord: \ escapes ASCII punctuation
  bool boundaries = false;      // Slack: markers only at word edges
  bool slack = false;           // <url|text>, &amp; ...; else [text](url)
};

class Reader {
 public:
  Reader(std::string_view src, const Syntax& syntax) : src_(src), syn_(syntax) {}

  RichText read() {
    std::size_t i = 0;
    while (i < src_.size()) i = step(i);
    flush();
    return out_.normalised();
  }

 private:
  std::size_t step(std::size_t i) {
    char c = src_[i];
    if (syn_.backslash && c == '\\' && i + 1 < src_.size() && is_ascii_punct(src_[i + 1])) {
      run_ += src_[i + 1];
      return i + 2;
    }
    if (syn_.slack && c == '&') return entity(i);
    if (c == '`') return code(i);
    if (syn_.slack && c == '<') {
      if (std::size_t n = slack_angle(i)) return n;
    }
    if (!syn_.slack && c == '[') {
      if (std::size_t n = md_link(i)) return n;
    }
    for (const Marker& m : syn_.markers) {
      if (src_.substr(i, m.token.size()) != m.token) continue;
      std::size_t end = i + m.token.size();
      if (open_[m.style] == m.token && can_close(i, end)) {
        set(m.style, {});
        return end;
      }
      if (open_[m.style].empty() && can_open(i, end) && closer_after(end, m.token)) {
        set(m.style, m.token);
        return end;
      }
    }
    run_ += c;
    return i + 1;
  }

  bool can_open(std::size_t at, std::size_t end) const {
    if (end >= src_.size() || is_space(src_[end])) return false;
    return !syn_.boundaries || at == 0 || !is_word(src_[at - 1]);
  }
  bool can_close(std::size_t at, std::size_t end) const {
    if (at == 0 || is_space(src_[at - 1])) return false;
    return !syn_.boundaries || end >= src_.size() || !is_word(src_[end]);
  }
  bool closer_after(std::size_t from, std::string_view token) const {
    for (std::size_t p = src_.find(token, from + 1); p != std::string_view::npos;
         p = src_.find(token, p + 1)) {
      // A longer run of the same character is another marker ("**" is not
      // the closer of "*").
      if (p + token.size() < src_.size() && src_[p + token.size()] == token[0] &&
          token.size() == 1) {
        ++p;
        continue;
      }
      if (can_close(p, p + token.size())) return true;
    }
    return false;
  }

  void set(Style style, std::string_view token) {
    flush();
    open_[style] = token;
  }

  std::size_t entity(std::size_t i) {
    static constexpr std::pair<std::string_view, char> kEntities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}};
    for (auto [e, c] : kEntities) {
      if (src_.substr(i, e.size()) == e) {
        run_ += c;
        return i + e.size();
      }
    }
    run_ += '&';
    return i + 1;
  }

  std::string decode(std::string_view s) const {
    if (!syn_.slack) return std::string(s);
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
      bool done = false;
      for (auto [e, c] : {std::pair<std::string_view, char>{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}}) {
        if (s.substr(i, e.size()) == e) {
          out += c;
          i += e.size();
          done = true;
          break;
        }
      }
      if (!done) out += s[i++];
    }
    return out;
  }

  std::size_t code(std::size_t i) {
    std::size_t n = 0;
    while (i + n < src_.size() && src_[i + n] == '`') ++n;
    std::size_t body = i + n;
    if (n >= 3) {
      std::size_t end = src_.find("```", body);
      if (end == std::string_view::npos) {
        run_.append(src_.substr(i, n));
        return body;
      }
      std::string_view text = src_.substr(body, end - body);
      if (!syn_.slack) {
        // Discord: an optional language word on the opening line.
        std::size_t nl = text.find('\n');
        if (nl != std::string_view::npos &&
            std::all_of(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(nl), [](char c) {
              return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' ||
                     c == '#';
            })) {
          text.remove_prefix(nl + 1);
        }
      }
      if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
      std::size_t stop = end + 3;
      // The line break after a closing fence belongs to the block.
      if (stop < src_.size() && src_[stop] == '\n') ++stop;
      emit_code(without_zwsp(decode(text)), true);
      return stop;
    }
    std::string fence(n, '`');
    std::size_t end = body;
    while (true) {
      end = src_.find(fence, end);
      if (end == std::string_view::npos) break;
      std::size_t run = fence.size();
      while (end + run < src_.size() && src_[end + run] == '`') ++run;
      if (run == fence.size()) break;
      end += run;
    }
    if (end == std::string_view::npos || end == body) {
      run_.append(src_.substr(i, n));
      return body;
    }
    std::string_view text = src_.substr(body, end - body);
    if (n > 1 && text.size() >= 2 && text.front() == ' ' && text.back() == ' ') {
      text = text.substr(1, text.size() - 2);
    }
    emit_code(without_zwsp(decode(text)), false);
    return end + n;
  }

  static std::string without_zwsp(std::string s) {
    for (std::size_t p; (p = s.find("`\xE2\x80\x8B")) != std::string::npos;) s.erase(p + 1, 3);
    return s;
  }

  void emit_code(std::string text, bool pre) {
    flush();
    auto segs = out_.segments();
    if (pre && !segs.empty() && !segs.back().text.empty() && segs.back().text.back() != '\n') {
      // A block starts a line.
      Segment line_break;
      line_break.text = "\n";
      out_.append(std::move(line_break));
    }
    // A block holds text only; inline code keeps the styles around it.
    Segment s = pre ? Segment{} : style();
    s.text = std::move(text);
    s.code = !pre;
    s.pre = pre;
    out_.append(std::move(s));
  }

  // Slack: <url>, <url|text>, <@U123>, <#C123|name>, <!here>.
  std::size_t slack_angle(std::size_t i) {
    std::size_t end = src_.find('>', i);
    if (end == std::string_view::npos) return 0;
    std::string_view inside = src_.substr(i + 1, end - i - 1);
    if (inside.empty() || inside.find('<') != std::string_view::npos) return 0;
    std::size_t bar = inside.find('|');
    std::string_view target = inside.substr(0, bar);
    std::string_view label = bar == std::string_view::npos ? std::string_view() : inside.substr(bar + 1);
    if (target[0] == '@' || target[0] == '#' || target[0] == '!') {
      run_ += target[0] == '!' ? '@' : target[0];
      run_ += decode(label.empty() ? target.substr(1) : label);
      return end + 1;
    }
    flush();
    link_ = decode(target);
    // The label may carry formatting of its own.
    if (label.empty()) {
      run_ = link_;
      flush();
    } else {
      Reader inner(label, syn_);
      inner.open_ = open_;
      RichText text = inner.read();
      for (const Segment& s : text.segments()) {
        Segment copy = s;
        copy.link = link_;
        out_.append(std::move(copy));
      }
    }
    link_.clear();
    return end + 1;
  }

  // Discord: [text](url) and [text](<url>).
  std::size_t md_link(std::size_t i) {
    std::size_t close = i + 1;
    int depth = 1;
    for (; close < src_.size(); ++close) {
      if (src_[close] == '\\') {
        ++close;
        continue;
      }
      if (src_[close] == '[') ++depth;
      if (src_[close] == ']' && --depth == 0) break;
    }
    if (close >= src_.size() || close + 1 >= src_.size() || src_[close + 1] != '(') return 0;
    std::size_t paren = src_.find(')', close + 2);
    if (paren == std::string_view::npos) return 0;
    std::string_view url = src_.substr(close + 2, paren - close - 2);
    if (url.size() >= 2 && url.front() == '<' && url.back() == '>') url = url.substr(1, url.size() - 2);
    if (url.empty() || url.find_first_of(" \n") != std::string_view::npos) return 0;
    flush();
    Reader inner(src_.substr(i + 1, close - i - 1), syn_);
    inner.open_ = open_;
    RichText text = inner.read();
    for (const Segment& s : text.segments()) {
      Segment copy = s;
      copy.link = std::string(url);
      out_.append(std::move(copy));
    }
    return paren + 1;
  }

  Segment style() const {
    Segment s;
    s.bold = !open_[kBold].empty();
    s.italic = !open_[kItalic].empty();
    s.underline = !open_[kUnderline].empty();
    s.strike = !open_[kStrike].empty();
    s.link = link_;
    return s;
  }

  void flush() {
    if (run_.empty()) return;
    Segment s = style();
    s.text = std::move(run_);
    run_.clear();
    out_.append(std::move(s));
  }

  std::string_view src_;
  const Syntax& syn_;
  std::array<std::string_view, 4> open_{};  // the token that opened each style; empty: closed
  std::string run_;
  std::string link_;
  RichText out_;
};

const Syntax& slack_syntax() {
  static const Syntax s{{{"*", kBold}, {"_", kItalic}, {"~", kStrike}}, false, true, true};
  return s;
}
const Syntax& discord_syntax() {
  static const Syntax s{{{"**", kBold}, {"__", kUnderline}, {"~~", kStrike}, {"*", kItalic},
                         {"_", kItalic}},
                        true, false, false};
  return s;
}

}  // namespace

std::string to_slack(const RichText& text) { return detail::write(text, kSlack); }
RichText from_slack(std::string_view mrkdwn) { return Reader(mrkdwn, slack_syntax()).read(); }

std::string to_discord(const RichText& text) { return detail::write(text, kDiscord); }
RichText from_discord(std::string_view markdown) {
  return Reader(markdown, discord_syntax()).read();
}

RichText normalise_for(Dialect dialect, const RichText& text) {
  switch (dialect) {
    case Dialect::markdown: return detail::settle(text, detail::markdown_writer());
    case Dialect::slack: return detail::settle(text, detail::slack_writer());
    case Dialect::discord: return detail::settle(text, detail::discord_writer());
    case Dialect::html: break;
  }
  RichText out;
  for (const Segment& original : text.segments()) {
    Segment s = original;
    s.mention = nullptr;
    if (s.pre) {
      s.bold = s.italic = s.underline = s.strike = s.code = false;
      s.link.clear();
    }
    out.append(std::move(s));
  }
  return out.normalised();
}

namespace detail {
const Writer& slack_writer() { return kSlack; }
const Writer& discord_writer() { return kDiscord; }
}  // namespace detail

}  // namespace immp::markup
