#include "plugs/irc/irc_connection.hpp"

#include <map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "plugs/irc/irc_cap.hpp"

// GCC 12 at -O2 reports -Wmismatched-new-delete for the frame of the large
// negotiate() coroutine: the frame is allocated and freed by Asio's own
// awaitable_frame_base operator new/delete pair, so the warning is false.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace immp::irc {

namespace {

using namespace std::chrono_literals;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// A server line longer than this without a line break is not IRC.
constexpr std::size_t kMaxRead = kMaxTagsBytes + kMaxLineBytes + 1024;
// Bytes asked of the socket per read: many lines at once under load.
constexpr std::size_t kReadChunk = 16384;
// Most bytes of queued lines written at once.
constexpr std::size_t kMaxBatch = 65536;

std::string endpoint(const ConnectionOptions& o) {
  return o.host + ":" + std::to_string(o.port);
}

asio::ssl::context make_tls(const ConnectionOptions& o) {
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  if (!o.tls) return ctx;
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3);
  boost::system::error_code ec;
  if (o.verify) {
    ctx.set_verify_mode(asio::ssl::verify_peer);
    if (!o.ca.empty()) {
      ctx.load_verify_file(o.ca, ec);
      if (ec) throw ConnectionError("cannot read the CA file " + o.ca + ": " + ec.message());
    } else {
      ctx.set_default_verify_paths(ec);
    }
    ctx.set_verify_callback(asio::ssl::host_name_verification(o.host));
  } else {
    ctx.set_verify_mode(asio::ssl::verify_none);
  }
  if (!o.client_cert.empty()) {
    ctx.use_certificate_chain_file(o.client_cert, ec);
    if (ec) throw ConnectionError("cannot read the client certificate " + o.client_cert + ": " +
                                  ec.message());
    const std::string& key = o.client_key.empty() ? o.client_cert : o.client_key;
    ctx.use_private_key_file(key, asio::ssl::context::pem, ec);
    if (ec) throw ConnectionError("cannot read the client key " + key + ": " + ec.message());
  }
  return ctx;
}

// The trailing text of a reply (its last parameter), or its command.
std::string last_param(const Line& line) {
  return line.params.empty() ? line.command : line.params.back();
}

}  // namespace

// A registration line; flood control counts it too.
std::string Connection::wire(std::string_view command, const std::vector<std::string>& params) {
  std::string error;
  auto line = format_line(command, params, &error);
  if (!line) throw ConnectionError("cannot send " + std::string(command) + ": " + error);
  bucket_.take(std::chrono::steady_clock::now());
  return std::move(*line);
}

Connection::Connection(Executor ex, ConnectionOptions options, LoggerPtr log)
    : ex_(ex),
      options_(std::move(options)),
      log_(std::move(log)),
      tls_(make_tls(options_)),
      stream_(ex, tls_),
      bucket_(options_.send_delay, options_.burst, std::chrono::steady_clock::now()),
      tasks_(ex, log_),
      nick_(options_.nick),
      wake_writer_(ex),
      written_(ex) {}

Connection::~Connection() {
  boost::system::error_code ec;
  stream_.next_layer().close(ec);
}

std::string Connection::prefix() const {
  // Unknown parts count as long as servers allow (USERLEN 10, HOSTLEN 63),
  // so that a split line never overruns once the server adds the real ones.
  std::string user = user_.empty() ? std::string(10, 'u') : user_;
  std::string host = host_.empty() ? std::string(63, 'h') : host_;
  return nick_ + "!" + user + "@" + host;
}

void Connection::learn_prefix(const std::string& user, const std::string& host) {
  if (!user.empty()) user_ = user;
  if (!host.empty()) host_ = host;
}

void Connection::close(std::string reason) {
  if (closed_) return;
  closed_ = true;
  open_ = false;
  close_reason_ = std::move(reason);
  boost::system::error_code ec;
  stream_.next_layer().cancel(ec);
  stream_.next_layer().close(ec);
  wake_writer_.notify();
  written_.notify();
}

Task<> Connection::stop() {
  close(close_reason_.empty() ? "stopped" : close_reason_);
  co_await tasks_.stop(1s);
}

Task<> Connection::connect() {
  asio::ip::tcp::resolver resolver(ex_);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(options_.host, std::to_string(options_.port), kTuple);
  if (rec) throw ConnectionError("cannot resolve " + options_.host + ": " + rec.message());
  auto [cec, ep] = co_await asio::async_connect(stream_.next_layer(), endpoints, kTuple);
  if (closed_) throw ConnectionError("connecting to " + endpoint(options_) + ": " + close_reason_);
  if (cec) throw ConnectionError("cannot connect to " + endpoint(options_) + ": " + cec.message());
  boost::system::error_code ignore;
  stream_.next_layer().set_option(asio::ip::tcp::no_delay(true), ignore);
  if (options_.tls) {
    // SNI, so that a server with several names presents the right one.
    SSL_set_tlsext_host_name(stream_.native_handle(), options_.host.c_str());
    auto [hec] = co_await stream_.async_handshake(asio::ssl::stream_base::client, kTuple);
    if (hec) {
      throw ConnectionError("TLS handshake with " + endpoint(options_) + " failed: " +
                            hec.message());
    }
  }
}

Task<> Connection::write_now(std::string line) {
  boost::system::error_code ec;
  std::size_t n = 0;
  if (options_.tls) {
    std::tie(ec, n) = co_await asio::async_write(stream_, asio::buffer(line), kTuple);
  } else {
    std::tie(ec, n) = co_await asio::async_write(stream_.next_layer(), asio::buffer(line), kTuple);
  }
  if (ec) {
    close("write failed: " + ec.message());
    throw ConnectionError("writing to " + endpoint(options_) + " failed: " + ec.message());
  }
}

Task<std::optional<Line>> Connection::read_raw() {
  for (;;) {
    // Lines are taken from read_pos_ on; consumed bytes are dropped once per
    // read from the socket, not once per line.
    std::size_t nl = buffer_.find('\n', read_pos_);
    if (nl != std::string::npos) {
      std::string_view raw(buffer_.data() + read_pos_, nl + 1 - read_pos_);
      read_pos_ = nl + 1;
      std::string error;
      auto line = parse_line(raw, &error);
      if (!line) {
        // A broken server line is skipped, never fatal.
        if (raw.find_first_not_of("\r\n") != std::string_view::npos) {
          log_->warn("skipping a malformed line from {}: {}", endpoint(options_), error);
        }
        continue;
      }
      co_return line;
    }
    buffer_.erase(0, read_pos_);
    read_pos_ = 0;
    if (buffer_.size() > kMaxRead) {
      close("line too long");
      co_return std::nullopt;
    }
    if (closed_) co_return std::nullopt;
    if (!chunk_) chunk_ = std::make_unique<char[]>(kReadChunk);
    auto into = asio::buffer(chunk_.get(), kReadChunk);
    boost::system::error_code ec;
    std::size_t n = 0;
    if (options_.tls) {
      std::tie(ec, n) = co_await stream_.async_read_some(into, kTuple);
    } else {
      std::tie(ec, n) = co_await stream_.next_layer().async_read_some(into, kTuple);
    }
    if (n > 0) {
      buffer_.append(chunk_.get(), n);
      last_rx_ = std::chrono::steady_clock::now();
      ping_sent_ = false;
#ifdef TCP_QUICKACK
      // Some servers (ngircd) never set TCP_NODELAY: Nagle then holds their
      // next small line until we ACK, and a client that is not writing
      // ACKs late (delayed ACK, up to 40 ms on Linux). ACK at once. Linux
      // clears the flag by itself, hence once per read.
      int one = 1;
      ::setsockopt(stream_.next_layer().native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one,
                   sizeof one);
#endif
    }
    if (ec && n == 0) {
      close(ec == asio::error::eof ? "the server closed the connection"
                                   : "read failed: " + ec.message());
      co_return std::nullopt;
    }
  }
}

Task<> Connection::open() {
  asio::steady_timer deadline(ex_, options_.register_timeout);
  deadline.async_wait([this](boost::system::error_code ec) {
    if (!ec) close("timed out connecting and registering");
  });
  try {
    co_await connect();
    co_await negotiate();
  } catch (...) {
    deadline.cancel();
    close("registration failed");
    throw;
  }
  deadline.cancel();
  open_ = true;
  last_rx_ = std::chrono::steady_clock::now();
  tasks_.spawn("irc writer", write_loop());
  tasks_.spawn("irc keepalive", keepalive());
}

Task<> Connection::negotiate() {
  const bool want_sasl = !options_.sasl.mechanism.empty();
  std::map<std::string, std::string> offered;
  bool cap_done = false;
  bool sasl_done = !want_sasl;
  {
    std::string out = wire("CAP", {"LS", "302"});
    co_await write_now(std::move(out));
  }
  if (!options_.password.empty()) {
    std::string out = wire("PASS", {options_.password});
    co_await write_now(std::move(out));
  }
  {
    std::string out = wire("NICK", {nick_});
    co_await write_now(std::move(out));
  }
  {
    std::string out = wire("USER", {options_.user.empty() ? nick_ : options_.user, "0", "*",
                         options_.real_name.empty() ? nick_ : options_.real_name});
    co_await write_now(std::move(out));
  }
  for (;;) {
    auto line = co_await read_raw();
    if (!line) {
      throw ConnectionError("registration with " + endpoint(options_) + " failed: " +
                            close_reason_);
    }
    const std::string& cmd = line->command;
    if (cmd == "PING") {
      {
        std::string out = wire("PONG", {line->param(0)});
        co_await write_now(std::move(out));
      }
    } else if (cmd == "CAP") {
      auto reply = parse_cap(*line);
      if (!reply) continue;
      if (reply->sub == "LS") {
        offered.insert(reply->caps.begin(), reply->caps.end());
        if (reply->more) continue;
        if (want_sasl) {
          auto it = offered.find("sasl");
          if (it == offered.end()) {
            throw ConnectionError("SASL is configured but " + endpoint(options_) +
                                  " does not offer it");
          }
          auto mechs = sasl_mechanisms(it->second);
          if (!mechs.empty() && !mechs.count(options_.sasl.mechanism)) {
            throw ConnectionError("the server offers SASL " + it->second + ", not " +
                                  options_.sasl.mechanism);
          }
        }
        auto chosen = choose_caps(offered, want_sasl);
        if (chosen.empty()) {
          cap_done = true;
          {
            std::string out = wire("CAP", {"END"});
            co_await write_now(std::move(out));
          }
          continue;
        }
        std::string list;
        for (const auto& c : chosen) list += (list.empty() ? "" : " ") + c;
        {
          std::string out = wire("CAP", {"REQ", list});
          co_await write_now(std::move(out));
        }
      } else if (reply->sub == "ACK") {
        for (const auto& [name, value] : reply->caps) {
          if (!name.empty() && name[0] == '-') {
            caps_.erase(name.substr(1));
          } else {
            caps_.insert(name);
          }
        }
        log_->debug("capabilities on {}: {}", endpoint(options_), cap_names(reply->caps));
        if (want_sasl && caps_.count("sasl") && !sasl_done) {
          {
            std::string out = wire("AUTHENTICATE", {options_.sasl.mechanism});
            co_await write_now(std::move(out));
          }
        } else if (!cap_done) {
          cap_done = true;
          {
            std::string out = wire("CAP", {"END"});
            co_await write_now(std::move(out));
          }
        }
      } else if (reply->sub == "NAK") {
        if (want_sasl) throw ConnectionError("the server refused the sasl capability");
        if (!cap_done) {
          cap_done = true;
          {
            std::string out = wire("CAP", {"END"});
            co_await write_now(std::move(out));
          }
        }
      }
    } else if (cmd == "AUTHENTICATE") {
      if (line->param(0) != "+") continue;
      if (options_.sasl.mechanism == "EXTERNAL") {
        {
          std::string out = wire("AUTHENTICATE", {"+"});
          co_await write_now(std::move(out));
        }
      } else {
        auto payload = sasl_plain_payload(options_.sasl.username, options_.sasl.password);
        for (auto& chunk : sasl_chunks(payload)) {
          std::string out = wire("AUTHENTICATE", {chunk});
          co_await write_now(std::move(out));
        }
      }
    } else if (cmd == "903") {
      sasl_done = true;
      if (!cap_done) {
        cap_done = true;
        {
          std::string out = wire("CAP", {"END"});
          co_await write_now(std::move(out));
        }
      }
    } else if (cmd == "902" || cmd == "904" || cmd == "905" || cmd == "906" || cmd == "908") {
      std::string why = last_param(*line);
      throw ConnectionError("SASL " + options_.sasl.mechanism + " authentication failed on " +
                            endpoint(options_) + ": " + why);
    } else if (cmd == "433" || cmd == "436" || cmd == "437") {
      // Nick in use: append '_' and try again, as IRC clients do.
      nick_ += "_";
      log_->info("nick {} is taken on {}; trying {}", line->param(1), endpoint(options_), nick_);
      {
        std::string out = wire("NICK", {nick_});
        co_await write_now(std::move(out));
      }
    } else if (cmd == "432") {
      throw ConnectionError("the server refuses the nick " + nick_ + ": " +
                            last_param(*line));
    } else if (cmd == "464" || cmd == "465") {
      throw ConnectionError("refused by " + endpoint(options_) + ": " +
                            last_param(*line));
    } else if (cmd == "ERROR") {
      throw ConnectionError("the server ended the connection: " + line->param(0));
    } else if (cmd == "001") {
      if (want_sasl && !sasl_done) {
        throw ConnectionError("registered on " + endpoint(options_) + " without SASL");
      }
      nick_ = line->param(0);
      // "Welcome to the ... Network nick!user@host" gives our prefix.
      const std::string& text = line->params.empty() ? nick_ : line->params.back();
      std::string last = text.substr(text.rfind(' ') == std::string::npos ? 0 : text.rfind(' ') + 1);
      auto bang = last.find('!');
      auto at = last.find('@');
      if (bang != std::string::npos && at != std::string::npos && bang < at &&
          last.compare(0, bang, nick_) == 0) {
        learn_prefix(last.substr(bang + 1, at - bang - 1), last.substr(at + 1));
      }
      co_return;
    }
  }
}

Task<Line> Connection::read() {
  for (;;) {
    if (closed_) throw ConnectionError(close_reason_);
    auto line = co_await read_raw();
    if (!line) throw ConnectionError(close_reason_);
    if (line->command == "PING") {
      std::string error;
      if (auto pong = format_line("PONG", {line->param(0)}, &error)) post_urgent(std::move(*pong));
      continue;
    }
    if (line->command == "PONG") continue;
    if (line->command == "ERROR") {
      close("the server ended the connection: " + line->param(0));
      throw ConnectionError(close_reason_);
    }
    co_return std::move(*line);
  }
}

bool Connection::enqueue(std::string line, bool urgent) {
  if (closed_) return false;
  if (urgent) {
    urgent_.push_back(std::move(line));
  } else {
    queue_.push_back(std::move(line));
    ++queued_seq_;
  }
  wake_writer_.notify();
  return true;
}

bool Connection::post(std::string line) { return enqueue(std::move(line), false); }
bool Connection::post_urgent(std::string line) { return enqueue(std::move(line), true); }

bool Connection::try_write_now(std::vector<std::string>& lines, std::size_t& whole) {
  // Only when nothing is queued or being written (order), on plain TCP (a
  // TLS stream has no non-blocking write), and when the bucket lets every
  // line go now.
  if (options_.tls || writing_ || !urgent_.empty() || !queue_.empty()) return false;
  auto now = std::chrono::steady_clock::now();
  if (bucket_.tokens(now) < static_cast<double>(lines.size()) &&
      options_.send_delay.count() > 0) {
    return false;
  }
  std::string batch;
  if (lines.size() == 1) {
    batch = std::move(lines.front());
  } else {
    std::size_t size = 0;
    for (const auto& l : lines) size += l.size();
    batch.reserve(size);
    for (const auto& l : lines) batch += l;
  }
  for (std::size_t i = 0; i < lines.size(); ++i) bucket_.take(now);
  auto& socket = stream_.next_layer();
  boost::system::error_code ec;
  if (!socket.non_blocking()) socket.non_blocking(true, ec);
  std::size_t n = ec ? 0 : socket.write_some(asio::buffer(batch), ec);
  if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
    close("write failed: " + ec.message());
    throw ConnectionError("writing to " + endpoint(options_) + " failed: " + ec.message());
  }
  whole = 0;
  for (std::size_t taken = 0; whole < lines.size() && taken + lines[whole].size() <= n; ++whole) {
    taken += lines[whole].size();
  }
  lines.clear();
  if (n < batch.size()) {
    // The kernel took part of it: the writer sends the rest before anything
    // queued later.
    lines.push_back(batch.substr(n));
  }
  return true;
}

Task<std::size_t> Connection::send(std::vector<std::string> lines) {
  if (closed_ || !open_) co_return 0;
  const std::size_t total = lines.size();
  // Fast path: written at once without waking the writer, so a put() costs
  // one system call and no task switch.
  std::size_t whole = 0;
  bool tail = false;  // `lines` is now one string: the rest of a partial write
  try {
    tail = try_write_now(lines, whole);
  } catch (const ConnectionError&) {
    co_return 0;
  }
  if (tail && lines.empty()) co_return total;
  std::uint64_t base = queued_seq_;
  for (auto& l : lines) enqueue(std::move(l), false);
  std::uint64_t target = queued_seq_;
  while (written_seq_ < target && !closed_) co_await written_.wait();
  // The writer counts queue entries: a tail entry carries every line the
  // fast path did not finish.
  std::uint64_t entries = written_seq_ > base ? std::min(written_seq_, target) - base : 0;
  if (tail) co_return entries > 0 ? total : whole;
  co_return static_cast<std::size_t>(entries);
}

Task<> Connection::write_loop() {
  asio::steady_timer pace(ex_);
  for (;;) {
    while (!closed_ && urgent_.empty() && queue_.empty()) co_await wake_writer_.wait();
    if (closed_) co_return;
    auto now = std::chrono::steady_clock::now();
    if (!urgent_.empty()) {
      std::string line = std::move(urgent_.front());
      urgent_.pop_front();
      bucket_.take(now);
      writing_ = true;
      co_await write_now(std::move(line));
      writing_ = false;
      written_.notify();
      continue;
    }
    auto wait = bucket_.wait(now);
    if (wait > std::chrono::steady_clock::duration::zero()) {
      // Sleep in short steps so that an urgent line (PONG) is not held long.
      pace.expires_after(std::min<std::chrono::steady_clock::duration>(wait, 100ms));
      co_await pace.async_wait(asio::use_awaitable);
      continue;
    }
    // Every queued line the bucket lets go now, in one write: without flood
    // control that is the whole queue (up to kMaxBatch bytes).
    std::string batch = std::move(queue_.front());
    queue_.pop_front();
    bucket_.take(now);
    std::uint64_t count = 1;
    while (!queue_.empty() && batch.size() + queue_.front().size() <= kMaxBatch &&
           bucket_.wait(now) == std::chrono::steady_clock::duration::zero()) {
      batch += queue_.front();
      queue_.pop_front();
      bucket_.take(now);
      ++count;
    }
    writing_ = true;
    co_await write_now(std::move(batch));
    writing_ = false;
    written_seq_ += count;
    written_.notify();
  }
}

Task<> Connection::keepalive() {
  asio::steady_timer tick(ex_);
  auto step = std::clamp<std::chrono::milliseconds>(options_.ping_interval / 4, 50ms, 1s);
  while (!closed_) {
    tick.expires_after(step);
    co_await tick.async_wait(asio::use_awaitable);
    auto idle = std::chrono::steady_clock::now() - last_rx_;
    if (idle > options_.ping_interval + options_.ping_timeout) {
      log_->warn("no answer from {} for {} s: the link is dead", endpoint(options_),
                 std::chrono::duration_cast<std::chrono::seconds>(idle).count());
      close("ping timeout");
      co_return;
    }
    if (idle > options_.ping_interval && !ping_sent_) {
      ping_sent_ = true;
      post_urgent("PING :immp\r\n");
    }
  }
}

Task<> Connection::quit(std::string message, std::chrono::milliseconds grace) {
  if (closed_) co_return;
  if (open_) {
    std::string error;
    auto line = format_line("QUIT", {message}, &error);
    // Whatever is still queued is dropped: we are leaving.
    queue_.clear();
    post_urgent(line ? std::move(*line) : std::string("QUIT\r\n"));
    asio::steady_timer guard(ex_, grace);
    guard.async_wait([this](boost::system::error_code ec) {
      if (!ec) close("quit timed out");
    });
    while (!closed_ && (!urgent_.empty() || writing_)) co_await written_.wait();
    guard.cancel();
  }
  close("quit");
}

}  // namespace immp::irc
