#include "text/styling.hpp"

#include <vector>

#include "text/markup_inline.hpp"

namespace immp::markup {

namespace {

void styling_escape(std::string& out, std::string_view text, bool) { out += text; }

void styling_code(std::string& out, std::string_view text) {
  out += '`';
  out += text;
  out += '`';
}

void styling_pre(std::string& out, std::string_view text) {
  out += "```\n";
  out += text;
  if (!text.empty() && text.back() != '\n') out += '\n';
  out += "```";
}

void styling_link(std::string& out, std::string_view inner, std::string_view url) {
  if (inner == url || inner.empty()) {
    out += url;
    return;
  }
  out += inner;
  out += " (";
  out += url;
  out += ')';
}

constexpr detail::Writer kStyling{"*", "_", "", "", "~", styling_escape, styling_code,
                                  styling_pre, styling_link};

bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Reads the spans of one line (XEP-0393 §6.2): an opening directive is at
// the line start or after whitespace or another opening directive, and is
// not followed by whitespace; the closing one is the first matching
// character on the line not preceded by whitespace, with text between.
void read_spans(std::string_view line, Segment style, std::vector<Segment>& out) {
  std::string plain;
  auto flush = [&] {
    if (plain.empty()) return;
    Segment s = style;
    s.text = std::move(plain);
    out.push_back(std::move(s));
    plain.clear();
  };
  std::size_t i = 0;
  while (i < line.size()) {
    char c = line[i];
    bool opener_ok = (c == '*' || c == '_' || c == '~' || c == '`') &&
                     (i == 0 || space(line[i - 1]) || line[i - 1] == '*' || line[i - 1] == '_' ||
                      line[i - 1] == '~' || line[i - 1] == '`') &&
                     i + 1 < line.size() && !space(line[i + 1]);
    if (opener_ok) {
      std::size_t close = std::string_view::npos;
      for (std::size_t j = i + 2; j < line.size(); ++j) {
        if (line[j] == c && !space(line[j - 1])) {
          close = j;
          break;
        }
      }
      if (close != std::string_view::npos) {
        flush();
        std::string_view inner = line.substr(i + 1, close - i - 1);
        Segment s = style;
        if (c == '`') {
          s.code = true;
          s.text = std::string(inner);
          out.push_back(std::move(s));
        } else {
          if (c == '*') s.bold = true;
          if (c == '_') s.italic = true;
          if (c == '~') s.strike = true;
          read_spans(inner, s, out);
        }
        i = close + 1;
        continue;
      }
    }
    plain += c;
    ++i;
  }
  flush();
}

}  // namespace

std::string to_styling(const RichText& text) { return detail::write(text, kStyling); }

RichText from_styling(std::string_view text) {
  std::vector<Segment> out;
  std::size_t pos = 0;
  bool first = true;
  while (pos <= text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (!first) {
      Segment nl;
      nl.text = "\n";
      out.push_back(std::move(nl));
    }
    first = false;
    if (line.starts_with("```")) {
      // A preformatted block runs to a line of ``` or the end of the text.
      std::size_t body = end + 1;
      std::size_t scan = body;
      std::size_t close = std::string_view::npos;
      while (scan <= text.size() && body <= text.size()) {
        std::size_t e = text.find('\n', scan);
        if (e == std::string_view::npos) e = text.size();
        if (text.substr(scan, e - scan) == "```") {
          close = scan;
          break;
        }
        if (e == text.size()) break;
        scan = e + 1;
      }
      if (body <= text.size()) {
        std::size_t stop = close == std::string_view::npos ? text.size() : close;
        std::string_view inner = text.substr(body, stop > body ? stop - body : 0);
        if (inner.ends_with('\n')) inner.remove_suffix(1);
        Segment s;
        s.pre = true;
        s.text = std::string(inner);
        out.push_back(std::move(s));
        if (close == std::string_view::npos) break;
        pos = close + 3;
        if (pos < text.size() && text[pos] == '\n') {
          ++pos;
          // The block's line break is its own; what follows starts a line.
          first = false;
          if (pos >= text.size()) break;
          continue;
        }
        if (pos >= text.size()) break;
        continue;
      }
    }
    read_spans(line, Segment{}, out);
    if (end == text.size()) break;
    pos = end + 1;
  }
  return RichText(std::move(out)).normalised();
}

}  // namespace immp::markup
