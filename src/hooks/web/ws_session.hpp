// WsSession: the server's end of one WebSocket connection after the
// handshake, on a Beast tcp_stream or ssl_stream. Internal to the web hook
// (included by web_hook.cpp only: it pulls in Beast).
//
// Why not Beast's websocket::stream: it frames and writes each message for
// each connection on its own. The stream fans one event out to a thousand
// clients; here a frame is encoded once and the same bytes are written to
// every client, several frames in one gather write, and on plain TCP the
// write is tried at once (a non-blocking send) without a coroutine or a
// completion per client.
//
// Three coroutines of the connection share it: the route's handler (reads,
// sends), pump() (writes what could not be written at once) and watch()
// (ping when the client is quiet, hang up when it is gone or a write makes
// no progress). Runs on one executor; not thread-safe.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <deque>
#include <type_traits>

#include "hooks/web/web_hook.hpp"
#include "hooks/web/ws_frame.hpp"
#include "text/utf8.hpp"

namespace immp::web {

template <typename Stream>
class WsSession final : public WebSocketSession {
 public:
  using Steady = std::chrono::steady_clock;
  static constexpr bool kPlain = std::is_same_v<Stream, boost::beast::tcp_stream>;

  // `stream` must outlive the session; `buffer` holds what the client sent
  // after its handshake request, if anything.
  WsSession(Stream& stream, boost::beast::flat_buffer buffer, const Limits& limits)
      : stream_(stream),
        buffer_(std::move(buffer)),
        limits_(limits),
        drained_(stream.get_executor()),
        wake_pump_(stream.get_executor()) {
    if constexpr (kPlain) {
      boost::system::error_code ec;
      stream_.socket().non_blocking(true, ec);
    }
  }

  Task<std::optional<std::string>> read() override {
    std::string message;
    bool in_message = false;
    bool text = false;  // the message in progress is text, so must be UTF-8
    for (;;) {
      if (gone_ || got_close_ || sent_close_) co_return std::nullopt;
      auto data = buffer_.data();
      std::span<char> bytes(static_cast<char*>(data.data()), data.size());
      ws::Parsed p = ws::parse_client_frame(bytes, limits_.max_body);
      if (p.status == ws::Parsed::Status::error) {
        fail(p.close_code, p.error);
        co_return std::nullopt;
      }
      if (p.status == ws::Parsed::Status::need_more) {
        std::size_t want = std::max<std::size_t>(p.size - bytes.size(), 4096);
        auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(want), kTuple);
        if (ec) {
          // A cancelled read (the handler ended it to close the connection
          // itself) leaves the connection up: finish() still reads the
          // client's close, and the socket closes without a reset.
          if (ec != asio::error::operation_aborted) gone_ = true;
          co_return std::nullopt;
        }
        buffer_.commit(n);
        last_read_ = Steady::now();
        ping_sent_ = false;
        continue;
      }
      // A whole frame: take what it says before the buffer moves on.
      ws::Opcode op = p.opcode;
      bool fin = p.fin;
      switch (op) {
        case ws::Opcode::close: {
          got_close_ = true;
          if (!sent_close_) {
            std::uint16_t code = ws::kNormal;
            if (p.payload.size() >= 2) {
              code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(p.payload[0]) << 8) |
                                                static_cast<std::uint8_t>(p.payload[1]));
            }
            queue_control(ws::encode_close(code, ""));
            sent_close_ = true;
          }
          buffer_.consume(p.size);
          co_return std::nullopt;
        }
        case ws::Opcode::ping:
          queue_control(ws::encode(ws::Opcode::pong, p.payload));
          break;
        case ws::Opcode::pong:
          break;
        case ws::Opcode::text:
        case ws::Opcode::binary:
          if (in_message) {
            fail(ws::kProtocolError, "a new message inside a fragmented one");
            co_return std::nullopt;
          }
          in_message = true;
          text = op == ws::Opcode::text;
          message.assign(p.payload);
          break;
        case ws::Opcode::continuation:
          if (!in_message) {
            fail(ws::kProtocolError, "a continuation of no message");
            co_return std::nullopt;
          }
          if (message.size() + p.payload.size() > limits_.max_body) {
            fail(ws::kTooBig, "message too big");
            co_return std::nullopt;
          }
          message.append(p.payload);
          break;
      }
      buffer_.consume(p.size);
      if (in_message && fin && (op == ws::Opcode::text || op == ws::Opcode::binary ||
                                op == ws::Opcode::continuation)) {
        if (text && !unicode::valid_utf8(message)) {
          fail(ws::kInvalidData, "a text message that is not UTF-8");
          co_return std::nullopt;
        }
        co_return message;
      }
    }
  }

  Task<bool> send(std::string_view text) override {
    FramePtr frame = std::make_shared<const std::string>(ws::encode(ws::Opcode::text, text));
    if (!send_frames(std::span<const FramePtr>(&frame, 1))) co_return false;
    co_await wait_drained();
    co_return !gone_;
  }

  bool send_frames(std::span<const FramePtr> frames) override {
    if (gone_ || sent_close_) return false;
    enqueue(frames);
    return !gone_;
  }

  std::size_t backlog() const override { return pending_bytes_; }

  bool direct() const override {
    return kPlain && !gone_ && !sent_close_ && !writing_ && pending_.empty();
  }

  // Plain TCP: one gather write (sendmsg) after another while the socket
  // takes them whole; touches nothing but the socket, so it may run on
  // another thread (see WebSocketSession).
  Written write_direct(std::span<const FramePtr> frames) const override {
    Written out;
    if constexpr (kPlain) {
      int fd = stream_.socket().native_handle();
      while (out.frames < frames.size()) {
        std::array<iovec, kMaxGather> iov;
        std::size_t count = 0;
        for (std::size_t i = out.frames; i < frames.size() && count < kMaxGather; ++i) {
          iov[count++] = iovec{const_cast<char*>(frames[i]->data()), frames[i]->size()};
        }
        msghdr msg{};
        msg.msg_iov = iov.data();
        msg.msg_iovlen = count;
        ssize_t sent = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (sent < 0) {
          if (errno == EINTR) continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK) out.failed = true;
          return out;
        }
        auto n = static_cast<std::size_t>(sent);
        while (out.frames < frames.size() && n >= frames[out.frames]->size()) {
          n -= frames[out.frames]->size();
          ++out.frames;
        }
        if (n > 0) {
          out.bytes = n;  // a frame cut short: the socket is full
          return out;
        }
      }
    }
    return out;
  }

  bool finish_direct(std::span<const FramePtr> frames, Written written) override {
    if (written.failed) gone_ = true;
    if (gone_) return false;
    // The rest goes from the pump, a frame cut short first.
    for (std::size_t i = written.frames; i < frames.size(); ++i) {
      pending_bytes_ += frames[i]->size();
      pending_.push_back(frames[i]);
    }
    if (written.frames < frames.size()) {
      written_ = written.bytes;
      pending_bytes_ -= written.bytes;
    }
    start_pump();
    return true;
  }

  void on_drained(std::function<void()> fn) override { on_drained_ = std::move(fn); }

  Task<> close(std::string_view reason, bool policy = false) override {
    if (gone_ || sent_close_) co_return;
    queue_control(ws::encode_close(policy ? ws::kPolicy : ws::kNormal, reason));
    sent_close_ = true;
    co_await wait_drained();
  }

  // Writes what send_frames() could not write at once; runs beside the
  // route's handler for the connection's life.
  Task<> pump() {
    for (;;) {
      while (!writing_) co_await wake_pump_.wait();
      while (!pending_.empty() && !gone_) {
        gather(kMaxGather);
        write_started_ = Steady::now();
        in_write_ = true;
        auto [ec, n] = co_await asio::async_write(stream_, iov_, kTuple);
        in_write_ = false;
        if (ec) {
          gone_ = true;
          break;
        }
        consume(n);
      }
      if (gone_) drop_pending();
      writing_ = false;
      drained_.notify();
      if (!gone_ && on_drained_) on_drained_();
      if (gone_) co_return;
    }
  }

  // Pings a quiet client at half the idle timeout and hangs up at the
  // whole (as Beast's keep-alive pings do); hangs up when a write makes no
  // progress for the write timeout. Returns when it hung up.
  Task<> watch() {
    using std::chrono::milliseconds;
    auto tick = std::min(limits_.write_timeout, limits_.idle_timeout / 2) / 4;
    tick = std::clamp<milliseconds>(std::chrono::duration_cast<milliseconds>(tick),
                                    milliseconds(10), milliseconds(5000));
    asio::steady_timer timer(stream_.get_executor());
    for (;;) {
      timer.expires_after(tick);
      co_await timer.async_wait(asio::use_awaitable);
      auto now = Steady::now();
      if (in_write_ && now - write_started_ > limits_.write_timeout) break;
      if (now - last_read_ > limits_.idle_timeout) break;
      if (!ping_sent_ && !sent_close_ && now - last_read_ > limits_.idle_timeout / 2) {
        ping_sent_ = true;
        queue_control(ws::encode(ws::Opcode::ping, ""));
      }
    }
    gone_ = true;
    boost::system::error_code ec;
    boost::beast::get_lowest_layer(stream_).socket().close(ec);
  }

  // After the handler: says goodbye (close code 1000 with `reason`) unless
  // a close was sent, writes what is queued, and waits a little for the
  // client's own close so that it reads everything before the connection
  // goes. pump() and watch() must have ended.
  Task<> finish(std::string_view reason) {
    if (gone_) co_return;
    if (!sent_close_) {
      queue_control(ws::encode_close(ws::kNormal, reason), /*start=*/false);
      sent_close_ = true;
    }
    auto& lowest = boost::beast::get_lowest_layer(stream_);
    lowest.expires_after(std::min<std::chrono::milliseconds>(limits_.write_timeout,
                                                             std::chrono::seconds(2)));
    while (!pending_.empty()) {
      gather(kMaxGather);
      auto [ec, n] = co_await asio::async_write(stream_, iov_, kTuple);
      if (ec) co_return;
      consume(n);
    }
    while (!got_close_) {
      auto data = buffer_.data();
      std::span<char> bytes(static_cast<char*>(data.data()), data.size());
      ws::Parsed p = ws::parse_client_frame(bytes, limits_.max_body);
      if (p.status == ws::Parsed::Status::error) break;
      if (p.status == ws::Parsed::Status::frame) {
        got_close_ = p.opcode == ws::Opcode::close;
        buffer_.consume(p.size);
        continue;
      }
      std::size_t want = std::max<std::size_t>(p.size - bytes.size(), 4096);
      auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(want), kTuple);
      if (ec) break;
      buffer_.commit(n);
    }
    lowest.expires_never();
  }

 private:
  static constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
  static constexpr std::size_t kMaxGather = 64;  // Asio's own cap on buffers per system call

  void fail(std::uint16_t code, const char* why) {
    if (!sent_close_) {
      queue_control(ws::encode_close(code, why));
      sent_close_ = true;
    }
  }

  // Queues a control frame (pong, ping, close) in order with the rest.
  void queue_control(std::string frame, bool start = true) {
    FramePtr f = std::make_shared<const std::string>(std::move(frame));
    if (start) {
      enqueue(std::span<const FramePtr>(&f, 1));
    } else {
      pending_bytes_ += f->size();
      pending_.push_back(std::move(f));
    }
  }

  void enqueue(std::span<const FramePtr> frames) {
    if (direct()) {
      finish_direct(frames, write_direct(frames));
      return;
    }
    for (const FramePtr& f : frames) {
      pending_bytes_ += f->size();
      pending_.push_back(f);
    }
    start_pump();
  }

  void start_pump() {
    if (!pending_.empty() && !writing_ && !gone_) {
      writing_ = true;
      wake_pump_.notify();
    }
  }

  // iov_ = up to `max` pending frames, the first one past what was written.
  void gather(std::size_t max) {
    iov_.clear();
    for (std::size_t i = 0; i < pending_.size() && iov_.size() < max; ++i) {
      const std::string& f = *pending_[i];
      std::size_t skip = i == 0 ? written_ : 0;
      iov_.emplace_back(f.data() + skip, f.size() - skip);
    }
  }

  void consume(std::size_t n) {
    pending_bytes_ -= n;
    while (n > 0 && !pending_.empty()) {
      std::size_t left = pending_.front()->size() - written_;
      if (n < left) {
        written_ += n;
        return;
      }
      n -= left;
      written_ = 0;
      pending_.pop_front();
    }
  }

  void drop_pending() {
    pending_.clear();
    pending_bytes_ = 0;
    written_ = 0;
  }

  Task<> wait_drained() {
    while (!pending_.empty() && !gone_) co_await drained_.wait();
  }

  Stream& stream_;
  boost::beast::flat_buffer buffer_;
  const Limits& limits_;
  std::deque<FramePtr> pending_;  // frames not (wholly) written, in order
  std::size_t written_ = 0;       // bytes of pending_.front() already written
  std::size_t pending_bytes_ = 0;
  std::vector<asio::const_buffer> iov_;
  bool writing_ = false;  // the pump owns the writing side
  bool in_write_ = false;
  bool gone_ = false;
  bool sent_close_ = false;
  bool got_close_ = false;
  bool ping_sent_ = false;
  Steady::time_point last_read_ = Steady::now();
  Steady::time_point write_started_;
  Signal drained_;
  Signal wake_pump_;
  std::function<void()> on_drained_;
};

}  // namespace immp::web
