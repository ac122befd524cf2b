// XEP-0114 component mode of the XMPP plug: the plug is an external
// component ("bridge.example.org") and every bridged user who speaks in a
// room is an occupant of their own there, a "puppet" with its own JID under
// the component's domain and the user's name as nick, as IRC puppets are.
// The plug itself is one more occupant (immp@bridge.example.org/immp), the
// one that reads the room.
//
// This file holds what is specific to that mode and needs no link: naming
// puppets, and keeping their state per room. The plug drives the joins.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "plugs/xmpp/xmpp_xml.hpp"

namespace immp::xmpp {

// The local part of the JID that stands for user `user_id` of network
// `network` (a plug's name): lower-case a-z, 0-9, '.', '-' and '_' only
// (any server takes it), stable for the same user, at most 64 bytes (a
// hash keeps long or foreign ids apart). Never "immp", the plug's own.
std::string puppet_local_part(std::string_view network, std::string_view user_id);

// A user's name as a nick rooms take: control characters and '/' dropped,
// spaces kept, at most 48 code points; "user" when nothing is left.
std::string puppet_nick(std::string_view name);

// Rewrites a stanza built in jabber:client, and each of its children in
// jabber:client, into the component's namespace (XEP-0114 §3).
void to_component_namespace(Element& stanza);

// One bridged user in one room.
struct Puppet {
  enum class State { out, joining, joined, failed };
  std::string jid;   // full JID: local@component/immp
  std::string nick;  // the nick we asked for, or got
  std::string name;  // the name the nick was made from
  // While the user's new name is being taken as the puppet's nick (it is
  // `joining` then): the nick it leaves, which stays ours until the room
  // confirms.
  std::string old_nick;
  int tries = 0;     // nick collisions so far
  State state = State::out;
  std::string error;  // why it failed to join

  // Not in the room (any more): its next message joins again, with the nick
  // made from its name.
  void leave() {
    state = State::out;
    tries = 0;
    nick = name;
    old_nick.clear();
  }
};

// The puppets of every room. Rooms by xmpp::fold_bare, users by their key
// (network and id). Puppet references stay valid until forget().
class Puppets {
 public:
  explicit Puppets(std::string domain) : domain_(std::move(domain)) {}

  // The puppet of `key` in `room`, made (out of the room) on first use.
  Puppet& get(const std::string& room, const std::string& network, const std::string& user_id,
              const std::string& name);
  // The puppet in `room` whose nick is `nick` / whose JID is `jid`; null if none.
  Puppet* by_nick(const std::string& room, std::string_view nick);
  Puppet* by_jid(const std::string& room, std::string_view jid);
  // Every puppet of `room` that is in it or joining.
  std::vector<Puppet*> present(const std::string& room);
  // After a new stream: nobody is in any room any more.
  void all_out();
  // Whether `jid` (full or bare) is one of ours under the component.
  bool is_ours(std::string_view jid) const;

 private:
  std::string domain_;
  std::map<std::string, std::map<std::string, Puppet>> rooms_;  // room -> key -> puppet
};

}  // namespace immp::xmpp
