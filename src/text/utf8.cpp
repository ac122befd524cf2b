#include "text/utf8.hpp"

#include <algorithm>
#include <cstdint>

// Only the header-only macros of ICU: this file needs no ICU library, so
// the IRC fuzz target can compile it on its own.
#include <unicode/utf8.h>

namespace immp::unicode {

CodePoint decode_at(std::string_view text, std::size_t pos) {
  const auto* s = reinterpret_cast<const std::uint8_t*>(text.data());
  auto b = s[pos];
  if (b < 0x80) return {b, 1, true};
  // U8_NEXT works on int32_t offsets: look at no more than the 4 bytes a
  // sequence can have, so long strings do not overflow it.
  std::int32_t length = static_cast<std::int32_t>(std::min<std::size_t>(text.size() - pos, 4));
  std::int32_t i = 0;
  UChar32 c;
  U8_NEXT(s + pos, i, length, c);
  if (c < 0) return {kReplacement, static_cast<std::size_t>(i), false};
  return {static_cast<char32_t>(c), static_cast<std::size_t>(i), true};
}

bool valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    // An ASCII run is the common case: skip it without decoding.
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    CodePoint cp = decode_at(text, i);
    if (!cp.valid) return false;
    i += cp.size;
  }
  return true;
}

std::string repair_utf8(std::string_view text) {
  if (valid_utf8(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  for (std::size_t i = 0; i < text.size();) {
    CodePoint cp = decode_at(text, i);
    if (cp.valid) {
      out.append(text.substr(i, cp.size));
    } else {
      out.append(kReplacementUtf8);
    }
    i += cp.size;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = kReplacement;
  char buf[4];
  std::int32_t n = 0;
  [[maybe_unused]] UBool error = false;
  U8_APPEND(reinterpret_cast<std::uint8_t*>(buf), n, 4, static_cast<UChar32>(cp), error);
  out.append(buf, static_cast<std::size_t>(n));
}

std::size_t count_code_points(std::string_view text) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < text.size(); ++n) i += decode_at(text, i).size;
  return n;
}

std::string_view prefix_bytes(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t end = 0;
  while (end < text.size()) {
    std::size_t size = decode_at(text, end).size;
    if (end + size > max_bytes) break;
    end += size;
  }
  return text.substr(0, end);
}

std::string_view prefix_code_points(std::string_view text, std::size_t n) {
  std::size_t end = 0;
  for (std::size_t k = 0; k < n && end < text.size(); ++k) end += decode_at(text, end).size;
  return text.substr(0, end);
}

std::vector<std::string_view> split_bytes(std::string_view text, std::size_t max_bytes) {
  if (max_bytes == 0) max_bytes = 1;
  std::vector<std::string_view> pieces;
  while (!text.empty()) {
    std::string_view piece = prefix_bytes(text, max_bytes);
    // A code point longer than the budget goes out whole rather than cut.
    if (piece.empty()) piece = text.substr(0, decode_at(text, 0).size);
    pieces.push_back(piece);
    text.remove_prefix(piece.size());
  }
  return pieces;
}

}  // namespace immp::unicode
