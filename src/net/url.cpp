#include "net/url.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <cctype>

namespace immp::net {

Url parse_url(std::string_view text) {
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed)
    throw std::invalid_argument("\"" + std::string(text) + "\" is not a URL (" +
                                parsed.error().message() + ")");
  boost::urls::url_view u = *parsed;
  Url out;
  for (char c : u.scheme())
    out.scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (out.scheme != "http" && out.scheme != "https" && out.scheme != "ws" && out.scheme != "wss")
    throw std::invalid_argument("\"" + std::string(text) +
                                "\" is not an http, https, ws or wss URL");
  out.host = u.host_address();
  if (out.host.empty()) throw std::invalid_argument("\"" + std::string(text) + "\" has no host");
  if (u.has_userinfo())
    throw std::invalid_argument("\"" + std::string(text) +
                                "\" carries a user name: give credentials in headers instead");
  out.port = u.has_port() ? std::string(u.port()) : out.tls() ? "443" : "80";
  out.authority = u.encoded_host_and_port();
  out.target = u.encoded_path();
  if (out.target.empty()) out.target = "/";
  if (u.has_query()) out.target += "?" + std::string(u.encoded_query());
  return out;
}

std::string resolve_url(std::string_view base, std::string_view location) {
  auto b = boost::urls::parse_uri(base);
  auto ref = boost::urls::parse_uri_reference(location);
  if (!b || !ref)
    throw std::invalid_argument("cannot follow \"" + std::string(location) + "\" from " +
                                std::string(base));
  boost::urls::url dest(*b);
  auto r = dest.resolve(*ref);
  if (!r)
    throw std::invalid_argument("cannot follow \"" + std::string(location) + "\" from " +
                                std::string(base) + ": " + r.error().message());
  dest.remove_fragment();
  return std::string(dest.buffer());
}

}  // namespace immp::net
