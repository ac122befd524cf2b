#include "bus_nats/subject.hpp"

namespace immp::bus_nats {

namespace {

bool plain_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;  // lower case is never made, so never read: one spelling per name
}

}  // namespace

std::string escape_token(std::string_view name) {
  if (name.empty()) return "%";
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(name.size());
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (plain_char(c)) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::optional<std::string> unescape_token(std::string_view token) {
  if (token == "%") return std::string();
  if (token.empty()) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < token.size(); ++i) {
    auto c = static_cast<unsigned char>(token[i]);
    if (plain_char(c)) {
      out += token[i];
      continue;
    }
    if (c != '%' || i + 2 >= token.size()) return std::nullopt;
    int hi = hex_value(token[i + 1]);
    int lo = hex_value(token[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string Subjects::event(const Channel& channel, bus::Kind kind) const {
  std::string s = root;
  s += '.';
  s += prefix;
  s += '.';
  s += escape_token(channel.handle ? channel.handle->name() : std::string());
  s += '.';
  s += escape_token(channel.source);
  s += '.';
  s += bus::kind_name(kind);
  return s;
}

std::string Subjects::channel_events(std::string_view other, std::string_view plug,
                                     std::string_view source) const {
  return root + "." + escape_token(other) + "." + escape_token(plug) + "." + escape_token(source) +
         ".*";
}

std::string Subjects::stream() const { return root + "." + prefix + ".*.*.*"; }

std::string Subjects::send() const { return root + "." + prefix + ".send"; }

std::optional<RemoteChannel> parse_remote(std::string_view text) {
  auto first = text.find('/');
  if (first == std::string_view::npos || first == 0) return std::nullopt;
  auto second = text.find('/', first + 1);
  if (second == std::string_view::npos || second == first + 1 || second + 1 >= text.size()) {
    return std::nullopt;
  }
  return RemoteChannel{std::string(text.substr(0, first)),
                       std::string(text.substr(first + 1, second - first - 1)),
                       std::string(text.substr(second + 1))};
}

std::string js_name(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (!plain_char(static_cast<unsigned char>(c))) c = '_';
  }
  return out;
}

}  // namespace immp::bus_nats
