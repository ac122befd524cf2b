#include "hooks/web/http_simple.hpp"

#include <array>
#include <cstdint>
#include <utility>

namespace immp::web {

namespace {

// More fields than this are left to Beast (and the server's own count).
constexpr std::size_t kMaxFields = 32;

// What each byte may be: a table, since the loops below look at every
// byte of the head (comparison chains cost twice as much).
constexpr unsigned char kName = 1;    // in a field name: letters, digits, '-', '_'
constexpr unsigned char kValue = 2;   // in a field value: visible ASCII, space, tab
constexpr unsigned char kTarget = 4;  // in the target: visible ASCII
constexpr unsigned char kMethod = 8;  // in the method: capitals

constexpr std::array<unsigned char, 256> make_classes() {
  std::array<unsigned char, 256> t{};
  for (int c = 0x21; c <= 0x7e; ++c) t[c] |= kValue | kTarget;
  t[' '] |= kValue;
  t['\t'] |= kValue;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] |= kName | kMethod;
  for (int c = 'a'; c <= 'z'; ++c) t[c] |= kName;
  for (int c = '0'; c <= '9'; ++c) t[c] |= kName;
  t['-'] |= kName;
  t['_'] |= kName;
  return t;
}
constexpr std::array<unsigned char, 256> kClasses = make_classes();

bool is(char c, unsigned char what) {
  return (kClasses[static_cast<unsigned char>(c)] & what) != 0;
}

bool is_space(char c) { return c == ' ' || c == '\t'; }

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

// `a` in any case equals `lower`, which is lower case.
bool iequals(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != lower[i]) return false;
  }
  return true;
}

}  // namespace

std::size_t parse_simple_request(std::string_view in, const Limits& limits, Request& request,
                                 SimpleHead& head) {
  // The whole head, well within the header limit: the limit's own
  // boundary is Beast's to judge.
  std::size_t end = in.substr(0, limits.max_header_bytes).find("\r\n\r\n");
  if (end == std::string_view::npos) return 0;
  const std::size_t head_size = end + 4;
  if (head_size + 8 > limits.max_header_bytes) return 0;
  // From here on in[i] for i <= end + 3 is in bounds, and every loop stops
  // at the '\r' at `end` at the latest.

  // Request line: METHOD SP /target SP HTTP/1.x CRLF
  std::size_t i = 0;
  while (is(in[i], kMethod)) ++i;
  if (i == 0 || in[i] != ' ') return 0;
  const std::string_view method = in.substr(0, i);
  ++i;
  if (in[i] != '/') return 0;
  const std::size_t target_start = i;
  while (is(in[i], kTarget)) ++i;
  if (in[i] != ' ') return 0;
  const std::string_view target = in.substr(target_start, i - target_start);
  ++i;
  unsigned version;
  std::string_view proto = in.substr(i, 10);
  if (proto == "HTTP/1.1\r\n") {
    version = 11;
  } else if (proto == "HTTP/1.0\r\n") {
    version = 10;
  } else {
    return 0;
  }
  i += 10;

  // Fields: name ":" OWS value OWS CRLF, up to the empty line at end + 2.
  std::array<std::pair<std::string_view, std::string_view>, kMaxFields> fields;
  std::size_t count = 0;
  bool has_length = false;
  bool has_connection = false;
  bool close = false;
  bool keep = false;
  std::uint64_t length = 0;
  while (i < end + 2) {
    const std::size_t name_start = i;
    while (is(in[i], kName)) ++i;
    if (i == name_start || in[i] != ':') return 0;
    const std::string_view name = in.substr(name_start, i - name_start);
    ++i;
    while (is_space(in[i])) ++i;
    const std::size_t value_start = i;
    while (is(in[i], kValue)) ++i;
    if (in[i] != '\r' || in[i + 1] != '\n') return 0;
    std::size_t value_end = i;
    while (value_end > value_start && is_space(in[value_end - 1])) --value_end;
    if (value_end == value_start) return 0;
    const std::string_view value = in.substr(value_start, value_end - value_start);
    i += 2;
    if (count == kMaxFields) return 0;
    fields[count++] = {name, value};

    // The fields Beast's parser reads itself.
    if (iequals(name, "content-length")) {
      // Plain digits, no leading zero, at most 9 of them, once.
      if (has_length || value.size() > 9 || (value.size() > 1 && value[0] == '0')) return 0;
      for (char c : value) {
        if (c < '0' || c > '9') return 0;
        length = length * 10 + static_cast<unsigned>(c - '0');
      }
      has_length = true;
    } else if (iequals(name, "connection")) {
      if (has_connection) return 0;
      has_connection = true;
      if (iequals(value, "close")) {
        close = true;
      } else if (iequals(value, "keep-alive")) {
        keep = true;
      } else {
        return 0;
      }
    } else if (iequals(name, "transfer-encoding") || iequals(name, "upgrade") ||
               iequals(name, "proxy-connection")) {
      return 0;
    }
  }

  if (length > limits.max_body) return 0;
  const std::size_t total = head_size + static_cast<std::size_t>(length);
  if (in.size() < total) return 0;

  request.method.assign(method);
  request.target.assign(target);
  // Into the strings a recycled Request already has (see recycle()): the
  // same fields as the connection's last request cost no allocation.
  request.headers.resize(count);
  for (std::size_t f = 0; f < count; ++f) {
    request.headers[f].first.assign(fields[f].first);
    request.headers[f].second.assign(fields[f].second);
  }
  request.body.assign(in.data() + head_size, static_cast<std::size_t>(length));
  head.version = version;
  head.keep_alive = version == 11 ? !close : keep;
  head.fields = count;
  return total;
}

}  // namespace immp::web
