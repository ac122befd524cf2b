// XML for XMPP streams: an element tree for stanzas, its serialisation, and
// a streaming parser on expat that cuts the endless <stream:stream>
// document into its top-level elements (stanzas) as bytes arrive.
//
// The parser is hostile-input safe by construction: no DTD (so no entity
// declarations, no entity expansion), no comments or processing
// instructions (RFC 6120 §11.1 forbids them), a bound on nesting depth and
// on the bytes of one stanza, checked before expat buffers more. Every
// refusal is a ParseError that names what and where.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace immp::xmpp {

inline constexpr std::string_view kNsStreams = "http://etherx.jabber.org/streams";
inline constexpr std::string_view kNsClient = "jabber:client";
inline constexpr std::string_view kNsComponent = "jabber:component:accept";

// One XML element with its namespace resolved. Character data directly
// inside is kept as one `text` (XMPP payloads are not mixed content; text
// between children is concatenated).
struct Element {
  std::string name;  // local name: "message"
  std::string ns;    // namespace URI: "jabber:client"
  // Attributes in document order. Unprefixed names are plain ("to");
  // xml:lang is "xml:lang"; other namespaced attributes are "uri|name".
  std::vector<std::pair<std::string, std::string>> attrs;
  std::vector<Element> children;
  std::string text;

  Element() = default;
  Element(std::string name, std::string ns) : name(std::move(name)), ns(std::move(ns)) {}

  bool is(std::string_view n, std::string_view space) const { return name == n && ns == space; }
  // The attribute's value; empty when absent.
  std::string_view attr(std::string_view key) const;
  bool has_attr(std::string_view key) const;
  // Sets (or replaces) an attribute; returns *this for chaining.
  Element& set(std::string_view key, std::string value);
  // The first child with this name and namespace (any namespace when
  // `space` is empty); null when none.
  const Element* child(std::string_view n, std::string_view space = {}) const;
  Element* child(std::string_view n, std::string_view space = {});
  // Every child with this name and namespace.
  std::vector<const Element*> children_named(std::string_view n,
                                             std::string_view space = {}) const;
  // The text of child `n`, empty when there is none.
  std::string_view child_text(std::string_view n, std::string_view space = {}) const;
  // Appends a child and returns it.
  Element& add(Element child);
  Element& add(std::string n, std::string space, std::string body = {});

  // The element as XML. `parent_ns` is the namespace in scope: an element in
  // it gets no xmlns attribute (stanzas are written with the stream's).
  std::string str(std::string_view parent_ns = {}) const;
  void write(std::string& out, std::string_view parent_ns) const;
};

// Escapes text for character data or an attribute value (both: & < > " ').
// Characters XML 1.0 cannot carry (C0 controls but tab, CR, LF; U+FFFE/F;
// invalid UTF-8) become U+FFFD, so a stanza we write always parses.
std::string escape(std::string_view text);

struct ParseLimits {
  std::size_t max_stanza_bytes = 256 * 1024;  // one top-level element, in bytes of XML
  std::size_t max_depth = 32;                 // elements nested inside the stream element
};

// Why the stream is unreadable: what went wrong and where (1-based line and
// column of the stream, byte offset from the start of this stream).
struct ParseError {
  std::string what;
  std::size_t line = 0;
  std::size_t column = 0;
  std::size_t offset = 0;
  // "line 3, column 17 (byte 212): <what>"
  std::string str() const;
};

// One thing the stream said.
struct StreamEvent {
  enum class Kind {
    open,    // <stream:stream ...>: `element` holds its attributes, no children
    stanza,  // a complete top-level element
    close,   // </stream:stream>
  };
  Kind kind;
  Element element;
};

// A streaming parser of one XMPP stream. Feed bytes in any chunks; take
// events out in order. After an error nothing more is parsed: the stream
// must be closed (or reset() for a new one). Not thread-safe.
class StreamParser {
 public:
  explicit StreamParser(ParseLimits limits = {});
  ~StreamParser();
  StreamParser(const StreamParser&) = delete;
  StreamParser& operator=(const StreamParser&) = delete;

  // Parses `bytes`. Returns the error that stopped the stream, if any (also
  // kept in error()). Events completed before the error stay available.
  std::optional<ParseError> feed(std::string_view bytes);
  // The next event, or nullopt when more bytes are needed.
  std::optional<StreamEvent> next();
  bool has_event() const { return !events_.empty(); }
  const std::optional<ParseError>& error() const { return error_; }
  // Starts a new stream (after STARTTLS or SASL success, RFC 6120 §4.3.3):
  // forgets all state and pending events.
  void reset();

 private:
  struct State;  // the expat parser and the elements open in it
  ParseLimits limits_;
  std::unique_ptr<State> state_;
  std::deque<StreamEvent> events_;
  std::optional<ParseError> error_;
};

}  // namespace immp::xmpp
