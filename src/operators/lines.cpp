#include "operators/lines.hpp"

namespace immp::operators {

void LineSplitter::append(std::string_view bytes) {
  // Compact only what was handed out: the views of the last lines die here.
  if (start_ > 0) {
    buffer_.erase(0, start_);
    scan_ -= start_;
    start_ = 0;
  }
  buffer_.append(bytes);
}

std::optional<LineSplitter::Line> LineSplitter::next() {
  for (;;) {
    std::size_t nl = buffer_.find('\n', scan_);
    if (nl == std::string::npos) {
      scan_ = buffer_.size();
      if (!skipping_ && buffer_.size() - start_ > limit_) {
        // Report it now, drop what came, and skip the rest of it.
        skipping_ = true;
        buffer_.clear();
        start_ = scan_ = 0;
        return Line{{}, ++number_, true};
      }
      if (skipping_) {
        buffer_.clear();
        start_ = scan_ = 0;
      }
      return std::nullopt;
    }
    std::size_t begin = start_;
    start_ = scan_ = nl + 1;
    if (skipping_) {
      skipping_ = false;  // the end of the long line: already reported
      continue;
    }
    std::string_view text(buffer_.data() + begin, nl - begin);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (text.size() > limit_) return Line{{}, ++number_, true};
    return Line{text, ++number_, false};
  }
}

}  // namespace immp::operators
