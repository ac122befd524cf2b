// PatternSet: many regular expressions matched against one text in one
// pass. The patterns are compiled once into an RE2::Set (a DFA over all
// of them), so a text that matches none costs about the same with 1,000
// patterns as with one. A pattern RE2 refuses (a Python look-ahead or
// back-reference from an IMMP config) is kept on its own through
// std::regex (ECMAScript, which has both) and tried separately.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace immp::hooks {

class PatternSet {
 public:
  // Why a pattern is not in the set: compiled by the fallback engine
  // (`fallback`), or by neither (it never matches).
  struct Problem {
    std::size_t index = 0;
    std::string pattern;
    std::string error;           // RE2's complaint
    bool fallback = false;       // std::regex took it
    std::string fallback_error;  // std::regex's complaint, when it did not
  };

  // Compiles `patterns` (Python `re` syntax, as IMMP configs have them).
  // `ignore_case` as Python's re.I.
  explicit PatternSet(const std::vector<std::string>& patterns, bool ignore_case = true);
  ~PatternSet();
  PatternSet(PatternSet&&) noexcept;
  PatternSet& operator=(PatternSet&&) noexcept;

  std::size_t size() const;
  // The indices of the patterns found anywhere in `text`, ascending, into
  // `out` (cleared first).
  void match(std::string_view text, std::vector<std::size_t>& out) const;
  // The groups of pattern `i`'s first match in `text`: [0] is the whole
  // match, then each group ("" for one that took no part); nullopt when it
  // does not match.
  std::optional<std::vector<std::string>> groups(std::size_t i, std::string_view text) const;
  // `text` with every match of pattern `i` replaced by `replacement`, in
  // which \1 .. \9 and \g<N> stand for groups (Python's re.sub).
  std::string replace(std::size_t i, std::string_view text, std::string_view replacement) const;
  const std::vector<Problem>& problems() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Python's str.format with positional arguments only: "{}" takes the next
// argument, "{0}" a given one, "{{" and "}}" are braces. A field naming an
// argument that does not exist is left as written.
std::string format_positional(std::string_view format, const std::vector<std::string>& args);

}  // namespace immp::hooks
