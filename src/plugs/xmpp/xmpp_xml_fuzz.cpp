// libFuzzer target for the XMPP stream parser (built by cmake/Fuzz.cmake).
// Properties checked on arbitrary bytes, fed after a valid stream header in
// chunks the input itself chooses:
// - the parser never crashes, hangs or grows past its limits, and explains
//   every refusal with a position;
// - every stanza it returns serialises to XML that parses back to the same
//   element (names, namespaces, attributes, text, children).
#include "plugs/xmpp/xmpp_xml.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using immp::xmpp::Element;
using immp::xmpp::ParseLimits;
using immp::xmpp::StreamEvent;
using immp::xmpp::StreamParser;

constexpr std::string_view kOpen =
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

bool same(const Element& a, const Element& b) {
  if (a.name != b.name || a.ns != b.ns || a.text != b.text) return false;
  std::size_t n = 0;
  for (const auto& [k, v] : a.attrs) {
    if (k.find('|') != std::string::npos) continue;  // not written
    if (b.attr(k) != v) return false;
    ++n;
  }
  if (n != b.attrs.size() || a.children.size() != b.children.size()) return false;
  for (std::size_t i = 0; i < a.children.size(); ++i) {
    if (!same(a.children[i], b.children[i])) return false;
  }
  return true;
}

bool valid(std::string_view s) {
  // escape() replaces what XML cannot carry; compare only clean stanzas.
  return immp::xmpp::escape(s).find("\xEF\xBF\xBD") == std::string::npos ||
         s.find("\xEF\xBF\xBD") != std::string_view::npos;
}

bool clean(const Element& e) {
  if (!valid(e.text)) return false;
  for (const auto& [k, v] : e.attrs) {
    if (!valid(v)) return false;
  }
  for (const auto& c : e.children) {
    if (!clean(c)) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  StreamParser p(ParseLimits{4096, 16});
  check(!p.feed(kOpen), "the stream header was refused");
  // The first byte picks the chunk size, so splits are explored too.
  std::size_t chunk = input.empty() ? 1 : static_cast<unsigned char>(input[0]) % 64 + 1;
  for (std::size_t i = 0; i < input.size(); i += chunk) {
    if (auto e = p.feed(input.substr(i, chunk))) {
      check(!e->what.empty(), "a refusal without a reason");
      check(e->line >= 1, "a refusal without a line");
      break;
    }
  }
  while (auto event = p.next()) {
    if (event->kind != StreamEvent::Kind::stanza) continue;
    const Element& e = event->element;
    std::string xml = e.str("jabber:client");
    StreamParser again(ParseLimits{1 << 20, 64});
    check(!again.feed(kOpen), "the header was refused the second time");
    auto error = again.feed(xml);
    check(!error, "a serialised stanza does not parse");
    auto back = again.next();
    check(back && back->kind == StreamEvent::Kind::open, "no stream open");
    back = again.next();
    check(back && back->kind == StreamEvent::Kind::stanza, "the stanza did not come back");
    if (clean(e)) check(same(e, back->element), "the stanza changed in a round trip");
  }
  return 0;
}
