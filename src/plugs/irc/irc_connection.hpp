// One IRC connection: owns its transport (plain TCP or TLS, or a fake in
// tests), registers (CAP, SASL, PASS, NICK/USER with nick-collision retries),
// answers PINGs, keeps the link alive, reads lines and writes them through a
// token bucket.
//
// Used by the plug for its own link and by puppets. Everything runs on the
// executor it was made with; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "immp/asio.hpp"
#include "immp/log.hpp"
#include "immp/ring.hpp"
#include "immp/tasks.hpp"
#include "net/seq_waiters.hpp"
#include "plugs/irc/irc_bucket.hpp"
#include "plugs/irc/irc_line.hpp"
#include "plugs/irc/irc_sasl.hpp"
#include "plugs/irc/irc_transport.hpp"

namespace immp::irc {

struct SaslOptions {
  // Tried in this order, each after the one before failed; empty: no SASL.
  std::vector<SaslMechanism> mechanisms;
  std::string username;  // the account (PLAIN, SCRAM-SHA-256)
  std::string password;
  // When the server has no SASL, or every mechanism failed: true, end
  // registration with CAP END and QUIT and fail (the plug retries with
  // backoff); false, log it and carry on without an account. A server that
  // fails SCRAM's proof of the password ends it either way.
  bool required = true;
  NonceSource nonce = random_nonce;  // SCRAM's client nonce; tests fix it
};

// Thrown by open() when a plaintext link's server advertised STS: connect
// again with TLS on `port`. The connection has sent QUIT.
class StsUpgrade : public ConnectionError {
 public:
  StsUpgrade(int port, const std::string& what) : ConnectionError(what), port(port) {}
  int port;
};

struct ConnectionOptions {
  std::string host = "127.0.0.1";
  int port = 6667;
  bool tls = false;
  bool verify = true;       // check the server's certificate and name
  std::string ca;           // PEM file of trusted CAs; empty: the system's
  std::string fingerprint;  // SHA-256 pin of the server's certificate (net/tls.hpp)
  std::string client_cert;  // PEM file with our certificate (and key, unless client_key)
  std::string client_key;
  std::string password;  // PASS
  std::string nick;
  std::string user;
  std::string real_name;
  SaslOptions sasl;
  // Flood control for every line after registration: `burst` lines may go
  // at once, then one per send_delay. The defaults are IMMP's: each line
  // 500 ms after the one before.
  std::chrono::milliseconds send_delay{500};
  std::size_t burst = 1;
  // PING the server after this much silence; drop the link if nothing comes
  // back within ping_timeout.
  std::chrono::milliseconds ping_interval{std::chrono::seconds(60)};
  std::chrono::milliseconds ping_timeout{std::chrono::seconds(30)};
  // Obey IRCv3 STS: a plaintext link whose server advertises `sts` with a
  // port is left for TLS (StsUpgrade).
  bool sts = true;
  // Whether send() counts a line only once the server confirmed it: with
  // echo-message, a message by its echo (or the error that refused it);
  // any other line by a PING written after it and answered (a server
  // handles a client's lines in order); a message whose echo is 2 s late
  // gets such a PING too. Off, a line counts once the socket took it: what
  // a link that then died may have lost.
  bool confirm = true;
  // Connecting and registering must finish within this.
  std::chrono::milliseconds register_timeout{std::chrono::seconds(20)};
  // The seams tests replace (irc_transport_fake.hpp). The stream, made once
  // by the constructor; null: make_socket_transport(), TCP or TLS per the
  // fields above.
  TransportFactory transport;
  // Time for flood control, keepalive and the registration and QUIT
  // deadlines; null: the steady clock.
  std::shared_ptr<ConnectionClock> clock;
};

class Connection {
 public:
  Connection(Executor ex, ConnectionOptions options, LoggerPtr log);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects, negotiates capabilities, authenticates and registers. Returns
  // once the server welcomed us (001). Throws ConnectionError (refused, TLS
  // verification failed, SASL failed, banned, timed out).
  Task<> open();

  // The next line from the server after registration. Answers PING itself;
  // skips (and logs) malformed lines. Throws ConnectionError once the link
  // is closed or dead (no answer to our keepalive PING).
  Task<Line> read();
  // read() without suspending: the next line already read from the socket
  // (PING answered and the rest, as read() does), or nullopt when read()
  // would have to wait for the socket (or the link is closed). A line
  // costs no coroutine this way: a reader takes what one read brought with
  // this, then awaits read(). Throws as read() does on the server's ERROR.
  std::optional<Line> try_read();

  // Queues lines (full wire lines from format_line()) behind the flood
  // control and returns how many of them were delivered, in order: all of
  // them, or fewer when the link closed first (0 when it was not open).
  // With options.confirm, a line is delivered once the server confirmed it
  // (its echo, or the answer to a "PING :immp-c<n>" written after it in
  // the same write, outside the flood control); read() must be running to
  // see the answer. Without, once the socket took all of it. Throws
  // std::invalid_argument, and writes none of them, if a line is not one
  // wire line (CR LF at its end and nowhere else, no NUL).
  Task<std::size_t> send(std::vector<std::string> lines);
  // send() in two steps: queue_lines() puts the lines in line at once (no
  // later line can overtake them), delivered() then waits as send() does.
  struct Ticket {
    std::uint64_t base = 0;    // lines queued before these
    std::uint64_t target = 0;  // base + their number; base when none went
  };
  Ticket queue_lines(std::vector<std::string> lines);
  // queue_lines() for lines already in one buffer, one after the other
  // (append_line()): a message's lines go as they were rendered, with no
  // string per line (unless flood control paces them one by one). Throws
  // std::invalid_argument, queuing none, unless `wire` is whole wire lines.
  Ticket queue_wire(std::string wire);
  Task<std::size_t> delivered(Ticket ticket);
  // The same for one line without waiting; false if closed or not one wire
  // line (logged).
  bool post(std::string line);
  // Writes before any queued line and outside the bucket's pace (PONG,
  // QUIT): it still counts against the bucket.
  bool post_urgent(std::string line);

  // Sends QUIT (if open) and waits up to `grace` for it to be written, then
  // closes. Safe to call more than once.
  Task<> quit(std::string message, std::chrono::milliseconds grace);
  // Closes the socket at once; pending send()s and read() throw.
  void close(std::string reason);
  // Ends background tasks; call before destroying.
  Task<> stop();

  bool is_open() const { return open_; }
  const std::string& nick() const { return nick_; }
  void set_nick(std::string nick) { nick_ = std::move(nick); }
  // Our "nick!user@host" as others see it, when learned (001 text, JOIN
  // echo, WHO); else our nick with a worst-case user@host.
  std::string prefix() const;
  void learn_prefix(const std::string& user, const std::string& host);
  bool has_cap(const std::string& cap) const { return caps_.count(cap) > 0; }
  const std::set<std::string>& caps() const { return caps_; }
  const std::string& close_reason() const { return close_reason_; }
  // The STS duration a TLS link's server advertised (its policy lasts that
  // long from now; 0 removes it); nullopt when none. Set during open(),
  // also when open() then fails.
  std::optional<std::chrono::seconds> sts_duration() const { return sts_duration_; }
  // The account SASL logged us in as (900); empty when none.
  const std::string& account() const { return account_; }

 private:
  // Queued bytes for the writer: `lines` whole lines, or the rest of a
  // batch written in part (its first line begun already).
  struct Pending {
    std::string bytes;
    std::size_t lines = 1;
    bool echoes = false;  // every line is one the server echoes (echo_confirms_)
  };

  Task<> connect();
  Task<> negotiate();
  // Ends registration politely, CAP END then QUIT, rather than dropping
  // the socket; then throws ConnectionError(why).
  Task<> give_up(std::string why);
  // Close the link if registration (or a QUIT) takes too long; on clock_.
  Task<> registration_deadline();
  Task<> quit_deadline(std::chrono::milliseconds grace);
  Task<std::optional<Line>> read_raw();
  // The next whole line in buffer_, parsed (malformed ones skipped and
  // logged); nullopt when the buffer holds no whole line.
  std::optional<Line> next_buffered();
  // What read() does with a line before handing it out: answers PING,
  // notes PONG and echoes; false for the lines it keeps to itself. Throws
  // ConnectionError on ERROR (the link is closed).
  bool passes(const Line& line);
  Task<> write_loop();
  Task<> keepalive();
  Task<> write_now(std::string line);
  // Queued lines go out from a handler posted once per turn of the
  // executor: every put() of that turn shares one write and one PING.
  void flush_soon();
  // Writes what is queued without suspending, when the transport can, no
  // write is under way and the bucket allows; else leaves it to the writer.
  void flush();
  // Moves into batch_ the queued lines the bucket lets go at `now` (at
  // least one; spends their tokens), noting their parts in batch_parts_;
  // the number of lines, and in `echoes` whether every one is echoed.
  std::uint64_t take_batch(ConnectionClock::TimePoint now, bool& echoes);
  // Lines of batch_ that its first `n` bytes hold whole.
  std::uint64_t lines_within(std::size_t n) const;
  // The first `whole` lines of batch_ were written: count them and note
  // the echoes they expect.
  void note_written(std::uint64_t whole);
  // After a write of batch_ that took only its first `n` bytes: the rest
  // goes back to the front of the queue, before anything queued later.
  void requeue_rest(std::size_t n, std::size_t lines_end, std::uint64_t count, bool echoes,
                    std::uint64_t pinged_before);
  // What delivered() counts moved on (or the link closed): wake its waiters.
  void progressed();
  std::uint64_t done_seq() const { return options_.confirm ? confirmed_seq_ : written_seq_; }
  std::string wire(std::string_view command, const std::vector<std::string>& params);
  bool enqueue(std::string line, bool urgent);
  // Appends to `batch` the PING that confirms the first `seq` lines, when
  // confirming and no PING covers them yet.
  void append_confirmation(std::string& batch, std::uint64_t seq);
  void note_pong(const Line& line);
  // The lines numbered up to `seq` reached the server.
  void confirm_through(std::uint64_t seq);
  // Whether the server echoes `wire` back when echo-message is on.
  bool echoes_back(std::string_view wire) const;
  // Notes the written lines after written_seq_ that wait for an echo.
  void expect_echo(std::uint64_t seq, bool echoes);
  // Logs and closes, unless closed already (then the error is its echo).
  void write_failed(const boost::system::error_code& ec);

  Executor ex_;
  ConnectionOptions options_;
  LoggerPtr log_;
  std::shared_ptr<ConnectionClock> clock_;
  std::unique_ptr<Transport> transport_;
  std::string buffer_;
  std::size_t read_pos_ = 0;       // buffer_ before this was consumed
  std::unique_ptr<char[]> chunk_;  // read from the socket into this
  TokenBucket bucket_;
  TaskGroup tasks_;

  bool open_ = false;    // registered and usable
  bool closed_ = false;  // close() was called or the link failed
  std::string close_reason_;
  std::string nick_;
  std::string user_;
  std::string host_;
  std::set<std::string> caps_;
  std::string account_;
  std::optional<std::chrono::seconds> sts_duration_;

  std::deque<std::string> urgent_;
  Ring<Pending> queue_;  // no allocation per line once warm (std::deque: a block every few)
  std::uint64_t queued_seq_ = 0;   // lines ever queued (normal queue)
  std::uint64_t written_seq_ = 0;  // of those, written whole
  std::uint64_t pinged_seq_ = 0;   // a confirmation PING went out after this many
  std::uint64_t confirmed_seq_ = 0;  // the server answered a PING after this many
  std::uint64_t answered_seq_ = 0;   // a PONG covered this many (maybe not yet noted written)
  std::size_t early_echoes_ = 0;     // echoes read before their write completed
  // With echo-message, the server's echo of a message confirms it: no PING.
  bool echo_confirms_ = false;
  std::deque<std::uint64_t> echoes_;  // numbers of written lines awaiting their echo
  ConnectionClock::TimePoint last_write_;
  // The batch being written, reused (its buffer stays); per entry of it,
  // its lines and whether they echo. Used by the writer while writing_,
  // and by flush() only when not.
  std::string batch_;
  struct Part {
    std::size_t bytes;  // of batch_, in order; a PING appended after them is none
    std::size_t lines;  // ended in it (the first may have begun in an earlier write)
    bool echoes;
  };
  std::vector<Part> batch_parts_;
  Signal wake_writer_;
  Signal written_;  // a write ended or the link closed (quit() waits on it)
  net::SeqWaiters delivered_;  // delivered() callers, by the line count they wait for
  bool flush_posted_ = false;
  // Queued lines waited for the bucket: the next batch is spaced from its
  // actual send, not from the schedule (TokenBucket::overdue).
  bool paced_ = false;
  // False once destroyed: a posted flush() then does nothing.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  ConnectionClock::TimePoint last_rx_;
  bool ping_sent_ = false;
  bool writing_ = false;
};

}  // namespace immp::irc
