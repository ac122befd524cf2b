// JIDs as strings (RFC 7622): "local@domain/resource". No stringprep: the
// server's spelling is kept, and comparisons are of what the server sent.
#pragma once

#include <string>
#include <string_view>

namespace immp::xmpp {

// "room@muc.example/nick" -> "room@muc.example".
inline std::string_view bare(std::string_view jid) {
  auto slash = jid.find('/');
  return slash == std::string_view::npos ? jid : jid.substr(0, slash);
}

// "room@muc.example/nick" -> "nick"; empty without a resource.
inline std::string_view resource(std::string_view jid) {
  auto slash = jid.find('/');
  return slash == std::string_view::npos ? std::string_view() : jid.substr(slash + 1);
}

// "user@example.org/res" -> "user"; empty for a domain JID.
inline std::string_view local_part(std::string_view jid) {
  auto b = bare(jid);
  auto at = b.find('@');
  return at == std::string_view::npos ? std::string_view() : b.substr(0, at);
}

// "user@example.org/res" -> "example.org".
inline std::string_view domain_part(std::string_view jid) {
  auto b = bare(jid);
  auto at = b.find('@');
  return at == std::string_view::npos ? b : b.substr(at + 1);
}

// The bare JID as servers compare it, for lookups: local part and domain
// in lower case (ASCII; servers fold the rest with stringprep as well).
// "Lobby@Conference.Example/Nick" -> "lobby@conference.example".
inline std::string fold_bare(std::string_view jid) {
  std::string out(bare(jid));
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace immp::xmpp
