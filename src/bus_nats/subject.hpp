// NATS subjects of the bus (docs/protocol.md, "NATS"): how a host's
// stream and its send requests are named, so that NATS wildcards work as
// filters.
//
//   <root>.<prefix>.<plug>.<channel>.<kind>   one event of host <prefix>'s stream
//   <root>.<prefix>.send                      send requests to host <prefix>
//
// Every name is one token, escaped by escape_token(): the subject of a
// channel called "#a.b c" is still five tokens, and a channel called "*"
// or ">" is not a wildcard.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "bus/envelope.hpp"
#include "immp/channel.hpp"

namespace immp::bus_nats {

// One subject token for any string: ASCII letters, digits, '-' and '_'
// stay; every other byte is %XX (upper-case hex), '%' included; the empty
// string is "%". Reversible: unescape_token(escape_token(s)) == s.
std::string escape_token(std::string_view name);
// nullopt when `token` is not something escape_token() makes.
std::optional<std::string> unescape_token(std::string_view token);

struct Subjects {
  std::string root = "immp";
  std::string prefix;  // this host's name in subjects (already a token)

  // "immp.alpha.irc.%23lobby.message"
  std::string event(const Channel& channel, bus::Kind kind) const;
  // The same for another host, any kind: "immp.beta.irc.%23lobby.*".
  std::string channel_events(std::string_view prefix, std::string_view plug,
                             std::string_view source) const;
  // "immp.alpha.*.*.*": everything this host's stream carries.
  std::string stream() const;
  // "immp.alpha.send"
  std::string send() const;
};

// A channel of another host as a bridge names it: "beta/irc/#lobby"
// (prefix, plug, then the source, which may itself contain '/').
struct RemoteChannel {
  std::string prefix;
  std::string plug;
  std::string source;
  std::string str() const { return prefix + "/" + plug + "/" + source; }
};
// nullopt unless `text` has a non-empty prefix and plug and a source.
std::optional<RemoteChannel> parse_remote(std::string_view text);

// A name JetStream accepts for streams and consumers: letters, digits,
// '-' and '_'; anything else becomes '_'.
std::string js_name(std::string_view text);

}  // namespace immp::bus_nats
