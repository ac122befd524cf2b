#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>

#include <memory>
#include <mutex>

#include "text/markup.hpp"
#include "text/markup_inline.hpp"

namespace immp::markup {

namespace {

using detail::is_ascii_punct;

void md_escape(std::string& out, std::string_view text, bool line_start) {
  std::size_t i = 0;
  if (line_start) {
    // Leading spaces would make an indented code block or vanish.
    while (i < text.size() && text[i] == ' ') {
      out += "&#32;";
      ++i;
    }
    if (i < text.size()) {
      char c = text[i];
      if (c == '#' || c == '>' || c == '-' || c == '+' || c == '=') {
        out += '\\';
      } else if (c >= '0' && c <= '9') {
        // "1." or "1)" would start an ordered list.
        std::size_t d = i;
        while (d < text.size() && text[d] >= '0' && text[d] <= '9') ++d;
        if (d < text.size() && (text[d] == '.' || text[d] == ')')) {
          out.append(text.substr(i, d - i));
          out += '\\';
          i = d;
        }
      }
    }
  }
  for (; i < text.size(); ++i) {
    char c = text[i];
    switch (c) {
      case '\\': case '*': case '_': case '~': case '`': case '[': case ']': case '<': case '>':
      case '!': case '|':
        out += '\\';
        out += c;
        break;
      case '&': out += "&amp;"; break;
      case ' ':
        // Two spaces before a line break would make a hard break: keep them
        // as text.
        if (i + 1 < text.size() && text[i + 1] == '\n') {
          out += "&#32;";
        } else {
          out += ' ';
        }
        break;
      default: out += c;
    }
  }
}

void md_code(std::string& out, std::string_view text) {
  // A fence longer than any run of backticks inside.
  std::size_t longest = 0, run = 0;
  for (char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  std::string fence(longest + 1, '`');
  bool pad = !text.empty() && (text.front() == '`' || text.back() == '`' ||
                               (text.front() == ' ' && text.back() == ' '));
  out += fence;
  if (pad) out += ' ';
  out += text;
  if (pad) out += ' ';
  out += fence;
}

void md_pre(std::string& out, std::string_view text) {
  std::size_t longest = 0, run = 0;
  for (char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  std::string fence(std::max<std::size_t>(3, longest + 1), '`');
  out += fence;
  out += '\n';
  out += text;
  if (!text.empty() && text.back() != '\n') out += '\n';
  out += fence;
  out += '\n';
}

void md_link(std::string& out, std::string_view inner, std::string_view url) {
  out += '[';
  out += inner;
  out += "](<";
  for (char c : url) {
    if (c == '<') {
      out += "%3C";
    } else if (c == '>') {
      out += "%3E";
    } else if (c == '\n') {
      out += "%0A";
    } else {
      if (c == '\\') out += '\\';
      out += c;
    }
  }
  out += ">)";
}

constexpr detail::Writer kMarkdown{"**", "*", "<u>", "</u>", "~~", md_escape, md_code, md_pre,
                                   md_link};

struct NodeDeleter {
  void operator()(cmark_node* n) const { cmark_node_free(n); }
};
struct ParserDeleter {
  void operator()(cmark_parser* p) const { cmark_parser_free(p); }
};
struct IterDeleter {
  void operator()(cmark_iter* i) const { cmark_iter_free(i); }
};

bool is_block(cmark_node_type t) {
  return t == CMARK_NODE_PARAGRAPH || t == CMARK_NODE_HEADING || t == CMARK_NODE_CODE_BLOCK ||
         t == CMARK_NODE_HTML_BLOCK || t == CMARK_NODE_THEMATIC_BREAK || t == CMARK_NODE_ITEM ||
         t == CMARK_NODE_BLOCK_QUOTE || t == CMARK_NODE_LIST;
}

}  // namespace

const detail::Writer& detail::markdown_writer() { return kMarkdown; }

std::string to_markdown(const RichText& text) { return detail::write(text, kMarkdown); }

RichText from_markdown(std::string_view markdown) {
  static std::once_flag registered;
  std::call_once(registered, [] { cmark_gfm_core_extensions_ensure_registered(); });
  std::unique_ptr<cmark_parser, ParserDeleter> parser(cmark_parser_new(CMARK_OPT_DEFAULT));
  if (cmark_syntax_extension* strike = cmark_find_syntax_extension("strikethrough")) {
    cmark_parser_attach_syntax_extension(parser.get(), strike);
  }
  cmark_parser_feed(parser.get(), markdown.data(), markdown.size());
  std::unique_ptr<cmark_node, NodeDeleter> doc(cmark_parser_finish(parser.get()));
  std::unique_ptr<cmark_iter, IterDeleter> iter(cmark_iter_new(doc.get()));

  RichText out;
  int bold = 0, italic = 0, underline = 0, strike = 0;
  std::vector<std::string> links;
  // Separator owed before the next text: "\n\n" between paragraphs, "\n"
  // around code blocks and between list items and headings.
  std::string pending;
  auto add = [&](std::string text, bool code, bool pre) {
    if (text.empty()) return;
    if (!out.empty() && !pending.empty()) {
      Segment sep;
      sep.text = pending;
      out.append(std::move(sep));
    }
    pending.clear();
    Segment s;
    s.text = std::move(text);
    s.bold = bold > 0 && !pre;
    s.italic = italic > 0 && !pre;
    s.underline = underline > 0 && !pre;
    s.strike = strike > 0 && !pre;
    s.code = code;
    s.pre = pre;
    if (!links.empty() && !pre) s.link = links.back();
    out.append(std::move(s));
  };

  for (cmark_event_type ev; (ev = cmark_iter_next(iter.get())) != CMARK_EVENT_DONE;) {
    cmark_node* node = cmark_iter_get_node(iter.get());
    cmark_node_type type = cmark_node_get_type(node);
    bool enter = ev == CMARK_EVENT_ENTER;
    // The extension's node type is not exported: known by its name.
    if (std::string_view(cmark_node_get_type_string(node)) == "strikethrough") {
      strike += enter ? 1 : -1;
      continue;
    }
    switch (type) {
      case CMARK_NODE_TEXT: add(cmark_node_get_literal(node), false, false); break;
      case CMARK_NODE_CODE: add(cmark_node_get_literal(node), true, false); break;
      case CMARK_NODE_SOFTBREAK:
      case CMARK_NODE_LINEBREAK: add("\n", false, false); break;
      case CMARK_NODE_STRONG: bold += enter ? 1 : -1; break;
      case CMARK_NODE_EMPH: italic += enter ? 1 : -1; break;
      case CMARK_NODE_LINK:
        if (enter) {
          links.emplace_back(cmark_node_get_url(node) ? cmark_node_get_url(node) : "");
        } else if (!links.empty()) {
          links.pop_back();
        }
        break;
      case CMARK_NODE_HTML_INLINE: {
        std::string_view html = cmark_node_get_literal(node);
        if (html == "<u>" || html == "<ins>") {
          ++underline;
        } else if (html == "</u>" || html == "</ins>") {
          underline = std::max(underline - 1, 0);
        } else {
          add(std::string(html), false, false);
        }
        break;
      }
      case CMARK_NODE_CODE_BLOCK: {
        std::string literal = cmark_node_get_literal(node);
        if (!literal.empty() && literal.back() == '\n') literal.pop_back();
        if (!out.empty()) pending = "\n";
        add(std::move(literal), false, true);
        pending = "\n";
        break;
      }
      case CMARK_NODE_HTML_BLOCK: {
        std::string literal = cmark_node_get_literal(node);
        while (!literal.empty() && literal.back() == '\n') literal.pop_back();
        add(std::move(literal), false, false);
        pending = "\n\n";
        break;
      }
      case CMARK_NODE_IMAGE:
        // Its alt text is the text; the image is the link.
        if (enter) {
          links.emplace_back(cmark_node_get_url(node) ? cmark_node_get_url(node) : "");
        } else if (!links.empty()) {
          links.pop_back();
        }
        break;
      default:
        if (is_block(type) && !enter) {
          cmark_node* parent = cmark_node_parent(node);
          bool top = parent && cmark_node_get_type(parent) == CMARK_NODE_DOCUMENT;
          pending = type == CMARK_NODE_PARAGRAPH && top ? "\n\n" : "\n";
        }
        break;
    }
  }
  return out.normalised();
}

}  // namespace immp::markup
