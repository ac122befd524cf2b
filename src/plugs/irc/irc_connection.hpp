// One IRC connection: owns its stream (plain TCP or TLS), registers (CAP,
// SASL, PASS, NICK/USER with nick-collision retries), answers PINGs, keeps
// the link alive, reads lines and writes them through a token bucket.
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

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include "immp/asio.hpp"
#include "immp/log.hpp"
#include "immp/tasks.hpp"
#include "plugs/irc/irc_bucket.hpp"
#include "plugs/irc/irc_line.hpp"

namespace immp::irc {

struct SaslOptions {
  std::string mechanism;  // "PLAIN" or "EXTERNAL"; empty: no SASL
  std::string username;
  std::string password;
};

struct ConnectionOptions {
  std::string host = "127.0.0.1";
  int port = 6667;
  bool tls = false;
  bool verify = true;       // check the server's certificate and name
  std::string ca;           // PEM file of trusted CAs; empty: the system's
  std::string client_cert;  // PEM file with our certificate (and key, unless client_key)
  std::string client_key;
  std::string password;     // PASS
  std::string nick;
  std::string user;
  std::string real_name;
  SaslOptions sasl;
  std::chrono::milliseconds send_delay{500};
  std::size_t burst = 5;
  // PING the server after this much silence; drop the link if nothing comes
  // back within ping_timeout.
  std::chrono::milliseconds ping_interval{std::chrono::seconds(60)};
  std::chrono::milliseconds ping_timeout{std::chrono::seconds(30)};
  // Connecting and registering must finish within this.
  std::chrono::milliseconds register_timeout{std::chrono::seconds(20)};
};

// Thrown when the link fails or closes; what() says why.
class ConnectionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
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

  // Queues lines (full wire lines from format_line()) behind the flood
  // control and returns how many of them were written, in order: all of
  // them, or fewer when the link closed first (0 when it was not open).
  // A line counts as written once the socket took all of it.
  Task<std::size_t> send(std::vector<std::string> lines);
  // The same for one line without waiting; false if closed.
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

 private:
  Task<> connect();
  Task<> negotiate();
  Task<std::optional<Line>> read_raw();
  Task<> write_loop();
  Task<> keepalive();
  Task<> write_now(std::string line);
  // Writes `lines` at once without suspending when that is allowed (plain
  // TCP, nothing queued, the bucket has tokens for all): true if it did,
  // leaving in `lines` what the kernel did not take (one string of the
  // remaining bytes), for the writer, and in `whole` how many lines the
  // kernel took entirely. Throws ConnectionError on a write error.
  bool try_write_now(std::vector<std::string>& lines, std::size_t& whole);
  std::string wire(std::string_view command, const std::vector<std::string>& params);
  bool enqueue(std::string line, bool urgent);

  Executor ex_;
  ConnectionOptions options_;
  LoggerPtr log_;
  asio::ssl::context tls_;
  asio::ssl::stream<asio::ip::tcp::socket> stream_;
  std::string buffer_;
  std::size_t read_pos_ = 0;          // buffer_ before this was consumed
  std::unique_ptr<char[]> chunk_;      // read from the socket into this
  TokenBucket bucket_;
  TaskGroup tasks_;

  bool open_ = false;   // registered and usable
  bool closed_ = false; // close() was called or the link failed
  std::string close_reason_;
  std::string nick_;
  std::string user_;
  std::string host_;
  std::set<std::string> caps_;

  std::deque<std::string> urgent_;
  std::deque<std::string> queue_;
  std::uint64_t queued_seq_ = 0;   // lines ever queued (normal queue)
  std::uint64_t written_seq_ = 0;  // of those, written
  Signal wake_writer_;
  Signal written_;
  std::chrono::steady_clock::time_point last_rx_;
  bool ping_sent_ = false;
  bool writing_ = false;
};

}  // namespace immp::irc
