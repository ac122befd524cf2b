#include "plugs/xmpp/xmpp_component.hpp"

#include <cstdio>

#include "plugs/xmpp/xmpp_jid.hpp"
#include "text/utf8.hpp"

namespace immp::xmpp {

namespace {

// FNV-1a, 64 bits: short, stable across runs and builds.
std::string short_hash(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return std::string(out, 12);
}

std::string safe(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c - 'A' + 'a');
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
      out += static_cast<char>(c);
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
  }
  return out;
}

}  // namespace

std::string puppet_local_part(std::string_view network, std::string_view user_id) {
  std::string net = safe(network), id = safe(user_id);
  if (net.empty()) net = "net";
  // Lossy (case, punctuation) or long: the hash of the exact id keeps
  // different users apart.
  bool exact = id.size() == user_id.size() && id == std::string(user_id);
  if (id.empty() || !exact || net.size() + id.size() > 50) {
    id = id.substr(0, 30) + (id.empty() ? "" : "-") +
         short_hash(std::string(network) + '\n' + std::string(user_id));
  }
  return net + "." + id;
}

std::string puppet_nick(std::string_view name) {
  std::string clean = unicode::repair_utf8(name);
  std::string out;
  for (char c : clean) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '/') continue;
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  while (!out.empty() && out.front() == ' ') out.erase(0, 1);
  out = std::string(unicode::prefix_code_points(out, 48));
  return out.empty() ? "user" : out;
}

void to_component_namespace(Element& stanza) {
  if (stanza.ns == kNsClient) stanza.ns = std::string(kNsComponent);
  for (auto& c : stanza.children) {
    if (c.ns == kNsClient) to_component_namespace(c);
  }
}

Puppet& Puppets::get(const std::string& room, const std::string& network,
                     const std::string& user_id, const std::string& name) {
  std::string local = puppet_local_part(network, user_id);
  Puppet& p = rooms_[fold_bare(room)][local];
  if (p.jid.empty()) {
    p.jid = local + "@" + domain_ + "/immp";
    p.name = puppet_nick(name);
    p.nick = p.name;
  }
  return p;
}

Puppet* Puppets::by_nick(const std::string& room, std::string_view nick) {
  auto r = rooms_.find(fold_bare(room));
  if (r == rooms_.end()) return nullptr;
  for (auto& [key, p] : r->second) {
    if (p.state != Puppet::State::out && (p.nick == nick || (!p.old_nick.empty() && p.old_nick == nick)))
      return &p;
  }
  return nullptr;
}

Puppet* Puppets::by_jid(const std::string& room, std::string_view jid) {
  auto r = rooms_.find(fold_bare(room));
  if (r == rooms_.end()) return nullptr;
  std::string local(local_part(jid));
  auto it = r->second.find(local);
  return it == r->second.end() ? nullptr : &it->second;
}

std::vector<Puppet*> Puppets::present(const std::string& room) {
  std::vector<Puppet*> out;
  auto r = rooms_.find(fold_bare(room));
  if (r == rooms_.end()) return out;
  for (auto& [key, p] : r->second) {
    if (p.state == Puppet::State::joined || p.state == Puppet::State::joining) out.push_back(&p);
  }
  return out;
}

void Puppets::all_out() {
  for (auto& [room, puppets] : rooms_) {
    for (auto& [key, p] : puppets) p.leave();
  }
}

bool Puppets::is_ours(std::string_view jid) const {
  return fold_bare(domain_part(jid)) == fold_bare(domain_);
}

}  // namespace immp::xmpp
