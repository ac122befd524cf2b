// The parts of an http(s) or ws(s) URL a client connects with.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace immp::net {

struct Url {
  std::string scheme;     // http, https, ws or wss (lowercase)
  std::string host;       // for the resolver: no brackets around IPv6
  std::string port;       // always set: the scheme's default when absent
  std::string target;     // path and query, at least "/"
  std::string authority;  // for the Host header: host[:port] as written

  bool tls() const { return scheme == "https" || scheme == "wss"; }
  // scheme://host:port, the key of a connection pool.
  std::string origin() const { return scheme + "://" + host + ":" + port; }
};

// Throws std::invalid_argument with a sentence naming `text` when it is not
// an absolute http, https, ws or wss URL with a host.
Url parse_url(std::string_view text);

// `location` (absolute, or relative as a Location header may be) resolved
// against `base`. Throws std::invalid_argument when it is not a URL.
std::string resolve_url(std::string_view base, std::string_view location);

}  // namespace immp::net
