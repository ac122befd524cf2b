#include "plugs/xmpp/xmpp_xml.hpp"

#include <expat.h>

#include <cstring>

#include "text/utf8.hpp"

namespace immp::xmpp {

namespace {

// expat joins a namespace URI and a local name with this byte; no URI or
// name may contain it (it is not even allowed in XML).
constexpr char kSep = '\x01';
constexpr std::string_view kNsXml = "http://www.w3.org/XML/1998/namespace";

std::pair<std::string, std::string> split_name(const char* qname) {
  std::string_view q(qname);
  auto cut = q.find(kSep);
  if (cut == std::string_view::npos) return {std::string(q), std::string()};
  return {std::string(q.substr(cut + 1)), std::string(q.substr(0, cut))};
}

std::string attr_name(const char* qname) {
  auto [local, ns] = split_name(qname);
  if (ns.empty()) return local;
  if (ns == kNsXml) return "xml:" + local;
  return ns + "|" + local;
}

bool xml_char(char32_t c) {
  if (c < 0x20) return c == 0x09 || c == 0x0A || c == 0x0D;
  if (c >= 0xD800 && c <= 0xDFFF) return false;
  return c != 0xFFFE && c != 0xFFFF && c <= 0x10FFFF;
}

}  // namespace

// ---- Element ---------------------------------------------------------------

std::string_view Element::attr(std::string_view key) const {
  for (const auto& [k, v] : attrs) {
    if (k == key) return v;
  }
  return {};
}

bool Element::has_attr(std::string_view key) const {
  for (const auto& [k, v] : attrs) {
    if (k == key) return true;
  }
  return false;
}

Element& Element::set(std::string_view key, std::string value) {
  for (auto& [k, v] : attrs) {
    if (k == key) {
      v = std::move(value);
      return *this;
    }
  }
  attrs.emplace_back(std::string(key), std::move(value));
  return *this;
}

const Element* Element::child(std::string_view n, std::string_view space) const {
  for (const auto& c : children) {
    if (c.name == n && (space.empty() || c.ns == space)) return &c;
  }
  return nullptr;
}

Element* Element::child(std::string_view n, std::string_view space) {
  for (auto& c : children) {
    if (c.name == n && (space.empty() || c.ns == space)) return &c;
  }
  return nullptr;
}

std::vector<const Element*> Element::children_named(std::string_view n,
                                                    std::string_view space) const {
  std::vector<const Element*> out;
  for (const auto& c : children) {
    if (c.name == n && (space.empty() || c.ns == space)) out.push_back(&c);
  }
  return out;
}

std::string_view Element::child_text(std::string_view n, std::string_view space) const {
  const Element* c = child(n, space);
  return c ? std::string_view(c->text) : std::string_view();
}

Element& Element::add(Element c) {
  children.push_back(std::move(c));
  return children.back();
}

Element& Element::add(std::string n, std::string space, std::string body) {
  Element& c = add(Element(std::move(n), std::move(space)));
  c.text = std::move(body);
  return c;
}

std::string Element::str(std::string_view parent_ns) const {
  std::string out;
  write(out, parent_ns);
  return out;
}

void Element::write(std::string& out, std::string_view parent_ns) const {
  // The xml namespace is bound to its prefix and may not be declared as a
  // default, so its elements keep "xml:" and leave the default in scope as is.
  const bool xml_prefixed = ns == kNsXml;
  std::string_view scope = xml_prefixed ? parent_ns : std::string_view(ns);
  out += '<';
  if (xml_prefixed) out += "xml:";
  out += name;
  if (!xml_prefixed && ns != parent_ns) {
    out += " xmlns='";
    out += escape(ns);
    out += '\'';
  }
  for (const auto& [k, v] : attrs) {
    auto bar = k.find('|');
    if (bar != std::string::npos) continue;  // foreign-namespace attributes are not written
    out += ' ';
    out += k;
    out += "='";
    out += escape(v);
    out += '\'';
  }
  if (children.empty() && text.empty()) {
    out += "/>";
    return;
  }
  out += '>';
  out += escape(text);
  for (const auto& c : children) c.write(out, scope);
  out += "</";
  if (xml_prefixed) out += "xml:";
  out += name;
  out += '>';
}

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[pos]);
    if (c < 0x80) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        default:
          if (xml_char(c)) {
            out += static_cast<char>(c);
          } else {
            out += "\xEF\xBF\xBD";
          }
      }
      ++pos;
      continue;
    }
    auto cp = unicode::decode_at(text, pos);
    if (cp.valid && xml_char(cp.value)) {
      out.append(text.substr(pos, cp.size));
    } else {
      out += "\xEF\xBF\xBD";
    }
    pos += cp.size > 0 ? cp.size : 1;
  }
  return out;
}

std::string ParseError::str() const {
  return "line " + std::to_string(line) + ", column " + std::to_string(column) + " (byte " +
         std::to_string(offset) + "): " + what;
}

// ---- StreamParser ----------------------------------------------------------

struct StreamParser::State {
  XML_Parser parser = nullptr;
  StreamParser* owner = nullptr;
  // The elements open inside the stream element; stack.front() is the
  // stanza being read. Empty between stanzas.
  std::vector<Element> stack;
  bool opened = false;
  std::size_t fed = 0;   // bytes given to expat on this stream
  std::size_t mark = 0;  // where the current stanza began, or the last one ended
  std::string pending_error;

  ~State() {
    if (parser) XML_ParserFree(parser);
  }

  void stop(std::string why) {
    if (pending_error.empty()) pending_error = std::move(why);
    XML_StopParser(parser, XML_FALSE);
  }

  std::size_t index() const {
    auto i = XML_GetCurrentByteIndex(parser);
    return i < 0 ? fed : static_cast<std::size_t>(i);
  }

  static State& of(void* data) { return *static_cast<State*>(data); }

  static void on_start(void* data, const char* qname, const char** atts) {
    State& s = of(data);
    auto [local, ns] = split_name(qname);
    Element e(std::move(local), std::move(ns));
    for (const char** a = atts; *a; a += 2) e.attrs.emplace_back(attr_name(a[0]), a[1]);
    if (!s.opened) {
      if (e.name != "stream" || e.ns != kNsStreams) {
        s.stop("the stream must start with <stream:stream>, not <" + e.name + ">");
        return;
      }
      s.opened = true;
      s.mark = s.index();
      s.owner->events_.push_back({StreamEvent::Kind::open, std::move(e)});
      return;
    }
    if (s.stack.size() >= s.owner->limits_.max_depth) {
      s.stop("elements nested deeper than " + std::to_string(s.owner->limits_.max_depth) +
             " levels (at <" + e.name + ">)");
      return;
    }
    if (s.stack.empty()) s.mark = s.index();
    s.stack.push_back(std::move(e));
  }

  static void on_end(void* data, const char*) {
    State& s = of(data);
    if (s.stack.empty()) {
      s.owner->events_.push_back({StreamEvent::Kind::close, Element()});
      return;
    }
    Element done = std::move(s.stack.back());
    s.stack.pop_back();
    if (s.stack.empty()) {
      if (s.index() - s.mark > s.owner->limits_.max_stanza_bytes) {
        s.stop("a stanza larger than " + std::to_string(s.owner->limits_.max_stanza_bytes) +
               " bytes");
        return;
      }
      s.mark = s.index();
      s.owner->events_.push_back({StreamEvent::Kind::stanza, std::move(done)});
    } else {
      s.stack.back().children.push_back(std::move(done));
    }
  }

  static void on_text(void* data, const char* text, int len) {
    State& s = of(data);
    if (s.stack.empty()) {
      // Whitespace keepalives between stanzas; anything else is not XMPP.
      for (int i = 0; i < len; ++i) {
        char c = text[i];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
          s.stop("text outside any stanza");
          return;
        }
      }
      s.mark = s.index() + static_cast<std::size_t>(len);
      return;
    }
    s.stack.back().text.append(text, static_cast<std::size_t>(len));
  }

  static void on_doctype(void* data, const XML_Char*, const XML_Char*, const XML_Char*, int) {
    of(data).stop("a document type declaration (DTD) is not allowed in XMPP");
  }

  static void on_entity(void* data, const XML_Char* name, int, const XML_Char*, int,
                        const XML_Char*, const XML_Char*, const XML_Char*, const XML_Char*) {
    of(data).stop(std::string("an entity declaration (") + name + ") is not allowed in XMPP");
  }

  static void on_comment(void* data, const XML_Char*) {
    of(data).stop("a comment is not allowed in XMPP");
  }

  static void on_pi(void* data, const XML_Char* target, const XML_Char*) {
    of(data).stop(std::string("a processing instruction (<?") + target +
                  ") is not allowed in XMPP");
  }

  // References to undeclared entities (&foo;) outside a DTD.
  static void on_skipped(void* data, const XML_Char* name, int) {
    of(data).stop(std::string("an unknown entity (&") + name + ";)");
  }
};

StreamParser::StreamParser(ParseLimits limits) : limits_(limits) { reset(); }

StreamParser::~StreamParser() = default;

void StreamParser::reset() {
  events_.clear();
  error_.reset();
  state_ = std::make_unique<State>();
  State& s = *state_;
  s.owner = this;
  s.parser = XML_ParserCreateNS("UTF-8", kSep);
  if (!s.parser) throw std::bad_alloc();
  XML_SetUserData(s.parser, &s);
  XML_SetElementHandler(s.parser, &State::on_start, &State::on_end);
  XML_SetCharacterDataHandler(s.parser, &State::on_text);
  XML_SetStartDoctypeDeclHandler(s.parser, &State::on_doctype);
  XML_SetEntityDeclHandler(s.parser, &State::on_entity);
  XML_SetCommentHandler(s.parser, &State::on_comment);
  XML_SetProcessingInstructionHandler(s.parser, &State::on_pi);
  XML_SetSkippedEntityHandler(s.parser, &State::on_skipped);
  // No external entities, ever.
  XML_SetParamEntityParsing(s.parser, XML_PARAM_ENTITY_PARSING_NEVER);
}

std::optional<ParseError> StreamParser::feed(std::string_view bytes) {
  if (error_) return error_;
  State& s = *state_;
  auto fail = [&](std::string what) {
    ParseError e;
    e.what = std::move(what);
    e.line = XML_GetCurrentLineNumber(s.parser);
    e.column = XML_GetCurrentColumnNumber(s.parser) + 1;
    e.offset = s.index();
    error_ = e;
    return error_;
  };
  // Feed in slices, so that the size limit is checked before expat buffers
  // an unbounded start tag or text run: at most one slice past the limit is
  // ever held.
  constexpr std::size_t kSlice = 16 * 1024;
  while (!bytes.empty()) {
    std::string_view slice = bytes.substr(0, kSlice);
    bytes.remove_prefix(slice.size());
    if (s.fed + slice.size() - s.mark > limits_.max_stanza_bytes + kSlice) {
      return fail("a stanza larger than " + std::to_string(limits_.max_stanza_bytes) + " bytes");
    }
    auto status = XML_Parse(s.parser, slice.data(), static_cast<int>(slice.size()), XML_FALSE);
    s.fed += slice.size();
    if (status != XML_STATUS_OK) {
      if (!s.pending_error.empty()) return fail(s.pending_error);
      return fail(std::string("malformed XML: ") + XML_ErrorString(XML_GetErrorCode(s.parser)));
    }
    if (!s.stack.empty() && s.index() - s.mark > limits_.max_stanza_bytes) {
      return fail("a stanza larger than " + std::to_string(limits_.max_stanza_bytes) + " bytes");
    }
  }
  return std::nullopt;
}

std::optional<StreamEvent> StreamParser::next() {
  if (events_.empty()) return std::nullopt;
  StreamEvent e = std::move(events_.front());
  events_.pop_front();
  return e;
}

}  // namespace immp::xmpp
