#include "text/graphemes.hpp"

#include <memory>

#include <unicode/brkiter.h>
#include <unicode/utext.h>

#include "text/utf8.hpp"

namespace immp::unicode {

namespace {

// One character break iterator per thread: creating one loads ICU's rules
// (tens of microseconds), cloning the prototype is cheaper still but a
// reused instance costs nothing. Null if ICU has no data (then every code
// point is its own cluster).
icu::BreakIterator* character_breaks() {
  thread_local std::unique_ptr<icu::BreakIterator> it = [] {
    UErrorCode status = U_ZERO_ERROR;
    std::unique_ptr<icu::BreakIterator> made(
        icu::BreakIterator::createCharacterInstance(icu::Locale::getRoot(), status));
    if (U_FAILURE(status)) made.reset();
    return made;
  }();
  return it.get();
}

std::vector<std::size_t> code_point_boundaries(std::string_view text) {
  std::vector<std::size_t> out;
  for (auto it = CodePoints(text).begin(); it != CodePoints(text).end(); ++it) {
    out.push_back(it.offset());
  }
  out.push_back(text.size());
  return out;
}

}  // namespace

std::vector<std::size_t> grapheme_boundaries(std::string_view text) {
  if (text.empty()) return {0};
  icu::BreakIterator* it = character_breaks();
  // UText over UTF-8 reports native (byte) offsets: no UTF-16 copy. Its
  // offsets index int64_t; anything a chat message holds fits.
  UErrorCode status = U_ZERO_ERROR;
  UText* ut = it ? utext_openUTF8(nullptr, text.data(), static_cast<int64_t>(text.size()), &status)
                 : nullptr;
  if (!it || U_FAILURE(status)) {
    if (ut) utext_close(ut);
    return code_point_boundaries(text);
  }
  it->setText(ut, status);
  std::vector<std::size_t> out;
  if (U_SUCCESS(status)) {
    for (int32_t b = it->first(); b != icu::BreakIterator::DONE; b = it->next()) {
      out.push_back(static_cast<std::size_t>(b));
    }
  }
  // The iterator keeps a shallow clone of the UText: detach it before the
  // UText (and the view it reads) goes away.
  UText empty = UTEXT_INITIALIZER;
  UErrorCode ignore = U_ZERO_ERROR;
  utext_openUTF8(&empty, "", 0, &ignore);
  it->setText(&empty, ignore);
  utext_close(&empty);
  utext_close(ut);
  if (out.empty() || out.front() != 0 || out.back() != text.size()) {
    return code_point_boundaries(text);
  }
  return out;
}

std::size_t count_graphemes(std::string_view text) {
  return grapheme_boundaries(text).size() - 1;
}

std::string_view prefix_graphemes(std::string_view text, std::size_t n) {
  auto bounds = grapheme_boundaries(text);
  return text.substr(0, bounds[std::min(n, bounds.size() - 1)]);
}

std::vector<std::string_view> split_graphemes(std::string_view text, std::size_t max_bytes) {
  if (max_bytes == 0) max_bytes = 1;
  std::vector<std::string_view> pieces;
  auto bounds = grapheme_boundaries(text);
  std::size_t start = 0;
  std::size_t k = 0;  // bounds[k] <= start < bounds[k + 1]
  while (start < text.size()) {
    // The furthest cluster boundary within the budget.
    std::size_t best = start;
    while (k + 1 < bounds.size() && bounds[k + 1] - start <= max_bytes) best = bounds[++k];
    if (best == start) {
      // One cluster is bigger than the budget: cut it between code points.
      std::size_t cluster_end = bounds[k + 1];
      for (std::string_view part :
           split_bytes(text.substr(start, cluster_end - start), max_bytes)) {
        pieces.push_back(part);
      }
      start = cluster_end;
      ++k;
      continue;
    }
    pieces.push_back(text.substr(start, best - start));
    start = best;
  }
  return pieces;
}

std::string truncate_graphemes(std::string_view text, std::size_t max,
                               std::string_view ellipsis) {
  auto bounds = grapheme_boundaries(text);
  std::size_t clusters = bounds.size() - 1;
  if (clusters <= max) return std::string(text);
  std::size_t room = count_graphemes(ellipsis);
  room = room < max ? max - room : 0;
  std::string out(text.substr(0, bounds[room]));
  out.append(ellipsis);
  return out;
}

}  // namespace immp::unicode
