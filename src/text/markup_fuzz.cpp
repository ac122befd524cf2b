// libFuzzer targets for the markup readers (built by cmake/Fuzz.cmake, one
// binary per dialect: IMMP_FUZZ_DIALECT is 0 html, 1 markdown, 2 slack,
// 3 discord). Properties checked on arbitrary bytes, made valid UTF-8 first
// (every reader's contract):
// - the reader never crashes or hangs, and gives valid UTF-8 and no empty
//   segment;
// - the writer never crashes on what the reader gave, and its output is
//   valid UTF-8;
// - HTML: reading what the writer made gives the text back exactly
//   (normalise_for). The delimiter dialects cannot express every text read
//   from arbitrary input (emphasis between punctuation and a letter, runs of
//   markers; see docs/text.md): for them, reading the writer's output must
//   only not crash.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "text/markup.hpp"
#include "text/utf8.hpp"

namespace {

using namespace immp;
using namespace immp::markup;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

constexpr Dialect kDialect = static_cast<Dialect>(IMMP_FUZZ_DIALECT);

RichText read(std::string_view s) {
  switch (kDialect) {
    case Dialect::html: return from_html(s);
    case Dialect::markdown: return from_markdown(s);
    case Dialect::slack: return from_slack(s);
    case Dialect::discord: return from_discord(s);
  }
  return {};
}

std::string write(const RichText& t) {
  switch (kDialect) {
    case Dialect::html: return to_html(t);
    case Dialect::markdown: return to_markdown(t);
    case Dialect::slack: return to_slack(t);
    case Dialect::discord: return to_discord(t);
  }
  return {};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string input = unicode::repair_utf8(
      std::string_view(reinterpret_cast<const char*>(data), size));
  RichText parsed = read(input);
  for (const Segment& s : parsed.segments()) {
    check(!s.text.empty(), "empty segment");
    check(unicode::valid_utf8(s.text), "reader broke UTF-8");
  }
  std::string written = write(parsed);
  check(unicode::valid_utf8(written), "writer broke UTF-8");
  RichText again = read(written);
  if constexpr (kDialect == Dialect::html) {
    check(again == normalise_for(kDialect, parsed), "HTML round trip changed the text");
  } else {
    for (const Segment& s : again.segments()) check(unicode::valid_utf8(s.text), "UTF-8");
  }
  return 0;
}
