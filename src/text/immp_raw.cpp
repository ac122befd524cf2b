#include "text/immp_raw.hpp"

#include <vector>

namespace immp::markup {

namespace {

// IMMP's escape(): a backslash before `\` and before each of `chars`.
std::string escape(std::string_view text, std::string_view chars) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || chars.find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

// Drops the backslash of every escaped character.
std::string unescape(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) ++i;
    out += text[i];
  }
  return out;
}

// Splits `tags` on commas that are not escaped.
std::vector<std::string> split_tags(std::string_view tags) {
  std::vector<std::string> out(1);
  for (std::size_t i = 0; i < tags.size(); ++i) {
    if (tags[i] == '\\' && i + 1 < tags.size()) {
      out.back() += tags[i];
      out.back() += tags[++i];
    } else if (tags[i] == ',') {
      out.emplace_back();
    } else {
      out.back() += tags[i];
    }
  }
  return out;
}

// Index of the next unescaped `c` at or after `from`.
std::size_t find_unescaped(std::string_view text, char c, std::size_t from) {
  for (std::size_t i = from; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
      continue;
    }
    if (text[i] == c) return i;
  }
  return std::string_view::npos;
}

}  // namespace

std::string to_raw(const RichText& text) {
  std::string raw;
  std::string last = "/";
  for (const Segment& s : text.segments()) {
    std::vector<std::string> tags;
    if (s.bold) tags.push_back("b");
    if (s.italic) tags.push_back("i");
    if (s.underline) tags.push_back("u");
    if (s.strike) tags.push_back("s");
    if (s.code) tags.push_back("c");
    if (s.pre) tags.push_back("p");
    if (!s.link.empty()) tags.push_back(s.link == s.text ? "l" : "l=" + escape(s.link, ",>"));
    if (s.mention) {
      const User& u = *s.mention;
      std::string plug = u.handle ? u.handle->name() : "";
      tags.push_back("m=" + escape(plug, "/,>") + "/" + escape(u.id, "/,>") + "/" +
                     escape(u.real_name.empty() ? u.username : u.real_name, ",>"));
    }
    std::string current;
    for (const auto& t : tags) current += (current.empty() ? "" : ",") + t;
    if (current.empty()) current = "/";
    if (current != last) raw += "<" + current + ">";
    last = current;
    raw += escape(s.text, "<");
  }
  if (last != "/") raw += "</>";
  return raw;
}

RichText from_raw(std::string_view raw) {
  RichText rich;
  Segment current;
  std::size_t pos = 0;
  auto flush = [&](std::string_view text) {
    Segment s = current;
    s.text = unescape(text);
    if (s.link == "\x01") s.link = s.text;  // a bare `l`: the text is the link
    rich.push(std::move(s));
  };
  for (;;) {
    std::size_t open = find_unescaped(raw, '<', pos);
    std::size_t close = open == std::string_view::npos ? open : find_unescaped(raw, '>', open + 1);
    if (close == std::string_view::npos) break;
    if (open > pos) flush(raw.substr(pos, open - pos));
    current = Segment{};
    for (const std::string& tag : split_tags(raw.substr(open + 1, close - open - 1))) {
      if (tag == "b" || tag == "bold") current.bold = true;
      if (tag == "i" || tag == "italic") current.italic = true;
      if (tag == "u" || tag == "underline") current.underline = true;
      if (tag == "s" || tag == "strike") current.strike = true;
      if (tag == "c" || tag == "code") current.code = true;
      if (tag == "p" || tag == "pre") current.pre = true;
      if (tag == "l" || tag == "link") current.link = "\x01";
      if (tag.starts_with("l=") || tag.starts_with("link=")) {
        current.link = unescape(tag.substr(tag.find('=') + 1));
      }
    }
    pos = close + 1;
  }
  if (pos < raw.size()) flush(raw.substr(pos));
  return rich.normalised();
}

}  // namespace immp::markup
