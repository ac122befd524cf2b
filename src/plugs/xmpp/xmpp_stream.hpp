// One XMPP client (or XEP-0114 component) stream: the byte transport, the
// negotiation (STARTTLS or direct TLS, SASL, resource binding, or the
// component handshake), then stanzas both ways, with XEP-0199 keepalive
// pings. The plug owns one Stream per connection attempt.
//
// The transport is a seam: make_socket_transport() in production, an
// in-memory fake in unit tests (xmpp_stream_test.cpp), so the protocol logic
// runs without sockets.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

#include "immp/asio.hpp"
#include "immp/log.hpp"
#include "immp/tasks.hpp"
#include "net/tls.hpp"
#include "plugs/xmpp/xmpp_sasl.hpp"
#include "plugs/xmpp/xmpp_xml.hpp"

namespace immp::xmpp {

inline constexpr std::string_view kNsTls = "urn:ietf:params:xml:ns:xmpp-tls";
inline constexpr std::string_view kNsSasl = "urn:ietf:params:xml:ns:xmpp-sasl";
inline constexpr std::string_view kNsBind = "urn:ietf:params:xml:ns:xmpp-bind";
inline constexpr std::string_view kNsSession = "urn:ietf:params:xml:ns:xmpp-session";
inline constexpr std::string_view kNsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas";
inline constexpr std::string_view kNsStreamErrors = "urn:ietf:params:xml:ns:xmpp-streams";
inline constexpr std::string_view kNsPing = "urn:xmpp:ping";
inline constexpr std::string_view kNsSm = "urn:xmpp:sm:3";

enum class TlsMode {
  starttls,  // plaintext, upgraded before anything else; refused if the server cannot
  direct,    // TLS from the first byte (XEP-0368, port 5223)
  none,      // never (loopback tests only): PLAIN is then refused
};

struct StreamOptions {
  std::string host;  // where to connect
  int port = 5222;
  std::string domain;  // the JID's domain (or the component's name): stream "to", TLS name
  std::string username;
  std::string password;
  std::string resource;  // asked for when binding; the server may change it
  TlsMode tls = TlsMode::starttls;
  net::TlsOptions tls_options;
  // Tried in this order among those the server offers. PLAIN only over TLS.
  std::vector<Mechanism> mechanisms = {Mechanism::scram_sha_256, Mechanism::scram_sha_1,
                                       Mechanism::plain};
  ParseLimits limits;
  std::chrono::milliseconds connect_timeout{10'000};  // the whole negotiation
  std::chrono::milliseconds ping_interval{60'000};    // of silence before we ping
  std::chrono::milliseconds ping_timeout{30'000};     // for the answer, then the link is dead
  // XEP-0114: a component with `secret` instead of an account.
  bool component = false;
  std::string secret;
  // XEP-0198 where the server offers it (client streams only).
  bool stream_management = true;
  // After a resumption, how long the server has to answer our request for
  // an ack before the resumed session counts as dead: Prosody 0.12 can
  // resume a session whose new link it never reads (it feeds the new bytes
  // to the old link's parser, stuck on half a stanza from the link that
  // broke). The stream then closes and forgets the session.
  std::chrono::milliseconds resume_check{10'000};
};

// One XEP-0198 session: what the server acknowledged of ours and what we
// took from it, carried from a stream that broke to the next one so that
// the next can resume it. Owned by whoever opens the streams (the plug);
// the stream in use updates it, on its executor.
//
// Stanza numbers (Stream::send's) count every stanza queued in the
// session's life, 1, 2, ..., across streams and across fresh sessions.
struct Session {
  bool enabled = false;          // the server counts our stanzas (and we its)
  std::string id;                // resumption id; empty: it cannot resume
  std::string jid;               // the full JID bound
  std::chrono::seconds max{0};   // how long the server keeps it after a drop (0: unsaid)
  std::uint64_t base = 0;        // stanzas numbered before the server began to count
  std::uint64_t sent = 0;        // stanza numbers given out so far
  // Every stanza up to this number reached the server (its <a h=/>). Without
  // stream management: written to the socket, all one can know.
  std::uint64_t acked = 0;
  std::uint32_t handled = 0;     // stanzas we took from the server: the h we report
  std::deque<std::string> unacked;  // stanzas acked+1 .. sent, as written (with management)
  std::chrono::steady_clock::time_point lost{};  // when its last stream broke
  // Called (on the stream's executor) whenever `acked` moves.
  std::function<void()> on_ack;

  // Whether a new stream may try to resume it now.
  bool resumable(std::chrono::steady_clock::time_point now) const {
    return enabled && !id.empty() && (max.count() == 0 || now - lost < max);
  }
};

// The stream failed or closed; what() says why. `auth`: the server refused
// our credentials (retrying will not help until the config changes).
class StreamError : public std::runtime_error {
 public:
  explicit StreamError(const std::string& what, bool auth = false)
      : std::runtime_error(what), auth_(auth) {}
  bool auth() const { return auth_; }

 private:
  bool auth_;
};

struct IoResult {
  boost::system::error_code ec;
  std::size_t bytes = 0;
};

// One connection's bytes. Every call comes from the stream's executor; at
// most one read and one write are in flight at a time.
class Transport {
 public:
  virtual ~Transport() = default;
  // Resolves and connects; with direct TLS also handshakes. Throws
  // StreamError naming the step that failed.
  virtual Task<> connect() = 0;
  // Upgrades the connected stream to TLS (STARTTLS). Throws StreamError.
  virtual Task<> start_tls() = 0;
  virtual Task<IoResult> read_some(asio::mutable_buffer into) = 0;
  virtual Task<IoResult> write(asio::const_buffer data) = 0;
  // Cancels what is in flight and closes; idempotent.
  virtual void close() = 0;
  virtual bool is_tls() const = 0;
};

using TransportFactory =
    std::function<std::unique_ptr<Transport>(Executor, const StreamOptions&)>;

// TCP, TLS through net/tls.hpp (verification of the chain and of
// options.domain, or the pinned fingerprint). Throws StreamError when the CA
// file cannot be read or the pin is malformed.
std::unique_ptr<Transport> make_socket_transport(Executor ex, const StreamOptions& options);

class Stream {
 public:
  Stream(Executor ex, StreamOptions options, LoggerPtr log,
         TransportFactory transport = make_socket_transport);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // The XEP-0198 session this stream continues (before open()): open()
  // resumes it if it can, else starts a fresh one in it (numbers go on).
  void use_session(std::shared_ptr<Session> session) { session_ = std::move(session); }
  const Session& session() const { return *session_; }
  // Whether open() resumed the session: the server kept our rooms and
  // presence, resent what we had not acknowledged, and this stream wrote
  // again what the server had not acknowledged.
  bool resumed() const { return resumed_; }

  // Connects and negotiates, bounded by connect_timeout. Throws StreamError.
  Task<> open();
  // The full JID the server bound (the component's domain in component mode).
  const std::string& jid() const { return jid_; }
  const std::string& domain() const { return options_.domain; }
  bool is_open() const { return open_ && !closed_; }
  bool is_tls() const;
  // The namespace stanzas are written in: jabber:client or the component's.
  std::string_view stanza_ns() const { return options_.component ? kNsComponent : kNsClient; }
  // The stream's <features/> after authentication (empty for a component).
  const Element& features() const { return features_; }

  // The next stanza from the server, in order. Answers the server's XEP-0199
  // pings itself. Throws StreamError when the stream ends or breaks
  // (a malformed stanza: what and where). One reader at a time.
  Task<Element> read();

  // Queues `stanza` for writing; returns its number in the session (see
  // Session). Never blocks; written in order by the stream's writer task.
  std::uint64_t send(const Element& stanza);
  // Waits until stanza `seq` was written to the transport. Throws
  // StreamError if the stream broke first.
  Task<> written(std::uint64_t seq);
  // The session number of the last stanza written so far.
  std::uint64_t written_count() const { return written_ + offset_; }

  // Sends </stream:stream> (if open) and closes. Idempotent.
  void close(const std::string& reason);
  // Ends the stream's tasks; call before destroying.
  Task<> stop();
  const std::string& close_reason() const { return close_reason_; }

 private:
  Task<> negotiate();
  Task<> negotiate_component();
  Task<> authenticate(const Element& features);
  // The pieces of authenticate() that do not wait (kept out of the
  // coroutine: GCC 12 warns falsely of mismatched new/delete in large ones).
  Mechanism choose_mechanism(const Element& features);
  std::string sasl_start(SaslClient& client, Mechanism m);
  // What to write next, or nullopt once logged in; throws StreamError.
  std::optional<std::string> sasl_step(SaslClient& client, Mechanism m, const Element& answer);
  Task<> bind(const Element& features);
  // XEP-0198: resume the session (true), or enable it on a fresh one.
  Task<bool> resume(const Element& features);
  Task<> enable(const Element& features);
  // The server acknowledged `h` of the stanzas it counted.
  void take_ack(std::string_view h);
  // Queues bytes that are no stanza (acks, requests): not numbered.
  void send_raw(std::string_view xml);
  Task<> restart();
  Task<StreamEvent> next_event();
  Task<Element> next_stanza();
  Task<> write_now(std::string data);
  Task<> writer();
  Task<> keepalive();
  // Closes the stream if the server leaves the ack request sent on
  // resuming unanswered for resume_check (see StreamOptions).
  Task<> check_resumed();
  [[noreturn]] void fail(const std::string& why, bool auth = false);

  Executor ex_;
  StreamOptions options_;
  LoggerPtr log_;
  std::unique_ptr<Transport> transport_;
  StreamParser parser_;
  std::string jid_;
  std::string stream_id_;
  Element features_;
  bool open_ = false;
  bool closed_ = false;
  std::string close_reason_;
  std::string out_;            // queued bytes, not yet handed to the transport
  // Items (stanzas, and the close tag) queued and written by this stream;
  // item i is session stanza i + offset_.
  std::uint64_t queued_ = 0;
  std::uint64_t written_ = 0;
  std::uint64_t offset_ = 0;
  std::shared_ptr<Session> session_ = std::make_shared<Session>();
  bool resumed_ = false;
  bool ack_requested_ = false;  // an <r/> is out, its <a/> not back yet
  bool acked_since_open_ = false;  // an <a/> came on this stream
  Signal wake_writer_;
  Signal progress_;  // written_ moved, or the stream closed
  std::chrono::steady_clock::time_point last_read_;
  std::uint64_t ping_counter_ = 0;
  std::vector<char> buffer_;
  // Expires with the stream: timer handlers that may outlive it check it.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  TaskGroup tasks_;
};

}  // namespace immp::xmpp
