#include "plugs/xmpp/xmpp_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <openssl/sha.h>

#include <algorithm>
#include <charconv>

#include "net/socket.hpp"

namespace immp::xmpp {

namespace {

using namespace std::chrono_literals;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

class SocketTransport final : public Transport {
 public:
  SocketTransport(Executor ex, const StreamOptions& o)
      : ex_(ex),
        host_(o.host),
        port_(o.port),
        direct_(o.tls == TlsMode::direct),
        context_(make_context(o)),
        verifier_(o.domain, o.tls_options),
        stream_(ex, *context_) {}

  ~SocketTransport() override {
    boost::system::error_code ec;
    stream_.next_layer().close(ec);
  }

  Task<> connect() override {
    const std::string where = host_ + ":" + std::to_string(port_);
    asio::ip::tcp::resolver resolver(ex_);
    auto [rec, endpoints] = co_await resolver.async_resolve(host_, std::to_string(port_), kTuple);
    if (rec) throw StreamError("cannot resolve " + host_ + ": " + rec.message());
    if (closed_) throw StreamError("connecting to " + where + ": closed");
    auto [cec, ep] = co_await asio::async_connect(socket(), endpoints, kTuple);
    if (closed_) throw StreamError("connecting to " + where + ": closed");
    if (cec) throw StreamError("cannot connect to " + where + ": " + cec.message());
    boost::system::error_code ignore;
    socket().set_option(asio::ip::tcp::no_delay(true), ignore);
    if (direct_) co_await handshake();
  }

  Task<> start_tls() override { co_await handshake(); }

  Task<IoResult> read_some(asio::mutable_buffer into) override {
    IoResult r;
    if (tls_) {
      std::tie(r.ec, r.bytes) = co_await stream_.async_read_some(into, kTuple);
    } else {
      std::tie(r.ec, r.bytes) = co_await socket().async_read_some(into, kTuple);
    }
    // Prosody sets no TCP_NODELAY unless configured to (network_settings).
    if (r.bytes > 0) net::quick_ack(socket().native_handle());
    co_return r;
  }

  Task<IoResult> write(asio::const_buffer data) override {
    IoResult r;
    if (tls_) {
      std::tie(r.ec, r.bytes) = co_await asio::async_write(stream_, data, kTuple);
    } else {
      std::tie(r.ec, r.bytes) = co_await asio::async_write(socket(), data, kTuple);
    }
    co_return r;
  }

  void close() override {
    closed_ = true;
    boost::system::error_code ec;
    socket().cancel(ec);
    // Shut down first: a child process that inherited the descriptor (an
    // operator the host started) would otherwise keep the link open.
    socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket().close(ec);
  }

  bool is_tls() const override { return tls_; }

 private:
  static std::shared_ptr<asio::ssl::context> make_context(const StreamOptions& o) {
    if (o.tls == TlsMode::none) {
      return std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    }
    try {
      return net::make_tls_context(o.tls_options);
    } catch (const net::TlsError& e) {
      throw StreamError(e.what());
    }
  }

  Task<> handshake() {
    const std::string where = host_ + ":" + std::to_string(port_);
    net::prepare_tls(stream_, verifier_);
    auto [hec] = co_await stream_.async_handshake(asio::ssl::stream_base::client, kTuple);
    if (hec) throw StreamError(net::tls_failure(hec, verifier_, where));
    tls_ = true;
  }

  asio::ip::tcp::socket& socket() { return stream_.next_layer(); }

  Executor ex_;
  std::string host_;
  int port_;
  bool direct_;
  std::shared_ptr<asio::ssl::context> context_;
  net::TlsVerifier verifier_;
  asio::ssl::stream<asio::ip::tcp::socket> stream_;
  bool tls_ = false;
  bool closed_ = false;
};

std::string hex_sha1(std::string_view data) {
  unsigned char out[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (unsigned char c : out) {
    s += kHex[c >> 4];
    s += kHex[c & 15];
  }
  return s;
}

// The condition of a <failure/> or <stream:error/>: the name of its first
// child in `ns`, and its <text/> if any.
std::string condition(const Element& e, std::string_view ns) {
  std::string out;
  for (const auto& c : e.children) {
    if (c.ns == ns && c.name != "text") {
      out = c.name;
      break;
    }
  }
  if (out.empty()) out = "undefined-condition";
  if (auto text = e.child_text("text"); !text.empty()) out += " (" + std::string(text) + ")";
  return out;
}

}  // namespace

std::unique_ptr<Transport> make_socket_transport(Executor ex, const StreamOptions& options) {
  return std::make_unique<SocketTransport>(std::move(ex), options);
}

Stream::Stream(Executor ex, StreamOptions options, LoggerPtr log, TransportFactory transport)
    : ex_(ex),
      options_(std::move(options)),
      log_(std::move(log)),
      transport_(transport(ex, options_)),
      parser_(options_.limits),
      wake_writer_(ex),
      progress_(ex),
      buffer_(16 * 1024),
      tasks_(ex, log_) {}

Stream::~Stream() = default;

bool Stream::is_tls() const { return transport_->is_tls(); }

void Stream::fail(const std::string& why, bool auth) {
  close(why);
  throw StreamError(why, auth);
}

Task<> Stream::open() {
  // The negotiation is bounded as a whole: a server that accepts the
  // connection and then says nothing must not hold us forever.
  asio::steady_timer deadline(ex_, options_.connect_timeout);
  // (The handler may run after a cancel that came too late: it holds
  // nothing of this frame, and checks that the stream still exists.)
  auto timed_out = std::make_shared<bool>(false);
  deadline.async_wait([this, timed_out, alive = std::weak_ptr<bool>(alive_)](
                          boost::system::error_code ec) {
    if (ec || alive.expired()) return;
    *timed_out = true;
    transport_->close();
  });
  try {
    co_await transport_->connect();
    if (options_.component) {
      co_await negotiate_component();
    } else {
      co_await negotiate();
    }
  } catch (const StreamError& e) {
    deadline.cancel();
    if (*timed_out) {
      close("timed out");
      throw StreamError("no complete XMPP login with " + options_.host + ":" +
                        std::to_string(options_.port) + " within " +
                        std::to_string(options_.connect_timeout.count()) + " ms");
    }
    close(e.what());
    throw;
  }
  deadline.cancel();
  open_ = true;
  last_read_ = std::chrono::steady_clock::now();
  tasks_.spawn("xmpp writer", writer());
  tasks_.spawn("xmpp keepalive", keepalive());
  if (resumed_) tasks_.spawn("xmpp resume check", check_resumed());
}

Task<> Stream::check_resumed() {
  const auto limit = options_.resume_check;
  asio::steady_timer timer(ex_, limit);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (ec || closed_ || acked_since_open_) co_return;
  // Resuming it again would meet the same dead session: the next stream
  // starts a fresh one, and the owner settles what was not acknowledged.
  session_->id.clear();
  std::string why = "the server resumed the XMPP session but did not answer on it within " +
                    std::to_string(limit.count()) + " ms; starting a fresh session";
  log_->warn("{}", why);
  close(why);
}

Task<> Stream::restart() {
  parser_.reset();
  std::string header = "<?xml version='1.0'?><stream:stream to='" + escape(options_.domain) +
                       "' version='1.0' xml:lang='en' xmlns='" + std::string(stanza_ns()) +
                       "' xmlns:stream='http://etherx.jabber.org/streams'>";
  co_await write_now(std::move(header));
  StreamEvent opened = co_await next_event();
  if (opened.kind != StreamEvent::Kind::open) fail("the server did not open a stream");
  stream_id_ = std::string(opened.element.attr("id"));
}

Task<> Stream::negotiate() {
  bool authenticated = false;
  for (;;) {
    co_await restart();
    Element features = co_await next_stanza();
    if (!features.is("features", kNsStreams)) {
      fail("expected the stream's features, got <" + features.name + ">");
    }
    if (!transport_->is_tls() && options_.tls == TlsMode::starttls) {
      if (!features.child("starttls", kNsTls)) {
        fail(options_.host + ":" + std::to_string(options_.port) +
             " does not offer STARTTLS, and we do not log in without TLS (set tls: none to "
             "allow it)");
      }
      Element starttls("starttls", std::string(kNsTls));
      co_await write_now(starttls.str());
      Element answer = co_await next_stanza();
      if (!answer.is("proceed", kNsTls)) fail("the server refused STARTTLS");
      co_await transport_->start_tls();
      continue;
    }
    if (!authenticated) {
      co_await authenticate(features);
      authenticated = true;
      continue;
    }
    bool resumed = co_await resume(features);
    if (!resumed) {
      co_await bind(features);
      co_await enable(features);
    }
    features_ = std::move(features);
    co_return;
  }
}

Mechanism Stream::choose_mechanism(const Element& features) {
  const Element* mechs = features.child("mechanisms", kNsSasl);
  std::vector<std::string> offered;
  if (mechs) {
    for (const auto* m : mechs->children_named("mechanism")) offered.push_back(m->text);
  }
  for (Mechanism m : options_.mechanisms) {
    if (std::find(offered.begin(), offered.end(), mechanism_name(m)) == offered.end()) continue;
    if (m == Mechanism::plain && !transport_->is_tls()) continue;  // never a password in clear
    return m;
  }
  std::string list;
  for (const auto& o : offered) list += (list.empty() ? "" : ", ") + o;
  fail("no SASL mechanism in common with the server (it offers " +
           (list.empty() ? std::string("none") : list) + "; PLAIN only over TLS)",
       true);
}

std::optional<std::string> Stream::sasl_step(SaslClient& client, Mechanism m,
                                             const Element& answer) {
  const std::string name(mechanism_name(m));
  if (answer.is("challenge", kNsSasl)) {
    auto decoded = base64_decode(answer.text);
    if (!decoded) fail("the server's SASL challenge is not base64");
    SaslStep step = client.respond(*decoded);
    if (!step.response) {
      // Closing the stream is our answer; no <abort/> needed.
      fail("SASL " + name + ": " + step.error, true);
    }
    Element response("response", std::string(kNsSasl));
    response.text = step.response->empty() ? std::string() : base64_encode(*step.response);
    return response.str();
  }
  if (answer.is("success", kNsSasl)) {
    auto decoded = base64_decode(answer.text);
    std::string error = client.finish(decoded ? *decoded : std::string());
    if (!error.empty()) fail("SASL " + name + ": " + error, true);
    log_->debug("logged in as {} with {}", options_.username, name);
    return std::nullopt;
  }
  if (answer.is("failure", kNsSasl)) {
    fail("the server refused our login as " + options_.username + " with " + name + ": " +
             condition(answer, kNsSasl),
         true);
  }
  fail("unexpected <" + answer.name + "> during SASL");
}

std::string Stream::sasl_start(SaslClient& client, Mechanism m) {
  Element auth("auth", std::string(kNsSasl));
  auth.set("mechanism", std::string(mechanism_name(m)));
  std::string initial = client.initial();
  auth.text = initial.empty() ? "=" : base64_encode(initial);
  return auth.str();
}

Task<> Stream::authenticate(const Element& features) {
  Mechanism m = choose_mechanism(features);
  auto client = make_sasl_client(m, options_.username, options_.password);
  std::string first = sasl_start(*client, m);
  co_await write_now(std::move(first));
  for (;;) {
    Element answer = co_await next_stanza();
    std::optional<std::string> reply = sasl_step(*client, m, answer);
    if (!reply) co_return;
    co_await write_now(std::move(*reply));
  }
}

Task<> Stream::bind(const Element& features) {
  if (!features.child("bind", kNsBind)) fail("the server offers no resource binding");
  Element iq("iq", std::string(kNsClient));
  iq.set("type", "set").set("id", "bind");
  Element& b = iq.add("bind", std::string(kNsBind));
  if (!options_.resource.empty()) b.add("resource", std::string(kNsBind), options_.resource);
  co_await write_now(iq.str(kNsClient));
  Element answer = co_await next_stanza();
  if (!answer.is("iq", kNsClient) || answer.attr("id") != "bind") {
    fail("unexpected <" + answer.name + "> while binding a resource");
  }
  if (answer.attr("type") != "result") {
    const Element* error = answer.child("error");
    fail("the server refused to bind resource " + options_.resource + ": " +
         (error ? condition(*error, kNsStanzas) : std::string("no reason")));
  }
  const Element* bound = answer.child("bind", kNsBind);
  jid_ = bound ? std::string(bound->child_text("jid")) : std::string();
  if (jid_.empty()) fail("the server bound no JID");
  // RFC 3921's session, for old servers that still require it.
  if (const Element* s = features.child("session", kNsSession); s && !s->child("optional")) {
    Element session("iq", std::string(kNsClient));
    session.set("type", "set").set("id", "session");
    session.add("session", std::string(kNsSession));
    co_await write_now(session.str(kNsClient));
    Element ok = co_await next_stanza();
    if (ok.attr("type") != "result") fail("the server refused to start a session");
  }
}

Task<> Stream::negotiate_component() {
  co_await restart();
  Element handshake("handshake", std::string(kNsComponent));
  handshake.text = hex_sha1(stream_id_ + options_.secret);
  co_await write_now(handshake.str(kNsComponent));
  Element answer = co_await next_stanza();
  if (!answer.is("handshake", kNsComponent)) {
    fail("the server refused the component handshake of " + options_.domain, true);
  }
  jid_ = options_.domain;
  Session& s = *session_;
  s.enabled = false;
  s.id.clear();
  s.unacked.clear();
  s.base = s.sent;
  offset_ = s.sent;
}

Task<bool> Stream::resume(const Element& features) {
  Session& s = *session_;
  resumed_ = false;
  if (!options_.stream_management || !s.resumable(std::chrono::steady_clock::now()) ||
      !features.child("sm", kNsSm)) {
    co_return false;
  }
  Element r("resume", std::string(kNsSm));
  r.set("h", std::to_string(s.handled)).set("previd", s.id);
  co_await write_now(r.str());
  Element answer = co_await next_stanza();
  if (answer.is("resumed", kNsSm)) {
    take_ack(answer.attr("h"));
    jid_ = s.jid;
    resumed_ = true;
    // XEP-0198 §5: what the server did not acknowledge is ours to send
    // again, first and in order; the writer starts with it.
    offset_ = std::max(s.acked, s.base);
    for (const auto& stanza : s.unacked) {
      out_ += stanza;
      ++queued_;
    }
    // Always asked, even with nothing to send again: its answer is the
    // proof that the server reads this link (check_resumed).
    ack_requested_ = true;
    out_ += "<r xmlns='urn:xmpp:sm:3'/>";
    log_->info("resumed the XMPP session as {} ({} stanzas sent again)", jid_, s.unacked.size());
    co_return true;
  }
  if (answer.is("failed", kNsSm)) {
    // Since XEP-0198 1.6 a refusal may still say how far the server got.
    if (answer.has_attr("h")) take_ack(answer.attr("h"));
    log_->info("the server could not resume the XMPP session: {}",
               condition(answer, kNsStanzas));
    co_return false;
  }
  fail("unexpected <" + answer.name + "> while resuming the XMPP session");
}

Task<> Stream::enable(const Element& features) {
  // A fresh session: numbers go on from the old one, whose stanzas that the
  // server never acknowledged are the owner's to settle (Session::acked says
  // how far it got).
  Session& s = *session_;
  s.enabled = false;
  s.id.clear();
  s.unacked.clear();
  s.handled = 0;
  s.base = s.sent;
  s.jid = jid_;
  offset_ = s.sent;
  if (!options_.stream_management || !features.child("sm", kNsSm)) co_return;
  Element e("enable", std::string(kNsSm));
  e.set("resume", "true");
  co_await write_now(e.str());
  Element answer = co_await next_stanza();
  if (answer.is("enabled", kNsSm)) {
    s.enabled = true;
    auto resume = answer.attr("resume");
    if (resume == "true" || resume == "1") s.id = std::string(answer.attr("id"));
    unsigned long max = 0;
    auto m = answer.attr("max");
    std::from_chars(m.data(), m.data() + m.size(), max);
    s.max = std::chrono::seconds(max);
    log_->debug("stream management on{}", s.id.empty() ? "" : ", resumable");
    co_return;
  }
  if (answer.is("failed", kNsSm)) {
    log_->warn("the server refused stream management: {}", condition(answer, kNsStanzas));
    co_return;
  }
  fail("unexpected <" + answer.name + "> while enabling stream management");
}

void Stream::take_ack(std::string_view h) {
  Session& s = *session_;
  std::uint32_t value = 0;
  auto [end, ec] = std::from_chars(h.data(), h.data() + h.size(), value);
  if (ec != std::errc() || end != h.data() + h.size()) {
    log_->warn("ignoring a stream management ack with h='{}'", h);
    return;
  }
  // h counts from the session's start, modulo 2^32.
  const std::uint64_t floor = std::max(s.acked, s.base);
  const auto counted = static_cast<std::uint32_t>(floor - s.base);
  std::uint64_t now = floor + static_cast<std::uint32_t>(value - counted);
  if (now > s.sent) {
    log_->warn("the server acknowledged {} stanzas, more than the {} we sent", now - s.base,
               s.sent - s.base);
    now = s.sent;
  }
  for (std::uint64_t i = floor; i < now && !s.unacked.empty(); ++i) s.unacked.pop_front();
  if (now > s.acked) {
    s.acked = now;
    if (s.on_ack) s.on_ack();
  }
}

void Stream::send_raw(std::string_view xml) {
  out_ += xml;
  wake_writer_.notify();
}

Task<> Stream::write_now(std::string data) {
  auto buffer = asio::buffer(data);
  IoResult r = co_await transport_->write(buffer);
  if (r.ec) fail("writing to " + options_.host + ": " + r.ec.message());
}

Task<StreamEvent> Stream::next_event() {
  for (;;) {
    if (auto e = parser_.next()) co_return std::move(*e);
    if (const auto& error = parser_.error()) {
      std::string why = "malformed XML from " + options_.host + ": " + error->str();
      // RFC 6120 §4.9.3.13: tell the server before we go.
      if (!closed_) {
        std::string bye =
            "<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
            "</stream:error></stream:stream>";
        auto buffer = asio::buffer(bye);
        co_await transport_->write(buffer);
      }
      fail(why);
    }
    if (closed_) fail(close_reason_.empty() ? "closed" : close_reason_);
    auto into = asio::buffer(buffer_);
    IoResult r = co_await transport_->read_some(into);
    if (r.bytes > 0) {
      last_read_ = std::chrono::steady_clock::now();
      parser_.feed(std::string_view(buffer_.data(), r.bytes));
      continue;
    }
    if (r.ec == asio::error::eof) fail("the server closed the connection");
    if (closed_) fail(close_reason_.empty() ? "closed" : close_reason_);
    fail("link to " + options_.host + " lost: " + r.ec.message());
  }
}

Task<Element> Stream::next_stanza() {
  StreamEvent e = co_await next_event();
  if (e.kind == StreamEvent::Kind::close) fail("the server closed the stream");
  if (e.kind == StreamEvent::Kind::open) fail("the server opened a second stream");
  if (e.element.is("error", kNsStreams)) {
    fail("stream error from " + options_.host + ": " + condition(e.element, kNsStreamErrors));
  }
  co_return std::move(e.element);
}

Task<Element> Stream::read() {
  Session& s = *session_;
  for (;;) {
    Element stanza = co_await next_stanza();
    if (stanza.ns == kNsSm) {
      if (stanza.name == "r") {
        send_raw("<a xmlns='urn:xmpp:sm:3' h='" + std::to_string(s.handled) + "'/>");
      } else if (stanza.name == "a") {
        ack_requested_ = false;
        acked_since_open_ = true;
        take_ack(stanza.attr("h"));
        // More went out since that request: ask again, so that nothing
        // waits for an ack that no one asked for.
        if (s.enabled && s.sent > s.acked) {
          ack_requested_ = true;
          send_raw("<r xmlns='urn:xmpp:sm:3'/>");
        }
      }
      continue;
    }
    // Counted as taken once read() hands it over (or answers it): a stanza
    // lost in a broken link's buffers is resent by the server on resumption.
    if (s.enabled) ++s.handled;
    if (stanza.name == "iq" && stanza.attr("type") == "get" && stanza.child("ping", kNsPing)) {
      Element pong("iq", std::string(stanza_ns()));
      pong.set("type", "result").set("id", std::string(stanza.attr("id")));
      if (stanza.has_attr("from")) pong.set("to", std::string(stanza.attr("from")));
      if (options_.component && stanza.has_attr("to")) {
        pong.set("from", std::string(stanza.attr("to")));
      }
      send(pong);
      continue;
    }
    co_return stanza;
  }
}

std::uint64_t Stream::send(const Element& stanza) {
  Session& s = *session_;
  ++s.sent;
  if (s.enabled) {
    // Kept until the server acknowledges it, to be sent again after a drop.
    // While a new link is still negotiating, only kept: resume() queues
    // every unacknowledged stanza in order (writing it here too would send
    // it twice, and before older ones), and a fresh session settles it.
    std::string xml;
    stanza.write(xml, stanza_ns());
    if (open_) {
      out_ += xml;
      ++queued_;
    }
    s.unacked.push_back(std::move(xml));
  } else {
    stanza.write(out_, stanza_ns());
    ++queued_;
  }
  wake_writer_.notify();
  return s.sent;
}

Task<> Stream::written(std::uint64_t seq) {
  while (written_ + offset_ < seq) {
    if (closed_) throw StreamError(close_reason_.empty() ? "closed" : close_reason_);
    co_await progress_.wait();
  }
}

Task<> Stream::writer() {
  std::string batch;
  while (!closed_) {
    if (out_.empty()) {
      co_await wake_writer_.wait();
      continue;
    }
    batch.clear();
    batch.swap(out_);
    std::uint64_t upto = queued_;
    Session& s = *session_;
    // One request for an ack rides with each batch that has stanzas the
    // server has not acknowledged, while no earlier request is unanswered.
    if (s.enabled && !ack_requested_ && s.sent > std::max(s.acked, s.base)) {
      ack_requested_ = true;
      batch += "<r xmlns='urn:xmpp:sm:3'/>";
    }
    auto buffer = asio::buffer(batch);
    IoResult r = co_await transport_->write(buffer);
    if (r.ec) {
      if (!closed_) close("writing to " + options_.host + ": " + r.ec.message());
      break;
    }
    written_ = upto;
    if (!s.enabled) {
      // Without stream management, written is all we will ever know.
      std::uint64_t now = std::min(written_ + offset_, s.sent);
      if (now > s.acked) {
        s.acked = now;
        if (s.on_ack) s.on_ack();
      }
    }
    progress_.notify();
  }
  progress_.notify();
}

Task<> Stream::keepalive() {
  asio::steady_timer timer(ex_);
  while (!closed_) {
    timer.expires_after(options_.ping_interval);
    co_await timer.async_wait(asio::use_awaitable);
    if (closed_) break;
    auto silent = std::chrono::steady_clock::now() - last_read_;
    if (silent < options_.ping_interval) continue;
    auto sent_at = std::chrono::steady_clock::now();
    Element ping("iq", std::string(stanza_ns()));
    ping.set("type", "get").set("id", "keepalive-" + std::to_string(++ping_counter_));
    ping.set("to", options_.domain);
    if (options_.component) ping.set("from", options_.domain);
    ping.add("ping", std::string(kNsPing));
    send(ping);
    timer.expires_after(options_.ping_timeout);
    co_await timer.async_wait(asio::use_awaitable);
    if (last_read_ < sent_at && !closed_) {
      log_->warn("no answer from {} to a ping in {} ms", options_.host,
                 options_.ping_timeout.count());
      close("no answer to a ping in " + std::to_string(options_.ping_timeout.count()) + " ms");
    }
  }
}

void Stream::close(const std::string& reason) {
  if (closed_) return;
  closed_ = true;
  close_reason_ = reason;
  transport_->close();
  wake_writer_.notify();
  progress_.notify();
}

Task<> Stream::stop() {
  if (open_ && !closed_) {
    // A polite end: what is queued, then the stream's close tag.
    out_ += "</stream:stream>";
    const std::uint64_t last = ++queued_;
    wake_writer_.notify();
    asio::steady_timer bound(ex_, 200ms);
    bound.async_wait([this, alive = std::weak_ptr<bool>(alive_)](boost::system::error_code ec) {
      if (!ec && !alive.expired()) close("stopped");
    });
    while (written_ < last && !closed_) co_await progress_.wait();
    bound.cancel();
  }
  close("stopped");
  co_await tasks_.stop(1s);
}

}  // namespace immp::xmpp
