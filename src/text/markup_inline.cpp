#include "text/markup_inline.hpp"

#include <algorithm>
#include <vector>

namespace immp::markup::detail {

namespace {

enum Style { kBold, kItalic, kUnderline, kStrike, kStyles };

bool has(const Segment& s, Style style) {
  switch (style) {
    case kBold: return s.bold;
    case kItalic: return s.italic;
    case kUnderline: return s.underline;
    case kStrike: return s.strike;
    default: return false;
  }
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

class StyleWriter {
 public:
  StyleWriter(const Writer& w, std::string& out) : w_(w), out_(out) {}

  void segment(const Segment& s) {
    if (s.pre) {
      close_all();
      flush_space();
      if (!out_.empty() && out_.back() != '\n') out_ += '\n';
      w_.pre(out_, s.text);
      return;
    }
    std::string_view text = s.text;
    // Whitespace at the edges (of inline code too) goes outside the markers:
    // a marker next to whitespace would not count.
    std::size_t a = 0;
    while (a < text.size() && is_space(text[a])) ++a;
    std::size_t b = text.size();
    while (b > a && is_space(text[b - 1])) --b;
    bool wanted[kStyles];
    for (int st = 0; st < kStyles; ++st) {
      wanted[st] = a < b && has(s, static_cast<Style>(st)) && !open_marker(static_cast<Style>(st)).empty();
    }
    // Close from the top down to the first open style this segment lacks.
    std::size_t keep = 0;
    while (keep < stack_.size() && wanted[stack_[keep]]) ++keep;
    while (stack_.size() > keep) close_top();
    flush_space();
    if (a == b) {
      // Only whitespace: it goes out unstyled (markers cannot hold it).
      text_out(text);
      return;
    }
    text_out(text.substr(0, a));
    for (int st = 0; st < kStyles; ++st) {
      if (wanted[st] && std::find(stack_.begin(), stack_.end(), st) == stack_.end()) {
        out_ += open_marker(static_cast<Style>(st));
        stack_.push_back(static_cast<Style>(st));
      }
    }
    std::string_view core = text.substr(a, b - a);
    if (s.code) {
      w_.code(out_, core);
    } else {
      text_out(core);
    }
    space_ = std::string(text.substr(b));
  }

  void finish() {
    close_all();
    flush_space();
  }

 private:
  std::string_view open_marker(Style st) const {
    switch (st) {
      case kBold: return w_.bold;
      case kItalic: return w_.italic;
      case kUnderline: return w_.underline_open;
      case kStrike: return w_.strike;
      default: return {};
    }
  }
  std::string_view close_marker(Style st) const {
    return st == kUnderline ? w_.underline_close : open_marker(st);
  }
  void close_top() {
    out_ += close_marker(stack_.back());
    stack_.pop_back();
  }
  void close_all() {
    while (!stack_.empty()) close_top();
  }
  void flush_space() {
    text_out(space_);
    space_.clear();
  }
  void text_out(std::string_view text) {
    // Escape line by line: some characters matter only at a line start.
    while (!text.empty()) {
      std::size_t nl = text.find('\n');
      std::string_view line = text.substr(0, nl == std::string_view::npos ? text.size() : nl + 1);
      w_.escape(out_, line, out_.empty() || out_.back() == '\n');
      text.remove_prefix(line.size());
    }
  }

  const Writer& w_;
  std::string& out_;
  std::vector<Style> stack_;
  std::string space_;  // trailing whitespace of the last segment, not yet written
};

}  // namespace

bool is_ascii_punct(char c) {
  return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
         (c >= '{' && c <= '~');
}

std::string write(const RichText& text, const Writer& writer) {
  std::string out;
  auto segments = text.segments();
  for (std::size_t i = 0; i < segments.size();) {
    const std::string& url = segments[i].link;
    std::size_t j = i;
    while (j < segments.size() && segments[j].link == url) ++j;
    if (url.empty()) {
      StyleWriter w(writer, out);
      for (std::size_t k = i; k < j; ++k) w.segment(segments[k]);
      w.finish();
    } else {
      std::string inner;
      StyleWriter w(writer, inner);
      for (std::size_t k = i; k < j; ++k) {
        Segment s = segments[k];
        s.pre = false;  // a link holds inline text only
        w.segment(s);
      }
      w.finish();
      writer.link(out, inner, url);
    }
    i = j;
  }
  return out;
}

RichText settle(const RichText& text, const Writer& writer) {
  auto supported = [&](Style st) {
    switch (st) {
      case kBold: return !writer.bold.empty();
      case kItalic: return !writer.italic.empty();
      case kUnderline: return !writer.underline_open.empty();
      case kStrike: return !writer.strike.empty();
      default: return false;
    }
  };
  auto styled = [](Segment s, const std::vector<Style>& styles) {
    s.bold = s.italic = s.underline = s.strike = s.code = false;
    for (Style st : styles) {
      if (st == kBold) s.bold = true;
      if (st == kItalic) s.italic = true;
      if (st == kUnderline) s.underline = true;
      if (st == kStrike) s.strike = true;
    }
    return s;
  };
  RichText out;
  auto segments = text.segments();
  std::vector<Style> stack;
  Segment pending;  // trailing whitespace not yet placed
  std::string link;
  auto place_pending = [&] {
    if (pending.text.empty()) return;
    out.append(styled(pending, stack));
    pending.text.clear();
  };
  for (std::size_t i = 0; i < segments.size(); ++i) {
    Segment s = segments[i];
    s.mention = nullptr;
    if (i > 0 && s.link != link) {
      stack.clear();  // a link starts and ends with every style closed
      place_pending();
    }
    link = s.link;
    if (!s.link.empty()) s.pre = false;
    for (int st = 0; st < kStyles; ++st) {
      if (!supported(static_cast<Style>(st))) {
        if (st == kBold) s.bold = false;
        if (st == kItalic) s.italic = false;
        if (st == kUnderline) s.underline = false;
        if (st == kStrike) s.strike = false;
      }
    }
    if (s.pre) {
      stack.clear();
      place_pending();
      s.bold = s.italic = s.underline = s.strike = s.code = false;
      out.append(std::move(s));
      continue;
    }
    std::size_t a = 0;
    while (a < s.text.size() && is_space(s.text[a])) ++a;
    std::size_t b = s.text.size();
    while (b > a && is_space(s.text[b - 1])) --b;
    std::size_t keep = 0;
    while (keep < stack.size() && a < b && has(s, stack[keep])) ++keep;
    stack.resize(keep);
    place_pending();
    Segment lead = s;
    lead.text = s.text.substr(0, a);
    out.append(styled(lead, stack));
    if (a == b) continue;
    for (int st = 0; st < kStyles; ++st) {
      if (has(s, static_cast<Style>(st)) &&
          std::find(stack.begin(), stack.end(), st) == stack.end()) {
        stack.push_back(static_cast<Style>(st));
      }
    }
    Segment core = s;
    core.text = s.text.substr(a, b - a);
    out.append(std::move(core));
    pending = s;
    pending.text = s.text.substr(b);
  }
  stack.clear();
  place_pending();
  return out.normalised();
}

}  // namespace immp::markup::detail
