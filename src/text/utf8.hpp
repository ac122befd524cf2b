// UTF-8 in one place: validation and repair, code point iteration, and
// cutting text into pieces of at most N bytes without splitting a code
// point. Grapheme clusters (what a user sees as one character) are in
// graphemes.hpp.
//
// Decoding follows ICU's U8_NEXT (header-only macros): overlongs,
// surrogates and values above U+10FFFF are invalid, and an invalid sequence
// is consumed as its maximal subpart (Unicode's recommended practice, as
// browsers do), so "\xE2\x82" is one error, not two.
// Nothing here allocates unless it returns a std::string.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace immp::unicode {

inline constexpr char32_t kReplacement = U'\uFFFD';
inline constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

// One decoded step through a string: the code point (kReplacement for an
// invalid sequence) and how many bytes it took (>= 1).
struct CodePoint {
  char32_t value;
  std::size_t size;
  bool valid;
};

// The code point starting at text[pos]; pos < text.size().
CodePoint decode_at(std::string_view text, std::size_t pos);

// Iterates the code points of a string: `for (CodePoint cp : CodePoints(s))`.
// The string must outlive the iteration.
class CodePoints {
 public:
  explicit CodePoints(std::string_view text) : text_(text) {}
  class iterator {
   public:
    using value_type = CodePoint;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    iterator(std::string_view text, std::size_t pos) : text_(text), pos_(pos) { load(); }
    CodePoint operator*() const { return current_; }
    iterator& operator++() {
      pos_ += current_.size;
      load();
      return *this;
    }
    iterator operator++(int) {
      iterator old = *this;
      ++*this;
      return old;
    }
    // The byte offset of the current code point.
    std::size_t offset() const { return pos_; }
    bool operator==(const iterator& other) const { return pos_ == other.pos_; }

   private:
    void load() {
      if (pos_ < text_.size()) current_ = decode_at(text_, pos_);
    }
    std::string_view text_;
    std::size_t pos_ = 0;
    CodePoint current_{0, 0, true};
  };
  iterator begin() const { return {text_, 0}; }
  iterator end() const { return {text_, text_.size()}; }

 private:
  std::string_view text_;
};

// True if `text` is valid UTF-8.
bool valid_utf8(std::string_view text);

// `text` with each invalid sequence replaced by U+FFFD: for text from
// servers or users that send Latin-1 or broken bytes.
std::string repair_utf8(std::string_view text);

// Appends `cp` encoded as UTF-8 (kReplacement if it is not a scalar value).
void append_utf8(std::string& out, char32_t cp);

// The number of code points (an invalid sequence counts as one).
std::size_t count_code_points(std::string_view text);

// The longest prefix of at most `max_bytes` bytes that does not end inside
// a code point. A valid text gives a valid prefix. An invalid sequence
// counts as a unit of its own, so the result is never empty when
// max_bytes >= 4 and text is not.
std::string_view prefix_bytes(std::string_view text, std::size_t max_bytes);

// The first `n` code points of `text` (all of it if it has no more).
std::string_view prefix_code_points(std::string_view text, std::size_t n);

// `text` cut into consecutive pieces of at most `max_bytes` bytes each,
// never inside a code point; the pieces concatenate to `text`. A code point
// longer than max_bytes (max_bytes < 4) becomes a piece of its own.
// Empty text gives no pieces; max_bytes 0 is treated as 1.
std::vector<std::string_view> split_bytes(std::string_view text, std::size_t max_bytes);

}  // namespace immp::unicode
