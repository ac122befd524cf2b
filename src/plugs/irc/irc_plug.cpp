#include "plugs/irc/irc_plug.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "immp/host.hpp"
#include "net/tls.hpp"
#include "text/markup_irc.hpp"
#include "plugs/irc/irc_puppets.hpp"
#include "plugs/irc/irc_split.hpp"
#include "plugs/irc/irc_sts.hpp"
#include "text/utf8.hpp"

namespace immp::plugs {

namespace {

using namespace std::chrono_literals;

std::chrono::milliseconds seconds_of(const Node& n) {
  return std::chrono::milliseconds(static_cast<long>(n.as_double() * 1000));
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

SpecPtr IRCPlug::schema() {
  auto server = object({
      {"host", str(), required, "server name or address"},
      {"port", integer(), 6667, "server port"},
      {"ssl", boolean(), false, "connect with TLS"},
      {"password", str(), Node(), "server password (PASS)"},
      {"verify", boolean(), true, "check the server's TLS certificate and name"},
      {"ca", str(), Node(), "PEM file of trusted certificate authorities (default: the system's)"},
      {"fingerprint", str(), Node(),
       "SHA-256 fingerprint of the server's certificate: trust exactly that one (self-signed)"},
      {"client-cert", str(), Node(), "PEM file with our TLS client certificate (and key)"},
      {"client-key", str(), Node(), "PEM file with the client certificate's key, if separate"},
  });
  auto user = object({
      {"nick", str(), required, "our nick"},
      {"real-name", str(), Node(), "our real name (default: the nick)"},
      {"username", str(), "immp", "our user name (ident), as IMMP's"},
  });
  auto sasl = object({
      {"mechanism", either({str(), list_of(str())}), "PLAIN",
       "SCRAM-SHA-256, PLAIN or EXTERNAL (the TLS client certificate), or a list of them tried "
       "in order"},
      {"username", str(), Node(), "account name (PLAIN, SCRAM-SHA-256)"},
      {"password", str(), Node(), "account password (PLAIN, SCRAM-SHA-256)"},
      {"required", boolean(), true,
       "without a successful login, quit (true) or carry on without an account (false)"},
  });
  return object({
      {"server", server, required, "the IRC server"},
      {"user", user, required, "who we are on it"},
      {"perform", list_of(str()), Node::list(), "raw IRC lines sent after connecting"},
      {"quit", str(), "Disconnecting", "quit message"},
      {"accept-invites", boolean(), false, "join channels we are invited to"},
      {"colour-nicks", boolean(), false, "colour the names of bridged users"},
      {"quote-reply-to", boolean(), true, "quote the message a reply answers"},
      {"puppet", boolean(), false, "a connection per bridged user"},
      {"puppet-prefix", str(), "", "prefix of puppet nicks"},
      {"max-puppets", integer(), Node(), "most puppet connections at once (default: no limit)"},
      {"send-delay", real(), 0.5, "flood control: seconds between lines (a float, as IMMP's)"},
      {"burst", integer(), 1, "flood control: lines sent at once before send-delay applies"},
      {"sasl", sasl, Node(), "SASL authentication"},
      {"ping-interval", real(), 60.0, "seconds of silence before we PING the server"},
      {"ping-timeout", real(), 30.0, "seconds to wait for an answer before reconnecting"},
      {"reconnect-min", real(), 1.0, "first reconnect delay in seconds (doubles each time)"},
      {"reconnect-max", real(), 300.0, "longest reconnect delay in seconds"},
      {"keys", map_of(str()), Node::map(), "channel -> key, for channels with a key"},
      {"sts", boolean(), true,
       "obey IRCv3 strict transport security: upgrade to TLS when the server asks, and remember"},
      {"sts-file", str(), "irc-sts.txt",
       "where STS policies are remembered across restarts (relative to the config's folder)"},
  });
}

IRCPlug::IRCPlug(const Init& init)
    : Plug(init),
      attempted_(init.host.executor()),
      tasks_(init.host.executor(), log()) {
  const Node& c = config();
  options_ = connection_options();
  // What a user gets on IRC: mIRC formatting, a line of about 400 bytes (a
  // longer text goes out as several lines), no edits, deletes, threads or
  // uploads (files go as links); our pace is send-delay's. `echo`, replies
  // and reactions follow the connection's capabilities and quote-reply-to
  // (serve()).
  features_.rich = true;
  features_.markup = Markup::irc;
  features_.max_length = 400;
  features_.max_length_bytes = true;
  if (options_.send_delay.count() > 0) {
    features_.rate = {1000.0 / static_cast<double>(options_.send_delay.count()), options_.burst};
  }
  set_online(false, "not connected yet");
  for (const auto& p : c.at("perform").as_list()) perform_.push_back(p.as_string());
  quit_message_ = c.at("quit").as_string();
  accept_invites_ = c.at("accept-invites").as_bool();
  colour_nicks_ = c.at("colour-nicks").as_bool();
  quote_reply_to_ = c.at("quote-reply-to").as_bool();
  reconnect_min_ = seconds_of(c.at("reconnect-min"));
  reconnect_max_ = seconds_of(c.at("reconnect-max"));
  if (reconnect_min_.count() <= 0) c.at("reconnect-min").fail("must be more than 0 seconds");
  if (reconnect_max_ < reconnect_min_) c.at("reconnect-max").fail("must be at least reconnect-min");
  for (const auto& [chan, key] : c.at("keys").as_map()) keys_[fold(chan)] = key.as_string();
  for (const auto& p : perform_) {
    std::string error;
    if (!irc::parse_line(p, &error)) c.at("perform").fail("not an IRC line: '" + p + "': " + error);
  }
  run_ = std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                            Clock::now().time_since_epoch())
                            .count());
  // No limit unless one is set, as IMMP (which has no such key).
  if (const Node& max = c.at("max-puppets"); !max.is_null()) {
    if (max.as_int() < 1) max.fail("must be at least 1 (leave it out for no limit)");
    max_puppets_ = static_cast<std::size_t>(max.as_int());
  }
  if (options_.sts) {
    std::filesystem::path file = c.at("sts-file").as_string();
    if (file.empty()) c.at("sts-file").fail("must name a file");
    if (file.is_relative()) file = host().options().base_dir / file;
    sts_ = std::make_unique<irc::StsStore>(file);
  }
  if (c.at("puppet").as_bool()) {
    puppets_ = std::make_unique<IrcPuppets>(init.host.executor(), attempt_options(),
                                            c.at("puppet-prefix").as_string(), max_puppets_,
                                            quit_message_, log());
  }
}

IRCPlug::~IRCPlug() = default;

irc::ConnectionOptions IRCPlug::connection_options() const {
  const Node& c = config();
  const Node& server = c.at("server");
  const Node& user = c.at("user");
  auto opt = [](const Node& n, std::string_view key) {
    const Node* v = n.find(key);
    return v && !v->is_null() ? v->as_string() : std::string();
  };
  irc::ConnectionOptions o;
  o.host = server.at("host").as_string();
  o.port = static_cast<int>(server.at("port").as_int());
  if (o.port <= 0 || o.port > 65535) server.at("port").fail("not a port number");
  o.tls = server.at("ssl").as_bool();
  o.password = opt(server, "password");
  o.verify = server.at("verify").as_bool();
  o.ca = opt(server, "ca");
  o.fingerprint = opt(server, "fingerprint");
  if (!o.fingerprint.empty()) {
    try {
      net::normalize_fingerprint(o.fingerprint);
    } catch (const net::TlsError& e) {
      server.at("fingerprint").fail(e.what());
    }
  }
  o.client_cert = opt(server, "client-cert");
  o.client_key = opt(server, "client-key");
  auto base = host().options().base_dir;
  for (std::string* path : {&o.ca, &o.client_cert, &o.client_key}) {
    if (!path->empty() && std::filesystem::path(*path).is_relative()) {
      *path = (base / *path).string();
    }
  }
  o.nick = user.at("nick").as_string();
  if (o.nick.empty() || o.nick.find_first_of(" ,*?!@:\r\n") != std::string::npos) {
    user.at("nick").fail("'" + o.nick + "' is not a valid IRC nick");
  }
  o.real_name = opt(user, "real-name");
  o.user = opt(user, "username");
  if (const Node* s = c.find("sasl"); s && !s->is_null() && s->is_map()) {
    const Node& mech = s->at("mechanism");
    std::vector<const Node*> names;
    if (mech.is_list()) {
      for (const auto& m : mech.as_list()) names.push_back(&m);
      if (names.empty()) mech.fail("lists no mechanism");
    } else {
      names.push_back(&mech);
    }
    for (const Node* n : names) {
      auto m = irc::parse_sasl_mechanism(upper(n->as_string()));
      if (!m) n->fail("must be SCRAM-SHA-256, PLAIN or EXTERNAL");
      o.sasl.mechanisms.push_back(*m);
    }
    o.sasl.username = opt(*s, "username");
    o.sasl.password = opt(*s, "password");
    o.sasl.required = s->at("required").as_bool();
    for (auto m : o.sasl.mechanisms) {
      if (m != irc::SaslMechanism::external &&
          (o.sasl.username.empty() || o.sasl.password.empty())) {
        s->fail("SASL " + std::string(irc::sasl_name(m)) + " needs a username and a password");
      }
      if (m == irc::SaslMechanism::external && o.client_cert.empty()) {
        s->fail("SASL EXTERNAL needs server.client-cert");
      }
    }
  }
  // Seconds as a float, as IMMP's schema has it. IMMP refuses an integer,
  // and so do we: `500` was milliseconds in earlier versions of immp, and
  // would otherwise mean eight minutes between lines.
  const Node& delay = c.at("send-delay");
  if (delay.is_int()) {
    auto n = std::to_string(delay.as_int());
    delay.fail("is in seconds and must be a float, as IMMP requires: write " + n + ".0 for " + n +
               " seconds (earlier versions of immp took milliseconds: " + n + " ms is " +
               std::to_string(static_cast<double>(delay.as_int()) / 1000).substr(0, 5) + ")");
  }
  if (!(delay.as_double() >= 0.0) || delay.as_double() > 3600.0) {
    delay.fail("must be between 0.0 and 3600.0 seconds");
  }
  auto burst = c.at("burst").as_int();
  if (burst < 1) c.at("burst").fail("must be at least 1");
  o.send_delay = std::chrono::milliseconds(std::lround(delay.as_double() * 1000));
  o.burst = static_cast<std::size_t>(burst);
  o.sts = c.at("sts").as_bool();
  o.ping_interval = seconds_of(c.at("ping-interval"));
  o.ping_timeout = seconds_of(c.at("ping-timeout"));
  if (o.ping_interval.count() <= 0) c.at("ping-interval").fail("must be more than 0 seconds");
  if (o.ping_timeout.count() <= 0) c.at("ping-timeout").fail("must be more than 0 seconds");
  return o;
}

std::string IRCPlug::network_name() const {
  return (network_.empty() ? options_.host : network_) + " IRC";
}

std::string IRCPlug::network_id() const {
  return "irc:" + options_.nick + "@" + options_.host + ":" + std::to_string(options_.port);
}

const std::string& IRCPlug::nick() const { return conn_ ? conn_->nick() : options_.nick; }

bool IRCPlug::is_channel(std::string_view source) const {
  return !source.empty() && chantypes_.find(source[0]) != std::string::npos;
}

bool IRCPlug::joined(const std::string& source) const {
  auto it = channels_.find(folded(source));
  return it != channels_.end() && it->second.joined;
}

bool IRCPlug::is_puppet(const std::string& nick) const { return puppets_ && puppets_->owns(nick); }

bool IRCPlug::is_us(std::string_view nick) const { return irc::same_name(nick, this->nick(), casemap_); }

std::string IRCPlug::next_id() {
  // One allocation: "<run>-<counter>".
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, ++counter_);
  std::string id;
  id.reserve(run_.size() + 1 + static_cast<std::size_t>(end - digits));
  id += run_;
  id += '-';
  id.append(digits, end);
  return id;
}

// ---- lifecycle -------------------------------------------------------------

Task<> IRCPlug::start() {
  stopping_ = false;
  for (const auto& [name, ch] : host().channels()) {
    if (ch.plug() == this && is_channel(ch.source)) wanted_[fold(ch.source)] = ch.source;
  }
  first_attempt_done_ = false;
  tasks_.spawn("irc " + name(), run());
  // Wait for the first attempt so that a host that opened has a connected
  // plug; bounded well under the host's phase timeout.
  asio::steady_timer bound(host().executor(), std::min<std::chrono::milliseconds>(
                                                  options_.register_timeout, 5s));
  bound.async_wait([this](boost::system::error_code ec) {
    if (!ec) attempted_.notify();
  });
  while (!first_attempt_done_ && bound.expiry() > std::chrono::steady_clock::now()) {
    co_await attempted_.wait();
  }
  bound.cancel();
}

Task<> IRCPlug::stop() {
  stopping_ = true;
  if (conn_) co_await conn_->quit(quit_message_, 1s);
  if (puppets_) co_await puppets_->stop();
  co_await tasks_.stop(2s);
  if (conn_) {
    co_await conn_->stop();
    conn_.reset();
  }
}

irc::ConnectionOptions IRCPlug::attempt_options() const {
  irc::ConnectionOptions o = options_;
  if (o.tls || !o.sts) return o;
  // A server that asked for TLS (this run) or whose policy we remember is
  // never spoken to in plaintext again; a failing TLS link is retried as
  // TLS, as the spec requires.
  std::optional<int> port = sts_upgrade_;
  if (!port && sts_) {
    if (auto policy = sts_->find(o.host, std::chrono::system_clock::now())) port = policy->port;
  }
  if (port) {
    o.tls = true;
    o.port = *port;
  }
  return o;
}

void IRCPlug::learn_sts(const irc::Connection& conn, const irc::ConnectionOptions& o) {
  auto duration = conn.sts_duration();
  if (!duration || !sts_) return;
  auto error = sts_->learn(o.host, o.port, *duration, std::chrono::system_clock::now());
  if (error) log()->warn("cannot remember the STS policy of {}: {}", o.host, *error);
  if (duration->count() == 0) {
    log()->info("{} withdrew its STS policy", o.host);
  } else {
    log()->info("{} requires TLS on port {} for {} s (STS, remembered in {})", o.host, o.port,
                duration->count(), sts_->file().string());
  }
}

Task<> IRCPlug::run() {
  Backoff backoff(reconnect_min_, reconnect_max_);
  while (!stopping_) {
    auto o = attempt_options();
    auto conn = std::make_shared<irc::Connection>(host().executor(), o, log());
    conn_ = conn;
    std::string failure;
    bool upgrade = false;
    try {
      try {
        co_await conn->open();
      } catch (...) {
        learn_sts(*conn, o);
        throw;
      }
      learn_sts(*conn, o);
      backoff.reset();
      co_await serve(*conn);
    } catch (const irc::StsUpgrade& e) {
      log()->info("{}", e.what());
      sts_upgrade_ = e.port;
      upgrade = true;
      failure = e.what();
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
    if (stopping_) co_return;
    conn->close(failure);
    co_await conn->stop();
    pending_echo_.clear();
    for (auto& [f, ch] : channels_) ch.joined = false;
    set_online(false, failure);
    if (upgrade) continue;  // at once: nothing failed
    auto delay = backoff.next();
    log()->warn("IRC link to {}:{} lost ({}); reconnecting in {} ms", options_.host,
                options_.port, failure, delay.count());
    asio::steady_timer wait(host().executor(), delay);
    co_await wait.async_wait(asio::use_awaitable);
  }
}

Task<> IRCPlug::serve(irc::Connection& conn) {
  ++connections_;
  features_.echo = conn.has_cap("echo-message");
  // Replies and reactions are native where client tags travel
  // (+draft/reply, +draft/react). Replies are ours to draw with
  // quote-reply-to too, as IMMP draws them (the parent quoted from recent_,
  // the reply under an arrow): sync passes them on instead of quoting.
  features_.reply = conn.has_cap("message-tags") || quote_reply_to_;
  features_.reaction = conn.has_cap("message-tags");
  log()->info("connected to {}:{} as {}{}", options_.host, options_.port, conn.nick(),
              conn.caps().empty() ? "" : " with " + [&] {
                std::string s;
                for (const auto& c : conn.caps()) s += (s.empty() ? "" : " ") + c;
                return s;
              }());
  if (!first_attempt_done_) {
    first_attempt_done_ = true;
    attempted_.notify();
  }
  channels_.clear();
  for (const auto& p : perform_) {
    if (auto line = irc::parse_line(p)) conn.post(line->str());
  }
  for (const auto& [f, source] : wanted_) send_join(source);
  // The server handles our lines in order, so what the outboxes send now
  // reaches the channels just joined.
  set_online(true);
  auto handle_logged = [this](const irc::Line& line) {
    try {
      handle(line);
    } catch (const std::exception& e) {
      log()->warn("ignoring {} from {}: {}", line.command, line.source(), e.what());
    }
  };
  for (;;) {
    irc::Line line = co_await conn.read();
    handle_logged(line);
    // The other lines the same read brought: no coroutine each.
    while (auto more = conn.try_read()) handle_logged(*more);
  }
}

void IRCPlug::join(const std::string& source, std::string key) {
  if (!key.empty()) keys_[fold(source)] = std::move(key);
  wanted_[fold(source)] = source;
  if (connected()) send_join(source);
}

void IRCPlug::part(const std::string& source) {
  wanted_.erase(fold(source));
  if (!connected()) return;
  if (auto line = irc::format_line("PART", {source})) conn_->post(std::move(*line));
}

void IRCPlug::send_join(const std::string& source) {
  std::vector<std::string> params{source};
  auto key = keys_.find(fold(source));
  if (key != keys_.end() && !key->second.empty()) params.push_back(key->second);
  std::string error;
  auto line = irc::format_line("JOIN", params, &error);
  if (!line) {
    log()->error("cannot join '{}': {}", source, error);
    return;
  }
  conn_->post(std::move(*line));
}

// ---- incoming --------------------------------------------------------------

UserPtr IRCPlug::make_user(const std::string& nick, const std::string& user,
                           const std::string& host) {
  // A user is immutable and made only of these: the one made last for this
  // nick is used again while its user and host are the same (a busy
  // channel's regulars cost no allocation per message).
  auto known = users_.find(nick);
  if (known != users_.end()) {
    const std::string& id = known->second->id;
    bool same = user.empty() && host.empty()
                    ? id == nick
                    : id.size() == nick.size() + 1 + user.size() + 1 + host.size() &&
                          id.compare(nick.size() + 1, user.size(), user) == 0 &&
                          id.compare(nick.size() + 2 + user.size(), host.size(), host) == 0;
    if (same) return known->second;
  }
  constexpr std::size_t kKnownUsers = 1024;
  if (users_.size() >= kKnownUsers && known == users_.end()) users_.clear();
  auto u = std::make_shared<User>();
  u->handle = Plug::handle();
  u->username = nick;
  u->id = user.empty() && host.empty() ? nick : nick + "!" + user + "@" + host;
  if (known != users_.end()) {
    known->second = u;
  } else {
    users_.emplace(nick, u);
  }
  return u;
}

const UserPtr& IRCPlug::self() {
  if (!self_ || self_->username != nick()) {
    self_ = make_user(nick(), {}, {});
  }
  return self_;
}

void IRCPlug::handle(const irc::Line& line) {
  const std::string& cmd = line.command;
  if (cmd == "PRIVMSG" || cmd == "NOTICE") {
    on_privmsg(line);
  } else if (cmd == "TAGMSG") {
    on_tagmsg(line);
  } else if (cmd == "JOIN") {
    on_join(line);
  } else if (cmd == "PART") {
    on_part(line, false);
  } else if (cmd == "KICK") {
    on_part(line, true);
  } else if (cmd == "QUIT") {
    on_quit(line);
  } else if (cmd == "NICK") {
    on_nick(line);
  } else if (cmd == "TOPIC" || cmd == "332") {
    on_topic(line);
  } else if (cmd == "353") {
    on_names(line);
  } else if (cmd == "005") {
    on_isupport(line);
  } else if (cmd == "INVITE") {
    if (accept_invites_ && is_us(line.param(0)) && is_channel(line.param(1))) {
      log()->info("invited to {} by {}; joining", line.param(1), line.nick);
      join(line.param(1));
    }
  } else if (cmd == "471" || cmd == "473" || cmd == "474" || cmd == "475" || cmd == "403") {
    log()->error("cannot join {}: {}", line.param(1),
                 line.params.empty() ? cmd : line.params.back());
  }
}

void IRCPlug::on_privmsg(const irc::Line& line) {
  if (line.params.size() < 2 || line.nick.empty()) return;
  // Server notices (no user@host) are not messages of anyone.
  if (line.user.empty() && line.host.empty()) return;
  std::string target = line.param(0);
  // STATUSMSG ("@#chan"): a message to the channel's ops is still the channel's.
  while (!target.empty() && prefixes_.find(target[0]) != std::string::npos &&
         target.size() > 1 && is_channel(target.substr(1))) {
    target.erase(0, 1);
  }
  const std::string& raw_text = line.params[1];
  bool from_us = is_us(line.nick);
  if (!from_us && is_puppet(line.nick)) return;
  Message msg;
  if (auto ctcp = irc::parse_ctcp(raw_text)) {
    auto action = irc::parse_action(raw_text);
    if (!action) {
      if (line.command == "PRIVMSG" && !from_us && ctcp->command == "VERSION") {
        if (auto reply = irc::format_line("NOTICE", {line.nick, "\x01VERSION immp\x01"})) {
          if (conn_) conn_->post(std::move(*reply));
        }
      }
      return;
    }
    msg.action = true;
    msg.text = markup::from_irc(unicode::repair_utf8(*action));
  } else {
    msg.text = markup::from_irc(unicode::repair_utf8(raw_text));
  }
  std::string source;
  if (is_channel(target)) {
    auto it = channels_.find(folded(target));
    source = it != channels_.end() && !it->second.name.empty() ? it->second.name : target;
  } else {
    source = from_us ? target : line.nick;
    private_.insert(source);
  }
  std::string id;
  bool echoed = false;  // one of our posted lines, come back (echo-message)
  // IRCv3 message-ids (msgid): the server's name for the line, which
  // others' replies (+draft/reply) refer to.
  const std::string* msgid = line.tag("msgid");
  if (msgid && msgid->empty()) msgid = nullptr;
  if (from_us) {
    // echo-message: the server returns our lines in the order we sent them.
    auto it = pending_echo_.find(folded(target));
    if (it != pending_echo_.end() && !it->second.empty()) {
      id = std::move(it->second.front());
      it->second.pop_front();
      echoed = true;
    }
    if (conn_) conn_->learn_prefix(line.user, line.host);
    msg.user = self();
    if (!id.empty() && msgid) remember_msgid(id, *msgid);
  } else {
    msg.user = make_user(line.nick, line.user, line.host);
  }
  if (id.empty()) id = msgid ? *msgid : next_id();
  if (const std::string* reply = line.tag("+draft/reply"); reply && !reply->empty()) {
    // A bare receipt: the id as the host knows it (ours, for our own lines).
    auto ours = msgid_ids_.find(*reply);
    Receipt to{ours != msgid_ids_.end() ? ours->second : *reply, Plug::channel(source),
               Clock::now(), {}, false};
    msg.reply_to = std::make_shared<const SentMessage>(std::move(to), Message{});
  }
  // Our own echoed lines are already the last message (put() noted them all).
  if (!echoed) {
    // Assigned into the string already there: its buffer is used again.
    auto& last = last_ids_[folded(source)];
    last.resize(1);
    last[0] = id;
  }
  auto at = line.time().value_or(Clock::now());
  auto sent = std::make_shared<const SentMessage>(
      Receipt{std::move(id), Plug::channel(source), at, {}, false}, std::move(msg));
  if (!echoed) remember(source, sent->id, sent);
  queue(std::move(sent));
}

void IRCPlug::on_tagmsg(const irc::Line& line) {
  // +draft/react: an emoji on the message +draft/reply names. Our own
  // reactions come back (echo-message) and are not news.
  const std::string* emoji = line.tag("+draft/react");
  const std::string* on = line.tag("+draft/reply");
  if (!emoji || emoji->empty() || !on || on->empty() || line.nick.empty()) return;
  if (is_us(line.nick) || is_puppet(line.nick)) return;
  std::string target = line.param(0);
  std::string source = is_channel(target) ? target : line.nick;
  if (is_channel(target)) {
    auto it = channels_.find(fold(target));
    if (it != channels_.end() && !it->second.name.empty()) source = it->second.name;
  }
  auto ours = msgid_ids_.find(*on);
  Receipt to{ours != msgid_ids_.end() ? ours->second : *on, Plug::channel(source), Clock::now(),
             {}, false};
  Message msg;
  msg.user = make_user(line.nick, line.user, line.host);
  msg.reaction = Reaction{*emoji, false, std::make_shared<const SentMessage>(std::move(to), Message{})};
  const std::string* msgid = line.tag("msgid");
  std::string id = msgid && !msgid->empty() ? *msgid : next_id();
  auto at = line.time().value_or(Clock::now());
  queue(std::make_shared<const SentMessage>(Receipt{id, Plug::channel(source), at, {}, false},
                                            std::move(msg)));
}

void IRCPlug::queue_membership(const std::string& source, UserPtr user, bool joined) {
  Message msg;
  (joined ? msg.joined : msg.left).push_back(user);
  msg.user = std::move(user);
  queue(std::make_shared<const SentMessage>(
      Receipt{next_id(), Plug::channel(source), Clock::now(), {}, false}, std::move(msg)));
}

void IRCPlug::on_join(const irc::Line& line) {
  const std::string& chan = line.param(0);
  if (chan.empty()) return;
  auto& state = channels_[fold(chan)];
  state.name = chan;
  std::string mask = line.user.empty() ? line.nick : line.source();
  if (is_us(line.nick)) {
    state.joined = true;
    state.members.clear();
    if (conn_) conn_->learn_prefix(line.user, line.host);
    log()->info("joined {}", chan);
  } else if (!is_puppet(line.nick)) {
    state.members[fold(line.nick)] = mask;
    queue_membership(chan, make_user(line.nick, line.user, line.host), true);
    return;
  }
  state.members[fold(line.nick)] = mask;
}

void IRCPlug::on_part(const irc::Line& line, bool kicked) {
  const std::string& chan = line.param(0);
  std::string who = kicked ? line.param(1) : line.nick;
  auto it = channels_.find(fold(chan));
  if (it == channels_.end()) return;
  auto& state = it->second;
  std::string mask = who;
  if (auto m = state.members.find(fold(who)); m != state.members.end()) {
    mask = m->second;
    state.members.erase(m);
  }
  if (is_us(who)) {
    state.joined = false;
    state.members.clear();
    log()->warn("{} {}{}", kicked ? "kicked from" : "left", chan,
                kicked ? " by " + line.nick : "");
    return;
  }
  if (is_puppet(who)) return;
  std::string nick = who, user, host;
  if (auto bang = mask.find('!'); bang != std::string::npos) {
    auto at = mask.find('@', bang);
    if (at != std::string::npos) {
      user = mask.substr(bang + 1, at - bang - 1);
      host = mask.substr(at + 1);
    }
  }
  queue_membership(state.name, make_user(nick, user, host), false);
}

void IRCPlug::on_quit(const irc::Line& line) {
  if (is_us(line.nick)) return;
  bool puppet = is_puppet(line.nick);
  for (auto& [f, state] : channels_) {
    auto m = state.members.find(fold(line.nick));
    if (m == state.members.end()) continue;
    state.members.erase(m);
    if (!puppet) queue_membership(state.name, make_user(line.nick, line.user, line.host), false);
  }
}

void IRCPlug::on_nick(const irc::Line& line) {
  const std::string& now = line.param(0);
  if (now.empty()) return;
  if (is_us(line.nick) && conn_) conn_->set_nick(now);
  std::string mask = line.user.empty() ? now : now + "!" + line.user + "@" + line.host;
  for (auto& [f, state] : channels_) {
    auto m = state.members.find(fold(line.nick));
    if (m == state.members.end()) continue;
    state.members.erase(m);
    state.members[fold(now)] = mask;
  }
}

void IRCPlug::on_topic(const irc::Line& line) {
  bool numeric = line.command == "332";
  const std::string& chan = numeric ? line.param(1) : line.param(0);
  const std::string& topic = numeric ? line.param(2) : line.param(1);
  auto& state = channels_[fold(chan)];
  if (state.name.empty()) state.name = chan;
  state.topic = markup::strip_irc(unicode::repair_utf8(topic));
  if (numeric || is_us(line.nick) || is_puppet(line.nick)) return;
  Message msg;
  msg.title = state.topic;
  msg.user = make_user(line.nick, line.user, line.host);
  queue(std::make_shared<const SentMessage>(
      Receipt{next_id(), Plug::channel(state.name), Clock::now(), {}, false}, std::move(msg)));
}

void IRCPlug::on_names(const irc::Line& line) {
  // 353 <me> <type> <channel> :<[prefixes]nick[!user@host]> ...
  const std::string& chan = line.param(2);
  auto& state = channels_[fold(chan)];
  if (state.name.empty()) state.name = chan;
  const std::string& list = line.param(3);
  std::size_t pos = 0;
  while (pos < list.size()) {
    std::size_t end = list.find(' ', pos);
    if (end == std::string::npos) end = list.size();
    std::string item = list.substr(pos, end - pos);
    pos = end + 1;
    std::size_t skip = 0;
    while (skip < item.size() && prefixes_.find(item[skip]) != std::string::npos) ++skip;
    item.erase(0, skip);
    if (item.empty()) continue;
    std::string nick = item.substr(0, item.find('!'));
    state.members[fold(nick)] = item;
  }
}

void IRCPlug::on_isupport(const irc::Line& line) {
  // 005 <me> TOKEN[=value] ... :are supported by this server
  for (std::size_t i = 1; i + 1 < line.params.size(); ++i) {
    const std::string& token = line.params[i];
    auto eq = token.find('=');
    std::string key = token.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : token.substr(eq + 1);
    if (key == "CASEMAPPING") {
      auto mapping = irc::parse_casemapping(value).value_or(irc::CaseMapping::ascii);
      if (mapping != casemap_) {
        casemap_ = mapping;
        std::map<std::string, std::string> refolded;
        for (auto& [f, source] : wanted_) refolded[fold(source)] = source;
        wanted_ = std::move(refolded);
      }
    } else if (key == "NETWORK" && !value.empty()) {
      network_ = value;
    } else if (key == "CHANTYPES" && !value.empty()) {
      chantypes_ = value;
    } else if ((key == "NICKLEN" || key == "USERLEN" || key == "HOSTLEN") && !value.empty()) {
      std::size_t n = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec == std::errc() && end == value.data() + value.size() && n > 0 && n < 400) {
        (key == "NICKLEN" ? nicklen_ : key == "USERLEN" ? userlen_ : hostlen_) = n;
      }
    } else if (key == "PREFIX") {
      // "(ov)@+": the symbols after ')'.
      auto close = value.find(')');
      if (close != std::string::npos && close + 1 < value.size()) prefixes_ = value.substr(close + 1);
    }
  }
}

// ---- outgoing --------------------------------------------------------------

// Lines are wrapped for the longest prefix the server allows, not for the
// nick we have now: a message cut by a dropped link resumes after the lines
// that went out, and that is only right if a new nick (bridge_ after a
// reconnect, a puppet) wraps the text the same way.
// Not a coroutine on purpose: with the options in put()'s frame, GCC 12
// warns (falsely, -Wmismatched-new-delete) about the frame's deallocation.
IRCPlug::Rendered IRCPlug::render(const std::string& target, const Message& msg,
                                  bool with_name) const {
  irc::RenderOptions o;
  o.with_name = with_name;
  o.colour_nicks = colour_nicks_;
  o.quote_reply_to = quote_reply_to_;
  o.reply_is_last = reply_is_last(target, msg);
  o.budget = budget(target);
  if (msg.reply_to && !msg.reply_to->text) {
    auto it = recent_.find(folded(target));
    if (it != recent_.end()) {
      const auto& recent = it->second;
      for (std::size_t i = recent.size(); i-- > 0;) {
        if (recent[i].id == msg.reply_to->id) {
          o.parent = recent[i].message.get();
          break;
        }
      }
    }
  }
  // The reply itself starts after the quote of its parent.
  return {irc::render_message(msg, o), irc::quotes_parent(msg, o) ? std::size_t{1} : 0};
}

void IRCPlug::remember(const std::string& source, std::string_view id, MessagePtr message) {
  // Enough to quote what people answer; older parents lose their quote.
  constexpr std::size_t kRecent = 256;
  auto& recent = recent_[folded(source)];
  if (recent.size() < kRecent) {
    recent.push_back(Recent{std::string(id), std::move(message)});
    return;
  }
  // Full: the oldest entry becomes the newest, its id assigned into the
  // string it has (no allocation per message once the ring is full).
  Recent reused = std::move(recent.front());
  recent.pop_front();
  reused.id.assign(id);
  reused.message = std::move(message);
  recent.push_back(std::move(reused));
}

void IRCPlug::remember_ours(const std::string& target, const std::vector<std::string>& ids,
                            const MessagePtr& msg) {
  if (!ids.empty()) remember(target, ids.front(), msg);
}

bool IRCPlug::reply_is_last(const std::string& target, const Message& msg) const {
  if (!msg.reply_to) return false;
  auto it = last_ids_.find(folded(target));
  if (it == last_ids_.end()) return false;
  return std::find(it->second.begin(), it->second.end(), msg.reply_to->id) != it->second.end();
}

std::size_t IRCPlug::budget(const std::string& target) const {
  // The longest prefix the server allows, "nick!~user@host": only its
  // length counts (no string built per message).
  const std::size_t longest = nicklen_ + 2 + userlen_ + 1 + hostlen_;
  const std::size_t overhead = 1 + longest + 1 + std::string_view("PRIVMSG").size() + 1 +
                               target.size() + 2;
  return overhead >= irc::kMaxBodyBytes ? 0 : irc::kMaxBodyBytes - overhead;
}

Task<PutResult> IRCPlug::put(Posting& post) {
  const std::string& target = post.channel().source;
  const MessagePtr& msg = post.message();
  std::shared_ptr<irc::Connection> conn = conn_;
  if (!conn || !conn->is_open()) {
    co_return PutResult::retry("not connected to IRC server " + options_.host + ":" +
                               std::to_string(options_.port));
  }
  if (msg->deleted) co_return PutResult::delivered();  // IRC cannot delete
  if (msg->reaction) co_return co_await put_reaction(post, *conn);
  bool own = !msg->user || (msg->user->plug() == this && is_us(msg->user->username));
  // A puppet speaks for the author under its own nick; without a name.
  if (puppets_ && !own && msg->user) {
    const User& author = *msg->user;
    std::string key = (author.handle ? author.handle->name() : std::string()) + "/" + author.id;
    std::vector<std::string> lines;
    for (auto& text : render(target, *msg, false).texts) {
      if (auto line = irc::format_line("PRIVMSG", {target, text})) lines.push_back(std::move(*line));
    }
    if (post.resume() >= lines.size()) co_return PutResult::delivered();
    lines.erase(lines.begin(), lines.begin() + static_cast<std::ptrdiff_t>(post.resume()));
    std::size_t count = lines.size();
    // Named as IMMP names puppets: username first for the nick; the real
    // name says who it is and where from.
    std::string real_name = author.real_name.empty() ? author.username : author.real_name;
    if (const Plug* from = author.plug()) {
      real_name += " (" + from->network_name() + (author.id.empty() ? "" : ": " + author.id) + ")";
    }
    auto written = co_await puppets_->send(key, irc::author_name(author),
                                           irc::clean_name(real_name), target, std::move(lines));
    if (written) {
      // The puppet's lines reach us as another nick's: no echo to announce.
      auto& last = last_ids_[fold(target)];
      last.clear();
      for (std::size_t i = 0; i < *written; ++i) {
        last.push_back(next_id());
        post.sent(last.back());
      }
      remember_ours(target, last, msg);
      if (*written == count) co_return PutResult::delivered();
      co_return PutResult::partial("the puppet's link dropped");
    }
  }
  // A native reply where the server carries client tags: the first line
  // names the message it answers (+draft/reply), as modern clients show it.
  std::vector<irc::Tag> reply_tag;
  if (msg->reply_to && conn->has_cap("message-tags")) {
    if (auto msgid = msgid_of(*msg->reply_to)) reply_tag.push_back({"+draft/reply", *msgid});
  }
  // Rendered once, into the one buffer its lines go out in.
  Rendered rendered = render(target, *msg, !own);
  const std::vector<irc::Tag> no_tags;
  std::string wire;
  // One allocation: "PRIVMSG <target> :<text>\r\n" per line, and the tag.
  std::size_t wire_bytes = 0;
  for (const auto& text : rendered.texts) wire_bytes += 12 + target.size() + text.size();
  for (const auto& tag : reply_tag) wire_bytes += 3 + tag.key.size() + 2 * tag.value.size();
  wire.reserve(wire_bytes);
  std::size_t resumed_at = 0;  // bytes of the lines an earlier attempt sent
  std::size_t count = 0;
  for (std::size_t i = 0; i < rendered.texts.size(); ++i) {
    std::string error;
    // The tag goes on the reply's own first line, not on the quote above it.
    if (!irc::append_line(wire, "PRIVMSG", {target, rendered.texts[i]}, &error,
                          i == rendered.reply_line ? reply_tag : no_tags)) {
      co_return PutResult::failed("cannot send to '" + target + "': " + error);
    }
    if (i < post.resume()) {
      resumed_at = wire.size();
    } else {
      ++count;
    }
  }
  // Lines an earlier attempt sent are never sent again.
  if (count == 0) co_return PutResult::delivered();
  if (resumed_at > 0) wire.erase(0, resumed_at);
  // Each line's id is the host's before the line can be echoed: the echo
  // then needs no lock to be known as ours.
  bool echo = conn->has_cap("echo-message");
  features_.echo = echo;
  std::deque<std::string>* pending = echo ? &pending_echo_[folded(target)] : nullptr;
  auto& last = last_ids_[folded(target)];
  last.resize(count);  // the strings left are assigned into: no allocation
  for (std::size_t i = 0; i < count; ++i) {
    std::string id = next_id();
    if (pending) pending->push_back(id);
    last[i] = id;
    post.announce(std::move(id));
  }
  remember_ours(target, last, msg);
  // In line on the link: the next message may start while the server
  // confirms these (Posting::ordered).
  auto ticket = conn->queue_wire(std::move(wire));
  if (ticket.target > ticket.base) post.ordered();
  std::size_t written = co_await conn->delivered(ticket);
  for (std::size_t i = 0; i < written; ++i) post.sent();
  if (!is_channel(target)) private_.insert(target);
  if (written < count) {
    std::string why = "IRC link lost: " + conn->close_reason();
    co_return written > 0 ? PutResult::partial(why) : PutResult::retry(why);
  }
  co_return PutResult::delivered();
}

// A reaction as IRCv3 client tags on a TAGMSG: +draft/react with the emoji,
// +draft/reply with the msgid of the message reacted to. There is no way to
// take one back, nor to react where client tags do not travel: those are
// dropped (Features::reaction says so beforehand).
Task<PutResult> IRCPlug::put_reaction(Posting& post, irc::Connection& conn) {
  const Reaction& r = *post.message()->reaction;
  if (r.removed || !r.on || !conn.has_cap("message-tags")) co_return PutResult::delivered();
  auto msgid = msgid_of(*r.on);
  if (!msgid) co_return PutResult::delivered();
  if (post.resume() > 0) co_return PutResult::delivered();
  std::string error;
  auto line = irc::format_line("TAGMSG", {post.channel().source}, &error,
                               {{"+draft/react", r.emoji}, {"+draft/reply", *msgid}});
  if (!line) co_return PutResult::failed("cannot react in '" + post.channel().source + "': " + error);
  post.announce(next_id());
  std::vector<std::string> lines{std::move(*line)};
  if (co_await conn.send(std::move(lines)) == 0) {
    co_return PutResult::retry("IRC link lost: " + conn.close_reason());
  }
  post.sent();
  co_return PutResult::delivered();
}

// ---- message ids -----------------------------------------------------------

void IRCPlug::remember_msgid(const std::string& id, const std::string& msgid) {
  // Bounded: the oldest pairs go first. Replies to older lines of ours
  // still reach us, under the server's msgid.
  constexpr std::size_t kRemembered = 4096;
  if (msgid_ids_.emplace(msgid, id).second) {
    id_msgids_[id] = msgid;
    msgid_order_.push_back(msgid);
  }
  while (msgid_order_.size() > kRemembered) {
    auto it = msgid_ids_.find(msgid_order_.front());
    if (it != msgid_ids_.end()) {
      id_msgids_.erase(it->second);
      msgid_ids_.erase(it);
    }
    msgid_order_.pop_front();
  }
}

std::optional<std::string> IRCPlug::msgid_of(const SentMessage& sent) const {
  if (sent.channel.plug() != this || sent.id.empty()) return std::nullopt;
  if (auto it = id_msgids_.find(sent.id); it != id_msgids_.end()) return it->second;
  // Our own ids ("<run>-<n>") are no msgids: without the echo's msgid,
  // there is nothing the server would know.
  auto dash = sent.id.find('-');
  if (dash != std::string::npos && dash > 0 &&
      sent.id.find_first_not_of("0123456789") == dash &&
      sent.id.find_first_not_of("0123456789", dash + 1) == std::string::npos) {
    return std::nullopt;
  }
  return sent.id;
}

// ---- queries ---------------------------------------------------------------

Task<UserPtr> IRCPlug::user_from_id(std::string id) {
  auto bang = id.find('!');
  auto at = id.find('@', bang == std::string::npos ? 0 : bang);
  if (bang != std::string::npos && at != std::string::npos) {
    co_return make_user(id.substr(0, bang), id.substr(bang + 1, at - bang - 1), id.substr(at + 1));
  }
  co_return co_await user_from_username(std::move(id));
}

Task<UserPtr> IRCPlug::user_from_username(std::string username) {
  if (username.empty() || username.find_first_of(" ,*?!@") != std::string::npos) co_return nullptr;
  for (const auto& [f, state] : channels_) {
    auto m = state.members.find(fold(username));
    if (m == state.members.end()) continue;
    const std::string& mask = m->second;
    auto bang = mask.find('!');
    auto at = mask.find('@');
    if (bang != std::string::npos && at != std::string::npos && bang < at) {
      co_return make_user(mask.substr(0, bang), mask.substr(bang + 1, at - bang - 1),
                          mask.substr(at + 1));
    }
    co_return make_user(mask);
  }
  auto u = std::make_shared<User>(*make_user(username));
  u->suggested = true;  // not seen in any of our channels
  co_return u;
}

Task<bool> IRCPlug::user_is_system(const User& user) {
  // Servers (and services) speak with a name that has a dot and no user@host.
  co_return user.id.find('!') == std::string::npos && user.id.find('.') != std::string::npos;
}

Task<std::vector<Channel>> IRCPlug::public_channels() {
  std::vector<Channel> out;
  for (const auto& [f, state] : channels_) {
    if (state.joined) out.push_back(Plug::channel(state.name));
  }
  co_return out;
}

Task<std::vector<Channel>> IRCPlug::private_channels() {
  std::vector<Channel> out;
  for (const auto& nick : private_) out.push_back(Plug::channel(nick));
  co_return out;
}

Task<std::optional<Channel>> IRCPlug::channel_for_user(const User& user) {
  if (user.username.empty()) co_return std::nullopt;
  co_return Plug::channel(user.username);
}

Task<std::optional<bool>> IRCPlug::channel_is_private(const Channel& channel) {
  co_return !is_channel(channel.source);
}

Task<std::optional<std::string>> IRCPlug::channel_title(const Channel& channel) {
  if (!is_channel(channel.source)) co_return std::nullopt;
  auto it = channels_.find(fold(channel.source));
  if (it == channels_.end() || !it->second.joined) co_return std::nullopt;
  co_return it->second.topic;
}

Task<std::optional<std::vector<UserPtr>>> IRCPlug::channel_members(const Channel& channel) {
  if (!is_channel(channel.source)) {
    co_return std::vector<UserPtr>{self(), make_user(channel.source)};
  }
  auto it = channels_.find(fold(channel.source));
  if (it == channels_.end() || !it->second.joined) co_return std::nullopt;
  std::vector<UserPtr> out;
  for (const auto& [f, mask] : it->second.members) {
    auto u = co_await user_from_id(mask);
    if (u) out.push_back(std::move(u));
  }
  co_return out;
}

Task<> IRCPlug::channel_invite(const Channel& channel, const User& user) {
  if (!connected()) throw std::runtime_error("not connected to IRC");
  std::string error;
  auto line = irc::format_line("INVITE", {user.username, channel.source}, &error);
  if (!line) throw std::invalid_argument(error);
  std::vector<std::string> lines{std::move(*line)};
  if (co_await conn_->send(std::move(lines)) == 0) throw std::runtime_error("IRC link lost");
}

Task<> IRCPlug::channel_remove(const Channel& channel, const User& user) {
  if (!connected()) throw std::runtime_error("not connected to IRC");
  std::string error;
  auto line = irc::format_line("KICK", {channel.source, user.username}, &error);
  if (!line) throw std::invalid_argument(error);
  std::vector<std::string> lines{std::move(*line)};
  if (co_await conn_->send(std::move(lines)) == 0) throw std::runtime_error("IRC link lost");
}

}  // namespace immp::plugs
