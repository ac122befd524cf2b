// Grapheme clusters (what a reader sees as one character: "é" as e + U+0301,
// a flag, a family emoji joined by ZWJs), found by ICU's BreakIterator.
// Use these where a cut must not be visible: truncating a quote, splitting a
// long message. Use utf8.hpp where only the bytes must stay valid.
//
// Input is UTF-8; invalid sequences are treated as U+FFFD, one cluster each,
// and offsets are always byte offsets into the input.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace immp::unicode {

// The byte offsets where clusters start, then text.size(): {0, ..., size}.
// Empty text gives {0}.
std::vector<std::size_t> grapheme_boundaries(std::string_view text);

// The number of grapheme clusters.
std::size_t count_graphemes(std::string_view text);

// The first `n` clusters of `text`.
std::string_view prefix_graphemes(std::string_view text, std::size_t n);

// `text` cut into consecutive pieces of at most `max_bytes` bytes, each
// ending on a cluster boundary; the pieces concatenate to `text`. A cluster
// longer than max_bytes on its own is cut between code points (never
// inside one).
std::vector<std::string_view> split_graphemes(std::string_view text, std::size_t max_bytes);

// `text` if it has at most `max` clusters, else its first clusters followed
// by `ellipsis` so that the result has `max` clusters in all (the ellipsis
// counted as its own clusters).
std::string truncate_graphemes(std::string_view text, std::size_t max,
                               std::string_view ellipsis = "…");

}  // namespace immp::unicode
