// LineSplitter: JSON lines off a byte stream, each bounded, so that a peer
// that never sends a newline cannot make the host buffer without end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace immp::operators {

class LineSplitter {
 public:
  // Lines longer than `limit` bytes (without the newline) are skipped up to
  // their newline and reported once as too long.
  explicit LineSplitter(std::size_t limit) : limit_(limit) {}

  struct Line {
    std::string_view text;  // valid until the next append() or next()
    std::uint64_t number = 0;  // 1-based, counting skipped lines too
    bool too_long = false;     // `text` is empty: the line was dropped
  };

  void append(std::string_view bytes);
  // The next complete line, if any.
  std::optional<Line> next();

 private:
  std::size_t limit_;
  std::string buffer_;
  std::size_t start_ = 0;  // first byte not yet handed out
  std::size_t scan_ = 0;   // where the search for '\n' resumes
  bool skipping_ = false;  // inside a line that was too long
  std::uint64_t number_ = 0;
};

}  // namespace immp::operators
