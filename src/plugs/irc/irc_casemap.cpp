#include "plugs/irc/irc_casemap.hpp"

namespace immp::irc {

namespace {

char fold_char(char c, CaseMapping mapping) {
  if (c >= 'A' && c <= 'Z') return static_cast<char>(c - 'A' + 'a');
  if (mapping == CaseMapping::ascii) return c;
  switch (c) {
    case '[': return '{';
    case ']': return '}';
    case '\\': return '|';
    case '~': return mapping == CaseMapping::rfc1459 ? '^' : c;
    default: return c;
  }
}

}  // namespace

std::optional<CaseMapping> parse_casemapping(std::string_view token) {
  if (token == "rfc1459") return CaseMapping::rfc1459;
  if (token == "strict-rfc1459") return CaseMapping::strict_rfc1459;
  if (token == "ascii") return CaseMapping::ascii;
  return std::nullopt;
}

std::string fold(std::string_view text, CaseMapping mapping) {
  std::string out;
  fold_into(out, text, mapping);
  return out;
}

void fold_into(std::string& out, std::string_view text, CaseMapping mapping) {
  out.assign(text);
  for (char& c : out) c = fold_char(c, mapping);
}

bool same_name(std::string_view a, std::string_view b, CaseMapping mapping) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (fold_char(a[i], mapping) != fold_char(b[i], mapping)) return false;
  }
  return true;
}

}  // namespace immp::irc
