#include "plugs/irc/irc_cap.hpp"

#include <algorithm>
#include <cctype>

namespace immp::irc {

std::optional<CapReply> parse_cap(const Line& line) {
  // CAP <target> <sub> [*] :<caps>; the target is our nick or "*".
  if (line.command != "CAP" || line.params.size() < 2) return std::nullopt;
  CapReply reply;
  reply.sub = line.params[1];
  std::transform(reply.sub.begin(), reply.sub.end(), reply.sub.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  std::string_view list;
  if (line.params.size() >= 4 && line.params[2] == "*") {
    reply.more = true;
    list = line.params[3];
  } else if (line.params.size() >= 3) {
    list = line.params[2];
  }
  std::size_t pos = 0;
  while (pos < list.size()) {
    std::size_t end = list.find(' ', pos);
    if (end == std::string_view::npos) end = list.size();
    std::string_view item = list.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty()) continue;
    std::size_t eq = item.find('=');
    std::string name(item.substr(0, eq));
    std::string value = eq == std::string_view::npos ? "" : std::string(item.substr(eq + 1));
    reply.caps[name] = value;
  }
  return reply;
}

std::vector<std::string> choose_caps(const std::map<std::string, std::string>& offered,
                                     bool want_sasl) {
  std::vector<std::string> out;
  for (std::string_view cap : kWantedCaps) {
    if (offered.count(std::string(cap))) out.emplace_back(cap);
  }
  if (want_sasl && offered.count("sasl")) out.emplace_back("sasl");
  return out;
}

std::string cap_names(const std::map<std::string, std::string>& caps) {
  std::string out;
  for (const auto& [name, value] : caps) out += (out.empty() ? "" : " ") + name;
  return out;
}

std::set<std::string> sasl_mechanisms(std::string_view value) {
  std::set<std::string> out;
  std::size_t pos = 0;
  while (pos < value.size()) {
    std::size_t end = value.find(',', pos);
    if (end == std::string_view::npos) end = value.size();
    if (end > pos) {
      std::string m(value.substr(pos, end - pos));
      std::transform(m.begin(), m.end(), m.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      out.insert(std::move(m));
    }
    pos = end + 1;
  }
  return out;
}

std::string base64(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(data[i]) << 16) |
                 (static_cast<unsigned char>(data[i + 1]) << 8) |
                 static_cast<unsigned char>(data[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == data.size()) {
    unsigned v = static_cast<unsigned char>(data[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == data.size()) {
    unsigned v = (static_cast<unsigned char>(data[i]) << 16) |
                 (static_cast<unsigned char>(data[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::vector<std::string> sasl_chunks(std::string_view payload) {
  constexpr std::size_t kChunk = 400;
  std::string encoded = base64(payload);
  std::vector<std::string> out;
  for (std::size_t pos = 0; pos < encoded.size(); pos += kChunk) {
    out.push_back(encoded.substr(pos, kChunk));
  }
  if (encoded.empty() || encoded.size() % kChunk == 0) out.emplace_back("+");
  return out;
}

std::string sasl_plain_payload(std::string_view username, std::string_view password) {
  std::string out;
  out.push_back('\0');
  out.append(username);
  out.push_back('\0');
  out.append(password);
  return out;
}

}  // namespace immp::irc
