// libFuzzer target for the IRC protocol helpers (built by cmake/Fuzz.cmake).
// Properties checked on arbitrary bytes:
// - parse_line never crashes or hangs, and explains every refusal;
// - a parsed line serialises to exactly one wire line that parses back to the
//   same Line, and serialising that again gives the same bytes;
// - split_text never exceeds its budget and never emits CR, LF, NUL or \x01,
//   and keeps valid UTF-8 valid;
// - the formatting and CTCP readers accept anything.
#include "plugs/irc/irc_line.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "text/markup_irc.hpp"
#include "plugs/irc/irc_split.hpp"
#include "text/utf8.hpp"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

void fuzz_line(std::string_view raw) {
  using namespace immp::irc;
  std::string error;
  std::optional<Line> line = parse_line(raw, &error);
  if (!line) {
    check(!error.empty(), "parse_line refused without an error message");
    return;
  }
  std::string wire = line->str();
  check(wire.size() >= 2 && wire.ends_with("\r\n"), "str() does not end in CRLF");
  check(wire.find_first_of(std::string_view("\r\n\0", 3)) == wire.size() - 2,
        "str() has CR, LF or NUL before its end");
  std::optional<Line> again = parse_line(wire, &error);
  check(again.has_value(), "str() of a parsed line does not parse");
  check(!again->truncated, "str() of a parsed line is over the limits");
  Line expected = *line;
  expected.truncated = false;
  check(*again == expected, "str() does not round-trip");
  check(again->str() == wire, "str() is not stable");
  (void)line->time();
}

void fuzz_text(std::string_view text, std::size_t budget) {
  using namespace immp::irc;
  bool was_valid = immp::unicode::valid_utf8(text);
  for (const std::string& part : split_text(text, budget)) {
    check(part.size() <= budget, "split_text exceeded the budget");
    check(!part.empty(), "split_text emitted an empty line");
    check(part.find_first_of(std::string_view("\r\n\0\x01", 4)) == std::string::npos,
          "split_text emitted CR, LF, NUL or \\x01");
    check(!was_valid || immp::unicode::valid_utf8(part), "split_text broke valid UTF-8");
  }
  immp::RichText rich = immp::markup::from_irc(text);
  for (const immp::Segment& segment : rich.segments()) {
    check(!segment.text.empty(), "from_irc produced an empty segment");
  }
  std::string out = immp::markup::to_irc(rich);
  check(out.find_first_of(std::string_view("\r\0\x01", 3)) == std::string::npos,
        "to_irc emitted CR, NUL or \\x01");
  check(immp::markup::strip_irc(out).size() <= out.size(), "strip_irc grew the text");
  (void)parse_action(text);
  (void)parse_server_time(text);
  check(immp::unicode::valid_utf8(immp::unicode::repair_utf8(text)), "repair_utf8 left invalid UTF-8");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  fuzz_line(raw);
  // The first byte picks a budget, so small and realistic budgets are both hit.
  if (size > 0) fuzz_text(raw.substr(1), static_cast<unsigned char>(raw[0]) * 2);
  return 0;
}
