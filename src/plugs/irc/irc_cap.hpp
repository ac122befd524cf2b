// IRCv3 capability negotiation (CAP LS/ACK/NAK/NEW/DEL) and SASL payloads.
// Pure: the connection feeds parsed lines in and sends what comes out.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "plugs/irc/irc_line.hpp"

namespace immp::irc {

// The capabilities we ask for when the server offers them. "sasl" is asked
// for only when SASL is configured.
inline constexpr std::string_view kWantedCaps[] = {
    "message-tags", "server-time", "echo-message", "account-tag", "multi-prefix",
    "away-notify",  "batch",       "userhost-in-names", "cap-notify"};

// One CAP reply: "CAP <nick> <sub> [*] :<list>".
struct CapReply {
  std::string sub;                           // LS, ACK, NAK, NEW, DEL, LIST (upper case)
  std::map<std::string, std::string> caps;   // name -> value ("" when none); "-name" in ACK
  bool more = false;                         // a "*" before the list: more lines follow
};

// The CAP reply in `line`, nullopt if it is not a well-formed CAP reply.
std::optional<CapReply> parse_cap(const Line& line);

// What to CAP REQ from what the server offered.
std::vector<std::string> choose_caps(const std::map<std::string, std::string>& offered,
                                     bool want_sasl);

// The caps named in `reply` joined by spaces, for logs.
std::string cap_names(const std::map<std::string, std::string>& caps);

// The mechanisms a "sasl=PLAIN,EXTERNAL" value lists; empty value: unknown.
std::set<std::string> sasl_mechanisms(std::string_view value);

// The parameters of the AUTHENTICATE lines that carry `payload`: base64 in
// chunks of 400 bytes, then "+" when the last chunk was exactly 400 bytes
// long (or the payload was empty), as the IRCv3 SASL spec requires.
std::vector<std::string> sasl_chunks(std::string_view payload);

// PLAIN's payload: authzid NUL authcid NUL password, with authzid empty.
std::string sasl_plain_payload(std::string_view username, std::string_view password);

std::string base64(std::string_view data);

}  // namespace immp::irc
