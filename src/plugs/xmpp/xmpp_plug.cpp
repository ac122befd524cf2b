#include "plugs/xmpp/xmpp_plug.hpp"

#include <algorithm>
#include <ctime>
#include <filesystem>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "immp/backoff.hpp"
#include "immp/host.hpp"
#include "plugs/xmpp/xmpp_jid.hpp"
#include "text/styling.hpp"
#include "text/utf8.hpp"

namespace immp::plugs {

namespace {

using namespace std::chrono_literals;
using xmpp::Element;

constexpr std::string_view kNsMuc = "http://jabber.org/protocol/muc";
constexpr std::string_view kNsMucUser = "http://jabber.org/protocol/muc#user";
constexpr std::string_view kNsSid = "urn:xmpp:sid:0";
constexpr std::string_view kNsCorrect = "urn:xmpp:message-correct:0";
constexpr std::string_view kNsRetract0 = "urn:xmpp:message-retract:0";
constexpr std::string_view kNsRetract1 = "urn:xmpp:message-retract:1";
constexpr std::string_view kNsFasten = "urn:xmpp:fasten:0";
constexpr std::string_view kNsReply = "urn:xmpp:reply:0";
constexpr std::string_view kNsReactions = "urn:xmpp:reactions:0";
constexpr std::string_view kNsFallback = "urn:xmpp:fallback:0";
constexpr std::string_view kNsDelay = "urn:xmpp:delay";
constexpr std::string_view kNsOccupantId = "urn:xmpp:occupant-id:0";
constexpr std::string_view kNsDiscoInfo = "http://jabber.org/protocol/disco#info";
constexpr std::string_view kNsHints = "urn:xmpp:hints";
constexpr std::string_view kNsOob = "jabber:x:oob";
constexpr std::size_t kRemembered = 4096;  // ids kept per channel

std::chrono::milliseconds seconds_of(const Node& n) {
  return std::chrono::milliseconds(static_cast<long>(n.as_double() * 1000));
}

std::string opt(const Node& n, std::string_view key) {
  const Node* v = n.find(key);
  return v && !v->is_null() ? v->as_string() : std::string();
}

// XEP-0082 date and time, UTC, to the second.
std::string xmpp_time(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

bool has_status(const Element& x, std::string_view code) {
  for (const auto* s : x.children_named("status")) {
    if (s->attr("code") == code) return true;
  }
  return false;
}

// The stanza-id the room (or our own server, for chats) gave a message:
// only one whose `by` is `by` counts, as XEP-0359 requires.
std::string stanza_id(const Element& m, std::string_view by) {
  for (const auto* s : m.children_named("stanza-id", kNsSid)) {
    if (s->attr("by") == by) return std::string(s->attr("id"));
  }
  return {};
}

// Code points [start, end) of `text` removed (XEP-0428 fallback ranges).
std::string cut_code_points(const std::string& text, std::size_t start, std::size_t end) {
  std::size_t cp = 0;
  std::size_t from = text.size(), to = text.size();
  for (std::size_t pos = 0; pos <= text.size();) {
    if (cp == start) from = std::min(from, pos);
    if (cp == end) {
      to = pos;
      break;
    }
    if (pos == text.size()) break;
    auto c = unicode::decode_at(text, pos);
    pos += c.size > 0 ? c.size : 1;
    ++cp;
  }
  if (from >= to) return text;
  return text.substr(0, from) + text.substr(to);
}

}  // namespace

SpecPtr XMPPPlug::schema() {
  auto server = object({
      {"host", str(), Node(), "where to connect (default: the JID's domain)"},
      {"port", integer(), Node(),
       "port (default: 5222, or 5223 with tls: direct; 5347 in component mode)"},
      {"tls", str(), Node(),
       "starttls (upgrade before logging in; refused if the server cannot), direct (TLS from "
       "the first byte) or none (loopback tests only; PLAIN is then refused). Default: "
       "starttls; none in component mode"},
      {"verify", boolean(), true, "check the server's certificate and name"},
      {"ca", str(), Node(), "PEM file of trusted certificate authorities (default: the system's)"},
      {"fingerprint", str(), Node(),
       "SHA-256 fingerprint of the server's certificate: trust exactly that one (self-signed)"},
  });
  return object({
      {"jid", str(), required,
       "our account: user@example.org, or user@example.org/resource; in component mode the "
       "component's domain (bridge.example.org)"},
      {"password", str(), required, "the account's password (component mode: its secret)"},
      {"component", boolean(), false,
       "connect as an XEP-0114 external component: every bridged user becomes an occupant of "
       "their own in the rooms"},
      {"server", server, Node::map(), "how to reach the server"},
      {"mechanisms", list_of(str()), Node(),
       "SASL mechanisms in order of preference (default: SCRAM-SHA-256, SCRAM-SHA-1, PLAIN)"},
      {"nick", str(), Node(), "our nick in rooms (default: the JID's local part)"},
      {"passwords", map_of(str()), Node::map(), "room JID -> password, for rooms that have one"},
      {"ping-interval", real(), 60.0, "seconds of silence before we ping the server (XEP-0199)"},
      {"ping-timeout", real(), 30.0, "seconds to wait for its answer before reconnecting"},
      {"self-ping-interval", real(), 120.0,
       "seconds between XEP-0410 self-pings of each room (a silent removal is noticed and the "
       "room rejoined)"},
      {"reconnect-min", real(), 1.0, "first reconnect delay in seconds (doubles each time)"},
      {"reconnect-max", real(), 300.0, "longest reconnect delay in seconds"},
      {"confirm-timeout", real(), 10.0,
       "seconds to wait for a room to reflect a message we sent before retrying it"},
      {"max-stanza", integer(), 262144, "largest stanza we accept from the server, in bytes"},
      {"upload", boolean(), true,
       "upload files that only their own network can serve to the server's HTTP upload "
       "service (XEP-0363), and send the link"},
      {"upload-service", str(), Node(),
       "the upload service's JID (default: found by service discovery)"},
  });
}

XMPPPlug::XMPPPlug(const Init& init)
    : Plug(init),
      attempted_(init.host.executor()),
      progress_(init.host.executor()),
      tasks_(init.host.executor(), log()) {
  const Node& c = config();
  options_ = stream_options();
  component_ = options_.component;
  account_ = component_ ? "immp@" + options_.domain
                        : std::string(xmpp::bare(c.at("jid").as_string()));
  nick_ = opt(c, "nick");
  if (nick_.empty()) nick_ = component_ ? "bridge" : std::string(xmpp::local_part(account_));
  if (component_) puppets_ = std::make_unique<xmpp::Puppets>(options_.domain);
  for (const auto& [room, pw] : c.at("passwords").as_map()) passwords_[room] = pw.as_string();
  reconnect_min_ = seconds_of(c.at("reconnect-min"));
  reconnect_max_ = seconds_of(c.at("reconnect-max"));
  self_ping_interval_ = seconds_of(c.at("self-ping-interval"));
  confirm_timeout_ = seconds_of(c.at("confirm-timeout"));
  if (reconnect_min_.count() <= 0) c.at("reconnect-min").fail("must be more than 0 seconds");
  if (reconnect_max_ < reconnect_min_) c.at("reconnect-max").fail("must be at least reconnect-min");
  if (self_ping_interval_.count() <= 0) c.at("self-ping-interval").fail("must be more than 0");
  if (confirm_timeout_.count() <= 0) c.at("confirm-timeout").fail("must be more than 0 seconds");
  run_ = std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                            Clock::now().time_since_epoch())
                            .count());
  // What a user gets on XMPP: corrections, retractions, replies and
  // reactions are native; formatting is XEP-0393 styling, which is Slack's
  // mrkdwn in all but links (the SDK has no Markup value of its own for it).
  // No length limit is known (servers take 256 KiB stanzas). Files are the
  // plug's own to handle (uploaded, linked, or a stand-in): see put().
  features_.edit = true;
  features_.upload = true;
  features_.remove = true;
  features_.reply = true;
  features_.reaction = true;
  features_.rich = true;
  features_.markup = Markup::mrkdwn;
  set_online(false, "not connected yet");
  net::HttpOptions http;
  // The server's private CA (if any) is trusted for its upload service
  // too; a pinned fingerprint is the XMPP server's, not the web server's.
  http.tls = options_.tls_options;
  http.tls.fingerprint.clear();
  uploader_ = std::make_unique<xmpp::Uploader>(
      init.host.executor(), std::move(http),
      [this](Element request) -> Task<std::optional<Element>> {
        auto answer = co_await iq(std::move(request), 15s);
        co_return answer;
      },
      log(), c.at("upload").as_bool(), opt(c, "upload-service"));
  session_->on_ack = [this, alive = std::weak_ptr<bool>(alive_)] {
    if (!alive.expired()) progress_.notify();
  };
}

XMPPPlug::~XMPPPlug() = default;

xmpp::StreamOptions XMPPPlug::stream_options() const {
  const Node& c = config();
  xmpp::StreamOptions o;
  const std::string jid = c.at("jid").as_string();
  o.component = c.at("component").as_bool();
  if (o.component) {
    if (jid.empty() || jid.find_first_of("@/") != std::string::npos) {
      c.at("jid").fail("'" + jid + "' is not a component's domain (bridge.example.org)");
    }
    o.domain = jid;
    o.secret = c.at("password").as_string();
    o.stream_management = false;
  } else {
    std::string local(xmpp::local_part(jid));
    if (local.empty() || jid.find('@') == std::string::npos) {
      c.at("jid").fail("'" + jid + "' is not an account JID (user@example.org)");
    }
    o.username = local;
    o.domain = std::string(xmpp::domain_part(jid));
    o.resource = std::string(xmpp::resource(jid));
    if (o.resource.empty()) o.resource = "immp";
    o.password = c.at("password").as_string();
  }
  const Node& server = c.at("server");
  o.host = opt(server, "host");
  if (o.host.empty()) o.host = o.domain;
  // XEP-0114 has no STARTTLS: a component's link is plain (on loopback, as
  // servers listen for components) or TLS from the first byte.
  std::string tls = opt(server, "tls");
  if (tls.empty()) tls = o.component ? "none" : "starttls";
  if (o.component && tls == "starttls") {
    server.at("tls").fail("a component's stream has no STARTTLS: none or direct");
  }
  if (tls == "starttls") {
    o.tls = xmpp::TlsMode::starttls;
  } else if (tls == "direct") {
    o.tls = xmpp::TlsMode::direct;
  } else if (tls == "none") {
    o.tls = xmpp::TlsMode::none;
  } else {
    server.at("tls").fail("must be starttls, direct or none");
  }
  o.port = o.component ? 5347 : o.tls == xmpp::TlsMode::direct ? 5223 : 5222;
  if (const Node* p = server.find("port"); p && !p->is_null()) {
    o.port = static_cast<int>(p->as_int());
    if (o.port <= 0 || o.port > 65535) p->fail("not a port number");
  }
  o.tls_options.verify = !server.find("verify") || server.at("verify").as_bool();
  o.tls_options.ca_file = opt(server, "ca");
  if (!o.tls_options.ca_file.empty() &&
      std::filesystem::path(o.tls_options.ca_file).is_relative()) {
    o.tls_options.ca_file = (host().options().base_dir / o.tls_options.ca_file).string();
  }
  o.tls_options.fingerprint = opt(server, "fingerprint");
  if (!o.tls_options.fingerprint.empty()) {
    try {
      net::normalize_fingerprint(o.tls_options.fingerprint);
    } catch (const net::TlsError& e) {
      server.at("fingerprint").fail(e.what());
    }
  }
  if (const Node& m = c.at("mechanisms"); !m.is_null()) {
    o.mechanisms.clear();
    for (const auto& n : m.as_list()) {
      std::string name = n.as_string();
      for (char& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      auto mech = xmpp::parse_mechanism(name);
      if (!mech) n.fail("must be SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN");
      o.mechanisms.push_back(*mech);
    }
    if (o.mechanisms.empty()) m.fail("lists no mechanism");
  }
  o.ping_interval = seconds_of(c.at("ping-interval"));
  o.ping_timeout = seconds_of(c.at("ping-timeout"));
  if (o.ping_interval.count() <= 0) c.at("ping-interval").fail("must be more than 0 seconds");
  if (o.ping_timeout.count() <= 0) c.at("ping-timeout").fail("must be more than 0 seconds");
  auto max = c.at("max-stanza").as_int();
  if (max < 10000) c.at("max-stanza").fail("must be at least 10000 bytes");
  o.limits.max_stanza_bytes = static_cast<std::size_t>(max);
  return o;
}

std::string XMPPPlug::network_name() const { return options_.domain + " XMPP"; }

std::string XMPPPlug::network_id() const { return "xmpp:" + account_; }

bool XMPPPlug::joined(const std::string& room) const {
  auto it = rooms_.find(xmpp::fold_bare(room));
  return it != rooms_.end() && it->second.joined;
}

std::string XMPPPlug::nick_in(const std::string& room) const {
  auto it = rooms_.find(xmpp::fold_bare(room));
  return it == rooms_.end() ? std::string() : it->second.nick;
}

std::string XMPPPlug::next_id() { return "immp-" + run_ + "-" + std::to_string(++counter_); }

void XMPPPlug::drop_link(const std::string& why) {
  if (stream_) stream_->close(why);
}

// ---- lifecycle -------------------------------------------------------------

Task<> XMPPPlug::start() {
  stopping_ = false;
  for (const auto& [name, ch] : host().channels()) {
    if (ch.plug() != this || ch.source.find('/') != std::string::npos) continue;
    if (xmpp::local_part(ch.source).empty()) continue;
    Room& r = rooms_[xmpp::fold_bare(ch.source)];
    r.jid = ch.source;
    auto pw = passwords_.find(ch.source);
    if (pw != passwords_.end()) r.password = pw->second;
  }
  first_attempt_done_ = false;
  tasks_.spawn("xmpp " + name(), run());
  tasks_.spawn("xmpp self-ping", self_ping());
  asio::steady_timer bound(host().executor(), std::min(options_.connect_timeout, 5000ms));
  bound.async_wait([this](boost::system::error_code ec) {
    if (!ec) attempted_.notify();
  });
  while (!first_attempt_done_ && bound.expiry() > std::chrono::steady_clock::now()) {
    co_await attempted_.wait();
  }
  bound.cancel();
}

Task<> XMPPPlug::stop() {
  stopping_ = true;
  if (auto s = stream_) {
    // Leave the rooms politely; the server sends the parts.
    for (auto& [jid, room] : rooms_) {
      if (!room.joined) continue;
      Element p("presence", std::string(xmpp::kNsClient));
      p.set("to", jid + "/" + room.nick).set("type", "unavailable");
      if (puppets_) {
        for (const auto* puppet : puppets_->present(jid)) {
          Element leave = p;
          leave.set("to", jid + "/" + puppet->nick);
          send(std::move(leave), puppet->jid);
        }
      }
      send(std::move(p));
    }
    co_await s->stop();
  }
  co_await tasks_.stop(2s);
  stream_.reset();
}

Task<> XMPPPlug::run() {
  Backoff backoff(reconnect_min_, reconnect_max_);
  while (!stopping_) {
    auto stream = std::make_shared<xmpp::Stream>(host().executor(), options_, log());
    stream->use_session(session_);
    stream_ = stream;
    std::string failure;
    // Whether the acks of the session this stream may resume mean anything
    // (read before open(), which starts a fresh session if it cannot).
    const bool counted = session_->enabled;
    bool opened = false;
    try {
      co_await stream->open();
      opened = true;
      backoff.reset();
      if (!stream->resumed()) settle(counted, "the session was not resumed");
      co_await serve(*stream);
    } catch (const xmpp::StreamError& e) {
      failure = e.what();
      if (e.auth()) log()->error("{}", failure);
    } catch (const boost::system::system_error& e) {
      if (e.code() == asio::error::operation_aborted && stopping_) throw;
      failure = e.what();
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!first_attempt_done_) {
      first_attempt_done_ = true;
      attempted_.notify();
    }
    // The session's clock runs from the link that broke, not from each
    // failed attempt to reconnect.
    if (opened) session_->lost = std::chrono::steady_clock::now();
    if (stopping_ || !session_->resumable(std::chrono::steady_clock::now())) {
      settle(session_->enabled, failure);
    } else {
      // The server keeps the session for a while (XEP-0198): rooms,
      // presence and what waits for a reflection stay as they are until the
      // next stream resumes it, or cannot.
      progress_.notify();
    }
    if (stopping_) co_return;
    stream->close(failure);
    co_await stream->stop();
    set_online(false, failure);
    auto delay = backoff.next();
    log()->warn("XMPP link to {}:{} lost ({}); reconnecting in {} ms", options_.host,
                options_.port, failure, delay.count());
    asio::steady_timer wait(host().executor(), delay);
    co_await wait.async_wait(asio::use_awaitable);
  }
}

void XMPPPlug::settle(bool acks, const std::string& why) {
  if (puppets_) puppets_->all_out();
  for (auto& [jid, room] : rooms_) {
    room.joined = false;
    room.joining = false;
    room.occupants.clear();
  }
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto& [id, p] = *it;
    if (acks && p->seq != 0 && p->seq <= session_->acked) {
      // The server took it before the link broke; its reflection (and the
      // room's stanza-id) went with the session. Sending it again would
      // double it.
      p->done = true;
      p->receipt_id = id;
    } else if (!stopping_ && !p->room.empty() && rooms_.count(p->room) &&
               rooms_[p->room].last_live) {
      // The server may have taken it without telling us: the room's
      // history on joining again will say (end_catch_up).
      p->held = true;
      ++it;
      continue;
    } else {
      p->done = true;
      p->error = "link lost: " + why;
    }
    it = pending_.erase(it);
  }
  iqs_.clear();
  progress_.notify();
}

void XMPPPlug::end_catch_up(Room& room, const std::string& failed) {
  room.catching_up = false;
  const std::string key = xmpp::fold_bare(room.jid);
  std::vector<std::shared_ptr<Pending>> missing;
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto& p = it->second;
    if (!p->held || p->room != key) {
      ++it;
      continue;
    }
    if (failed.empty() && p->stanza && stream_ && stream_->is_open()) {
      missing.push_back(p);
      ++it;
      continue;
    }
    p->done = true;
    p->error = "link lost: " + (failed.empty() ? "not connected" : failed);
    it = pending_.erase(it);
  }
  // The room's history does not have them: the server never took them.
  // Sent again now, in their first order; their put()s go on waiting for
  // the reflections.
  std::sort(missing.begin(), missing.end(),
            [](const auto& a, const auto& b) { return a->seq < b->seq; });
  if (!missing.empty()) {
    log()->info("{}: sending {} message(s) again that the room's history lacks", room.jid,
                missing.size());
  }
  for (auto& p : missing) {
    p->held = false;
    p->seq = send(*p->stanza, p->from);
  }
  progress_.notify();
}

Task<> XMPPPlug::serve(xmpp::Stream& stream) {
  ++connections_;
  bound_jid_ = stream.jid();
  // A component is a domain: our own occupant is a JID under it.
  self_jid_ = component_ ? account_ + "/immp" : bound_jid_;
  if (component_) bound_jid_ = self_jid_;
  log()->info("{} {}:{} as {}{}", stream.resumed() ? "resumed the session with" : "connected to",
              options_.host, options_.port, bound_jid_, stream.is_tls() ? " over TLS" : "");
  if (!first_attempt_done_) {
    first_attempt_done_ = true;
    attempted_.notify();
  }
  if (stream.resumed()) {
    ++resumptions_;
    // The server kept our presence and rooms; what waits for a reflection
    // or an ack gets it on this stream.
    progress_.notify();
    for (auto& [jid, room] : rooms_) {
      if (!room.joined && !room.joining) send_join(room);
    }
    if (std::none_of(rooms_.begin(), rooms_.end(),
                     [](const auto& r) { return r.second.joining; })) {
      set_online(true);
    }
    for (;;) {
      Element stanza = co_await stream.read();
      try {
        handle(stanza);
      } catch (const std::exception& e) {
        log()->warn("ignoring <{}> from {}: {}", stanza.name, stanza.attr("from"), e.what());
      }
    }
  }
  // Presence, so that the server routes chats to us (a component gets
  // everything addressed to its domain anyway).
  if (!component_) {
    Element presence("presence", std::string(xmpp::kNsClient));
    stream.send(presence);
  }
  std::vector<std::string> unknown;
  for (auto& [jid, room] : rooms_) unknown.push_back(jid);
  // Joins go out at once; disco (in the background) only sorts out the
  // declared channels that are people rather than rooms.
  for (auto& [jid, room] : rooms_) send_join(room);
  tasks_.spawn("xmpp disco", discover(std::move(unknown)));
  // An upload service takes the server's own users, not components.
  if (!component_) tasks_.spawn("xmpp upload disco", uploader_->discover(options_.domain));
  // Online once the rooms are joined (or have failed), so that what the
  // outboxes send reaches them; checked as presences arrive (on_presence).
  bool none = std::none_of(rooms_.begin(), rooms_.end(), [](const auto& r) {
    return r.second.joining;
  });
  if (none) set_online(true);
  for (;;) {
    Element stanza = co_await stream.read();
    try {
      handle(stanza);
    } catch (const std::exception& e) {
      log()->warn("ignoring <{}> from {}: {}", stanza.name, stanza.attr("from"), e.what());
    }
  }
}

void XMPPPlug::join(const std::string& jid, std::string password) {
  Room& r = rooms_[xmpp::fold_bare(jid)];
  r.jid = jid;
  if (!password.empty()) r.password = std::move(password);
  if (connected() && !r.joined && !r.joining) send_join(r);
}

void XMPPPlug::send_join(Room& room) {
  if (!stream_) return;
  if (room.nick.empty() || room.nick_tries == 0) room.nick = nick_;
  room.joining = true;
  room.subject_seen = false;
  Element p("presence", std::string(xmpp::kNsClient));
  p.set("to", room.jid + "/" + room.nick);
  Element& x = p.add("x", std::string(kNsMuc));
  // No history on a first join: what was said while we were away was
  // never ours to relay. After a session was lost, what the room said
  // since the last message we took (a few seconds before, for the clocks'
  // sake; what we had is recognised by its stanza-id): the server dropped
  // what it held for the lost session.
  if (room.last_live) {
    room.catching_up = true;
    x.add("history", std::string(kNsMuc))
        .set("since", xmpp_time(*room.last_live - std::chrono::seconds(5)));
  } else {
    room.catching_up = false;
    x.add("history", std::string(kNsMuc)).set("maxstanzas", "0");
  }
  if (!room.password.empty()) x.add("password", std::string(kNsMuc), room.password);
  send(std::move(p));
}

std::uint64_t XMPPPlug::send(Element stanza, const std::string& from) {
  auto stream = stream_;
  if (!stream) return 0;
  if (component_) {
    if (!stanza.has_attr("from")) stanza.set("from", from.empty() ? self_jid_ : from);
    xmpp::to_component_namespace(stanza);
  }
  return stream->send(stanza);
}

Task<> XMPPPlug::discover(std::vector<std::string> sources) {
  for (const auto& jid : sources) {
    Element q("iq", std::string(xmpp::kNsClient));
    q.set("type", "get").set("to", jid);
    q.add("query", std::string(kNsDiscoInfo));
    auto answer = co_await iq(std::move(q), 10s);
    if (!answer || answer->attr("type") != "result") continue;
    const Element* query = answer->child("query", kNsDiscoInfo);
    if (!query) continue;
    bool conference = false;
    for (const auto* id : query->children_named("identity")) {
      conference |= id->attr("category") == "conference";
    }
    auto it = rooms_.find(jid);
    if (!conference && it != rooms_.end() && !it->second.joined) {
      std::string source = it->second.jid;
      log()->info("{} is not a room: a one-to-one chat", source);
      rooms_.erase(it);
      not_rooms_.insert(source);
      private_.insert(source);
    }
  }
}

Task<> XMPPPlug::self_ping() {
  asio::steady_timer timer(host().executor());
  for (;;) {
    timer.expires_after(self_ping_interval_);
    co_await timer.async_wait(asio::use_awaitable);
    std::vector<std::string> rooms;
    for (const auto& [jid, room] : rooms_) {
      if (room.joined) rooms.push_back(jid);
    }
    for (const auto& jid : rooms) {
      auto it = rooms_.find(jid);
      if (it == rooms_.end() || !it->second.joined) continue;
      Element q("iq", std::string(xmpp::kNsClient));
      q.set("type", "get").set("to", jid + "/" + it->second.nick);
      q.add("ping", std::string(xmpp::kNsPing));
      auto answer = co_await iq(std::move(q), 30s);
      if (!answer) continue;  // no answer: the stream's own keepalive judges the link
      // XEP-0410 §3.2: these errors mean we are no longer an occupant.
      const Element* error = answer->child("error");
      bool gone = error && (error->child("not-acceptable") || error->child("not-allowed") ||
                            error->child("item-not-found") || error->child("remote-server-not-found"));
      it = rooms_.find(jid);
      if (gone && it != rooms_.end()) {
        log()->warn("no longer in {} (self-ping); rejoining", jid);
        it->second.joined = false;
        send_join(it->second);
      }
    }
  }
}

Task<std::optional<Element>> XMPPPlug::iq(Element request, std::chrono::milliseconds timeout) {
  auto stream = stream_;
  if (!stream || !stream->is_open()) co_return std::nullopt;
  std::string id = next_id();
  request.set("id", id);
  auto slot = std::make_shared<std::optional<Element>>();
  iqs_[id] = slot;
  send(std::move(request));
  asio::steady_timer bound(host().executor(), timeout);
  auto expired = std::make_shared<bool>(false);
  bound.async_wait([this, expired, alive = std::weak_ptr<bool>(alive_)](
                       boost::system::error_code ec) {
    if (ec || alive.expired()) return;
    *expired = true;
    progress_.notify();
  });
  while (!slot->has_value() && !*expired && iqs_.count(id) && stream_ == stream) {
    co_await progress_.wait();
  }
  bound.cancel();
  iqs_.erase(id);
  co_return std::move(*slot);
}

// ---- incoming --------------------------------------------------------------

void XMPPPlug::handle(const Element& stanza) {
  if (component_) {
    // Rooms send each occupant its own copy: our own occupant's is the one
    // we read; the puppets' matter only for their joins and errors.
    auto to = stanza.attr("to");
    if (!to.empty() && xmpp::fold_bare(to) != xmpp::fold_bare(account_) &&
        xmpp::local_part(to).size() > 0) {
      on_puppet_stanza(stanza);
      return;
    }
  }
  if (stanza.name == "message") {
    on_message(stanza);
  } else if (stanza.name == "presence") {
    on_presence(stanza);
  } else if (stanza.name == "iq") {
    on_iq(stanza);
  }
}

void XMPPPlug::on_iq(const Element& q) {
  auto type = q.attr("type");
  if (type == "result" || type == "error") {
    auto it = iqs_.find(std::string(q.attr("id")));
    if (it != iqs_.end()) {
      *it->second = q;
      progress_.notify();
    }
    return;
  }
  // Requests we do not serve get the error RFC 6120 §8.4 asks for.
  if (type == "get" || type == "set") {
    Element error("iq", std::string(xmpp::kNsClient));
    error.set("type", "error").set("id", std::string(q.attr("id")));
    if (q.has_attr("from")) error.set("to", std::string(q.attr("from")));
    Element& e = error.add("error", std::string(xmpp::kNsClient));
    e.set("type", "cancel");
    e.add("service-unavailable", std::string(xmpp::kNsStanzas));
    send(std::move(error), std::string(q.attr("to")));
  }
}

bool XMPPPlug::is_room(const std::string& source) const {
  return rooms_.count(xmpp::fold_bare(source)) > 0;
}

XMPPPlug::Room* XMPPPlug::find_room(std::string_view jid) {
  auto it = rooms_.find(xmpp::fold_bare(jid));
  return it == rooms_.end() ? nullptr : &it->second;
}

std::string XMPPPlug::source_of(const Element& m, bool groupchat) const {
  std::string from(m.attr("from"));
  std::string b(xmpp::bare(from));
  auto room = rooms_.find(xmpp::fold_bare(b));
  // Rooms by the name the config gave them; a private message inside a
  // room is a chat with that occupant.
  if (room != rooms_.end()) {
    if (groupchat) return room->second.jid;
    return room->second.jid + "/" + std::string(xmpp::resource(from));
  }
  return b;
}

std::string XMPPPlug::sender_key(const std::string& source, const Element& m) const {
  std::string from(m.attr("from"));
  auto room = rooms_.find(xmpp::fold_bare(from));
  if (room == rooms_.end()) return xmpp::fold_bare(from);
  if (const Element* oid = m.child("occupant-id", kNsOccupantId)) {
    return "occupant:" + std::string(oid->attr("id"));
  }
  std::string nick(xmpp::resource(from));
  auto occ = room->second.occupants.find(nick);
  if (occ != room->second.occupants.end()) {
    if (!occ->second.occupant_id.empty()) return "occupant:" + occ->second.occupant_id;
    if (!occ->second.real_jid.empty()) return std::string(xmpp::bare(occ->second.real_jid));
  }
  (void)source;
  return "nick:" + nick;
}

UserPtr XMPPPlug::make_user(const std::string& source, const std::string& from) const {
  auto u = std::make_shared<User>();
  u->handle = Plug::handle();
  std::string b(xmpp::bare(from));
  auto room = rooms_.find(xmpp::fold_bare(b));
  if (room != rooms_.end()) {
    std::string nick(xmpp::resource(from));
    u->username = nick;
    u->real_name = nick;
    u->id = from;
    auto occ = room->second.occupants.find(nick);
    if (occ != room->second.occupants.end() && !occ->second.real_jid.empty()) {
      u->id = std::string(xmpp::bare(occ->second.real_jid));
    }
  } else {
    u->id = b;
    u->username = b;
    u->real_name = std::string(xmpp::local_part(b));
  }
  (void)source;
  return u;
}

UserPtr XMPPPlug::self_user() const {
  auto u = std::make_shared<User>();
  u->handle = Plug::handle();
  u->id = account_;
  u->username = nick_;
  u->real_name = nick_;
  return u;
}

void XMPPPlug::remember(const std::string& source, const std::string& receipt, Known known) {
  IdMap& map = ids_[source];
  if (!map.by_receipt.count(receipt)) map.order.push_back(receipt);
  if (!known.client_id.empty()) map.by_client[known.sender + "\n" + known.client_id] = receipt;
  map.by_receipt[receipt] = std::move(known);
  while (map.order.size() > kRemembered) {
    auto old = map.by_receipt.find(map.order.front());
    if (old != map.by_receipt.end()) {
      map.by_client.erase(old->second.sender + "\n" + old->second.client_id);
      map.by_receipt.erase(old);
    }
    map.order.pop_front();
  }
}

std::optional<std::string> XMPPPlug::resolve(const std::string& source, const std::string& sender,
                                             const std::string& id) const {
  auto map = ids_.find(source);
  if (map == ids_.end()) return std::nullopt;
  // The id a sender chose names only that sender's messages.
  auto by = map->second.by_client.find(sender + "\n" + id);
  if (by != map->second.by_client.end()) return by->second;
  return std::nullopt;
}

const XMPPPlug::Known* XMPPPlug::known(const std::string& source,
                                       const std::string& receipt) const {
  auto map = ids_.find(source);
  if (map == ids_.end()) return nullptr;
  auto it = map->second.by_receipt.find(receipt);
  return it == map->second.by_receipt.end() ? nullptr : &it->second;
}

void XMPPPlug::on_message(const Element& m, bool retry) {
  auto type = m.attr("type");
  std::string from(m.attr("from"));
  std::string from_bare(xmpp::bare(from));
  if (type == "error") {
    // A room refusing one of ours: fail the put() that waits for it.
    auto origin = m.child("origin-id", kNsSid);
    std::string id(origin ? origin->attr("id") : m.attr("id"));
    auto it = pending_.find(id);
    if (it != pending_.end()) {
      const Element* e = m.child("error");
      std::string why = "refused";
      if (e) {
        for (const auto& c : e->children) {
          if (c.ns == xmpp::kNsStanzas && c.name != "text") why = c.name;
        }
        if (auto t = e->child_text("text"); !t.empty()) why += " (" + std::string(t) + ")";
      }
      // The room no longer counts our own occupant in (removed silently;
      // XEP-0410's conditions, as for a self-ping): we join again, with the
      // room's history since the last message we took, and the message is
      // retried once we are back rather than dropped as refused.
      Room* room = find_room(from_bare);
      if (!retry && room && room->joined && from == from_bare && e &&
          xmpp::fold_bare(m.attr("to")) == xmpp::fold_bare(account_) &&
          (e->child("not-acceptable") || e->child("item-not-found"))) {
        log()->warn("no longer in {} (our message was refused: {}); rejoining", room->jid, why);
        room->joined = false;
        send_join(*room);
        retry = true;
      }
      it->second->error = from + " refused the message: " + why;
      it->second->retry = retry;
      it->second->done = true;
      pending_.erase(it);
      progress_.notify();
    } else {
      log()->warn("error from {}: {}", from, m.str());
    }
    return;
  }
  bool groupchat = type == "groupchat";
  if (groupchat && !is_room(from_bare)) return;  // a room we are not in
  if (!groupchat && xmpp::fold_bare(from_bare) == xmpp::fold_bare(account_)) return;  // carbons
  std::string source = source_of(m, groupchat);
  Room* room = groupchat ? find_room(from_bare) : nullptr;
  bool history = false;
  if (const Element* delay = m.child("delay", kNsDelay); delay && groupchat) {
    // The room's history is stamped by the room: dropped unless we asked
    // for it to catch up (send_join). A stanza our server sends again on
    // resuming the session (XEP-0198) is stamped by our server, and is live.
    std::string by(delay->attr("from"));
    history = by.empty() || xmpp::fold_bare(by) == xmpp::fold_bare(from_bare);
    if (history && !room->catching_up) return;
  }
  if (room && !history) room->last_live = std::chrono::system_clock::now();

  // Subject changes. The subject that completes a join is the room's state.
  if (groupchat && m.child("subject") && !m.child("body")) {
    std::string subject(m.child_text("subject"));
    bool change = room->subject_seen;
    room->subject_seen = true;
    if (!change && room->catching_up) end_catch_up(*room);
    room->subject = subject;
    if (!change || xmpp::resource(from).empty()) return;
    if (std::string(xmpp::resource(from)) == room->nick) return;
    Message msg;
    msg.user = make_user(source, from);
    msg.title = subject;
    msg.text = RichText("changed the subject to: " + subject);
    msg.action = true;
    std::string id = stanza_id(m, from_bare);
    if (id.empty()) id = next_id();
    queue(std::make_shared<const SentMessage>(Receipt{id, channel(source), Clock::now(), {}, false},
                                              std::move(msg)));
    return;
  }

  const Element* origin = m.child("origin-id", kNsSid);
  std::string client_id(origin ? origin->attr("id") : m.attr("id"));
  // (In replayed history, ours may be under the nick we had before.)
  bool ours = groupchat && (std::string(xmpp::resource(from)) == room->nick ||
                            (puppets_ && puppets_->by_nick(room->jid, xmpp::resource(from))) ||
                            (history && pending_.count(client_id)));
  std::string receipt = stanza_id(m, groupchat ? from_bare : account_);
  if (ours) {
    // The room's reflection of what we sent: its stanza-id is the message's
    // id from now on. Not news to anyone.
    auto it = pending_.find(client_id);
    if (it != pending_.end()) {
      it->second->held = false;
      it->second->receipt_id = receipt.empty() ? client_id : receipt;
      it->second->done = true;
      pending_.erase(it);
      progress_.notify();
    }
    return;
  }
  // Replayed history that we took live before the session was lost.
  if (history && !receipt.empty() && known(source, receipt)) return;
  std::string sender = sender_key(source, m);
  if (receipt.empty()) {
    // No stanza-id from the room: the sender's own id, qualified by sender,
    // so that it can never collide with anyone else's.
    receipt = sender + "/" + (client_id.empty() ? next_id() : client_id);
  }
  if (!groupchat) private_.insert(source);
  UserPtr user = make_user(source, from);
  std::string nick = groupchat ? std::string(xmpp::resource(from)) : user->username;

  // XEP-0424 retraction (v1, and v0 inside XEP-0422 fastening).
  std::string retract_id;
  if (const Element* r = m.child("retract", kNsRetract1)) {
    retract_id = std::string(r->attr("id"));
  } else if (const Element* a = m.child("apply-to", kNsFasten); a && a->child("retract")) {
    retract_id = std::string(a->attr("id"));
  }
  if (!retract_id.empty()) {
    auto target = resolve(source, sender, retract_id);
    const Known* k = known(source, retract_id);
    if (!target && k && k->sender == sender) target = retract_id;
    if (!target) return;  // not a message of this sender that we know
    Message msg;
    msg.user = user;
    msg.deleted = true;
    queue(std::make_shared<const SentMessage>(
        Receipt{*target, channel(source), Clock::now(), {}, true}, std::move(msg)));
    return;
  }

  // XEP-0444 reactions: the sender's whole set for one message.
  if (const Element* r = m.child("reactions", kNsReactions)) {
    std::string target_id(r->attr("id"));
    std::optional<std::string> target;
    if (known(source, target_id)) {
      target = target_id;
    } else if (!groupchat) {
      // In chats the id is the sender's own choice: the sender of the
      // message may be either side.
      target = resolve(source, sender, target_id);
      if (!target) target = resolve(source, "self", target_id);
    }
    if (!target) return;
    std::set<std::string> now;
    for (const auto* e : r->children_named("reaction")) now.insert(e->text);
    auto& before = ids_[source].reactions[sender + "\n" + *target];
    auto on = std::make_shared<const SentMessage>(
        Receipt{*target, channel(source), Clock::now(), {}, false}, Message{});
    int n = 0;
    auto emit = [&](const std::string& emoji, bool removed) {
      Message msg;
      msg.user = user;
      msg.reaction = Reaction{emoji, removed, on};
      queue(std::make_shared<const SentMessage>(
          Receipt{receipt + "#" + std::to_string(++n), channel(source), Clock::now(), {}, false},
          std::move(msg)));
    };
    for (const auto& e : now) {
      if (!before.count(e)) emit(e, false);
    }
    for (const auto& e : before) {
      if (!now.count(e)) emit(e, true);
    }
    before = std::move(now);
    return;
  }

  const Element* body = m.child("body");
  if (!body) return;
  std::string text = unicode::repair_utf8(body->text);
  // XEP-0461 reply, its fallback quote (XEP-0428) removed from the text.
  SentPtr reply_to;
  if (const Element* reply = m.child("reply", kNsReply)) {
    std::string id(reply->attr("id"));
    std::optional<std::string> target;
    if (known(source, id)) {
      target = id;
    } else {
      std::string to(reply->attr("to"));
      std::string to_sender = groupchat ? "nick:" + std::string(xmpp::resource(to)) : to;
      target = resolve(source, to_sender, id);
    }
    if (target) {
      reply_to = std::make_shared<const SentMessage>(
          Receipt{*target, channel(source), Clock::now(), {}, false}, Message{});
    }
    for (const auto* fb : m.children_named("fallback", kNsFallback)) {
      if (fb->attr("for") != kNsReply) continue;
      if (const Element* range = fb->child("body")) {
        auto start = std::stoul(std::string(range->attr("start").empty() ? "0" : range->attr("start")));
        auto end = std::stoul(std::string(range->attr("end").empty() ? "0" : range->attr("end")));
        text = cut_code_points(text, start, end);
      }
    }
  }
  Message msg;
  msg.user = user;
  if (text.starts_with("/me ")) {
    msg.action = true;
    text.erase(0, 4);
  }
  msg.text = markup::from_styling(text);
  msg.reply_to = std::move(reply_to);
  // XEP-0066 out-of-band links: the URL as a file attachment.
  for (const auto* x : m.children_named("x", kNsOob)) {
    File f;
    f.url = std::string(x->child_text("url"));
    f.title = std::string(x->child_text("desc"));
    if (f.title.empty()) f.title = f.url.substr(f.url.find_last_of('/') + 1);
    if (f.url.empty()) continue;
    // A body that is only the link says nothing more than the file.
    if (text == f.url) msg.text.reset();
    msg.attachments.emplace_back(std::move(f));
  }
  // XEP-0308 correction: the sender's own earlier message, by the id the
  // sender gave it; a new revision with the id we already know it by.
  if (const Element* r = m.child("replace", kNsCorrect)) {
    auto target = resolve(source, sender, std::string(r->attr("id")));
    if (target) {
      msg.edited = true;
      // Corrections of corrections name the latest id (or the first).
      remember(source, receipt, Known{sender, client_id, nick});
      ids_[source].by_client[sender + "\n" + client_id] = *target;
      queue(std::make_shared<const SentMessage>(
          Receipt{*target, channel(source), Clock::now(), receipt, false}, std::move(msg)));
      return;
    }
    // A correction of something we never saw: it reads as a new message.
  }
  remember(source, receipt, Known{sender, client_id, nick});
  queue(std::make_shared<const SentMessage>(Receipt{receipt, channel(source), Clock::now(), {}, false},
                                            std::move(msg)));
}

void XMPPPlug::on_presence(const Element& p) {
  if (stopping_) return;  // the parts that answer our leaving
  std::string from(p.attr("from"));
  std::string room_jid(xmpp::bare(from));
  auto it = rooms_.find(xmpp::fold_bare(room_jid));
  if (it == rooms_.end()) return;
  Room& room = it->second;
  const std::string& source = room.jid;  // as the config spells it
  std::string nick(xmpp::resource(from));
  auto type = p.attr("type");
  const Element* x = p.child("x", kNsMucUser);
  if (type == "error") {
    const Element* e = p.child("error");
    bool conflict = e && e->child("conflict");
    if (room.joining && conflict && room.nick_tries < 5) {
      // Our nick is taken: try again with a suffix, as clients do.
      ++room.nick_tries;
      room.nick = nick_ + std::string(static_cast<std::size_t>(room.nick_tries), '_');
      log()->info("nick {} is taken in {}; trying {}", nick_, source, room.nick);
      send_join(room);
      return;
    }
    std::string why = "refused";
    if (e) {
      for (const auto& c : e->children) {
        if (c.ns == xmpp::kNsStanzas && c.name != "text") why = c.name;
      }
    }
    log()->error("cannot join {}: {}", source, why);
    room.joining = false;
    progress_.notify();  // put()s waiting for the join
    if (room.catching_up) end_catch_up(room, "cannot join " + source + ": " + why);
    if (std::none_of(rooms_.begin(), rooms_.end(), [](const auto& r) { return r.second.joining; }))
      set_online(true);
    return;
  }
  bool self = x && has_status(*x, "110");
  // Our puppets come and go as we make them: not news.
  if (!self && puppets_ && puppets_->by_nick(room_jid, nick)) return;
  const Element* item = x ? x->child("item") : nullptr;
  Occupant occ;
  occ.nick = nick;
  if (item) occ.real_jid = std::string(item->attr("jid"));
  if (const Element* oid = p.child("occupant-id", kNsOccupantId)) {
    occ.occupant_id = std::string(oid->attr("id"));
  }
  if (self) {
    if (type == "unavailable") {
      // We were kicked, banned, or the room went away.
      room.joined = false;
      bool nick_change = x && has_status(*x, "303");
      if (nick_change && item) {
        room.nick = std::string(item->attr("nick"));
        return;
      }
      log()->warn("removed from {}; rejoining", source);
      send_join(room);
      return;
    }
    room.nick = nick;
    room.occupants[nick] = occ;
    if (!room.joined) {
      room.joined = true;
      room.joining = false;
      room.nick_tries = 0;
      progress_.notify();  // put()s waiting for the join
      log()->info("joined {} as {}", source, nick);
      if (std::none_of(rooms_.begin(), rooms_.end(),
                       [](const auto& r) { return r.second.joining; })) {
        set_online(true);
      }
    }
    return;
  }
  if (type == "unavailable") {
    auto old = room.occupants.find(nick);
    Occupant gone = old != room.occupants.end() ? old->second : occ;
    room.occupants.erase(nick);
    if (!room.joined) return;
    Message msg;
    UserPtr user = make_user(room_jid, from);
    if (x && has_status(*x, "303") && item) {
      // A nick change: one message, the old name leaving and the new one
      // arriving (the new presence follows and is not announced again).
      std::string to(item->attr("nick"));
      Occupant renamed = gone;
      renamed.nick = to;
      room.occupants[to] = renamed;
      msg.user = user;
      msg.action = true;
      msg.text = RichText("is now known as " + to);
      msg.left.push_back(user);
      msg.joined.push_back(make_user(room_jid, room_jid + "/" + to));
    } else {
      msg.user = user;
      msg.left.push_back(user);
      if (x && (has_status(*x, "307") || has_status(*x, "301"))) {
        std::string reason(item ? item->child_text("reason") : std::string_view());
        msg.action = true;
        msg.text = RichText(std::string(has_status(*x, "301") ? "was banned" : "was kicked") +
                            (reason.empty() ? "" : " (" + reason + ")"));
      }
    }
    queue(std::make_shared<const SentMessage>(
        Receipt{next_id(), channel(source), Clock::now(), {}, false}, std::move(msg)));
    return;
  }
  bool known_before = room.occupants.count(nick) > 0;
  room.occupants[nick] = occ;
  if (!room.joined || known_before) return;  // the list on join, or a status change
  Message msg;
  UserPtr user = make_user(room_jid, from);
  msg.user = user;
  msg.joined.push_back(user);
  queue(std::make_shared<const SentMessage>(
      Receipt{next_id(), channel(source), Clock::now(), {}, false}, std::move(msg)));
}

// ---- outgoing --------------------------------------------------------------

Task<PutResult> XMPPPlug::send_and_confirm(Posting& post, Element stanza, bool groupchat,
                                           std::string id, bool keep_id, std::string as_nick) {
  auto stream = stream_;
  if (!stream || !stream->is_open()) co_return PutResult::retry("not connected");
  const std::string& source = post.channel().source;
  if (groupchat) {
    // After a lost session the room's history shows which of our earlier
    // messages it has; those it lacks go again first (end_catch_up). And
    // a room being joined again is waited for rather than failed.
    // (Looked up each time: the room may be left meanwhile.)
    auto settling = [&] {
      const Room* room = find_room(source);
      return room && (room->catching_up || room->joining);
    };
    while (stream_ == stream && stream->is_open() && settling()) co_await progress_.wait();
    if (stream_ != stream || !stream->is_open()) co_return PutResult::retry("not connected");
    const Room* room = find_room(source);
    if (!room || !room->joined) co_return PutResult::retry("not in " + source);
  }
  auto pending = std::make_shared<Pending>();
  std::string client_id(stanza.child("origin-id", kNsSid)->attr("id"));
  pending_[client_id] = pending;
  std::string from(stanza.attr("from"));
  if (groupchat) {
    pending->room = xmpp::fold_bare(source);
    pending->stanza = stanza;
    pending->from = from;
  }
  // No reflection in a chat: its own id is its receipt, known now.
  if (!groupchat && !keep_id) post.announce(id);
  pending->seq = send(std::move(stanza), from);
  // Queued on the link, so in order on the wire: the next put() to this
  // channel may start while this one is confirmed (Posting::ordered). A
  // link that drops for good fails what was not acknowledged, and the
  // outbox sends it again in order.
  post.ordered();
  // Confirmed by the room's reflection, or in a chat by the server's ack
  // (XEP-0198; without it, by the write). A link that drops keeps the wait
  // going while the session may resume; confirm-timeout counts only while
  // a link is up.
  asio::steady_timer bound(host().executor());
  auto expired = std::make_shared<bool>(false);
  auto arm = [&] {
    *expired = false;
    bound.expires_after(confirm_timeout_);
    bound.async_wait([this, expired, pending, alive = std::weak_ptr<bool>(alive_)](
                         boost::system::error_code ec) {
      if (ec || pending->done || alive.expired()) return;
      *expired = true;
      progress_.notify();
    });
  };
  arm();
  auto confirmed = [&] {
    return pending->done || (!groupchat && session_->acked >= pending->seq);
  };
  // With stream management, a stanza our server has not acknowledged on a
  // live link is still on its way to it (a loaded server reads slowly):
  // sending it again would double it. The time then counts again from the
  // server's ack.
  auto unread = [&] {
    const xmpp::Session& s = *session_;
    return s.enabled && pending->seq > s.base && pending->seq > s.acked;
  };
  bool waited_for_server = false, rearmed = false;
  while (!confirmed()) {
    // (One held for the room's history waits for it, whatever the time.)
    if (*expired && connected() && !pending->held) {
      if (unread()) {
        waited_for_server = true;
      } else if (waited_for_server && !rearmed) {
        rearmed = true;
        arm();
      } else {
        break;
      }
    }
    co_await progress_.wait();
  }
  bound.cancel();
  if (auto it = pending_.find(client_id); it != pending_.end() && it->second == pending) {
    pending_.erase(it);
  }
  if (pending->done && !pending->receipt_id) {
    // Its sender was out of the room and is joining again: tried again at
    // once (the next put() waits for the join), not after a backoff step.
    if (pending->retry) co_return PutResult::retry(pending->error, std::chrono::milliseconds(1));
    if (pending->error.starts_with("link lost")) co_return PutResult::retry(pending->error);
    co_return PutResult::failed(pending->error);
  }
  if (!groupchat) {
    if (!confirmed()) {
      co_return PutResult::retry("the server did not acknowledge our message within " +
                                 std::to_string(confirm_timeout_.count()) + " ms");
    }
    if (keep_id) {
      post.sent(id);
    } else {
      post.sent();
      remember(source, id, Known{"self", id, nick_});
    }
    co_return PutResult::delivered();
  }
  if (!pending->done) {
    const xmpp::Session& session = *session_;
    if (session.enabled && !pending->held && pending->seq > session.base &&
        pending->seq <= session.acked) {
      // Our server acknowledged it (XEP-0198): it went on to the room,
      // which is only slow to reflect it (a loaded server). Sent again, it
      // would show twice; its own id names it until then.
      pending->receipt_id = client_id;
    } else {
      co_return PutResult::retry("the room did not reflect our message within " +
                                 std::to_string(confirm_timeout_.count()) + " ms");
    }
  }
  if (keep_id) {
    post.sent(id);
    // The correction's own id now names the message too.
    ids_[source].by_client["self\n" + client_id] = id;
  } else {
    post.sent(*pending->receipt_id);
    Room* room = find_room(source);
    if (as_nick.empty()) as_nick = room ? room->nick : nick_;
    remember(source, *pending->receipt_id, Known{"self", client_id, as_nick});
  }
  co_return PutResult::delivered();
}

Task<PutResult> XMPPPlug::put(Posting& post) {
  const std::string& source = post.channel().source;
  const MessagePtr& msg = post.message();
  if (post.resume() > 0) co_return PutResult::delivered();
  auto stream = stream_;
  if (!stream || !stream->is_open()) co_return PutResult::retry("not connected");
  bool groupchat = is_room(source);
  if (groupchat && !find_room(source)->joined) co_return PutResult::retry("not in " + source);
  const xmpp::Puppet* puppet = nullptr;
  if (component_ && groupchat && msg->user && msg->user->plug() != this) {
    puppet = co_await puppet_for(source, *msg->user);
  }
  if (msg->reaction) co_return co_await put_reaction(post, source, groupchat, puppet);
  std::vector<xmpp::FileLink> files;
  if (std::any_of(msg->attachments.begin(), msg->attachments.end(),
                  [](const Attachment& a) { return std::holds_alternative<File>(a); })) {
    try {
      files = co_await uploader_->links(*msg);
    } catch (const xmpp::UploadError& e) {
      co_return PutResult::retry(e.what());
    }
    // The link may have dropped while the file travelled.
    if (!stream_ || !stream_->is_open()) co_return PutResult::retry("not connected");
    if (groupchat && !find_room(source)->joined) co_return PutResult::retry("not in " + source);
  }
  Outgoing out = compose(*msg, source, groupchat, files, puppet);
  if (!out.error.empty()) co_return PutResult::failed(out.error);
  if (!out.stanza) co_return PutResult::delivered();  // nothing a chat can show
  // Named, not a temporary in the co_await (GCC 12 destroys those twice).
  std::string as_nick = puppet ? puppet->nick : std::string();
  co_return co_await send_and_confirm(post, std::move(*out.stanza), groupchat, out.id,
                                      out.keep_id, std::move(as_nick));
}

XMPPPlug::Outgoing XMPPPlug::compose(const Message& message, const std::string& source,
                                     bool groupchat, const std::vector<xmpp::FileLink>& files,
                                     const xmpp::Puppet* puppet) {
  const Message* msg = &message;
  Outgoing out;
  std::string id = next_id();
  out.id = id;
  Element m("message", std::string(xmpp::kNsClient));
  m.set("to", source).set("type", groupchat ? "groupchat" : "chat").set("id", id);
  if (puppet) m.set("from", puppet->jid);
  std::string text;
  if (msg->text) text = markup::to_styling(*msg->text);
  // One account speaks for everyone it relays: the name says who. A puppet
  // is its own name.
  bool named = !puppet && msg->user && msg->user->plug() != this &&
               !msg->user->display_name().empty();
  std::string prefix;
  if (named) prefix = msg->action ? "* " + msg->user->display_name() + " "
                                  : "<" + msg->user->display_name() + "> ";
  else if (msg->action) prefix = "/me ";
  // Files as links, and as XEP-0066 out-of-band data for clients that show
  // them; a file nobody can fetch as its stand-in text.
  std::vector<std::string> links;
  std::string full = prefix + text;
  for (const auto& f : files) {
    const std::string& line = f.url.empty() ? f.text : f.url;
    full += (full.empty() || full.ends_with(' ') ? "" : "\n") + line;
    if (!f.url.empty()) links.push_back(f.url);
  }
  if (full.empty()) return out;

  std::string fallback;
  std::string keep;
  if (msg->reply_to && !msg->edited) {
    const std::string& parent = msg->reply_to->id;
    const Known* k = known(source, parent);
    Element& r = m.add("reply", std::string(kNsReply));
    if (k) r.set("to", groupchat ? source + "/" + k->nick : source);
    // In a room the room's stanza-id names the parent; in a chat, its
    // sender's own id.
    r.set("id", groupchat || !k ? parent : k->client_id);
    if (msg->reply_to->text) {
      std::string quoted = msg->reply_to->text->plain();
      if (quoted.size() > 100) quoted = std::string(unicode::prefix_code_points(quoted, 100)) + "…";
      std::string who = msg->reply_to->user ? msg->reply_to->user->display_name() + ": " : "";
      fallback = "> " + who + quoted + "\n";
      auto& fb = m.add("fallback", std::string(kNsFallback));
      fb.set("for", std::string(kNsReply));
      fb.add("body", std::string(kNsFallback))
          .set("start", "0")
          .set("end", std::to_string(unicode::count_code_points(fallback)));
    }
  }
  m.children.insert(m.children.begin(), Element("body", std::string(xmpp::kNsClient)));
  m.children.front().text = fallback + full;
  bool keep_id = false;
  if (msg->edited) {
    auto* sent = dynamic_cast<const SentMessage*>(msg);
    const Known* k = sent ? known(source, sent->id) : nullptr;
    if (!k || k->sender != "self") {
      out.error = "cannot correct a message that is not ours";
      return out;
    }
    // XEP-0308: only its sender may correct it.
    if (groupchat && k->nick != (puppet ? puppet->nick : find_room(source)->nick)) {
      out.error = "cannot correct a message sent under another nick (" + k->nick + ")";
      return out;
    }
    // XEP-0308: the id the first version was sent with; a new id of its own.
    m.add("replace", std::string(kNsCorrect)).set("id", k->client_id);
    keep = sent->id;
    keep_id = true;
  }
  for (const auto& l : links) {
    Element& x = m.add("x", std::string(kNsOob));
    x.add("url", std::string(kNsOob), l);
  }
  m.add("origin-id", std::string(kNsSid)).set("id", id);
  if (msg->edited) m.add("store", std::string(kNsHints));
  if (keep_id) out.id = keep;
  out.keep_id = keep_id;
  out.stanza = std::move(m);
  return out;
}

Task<PutResult> XMPPPlug::put_reaction(Posting& post, const std::string& source, bool groupchat,
                                       const xmpp::Puppet* puppet) {
  const Reaction& r = *post.message()->reaction;
  if (!r.on) co_return PutResult::failed("a reaction to nothing");
  const Known* k = known(source, r.on->id);
  std::string target = groupchat ? r.on->id : (k ? k->client_id : r.on->id);
  // XEP-0444 sends our whole set for the message each time (a puppet's
  // set is its own).
  auto& mine = ids_[source].reactions[(puppet ? puppet->jid : std::string("self")) + "\n" +
                                      r.on->id];
  if (r.removed) {
    mine.erase(r.emoji);
  } else {
    mine.insert(r.emoji);
  }
  std::string id = next_id();
  Element m("message", std::string(xmpp::kNsClient));
  m.set("to", source).set("type", groupchat ? "groupchat" : "chat").set("id", id);
  if (puppet) m.set("from", puppet->jid);
  Element& set = m.add("reactions", std::string(kNsReactions));
  set.set("id", target);
  for (const auto& e : mine) set.add("reaction", std::string(kNsReactions), e);
  m.add("origin-id", std::string(kNsSid)).set("id", id);
  m.add("store", std::string(kNsHints));
  std::string as_nick = puppet ? puppet->nick : std::string();  // named: GCC 12
  co_return co_await send_and_confirm(post, std::move(m), groupchat, id, false,
                                      std::move(as_nick));
}

Task<> XMPPPlug::delete_message(const Receipt& receipt) {
  const std::string& source = receipt.channel.source;
  const Known* k = known(source, receipt.id);
  if (!k || k->sender != "self") {
    throw std::runtime_error("cannot retract " + receipt.id + ": not a message of ours");
  }
  auto stream = stream_;
  if (!stream || !stream->is_open()) throw std::runtime_error("not connected");
  bool groupchat = is_room(source);
  Element m("message", std::string(xmpp::kNsClient));
  std::string id = next_id();
  m.set("to", source).set("type", groupchat ? "groupchat" : "chat").set("id", id);
  // Retracted by whoever sent it: a puppet's message by that puppet.
  std::string from;
  if (puppets_ && groupchat) {
    if (const xmpp::Puppet* p = puppets_->by_nick(source, k->nick)) from = p->jid;
  }
  // XEP-0424 v1 names the room's stanza-id in a room and our own id in a
  // chat; v0 (fastening, our origin-id) for clients that know only it.
  m.add("retract", std::string(kNsRetract1)).set("id", groupchat ? receipt.id : k->client_id);
  Element& apply = m.add("apply-to", std::string(kNsFasten));
  apply.set("id", k->client_id);
  apply.add("retract", std::string(kNsRetract0));
  m.add("fallback", std::string(kNsFallback)).set("for", std::string(kNsRetract1));
  m.add("body", std::string(xmpp::kNsClient),
        "This person attempted to retract a previous message, but it's unsupported by your "
        "client.");
  m.add("origin-id", std::string(kNsSid)).set("id", id);
  m.add("store", std::string(kNsHints));
  auto seq = send(std::move(m), from);
  co_await stream->written(seq);
}

// ---- queries ---------------------------------------------------------------

Task<std::vector<Channel>> XMPPPlug::public_channels() {
  std::vector<Channel> out;
  for (const auto& [jid, room] : rooms_) out.push_back(channel(room.jid));
  co_return out;
}

Task<std::vector<Channel>> XMPPPlug::private_channels() {
  std::vector<Channel> out;
  for (const auto& jid : private_) out.push_back(channel(jid));
  co_return out;
}

Task<std::optional<bool>> XMPPPlug::channel_is_private(const Channel& ch) {
  if (is_room(ch.source)) co_return false;
  if (private_.count(ch.source) || not_rooms_.count(ch.source)) co_return true;
  co_return std::nullopt;
}

Task<std::optional<std::string>> XMPPPlug::channel_title(const Channel& ch) {
  auto it = rooms_.find(xmpp::fold_bare(ch.source));
  if (it == rooms_.end() || it->second.subject.empty()) co_return std::nullopt;
  co_return it->second.subject;
}

Task<std::optional<std::vector<UserPtr>>> XMPPPlug::channel_members(const Channel& ch) {
  auto it = rooms_.find(xmpp::fold_bare(ch.source));
  if (it == rooms_.end()) co_return std::nullopt;
  std::vector<UserPtr> out;
  for (const auto& [nick, occ] : it->second.occupants) {
    out.push_back(make_user(ch.source, ch.source + "/" + nick));
  }
  co_return out;
}

Task<std::optional<Channel>> XMPPPlug::channel_for_user(const User& user) {
  if (user.id.find('@') == std::string::npos) co_return std::nullopt;
  co_return channel(user.id);
}

}  // namespace immp::plugs
