#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <vector>

#include "text/markup.hpp"
#include "text/utf8.hpp"

namespace immp::markup {

namespace {

void escape_html(std::string& out, std::string_view text, bool attribute) {
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"':
        if (attribute) {
          out += "&quot;";
          break;
        }
        [[fallthrough]];
      default: out += c;
    }
  }
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The entity at html[pos] ('&'), decoded into `out`; its length, or 0 if it
// is not one we know (then the '&' is text).
std::size_t decode_entity(std::string_view html, std::size_t pos, std::string& out) {
  std::size_t semi = html.find(';', pos);
  if (semi == std::string_view::npos || semi - pos > 12) return 0;
  std::string_view name = html.substr(pos + 1, semi - pos - 1);
  if (name.size() > 1 && name[0] == '#') {
    unsigned long cp = 0;
    bool hex = name[1] == 'x' || name[1] == 'X';
    std::string_view digits = name.substr(hex ? 2 : 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty()) return 0;
    // NUL and out-of-range code points become U+FFFD, as browsers do.
    unicode::append_utf8(out, cp == 0 || cp > 0x10FFFF ? unicode::kReplacement
                                                       : static_cast<char32_t>(cp));
    return semi - pos + 1;
  }
  static constexpr std::pair<std::string_view, std::string_view> kNamed[] = {
      {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}, {"nbsp", "\xC2\xA0"}};
  for (auto [n, text] : kNamed) {
    if (name == n) {
      out += text;
      return semi - pos + 1;
    }
  }
  return 0;
}

std::string decode_text(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '&') {
      if (std::size_t n = decode_entity(text, i, out)) {
        i += n - 1;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

struct Tag {
  std::string name;  // lower case
  bool closing = false;
  bool self_closing = false;
  std::string href;  // decoded
  std::size_t size = 0;
};

// The tag at html[pos] ('<'), or nullopt if there is none (the '<' is text).
std::optional<Tag> read_tag(std::string_view html, std::size_t pos) {
  Tag tag;
  std::size_t i = pos + 1;
  if (i < html.size() && html[i] == '/') {
    tag.closing = true;
    ++i;
  }
  std::size_t name_start = i;
  while (i < html.size() && (std::isalnum(static_cast<unsigned char>(html[i])) || html[i] == '-'))
    ++i;
  if (i == name_start || !std::isalpha(static_cast<unsigned char>(html[name_start]))) {
    return std::nullopt;
  }
  tag.name = lower(html.substr(name_start, i - name_start));
  // Attributes: name, name=value, name="value", name='value'.
  while (i < html.size() && html[i] != '>') {
    char c = html[i];
    if (c == '/') {
      tag.self_closing = true;
      ++i;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    std::size_t a = i;
    while (i < html.size() && html[i] != '=' && html[i] != '>' && html[i] != '/' &&
           !std::isspace(static_cast<unsigned char>(html[i])))
      ++i;
    std::string attr = lower(html.substr(a, i - a));
    if (attr.empty()) {
      ++i;  // a stray '=' and the like
      continue;
    }
    std::string value;
    if (i < html.size() && html[i] == '=') {
      ++i;
      if (i < html.size() && (html[i] == '"' || html[i] == '\'')) {
        char q = html[i++];
        std::size_t end = html.find(q, i);
        if (end == std::string_view::npos) return std::nullopt;
        value = decode_text(html.substr(i, end - i));
        i = end + 1;
      } else {
        std::size_t v = i;
        while (i < html.size() && html[i] != '>' && !std::isspace(static_cast<unsigned char>(html[i])))
          ++i;
        value = decode_text(html.substr(v, i - v));
      }
    }
    if (attr == "href") tag.href = std::move(value);
  }
  if (i >= html.size()) return std::nullopt;
  tag.size = i + 1 - pos;
  return tag;
}

bool is_block(std::string_view name) {
  return name == "p" || name == "div" || name == "li" || name == "blockquote" || name == "tr" ||
         (name.size() == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6');
}

}  // namespace

std::string to_html(const RichText& text, const HtmlOptions& options) {
  std::string out;
  for (const Segment& s : text.segments()) {
    if (s.text.empty()) continue;
    if (!s.link.empty()) {
      out += "<a href=\"";
      escape_html(out, s.link, true);
      out += "\">";
    }
    if (s.bold) out += "<b>";
    if (s.italic) out += "<i>";
    if (s.underline) out += "<u>";
    if (s.strike) out += "<s>";
    if (s.pre) {
      out += "<pre>";
    } else if (s.code) {
      out += "<code>";
    }
    if (options.br_newlines && !s.pre) {
      std::size_t start = 0;
      for (std::size_t nl; (nl = s.text.find('\n', start)) != std::string::npos; start = nl + 1) {
        escape_html(out, std::string_view(s.text).substr(start, nl - start), false);
        out += "<br/>";
      }
      escape_html(out, std::string_view(s.text).substr(start), false);
    } else {
      escape_html(out, s.text, false);
    }
    if (s.pre) {
      out += "</pre>";
    } else if (s.code) {
      out += "</code>";
    }
    if (s.strike) out += "</s>";
    if (s.underline) out += "</u>";
    if (s.italic) out += "</i>";
    if (s.bold) out += "</b>";
    if (!s.link.empty()) out += "</a>";
  }
  return out;
}

RichText from_html(std::string_view html) {
  RichText out;
  // Open counts, so that <b><b>x</b>y</b> keeps y bold.
  int bold = 0, italic = 0, underline = 0, strike = 0, code = 0, pre = 0;
  std::vector<std::string> links;  // hrefs of open <a> ("" for an <a> without one)
  bool pending_break = false;      // a block ended: a line break before more text
  std::string run;                 // text not yet added, in the current style

  auto flush = [&] {
    if (run.empty()) return;
    Segment s;
    s.text = std::move(run);
    run.clear();
    s.bold = bold > 0;
    s.italic = italic > 0;
    s.underline = underline > 0;
    s.strike = strike > 0;
    s.pre = pre > 0;
    s.code = code > 0 && !s.pre;
    if (s.pre) {
      // A block holds text only (Telegram refuses entities inside <pre>).
      s.bold = s.italic = s.underline = s.strike = false;
      out.append(std::move(s));
      return;
    }
    for (auto it = links.rbegin(); it != links.rend(); ++it) {
      if (!it->empty()) {
        s.link = *it;
        break;
      }
    }
    out.append(std::move(s));
  };
  auto add_text = [&](std::string_view text) {
    if (text.empty()) return;
    if (pending_break) {
      if (!out.empty() || !run.empty()) run += '\n';
      pending_break = false;
    }
    run += text;
  };
  auto change = [&](int& counter, bool closing) {
    flush();
    counter = closing ? std::max(counter - 1, 0) : counter + 1;
  };

  for (std::size_t i = 0; i < html.size();) {
    char c = html[i];
    if (c == '&') {
      std::string decoded;
      if (std::size_t n = decode_entity(html, i, decoded)) {
        add_text(decoded);
        i += n;
        continue;
      }
      add_text("&");
      ++i;
      continue;
    }
    if (c != '<') {
      std::size_t next = html.find_first_of("<&", i);
      if (next == std::string_view::npos) next = html.size();
      add_text(html.substr(i, next - i));
      i = next;
      continue;
    }
    if (html.substr(i, 4) == "<!--") {
      std::size_t end = html.find("-->", i + 4);
      i = end == std::string_view::npos ? html.size() : end + 3;
      continue;
    }
    auto tag = read_tag(html, i);
    if (!tag) {
      add_text("<");
      ++i;
      continue;
    }
    i += tag->size;
    const std::string& n = tag->name;
    if (!tag->closing && (n == "script" || n == "style" || n == "mx-reply")) {
      // Their content is not text (mx-reply: Matrix's fallback quote of
      // the parent, which the reply carries as reply_to instead).
      std::string close = "</" + n;
      std::size_t end = i;
      while (true) {
        end = html.find("</", end);
        if (end == std::string_view::npos || lower(html.substr(end, close.size())) == close) break;
        end += 2;
      }
      if (end == std::string_view::npos) {
        i = html.size();
      } else {
        std::size_t gt = html.find('>', end);
        i = gt == std::string_view::npos ? html.size() : gt + 1;
      }
      continue;
    }
    bool closing = tag->closing;
    if (tag->self_closing && n != "br") continue;
    if (n == "b" || n == "strong") {
      change(bold, closing);
    } else if (n == "i" || n == "em") {
      change(italic, closing);
    } else if (n == "u" || n == "ins") {
      change(underline, closing);
    } else if (n == "s" || n == "strike" || n == "del") {
      change(strike, closing);
    } else if (n == "code" || n == "tt") {
      change(code, closing);
    } else if (n == "pre") {
      change(pre, closing);
    } else if (n == "a") {
      flush();
      if (closing) {
        if (!links.empty()) links.pop_back();
      } else {
        links.push_back(tag->href);
      }
    } else if (n == "br") {
      pending_break = false;
      run += '\n';
    } else if (is_block(n) && closing) {
      pending_break = true;
    } else if (is_block(n) && !closing && (!out.empty() || !run.empty())) {
      pending_break = true;
    }
  }
  flush();
  return out.normalised();
}

}  // namespace immp::markup
