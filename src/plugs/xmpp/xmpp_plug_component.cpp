// XMPPPlug in component mode (XEP-0114): the puppets' joins, and the
// stanzas rooms send them. The naming and state of puppets is
// xmpp_component.hpp's; the rest of the plug is the same in both modes.
#include "plugs/xmpp/xmpp_plug.hpp"

#include <utility>

#include <boost/asio/steady_timer.hpp>

#include "immp/host.hpp"

#include "plugs/xmpp/xmpp_jid.hpp"

// GCC 12 at -O2 reports -Wmismatched-new-delete for coroutine frames that
// Asio's awaitable_frame_base allocates and frees itself: a false warning.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace immp::plugs {

namespace {

constexpr std::string_view kNsMuc = "http://jabber.org/protocol/muc";
constexpr std::string_view kNsMucUser = "http://jabber.org/protocol/muc#user";

bool self_presence(const xmpp::Element& p) {
  const xmpp::Element* x = p.child("x", kNsMucUser);
  if (!x) return false;
  for (const auto* s : x->children_named("status")) {
    if (s->attr("code") == "110") return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> XMPPPlug::puppet_nicks(const std::string& room) const {
  std::vector<std::string> out;
  if (!puppets_) return out;
  for (const auto* p : puppets_->present(room)) {
    if (p->state == xmpp::Puppet::State::joined) out.push_back(p->nick);
  }
  return out;
}

void XMPPPlug::send_puppet_join(const std::string& room, xmpp::Puppet& puppet) {
  puppet.state = xmpp::Puppet::State::joining;
  xmpp::Element p("presence", std::string(xmpp::kNsClient));
  p.set("to", room + "/" + puppet.nick);
  if (!puppet.old_nick.empty()) {
    // In the room already: a presence to the new nick changes it (XEP-0045 §7.6).
    send(std::move(p), puppet.jid);
    return;
  }
  xmpp::Element& x = p.add("x", std::string(kNsMuc));
  x.add("history", std::string(kNsMuc)).set("maxstanzas", "0");
  if (Room* r = find_room(room); r && !r->password.empty()) {
    x.add("password", std::string(kNsMuc), r->password);
  }
  send(std::move(p), puppet.jid);
}

Task<const xmpp::Puppet*> XMPPPlug::puppet_for(const std::string& source, const User& user) {
  Plug* network = user.plug();
  std::string id = user.id.empty() ? user.display_name() : user.id;
  xmpp::Puppet& puppet =
      puppets_->get(source, network ? network->name() : "user", id, user.display_name());
  // The user's name changed since the puppet took its nick (a renamed
  // account; an IRC nick change is a new user, as IRC ids hold the nick):
  // the puppet follows, as the user would, before it speaks.
  std::string wanted = xmpp::puppet_nick(user.display_name());
  if (puppet.state == xmpp::Puppet::State::joined && wanted != puppet.name) {
    log()->debug("{} in {}: {} is now known as {}", puppet.jid, source, puppet.nick, wanted);
    puppet.old_nick = puppet.nick;
    puppet.name = wanted;
    puppet.nick = wanted;
    puppet.tries = 0;
    send_puppet_join(source, puppet);
  }
  if (puppet.state == xmpp::Puppet::State::joined) co_return &puppet;
  if (puppet.state == xmpp::Puppet::State::failed) co_return nullptr;
  auto stream = stream_;
  if (puppet.state == xmpp::Puppet::State::out) {
    puppet.name = wanted;
    puppet.nick = wanted;
    log()->debug("{} joins {} as {}", puppet.jid, source, puppet.nick);
    send_puppet_join(source, puppet);
  }
  asio::steady_timer bound(host().executor(), confirm_timeout_);
  auto expired = std::make_shared<bool>(false);
  bound.async_wait(
      [this, expired, alive = std::weak_ptr<bool>(alive_)](boost::system::error_code ec) {
        if (ec || alive.expired()) return;
        *expired = true;
        progress_.notify();
      });
  while (puppet.state == xmpp::Puppet::State::joining && !*expired && stream_ == stream &&
         connected()) {
    co_await progress_.wait();
  }
  bound.cancel();
  if (puppet.state == xmpp::Puppet::State::joined) co_return &puppet;
  if (puppet.state == xmpp::Puppet::State::failed) {
    log()->warn("{} cannot join {} as {} ({}): their messages go from {} instead", puppet.jid,
                source, puppet.nick, puppet.error, self_jid_);
    co_return nullptr;
  }
  // Neither in nor refused: the link went, or the room is slow. Asked again
  // when the message is retried.
  puppet.leave();
  throw std::runtime_error(puppet.jid + " did not join " + source + " in time");
}

void XMPPPlug::on_puppet_stanza(const xmpp::Element& s) {
  std::string from(s.attr("from"));
  std::string to(s.attr("to"));
  std::string room_jid(xmpp::bare(from));
  if (s.name == "message") {
    // A room refusing what a puppet sent fails the put() that waits (the
    // reflections and everyone's messages come to our own occupant too).
    if (s.attr("type") == "error") {
      // Refused because the puppet is no longer an occupant (removed
      // silently, as when the room was recreated while our link stayed
      // up; XEP-0410's conditions): it joins again, and the message is
      // retried by its outbox instead of being dropped as refused.
      const xmpp::Element* e = s.child("error");
      Room* room = find_room(room_jid);
      xmpp::Puppet* puppet = room ? puppets_->by_jid(room->jid, to) : nullptr;
      if (puppet && e && (e->child("not-acceptable") || e->child("item-not-found"))) {
        log()->warn("{} is no longer in {} ({}): it joins again", puppet->jid, room->jid,
                    e->child("not-acceptable") ? "not-acceptable" : "item-not-found");
        puppet->leave();
        on_message(s, /*retry=*/true);
        return;
      }
      on_message(s);
      return;
    }
    // Someone wrote to a bridged user privately (a chat to the puppet's
    // JID, or a private message through the room): nothing carries it to
    // the user's network, so the sender is told at once rather than left
    // waiting for an answer. Chat states and receipts (no body) are not
    // answered, nor is anything from our own domain. The condition is
    // feature-not-implemented: rooms (Prosody, ejabberd) kick an occupant
    // that answers a private message with service-unavailable and the
    // other "ghost" conditions.
    if (!s.child("body") || puppets_->is_ours(from) ||
        (room_jid != from && find_room(room_jid) && puppets_->by_nick(room_jid, xmpp::resource(from)))) {
      return;
    }
    log()->info("{} wrote privately to the bridged user {}: refused", from, to);
    xmpp::Element answer("message", std::string(xmpp::kNsClient));
    answer.set("type", "error").set("to", from);
    if (s.has_attr("id")) answer.set("id", std::string(s.attr("id")));
    xmpp::Element& e = answer.add("error", std::string(xmpp::kNsClient));
    e.set("type", "cancel");
    e.add("feature-not-implemented", std::string(xmpp::kNsStanzas));
    e.add("text", std::string(xmpp::kNsStanzas),
          "This user is bridged from another network: private messages do not reach them.");
    send(std::move(answer), to);
    return;
  }
  if (s.name == "iq") {
    // Answered from the puppet: a ping (a room checking on it) as present,
    // anything else as not served.
    auto type = s.attr("type");
    if (type != "get" && type != "set") return;
    xmpp::Element answer("iq", std::string(xmpp::kNsClient));
    answer.set("id", std::string(s.attr("id"))).set("to", from);
    if (s.child("ping", xmpp::kNsPing)) {
      answer.set("type", "result");
    } else {
      answer.set("type", "error");
      xmpp::Element& e = answer.add("error", std::string(xmpp::kNsClient));
      e.set("type", "cancel");
      e.add("feature-not-implemented", std::string(xmpp::kNsStanzas));
    }
    send(std::move(answer), to);
    return;
  }
  if (s.name != "presence") return;
  Room* room = find_room(room_jid);
  xmpp::Puppet* puppet = room ? puppets_->by_jid(room->jid, to) : nullptr;
  if (!puppet) return;
  auto type = s.attr("type");
  if (type == "error") {
    const xmpp::Element* e = s.child("error");
    if (puppet->state == xmpp::Puppet::State::joining && e && e->child("conflict") &&
        puppet->tries < 5) {
      // The nick is someone else's: a suffix, as for our own.
      ++puppet->tries;
      puppet->nick = puppet->name + std::string(static_cast<std::size_t>(puppet->tries), '_');
      send_puppet_join(room->jid, *puppet);
      return;
    }
    puppet->error = "refused";
    if (e) {
      for (const auto& c : e->children) {
        if (c.ns == xmpp::kNsStanzas && c.name != "text") puppet->error = c.name;
      }
    }
    if (!puppet->old_nick.empty()) {
      // The new nick was refused; the old one is still the puppet's.
      log()->info("{} keeps the nick {} in {}: {} was refused ({})", puppet->jid,
                  puppet->old_nick, room->jid, puppet->nick, puppet->error);
      puppet->nick = std::exchange(puppet->old_nick, {});
      puppet->state = xmpp::Puppet::State::joined;
      progress_.notify();
      return;
    }
    puppet->state = xmpp::Puppet::State::failed;
    progress_.notify();
    return;
  }
  if (!self_presence(s)) return;  // the room's other occupants, as this puppet sees them
  if (type == "unavailable") {
    const xmpp::Element* x = s.child("x", kNsMucUser);
    bool renamed = false;
    for (const auto* st : x->children_named("status")) renamed |= st->attr("code") == "303";
    if (renamed) return;  // leaving the old nick for the new one: still in
    // Kicked, or the room went: joins again with its next message.
    puppet->leave();
    return;
  }
  puppet->nick = std::string(xmpp::resource(from));
  puppet->old_nick.clear();
  puppet->state = xmpp::Puppet::State::joined;
  progress_.notify();
}

}  // namespace immp::plugs
