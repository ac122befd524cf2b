// In-memory stand-ins for the seams of irc::Connection, for tests: a server
// end that the test speaks for (FakeServer, handed to the connection through
// fake_transport()) and a clock that moves only when told (ManualClock).
// Header-only, so that nothing of it is linked into immp itself.
//
// Everything runs on one executor; not thread-safe. Nothing here sleeps:
// after io.poll() has run every ready handler, a connection built on these
// waits for the test (a line from the server, a clock step).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/error.hpp>

#include "immp/tasks.hpp"
#include "net/manual_clock.hpp"
#include "plugs/irc/irc_transport.hpp"

namespace immp::irc::fake {

// The server's end of one link. The test writes what the server says and
// reads what the client wrote; it can refuse the connection, hang up, and
// make the client's writes stall or fail part-way.
class FakeServer {
 public:
  explicit FakeServer(Executor ex) : readable_(ex), writable_(ex) {}
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  // ---- what the server says ----
  // Bytes as they are; the client may read them in any number of pieces.
  void send(std::string_view bytes) {
    inbound_.append(bytes);
    readable_.notify();
  }
  // One line; CR LF is added.
  void line(std::string_view text) {
    inbound_.append(text);
    inbound_.append("\r\n");
    readable_.notify();
  }
  // Closes the server's end: the client reads what was sent, then end of
  // file; its writes fail (broken pipe).
  void hang_up() {
    hung_up_ = true;
    readable_.notify();
    writable_.notify();
  }
  // Answers every PING the client writes at once, as a server does:
  // ":irc.test PONG irc.test :<token>".
  void answer_pings(bool on) { answer_pings_ = on; }
  // connect() fails with `why`.
  void refuse(std::string why) { refused_ = std::move(why); }

  // ---- what the client wrote ----
  const std::string& received() const { return received_; }
  // The complete lines the client wrote, without CR LF.
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    std::size_t pos = 0;
    for (std::size_t nl; (nl = received_.find("\r\n", pos)) != std::string::npos; pos = nl + 2) {
      out.push_back(received_.substr(pos, nl - pos));
    }
    return out;
  }
  // The complete lines from the `from`-th on.
  std::vector<std::string> lines_from(std::size_t from) const {
    auto all = lines();
    if (from >= all.size()) return {};
    return {all.begin() + static_cast<std::ptrdiff_t>(from), all.end()};
  }
  bool saw(std::string_view line) const {
    auto all = lines();
    return std::find(all.begin(), all.end(), line) != all.end();
  }
  bool connected() const { return connected_; }
  // The client closed its end.
  bool client_closed() const { return client_closed_; }
  // Calls of the non-blocking write (the connection's fast path).
  std::size_t try_writes() const { return try_writes_; }

  // ---- faults ----
  // The client's writes take `bytes` more bytes, then fail as on a reset
  // link (its reads too, after what was sent).
  void fail_writes_after(std::size_t bytes) { limit(bytes, std::nullopt, Limit::fail); }
  // The same, up to the end of the `lines`-th line written from now.
  void fail_writes_after_lines(std::size_t lines) { limit(std::nullopt, lines, Limit::fail); }
  // The client's writes take `bytes` more bytes, then wait (the non-blocking
  // write takes nothing) until release_writes().
  void stall_writes_after(std::size_t bytes) { limit(bytes, std::nullopt, Limit::stall); }
  void release_writes() {
    limit(std::nullopt, std::nullopt, Limit::none);
    writable_.notify();
  }
  // Whether the transport offers the non-blocking write; off, it behaves as
  // TLS does and every line goes through the connection's writer.
  void set_try_write(bool on) { try_write_ = on; }
  // Whether the transport says it is TLS (STS looks at it).
  void set_tls(bool on) { tls_ = on; }

 private:
  friend class FakeTransport;
  enum class Limit { none, stall, fail };

  void limit(std::optional<std::size_t> bytes, std::optional<std::size_t> lines, Limit what) {
    bytes_left_ = bytes;
    lines_left_ = lines;
    on_limit_ = what;
  }
  // How many of `data` the server takes now.
  std::size_t room(std::string_view data) const {
    std::size_t n = data.size();
    if (bytes_left_) n = std::min(n, *bytes_left_);
    if (lines_left_) {
      // Up to the end of the last line still allowed.
      std::size_t left = *lines_left_;
      std::size_t cut = 0;
      while (left > 0) {
        auto nl = data.find('\n', cut);
        if (nl == std::string_view::npos) {
          cut = data.size();
          break;
        }
        cut = nl + 1;
        --left;
      }
      n = std::min(n, cut);
    }
    return n;
  }
  void take(std::string_view data) {
    received_.append(data);
    for (std::size_t nl; (nl = received_.find("\r\n", scanned_)) != std::string::npos;
         scanned_ = nl + 2) {
      std::string_view l(received_.data() + scanned_, nl - scanned_);
      if (!answer_pings_ || !l.starts_with("PING ")) continue;
      l.remove_prefix(5);
      if (l.starts_with(':')) l.remove_prefix(1);
      inbound_.append(":irc.test PONG irc.test :");
      inbound_.append(l);
      inbound_.append("\r\n");
      readable_.notify();
    }
    if (bytes_left_) *bytes_left_ -= data.size();
    if (lines_left_) {
      *lines_left_ -= static_cast<std::size_t>(std::count(data.begin(), data.end(), '\n'));
    }
  }
  bool at_limit() const {
    return (bytes_left_ && *bytes_left_ == 0) || (lines_left_ && *lines_left_ == 0);
  }
  // The error a write meets now, if any.
  boost::system::error_code write_error() const {
    if (client_closed_) return asio::error::operation_aborted;
    if (reset_) return asio::error::connection_reset;
    if (hung_up_) return asio::error::broken_pipe;
    return {};
  }

  std::string inbound_;
  std::size_t read_pos_ = 0;
  std::string received_;
  std::size_t scanned_ = 0;  // received_ before this was looked at for PINGs
  bool answer_pings_ = false;
  bool tls_ = false;
  std::optional<std::string> refused_;
  bool connected_ = false;
  bool hung_up_ = false;
  bool reset_ = false;
  bool client_closed_ = false;
  bool try_write_ = true;
  std::size_t try_writes_ = 0;
  std::optional<std::size_t> bytes_left_;
  std::optional<std::size_t> lines_left_;
  Limit on_limit_ = Limit::none;
  Signal readable_;
  Signal writable_;
};

// The client's end: what the Connection owns.
class FakeTransport final : public Transport {
 public:
  explicit FakeTransport(std::shared_ptr<FakeServer> server) : s_(std::move(server)) {}

  Task<> connect() override {
    if (s_->refused_) throw ConnectionError("cannot connect to the fake server: " + *s_->refused_);
    s_->connected_ = true;
    co_return;
  }

  Task<IoResult> read_some(asio::mutable_buffer into) override {
    for (;;) {
      if (s_->client_closed_) co_return IoResult{asio::error::operation_aborted, 0};
      std::size_t ready = s_->inbound_.size() - s_->read_pos_;
      if (ready > 0) {
        std::size_t n = std::min(ready, into.size());
        std::memcpy(into.data(), s_->inbound_.data() + s_->read_pos_, n);
        s_->read_pos_ += n;
        co_return IoResult{{}, n};
      }
      if (s_->reset_) co_return IoResult{asio::error::connection_reset, 0};
      if (s_->hung_up_) co_return IoResult{asio::error::eof, 0};
      co_await s_->readable_.wait();
    }
  }

  Task<IoResult> write(asio::const_buffer data) override {
    std::string_view rest(static_cast<const char*>(data.data()), data.size());
    std::size_t done = 0;
    for (;;) {
      if (auto ec = s_->write_error()) co_return IoResult{ec, done};
      std::size_t n = s_->room(rest);
      s_->take(rest.substr(0, n));
      rest.remove_prefix(n);
      done += n;
      if (rest.empty()) co_return IoResult{{}, done};
      if (s_->on_limit_ == FakeServer::Limit::fail) {
        s_->reset_ = true;
        s_->readable_.notify();
        co_return IoResult{asio::error::connection_reset, done};
      }
      co_await s_->writable_.wait();
    }
  }

  bool can_try_write() const override { return s_->try_write_; }

  IoResult try_write(asio::const_buffer data) override {
    ++s_->try_writes_;
    std::string_view bytes(static_cast<const char*>(data.data()), data.size());
    if (auto ec = s_->write_error()) return IoResult{ec, 0};
    if (s_->at_limit()) {
      if (s_->on_limit_ == FakeServer::Limit::stall) return IoResult{asio::error::would_block, 0};
      // A kernel reports the failure to the write after the last bytes.
      s_->reset_ = true;
      s_->readable_.notify();
      return IoResult{asio::error::connection_reset, 0};
    }
    std::size_t n = s_->room(bytes);
    s_->take(bytes.substr(0, n));
    return IoResult{{}, n};
  }

  void close() override {
    s_->client_closed_ = true;
    s_->readable_.notify();
    s_->writable_.notify();
  }

  bool is_tls() const override { return s_->tls_; }

 private:
  std::shared_ptr<FakeServer> s_;
};

// A factory for ConnectionOptions::transport: every connection made with it
// talks to `server`.
inline TransportFactory fake_transport(std::shared_ptr<FakeServer> server) {
  return [server](Executor, const ConnectionOptions&) -> std::unique_ptr<Transport> {
    return std::make_unique<FakeTransport>(server);
  };
}

// A clock that moves only by advance(); sleepers wake when it passes their
// deadline.
using ManualClock = net::ManualClock;

}  // namespace immp::irc::fake
