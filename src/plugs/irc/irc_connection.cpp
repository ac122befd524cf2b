#include "plugs/irc/irc_connection.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <stdexcept>

#include <boost/asio/error.hpp>

#include "plugs/irc/irc_cap.hpp"
#include "plugs/irc/irc_sasl.hpp"
#include "plugs/irc/irc_sts.hpp"

// GCC 12 at -O2 reports -Wmismatched-new-delete for the frame of the large
// negotiate() coroutine: the frame is allocated and freed by Asio's own
// awaitable_frame_base operator new/delete pair, so the warning is false.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace immp::irc {

namespace {

using namespace std::chrono_literals;
// The token of the PINGs that confirm delivery: "PING :immp-c<lines>".
constexpr std::string_view kConfirmToken = "immp-c";
// How long a message's echo may be late before a PING confirms it.
constexpr std::chrono::seconds kConfirmFallback{2};
// A server line longer than this without a line break is not IRC.
constexpr std::size_t kMaxRead = kMaxTagsBytes + kMaxLineBytes + 1024;
// Bytes asked of the socket per read: many lines at once under load.
constexpr std::size_t kReadChunk = 16384;
// Most bytes of queued lines written at once.
constexpr std::size_t kMaxBatch = 65536;

std::string endpoint(const ConnectionOptions& o) { return o.host + ":" + std::to_string(o.port); }

// One wire line: CR LF at its end and nowhere else, no NUL, a command.
bool is_wire_line(std::string_view line) {
  if (line.size() < 3 || !line.ends_with("\r\n")) return false;
  line.remove_suffix(2);
  return find_line_break(line) == std::string_view::npos;
}

// The trailing text of a reply (its last parameter), or its command.
std::string last_param(const Line& line) {
  return line.params.empty() ? line.command : line.params.back();
}

}  // namespace

// A registration line. Flood control does not count it, as IMMP paces
// none of them: the first line after the welcome goes at once, and the
// bucket's burst is left for what comes after.
std::string Connection::wire(std::string_view command, const std::vector<std::string>& params) {
  std::string error;
  auto line = format_line(command, params, &error);
  if (!line) throw ConnectionError("cannot send " + std::string(command) + ": " + error);
  return std::move(*line);
}

Connection::Connection(Executor ex, ConnectionOptions options, LoggerPtr log)
    : ex_(ex),
      options_(std::move(options)),
      log_(std::move(log)),
      clock_(options_.clock ? options_.clock : steady_connection_clock()),
      transport_(options_.transport ? options_.transport(ex, options_)
                                    : make_socket_transport(ex, options_)),
      bucket_(options_.send_delay, options_.burst, clock_->now()),
      tasks_(ex, log_),
      nick_(options_.nick),
      wake_writer_(ex),
      written_(ex) {}

Connection::~Connection() { *alive_ = false; }

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
  transport_->close();
  wake_writer_.notify();
  written_.notify();
  delivered_.release_all();
}

void Connection::write_failed(const boost::system::error_code& ec) {
  if (closed_) return;
  log_->warn("writing to {} failed: {}", endpoint(options_), ec.message());
  close("write failed: " + ec.message());
}

Task<> Connection::stop() {
  close(close_reason_.empty() ? "stopped" : close_reason_);
  co_await tasks_.stop(1s);
}

Task<> Connection::connect() {
  try {
    co_await transport_->connect();
  } catch (const ConnectionError&) {
    // A close() meanwhile (the registration deadline) is the real reason.
    if (closed_)
      throw ConnectionError("connecting to " + endpoint(options_) + ": " + close_reason_);
    throw;
  }
  if (closed_) throw ConnectionError("connecting to " + endpoint(options_) + ": " + close_reason_);
}

Task<> Connection::write_now(std::string line) {
  auto [ec, n] = co_await transport_->write(asio::buffer(line));
  if (ec) {
    write_failed(ec);
    throw ConnectionError("writing to " + endpoint(options_) + " failed: " + ec.message());
  }
}

std::optional<Line> Connection::next_buffered() {
  for (;;) {
    // Lines are taken from read_pos_ on; consumed bytes are dropped once per
    // read from the socket, not once per line.
    std::size_t nl = buffer_.find('\n', read_pos_);
    if (nl == std::string::npos) return std::nullopt;
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
    return line;
  }
}

Task<std::optional<Line>> Connection::read_raw() {
  for (;;) {
    if (auto line = next_buffered()) co_return line;
    buffer_.erase(0, read_pos_);
    read_pos_ = 0;
    if (buffer_.size() > kMaxRead) {
      close("line too long");
      co_return std::nullopt;
    }
    if (closed_) co_return std::nullopt;
    if (!chunk_) chunk_ = std::make_unique<char[]>(kReadChunk);
    auto [ec, n] = co_await transport_->read_some(asio::buffer(chunk_.get(), kReadChunk));
    if (n > 0) {
      buffer_.append(chunk_.get(), n);
      last_rx_ = clock_->now();
      ping_sent_ = false;
    }
    if (ec && n == 0) {
      close(ec == asio::error::eof ? "the server closed the connection"
                                   : "read failed: " + ec.message());
      co_return std::nullopt;
    }
  }
}

Task<> Connection::open() {
  // A task rather than a timer in this frame, so that it runs on the
  // connection's clock; it outlives a quick registration harmlessly.
  tasks_.spawn("irc registration deadline", registration_deadline());
  try {
    co_await connect();
    co_await negotiate();
  } catch (...) {
    close("registration failed");
    throw;
  }
  open_ = true;
  echo_confirms_ = options_.confirm && caps_.count("echo-message");
  last_rx_ = clock_->now();
  last_write_ = last_rx_;
  tasks_.spawn("irc writer", write_loop());
  tasks_.spawn("irc keepalive", keepalive());
}

Task<> Connection::registration_deadline() {
  co_await clock_->sleep(options_.register_timeout);
  if (!open_) close("timed out connecting and registering");
}

Task<> Connection::give_up(std::string why) {
  // Best effort: the server learns we are leaving, and why, instead of
  // seeing a dropped socket mid-registration.
  try {
    std::string end = wire("CAP", {"END"});
    co_await write_now(std::move(end));
    std::string quit = wire("QUIT", {why});
    co_await write_now(std::move(quit));
  } catch (const std::exception&) {
  }
  throw ConnectionError(why);
}

Task<> Connection::negotiate() {
  const SaslOptions& sasl = options_.sasl;
  const bool want_sasl = !sasl.mechanisms.empty();
  std::map<std::string, std::string> offered;
  bool cap_done = false;
  bool sasl_done = !want_sasl;
  // The mechanism being tried (an index into sasl.mechanisms), its client,
  // and the server's challenge as far as it came (chunks of 400).
  std::size_t mech = 0;
  std::unique_ptr<SaslClient> client;
  std::string challenge;
  std::vector<std::string> failures;  // "<mechanism>: <why>", for the error
  // Why SASL cannot log us in; empty while it still may. Then, by config,
  // registration stops or carries on without an account.
  std::string sasl_failed;
  auto mech_name = [&] { return std::string(sasl_name(sasl.mechanisms[mech])); };
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
    if (!sasl_failed.empty()) {
      // No mechanism can log us in: stop, or go on without an account.
      if (sasl.required) {
        std::string why = std::move(sasl_failed);
        co_await give_up(std::move(why));
      }
      log_->warn("{}; registering without an account (sasl.required is off)", sasl_failed);
      sasl_failed.clear();
      sasl_done = true;
      if (!cap_done) {
        cap_done = true;
        std::string out = wire("CAP", {"END"});
        co_await write_now(std::move(out));
      }
    }
    auto line = co_await read_raw();
    if (!line) {
      throw ConnectionError("registration with " + endpoint(options_) +
                            " failed: " + close_reason_);
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
        if (auto sts = offered.find("sts"); options_.sts && sts != offered.end()) {
          auto value = parse_sts(sts->second);
          if (transport_->is_tls()) {
            sts_duration_ = value.duration;
          } else if (value.port) {
            // The spec: leave the plaintext link at once, come back with TLS.
            int port = *value.port;
            std::string why = endpoint(options_) + " requires TLS (STS): reconnecting to port " +
                              std::to_string(port);
            try {
              std::string quit = wire("QUIT", {"upgrading to TLS (STS)"});
              co_await write_now(std::move(quit));
            } catch (const std::exception&) {
            }
            throw StsUpgrade(port, why);
          }
        }
        bool ask_sasl = want_sasl;
        if (want_sasl) {
          auto it = offered.find("sasl");
          if (it == offered.end()) {
            std::string why = "SASL is configured but " + endpoint(options_) + " does not offer it";
            if (sasl.required) co_await give_up(std::move(why));
            log_->warn("{}; registering without an account (sasl.required is off)", why);
            ask_sasl = false;
            sasl_done = true;
          } else if (auto mechs = sasl_mechanisms(it->second); !mechs.empty()) {
            // The list may be stale (services not linked yet): we still try
            // ours, and the server's 904 decides.
            bool any = false;
            for (auto m : sasl.mechanisms) any = any || mechs.count(std::string(sasl_name(m)));
            if (!any) {
              log_->warn("{} offers SASL {}, none of ours; trying anyway", endpoint(options_),
                         it->second);
            }
          }
        }
        auto chosen = choose_caps(offered, ask_sasl);
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
        if (want_sasl && caps_.count("sasl") && !sasl_done && !client) {
          client = make_sasl_client(sasl.mechanisms[mech], sasl.username, sasl.password,
                                    sasl.nonce ? sasl.nonce : NonceSource(random_nonce));
          std::string out = wire("AUTHENTICATE", {mech_name()});
          co_await write_now(std::move(out));
        } else if (!cap_done && (sasl_done || !caps_.count("sasl"))) {
          if (want_sasl && !sasl_done && sasl_failed.empty()) {
            sasl_failed = "SASL is configured but " + endpoint(options_) + " did not grant it";
            continue;
          }
          cap_done = true;
          {
            std::string out = wire("CAP", {"END"});
            co_await write_now(std::move(out));
          }
        }
      } else if (reply->sub == "NAK") {
        if (want_sasl && !sasl_done && reply->caps.count("sasl")) {
          sasl_failed = "the server refused the sasl capability";
          continue;
        }
        if (!cap_done) {
          cap_done = true;
          {
            std::string out = wire("CAP", {"END"});
            co_await write_now(std::move(out));
          }
        }
      }
    } else if (cmd == "AUTHENTICATE") {
      if (!client) continue;
      // The challenge comes in chunks of 400; a shorter one (or "+") ends it.
      const std::string& chunk = line->param(0);
      if (chunk != "+") challenge += chunk;
      if (chunk.size() == 400) continue;
      auto decoded = base64_decode(challenge);
      challenge.clear();
      SaslStep step;
      if (!decoded) {
        step.error = "the server's SASL challenge is not base64";
      } else {
        step = client->respond(*decoded);
      }
      if (!step.response) {
        // Abort the exchange; a server we cannot trust ends the connection
        // whatever sasl.required says.
        {
          std::string out = wire("AUTHENTICATE", {"*"});
          co_await write_now(std::move(out));
        }
        std::string why =
            "SASL " + mech_name() + " with " + endpoint(options_) + " aborted: " + step.error;
        co_await give_up(std::move(why));
      }
      for (auto& part : sasl_chunks(*step.response)) {
        std::string out = wire("AUTHENTICATE", {part});
        co_await write_now(std::move(out));
      }
    } else if (cmd == "900") {
      account_ = line->param(2);
      log_->info("logged in to {} as {}", endpoint(options_), account_);
    } else if (cmd == "903" || cmd == "907") {
      if (!client || (cmd == "903" && !client->server_verified())) {
        std::string why = "SASL " + (client ? mech_name() : std::string()) + " with " +
                          endpoint(options_) +
                          " claimed success without proving it knows our password";
        co_await give_up(std::move(why));
      }
      sasl_done = true;
      if (!cap_done) {
        cap_done = true;
        {
          std::string out = wire("CAP", {"END"});
          co_await write_now(std::move(out));
        }
      }
    } else if (cmd == "908") {
      log_->info("{} supports SASL {}", endpoint(options_), line->param(1));
    } else if (cmd == "902" || cmd == "904" || cmd == "905" || cmd == "906") {
      if (sasl_done || !client) continue;
      failures.push_back(mech_name() + ": " + last_param(*line));
      log_->warn("SASL {} failed on {}: {}", mech_name(), endpoint(options_), last_param(*line));
      client.reset();
      challenge.clear();
      if (cmd != "902" && ++mech < sasl.mechanisms.size()) {
        client = make_sasl_client(sasl.mechanisms[mech], sasl.username, sasl.password,
                                  sasl.nonce ? sasl.nonce : NonceSource(random_nonce));
        std::string out = wire("AUTHENTICATE", {mech_name()});
        co_await write_now(std::move(out));
        continue;
      }
      std::string why;
      for (const auto& f : failures) why += (why.empty() ? "" : "; ") + f;
      sasl_failed = "SASL authentication failed on " + endpoint(options_) + ": " + why;
    } else if (cmd == "433" || cmd == "436" || cmd == "437") {
      // Nick in use: append '_' and try again, as IRC clients do.
      nick_ += "_";
      log_->info("nick {} is taken on {}; trying {}", line->param(1), endpoint(options_), nick_);
      {
        std::string out = wire("NICK", {nick_});
        co_await write_now(std::move(out));
      }
    } else if (cmd == "432") {
      throw ConnectionError("the server refuses the nick " + nick_ + ": " + last_param(*line));
    } else if (cmd == "464" || cmd == "465") {
      throw ConnectionError("refused by " + endpoint(options_) + ": " + last_param(*line));
    } else if (cmd == "ERROR") {
      throw ConnectionError("the server ended the connection: " + line->param(0));
    } else if (cmd == "001") {
      if (want_sasl && !sasl_done && sasl.required) {
        std::string why = "registered on " + endpoint(options_) + " without SASL";
        co_await give_up(std::move(why));
      }
      nick_ = line->param(0);
      // "Welcome to the ... Network nick!user@host" gives our prefix.
      const std::string& text = line->params.empty() ? nick_ : line->params.back();
      std::string last =
          text.substr(text.rfind(' ') == std::string::npos ? 0 : text.rfind(' ') + 1);
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
    if (passes(*line)) co_return std::move(*line);
  }
}

std::optional<Line> Connection::try_read() {
  while (!closed_) {
    auto line = next_buffered();
    if (!line) break;
    if (passes(*line)) return line;
  }
  return std::nullopt;
}

bool Connection::passes(const Line& line) {
  if (line.command == "PING") {
    std::string error;
    if (auto pong = format_line("PONG", {line.param(0)}, &error)) post_urgent(std::move(*pong));
    return false;
  }
  if (line.command == "PONG") {
    note_pong(line);
    return false;
  }
  if (line.command == "ERROR") {
    close("the server ended the connection: " + line.param(0));
    throw ConnectionError(close_reason_);
  }
  if (!echoes_.empty() || writing_) {
    const std::string& cmd = line.command;
    // Our message's echo, or the error that refused it (it was handled
    // all the same: sending it again would meet the same error).
    bool ours = (cmd == "PRIVMSG" || cmd == "NOTICE" || cmd == "TAGMSG") &&
                line.nick.size() == nick_.size() &&
                std::equal(line.nick.begin(), line.nick.end(), nick_.begin(),
                           [](unsigned char a, unsigned char b) {
                             return std::tolower(a) == std::tolower(b);
                           });
    if (ours || cmd == "404" || cmd == "412" || cmd == "531") {
      if (!echoes_.empty()) {
        confirm_through(echoes_.front());
      } else if (echo_confirms_) {
        ++early_echoes_;  // the write it answers has not completed yet
      }
    }
  }
  return true;
}

bool Connection::enqueue(std::string line, bool urgent) {
  if (closed_) return false;
  if (!is_wire_line(line)) {
    log_->error("refusing to send to {} what is not one IRC line ({} bytes)", endpoint(options_),
                line.size());
    return false;
  }
  if (urgent) {
    urgent_.push_back(std::move(line));
    wake_writer_.notify();
  } else {
    bool echoes = echoes_back(line);
    queue_.push_back(Pending{std::move(line), 1, echoes});
    ++queued_seq_;
    flush_soon();
  }
  return true;
}

void Connection::append_confirmation(std::string& batch, std::uint64_t seq) {
  if (!options_.confirm || seq <= pinged_seq_) return;
  pinged_seq_ = seq;
  batch += "PING :";
  batch += kConfirmToken;
  batch += std::to_string(seq);
  batch += "\r\n";
}

void Connection::note_pong(const Line& line) {
  // "PONG <server> :<token>"; some servers put the token first.
  for (const auto& p : line.params) {
    std::string_view token = p;
    if (!token.starts_with(kConfirmToken)) continue;
    token.remove_prefix(kConfirmToken.size());
    std::uint64_t seq = 0;
    auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), seq);
    if (ec != std::errc() || end != token.data() + token.size()) continue;
    // Never more than a PING of ours covered. The answer can overtake the
    // completion of our own write (both are ready at once): it then counts
    // once the writer has noted the lines as written.
    answered_seq_ = std::max(answered_seq_, std::min(seq, pinged_seq_));
    confirm_through(std::min(answered_seq_, written_seq_));
  }
}

void Connection::confirm_through(std::uint64_t seq) {
  while (!echoes_.empty() && echoes_.front() <= seq) echoes_.pop_front();
  if (seq > confirmed_seq_) {
    confirmed_seq_ = seq;
    progressed();
  }
}

void Connection::progressed() { delivered_.reach(done_seq()); }

bool Connection::echoes_back(std::string_view wire) const {
  if (!echo_confirms_) return false;
  if (wire.starts_with('@')) {
    auto space = wire.find(' ');
    if (space == std::string_view::npos) return false;
    wire.remove_prefix(space + 1);
  }
  auto command = wire.substr(0, wire.find(' '));
  return command == "PRIVMSG" || command == "NOTICE" ||
         (command == "TAGMSG" && caps_.count("message-tags"));
}

void Connection::expect_echo(std::uint64_t seq, bool echoes) {
  if (!echoes) return;
  if (early_echoes_ > 0) {
    // Its echo overtook the completion of the write.
    --early_echoes_;
    confirm_through(seq);
    return;
  }
  echoes_.push_back(seq);
}

bool Connection::post(std::string line) { return enqueue(std::move(line), false); }
bool Connection::post_urgent(std::string line) { return enqueue(std::move(line), true); }

void Connection::flush_soon() {
  if (flush_posted_) return;
  flush_posted_ = true;
  asio::post(ex_, [this, alive = alive_] {
    if (!*alive) return;
    flush_posted_ = false;
    flush();
  });
}

std::uint64_t Connection::take_batch(ConnectionClock::TimePoint now, bool& echoes) {
  // Every queued line the bucket lets go now, in one write: without flood
  // control that is the whole queue (up to kMaxBatch bytes).
  batch_.clear();
  batch_parts_.clear();
  std::uint64_t count = 0;
  echoes = true;
  if (paced_) {
    // After a wait for the bucket, a late timer must not let the next
    // lines catch up in a burst (servers count lines close together).
    bucket_.overdue(now);
    paced_ = false;
  }
  do {
    Pending& p = queue_.front();
    batch_ += p.bytes;
    count += p.lines;
    echoes = echoes && p.echoes;
    batch_parts_.push_back(Part{p.bytes.size(), p.lines, p.echoes});
    queue_.pop_front();
    // The rest of a PING costs no token: the PING was never paced.
    if (batch_parts_.back().lines > 0) bucket_.take(now);
  } while (!queue_.empty() && batch_.size() + queue_.front().bytes.size() <= kMaxBatch &&
           bucket_.wait(now) == ConnectionClock::Duration::zero());
  return count;
}

std::uint64_t Connection::lines_within(std::size_t n) const {
  std::uint64_t whole = 0;
  std::size_t at = 0;
  for (const Part& part : batch_parts_) {
    if (at + part.bytes <= n) {
      whole += part.lines;
    } else {
      // Cut inside this part: its lines that ended before the cut (each
      // ends in its only LF; a part of no lines is a PING's rest).
      if (part.lines > 0 && n > at) {
        whole += static_cast<std::uint64_t>(
            std::count(batch_.begin() + static_cast<std::ptrdiff_t>(at),
                       batch_.begin() + static_cast<std::ptrdiff_t>(n), '\n'));
      }
      break;
    }
    at += part.bytes;
  }
  return whole;
}

void Connection::requeue_rest(std::size_t n, std::size_t lines_end, std::uint64_t count,
                              bool echoes, std::uint64_t pinged_before) {
  if (n < lines_end) {
    // Lines are left: they go first, and the PING that was to follow them
    // (not begun) is appended again after them.
    pinged_seq_ = pinged_before;
    queue_.push_front(
        Pending{batch_.substr(n, lines_end - n), count - lines_within(n), echoes});
  } else {
    // Only the rest of the PING: it must end what the server has of it.
    queue_.push_front(Pending{batch_.substr(n), 0, true});
  }
}

void Connection::note_written(std::uint64_t whole) {
  if (whole == 0) return;
  if (echo_confirms_) {
    std::uint64_t seq = written_seq_;
    std::uint64_t left = whole;
    for (const Part& part : batch_parts_) {
      for (std::size_t i = 0; i < part.lines && left > 0; ++i, --left) {
        expect_echo(++seq, part.echoes);
      }
      if (left == 0) break;
    }
  }
  written_seq_ += whole;
  last_write_ = clock_->now();
  if (answered_seq_ > confirmed_seq_) confirm_through(std::min(answered_seq_, written_seq_));
  if (!options_.confirm) progressed();
}

void Connection::flush() {
  if (closed_ || queue_.empty()) return;
  // Urgent lines, a write under way, TLS (no write without suspending) or
  // flood control holding the next line: the writer's job, in its order.
  if (!urgent_.empty() || writing_ || !transport_->can_try_write()) {
    wake_writer_.notify();
    return;
  }
  auto now = clock_->now();
  if (bucket_.wait(now) > ConnectionClock::Duration::zero()) {
    paced_ = true;
    wake_writer_.notify();
    return;
  }
  bool echoes = true;
  const std::uint64_t count = take_batch(now, echoes);
  const std::size_t lines_end = batch_.size();
  const std::uint64_t pinged_before = pinged_seq_;
  // Where echoes will not confirm it all, a PING confirms the batch, in the
  // same write: one system call.
  if (!echoes) append_confirmation(batch_, written_seq_ + count);
  auto [ec, n] = transport_->try_write(asio::buffer(batch_));
  const bool failed = ec && ec != asio::error::would_block && ec != asio::error::try_again;
  n = std::min(n, batch_.size());
  if (n == batch_.size()) {
    note_written(count);
  } else {
    note_written(lines_within(n));
    if (failed) {
      write_failed(ec);
      return;
    }
    // The stream took part of it: the writer sends the rest before
    // anything queued later.
    requeue_rest(n, lines_end, count, echoes, pinged_before);
  }
  if (!queue_.empty() && !closed_) wake_writer_.notify();
}

Connection::Ticket Connection::queue_lines(std::vector<std::string> lines) {
  // Checked before anything goes, so that a bad line never leaves half a
  // message behind it.
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!is_wire_line(lines[i])) {
      throw std::invalid_argument("line " + std::to_string(i + 1) + " of " +
                                  std::to_string(lines.size()) +
                                  " is not one IRC line (CR LF at its end and nowhere else)");
    }
  }
  if (closed_ || !open_ || lines.empty()) return Ticket{};
  const std::uint64_t base = queued_seq_;
  const std::uint64_t target = base + lines.size();
  for (auto& l : lines) {
    bool echoes = echoes_back(l);
    queue_.push_back(Pending{std::move(l), 1, echoes});
  }
  queued_seq_ = target;
  flush_soon();
  return Ticket{base, target};
}

Connection::Ticket Connection::queue_wire(std::string wire) {
  // Whole wire lines: every LF after a CR, no other CR, no NUL, and the
  // last byte an LF; each line at least a command long.
  std::size_t count = 0;
  bool echoes = echo_confirms_;
  for (std::size_t at = 0; at < wire.size();) {
    std::size_t lf = wire.find('\n', at);
    std::string_view line(wire.data() + at,
                          lf == std::string::npos ? wire.size() - at : lf + 1 - at);
    if (!is_wire_line(line)) {
      throw std::invalid_argument("line " + std::to_string(count + 1) +
                                  " is not one IRC line (CR LF at its end and nowhere else)");
    }
    if (echoes) echoes = echoes_back(line);
    ++count;
    at += line.size();
  }
  if (closed_ || !open_ || count == 0) return Ticket{};
  const std::uint64_t base = queued_seq_;
  if (count == 1 || (options_.send_delay.count() == 0 && (echoes || !echo_confirms_))) {
    queue_.push_back(Pending{std::move(wire), count, echoes});
  } else {
    // Paced (the bucket lets them go one at a time), or echoed in part:
    // a part's lines must all be echoed or none.
    for (std::size_t at = 0; at < wire.size();) {
      std::size_t end = wire.find('\n', at) + 1;
      std::string line = wire.substr(at, end - at);
      bool line_echoes = echoes_back(line);
      queue_.push_back(Pending{std::move(line), 1, line_echoes});
      at = end;
    }
  }
  queued_seq_ = base + count;
  flush_soon();
  return Ticket{base, queued_seq_};
}

Task<std::size_t> Connection::delivered(Ticket ticket) {
  if (ticket.target == ticket.base) co_return 0;
  // Woken once: when its lines are done, or the link closed.
  if (done_seq() < ticket.target && !closed_) co_await delivered_.wait(ticket.target);
  co_return done_seq() > ticket.base
      ? static_cast<std::size_t>(std::min(done_seq(), ticket.target) - ticket.base)
      : 0;
}

Task<std::size_t> Connection::send(std::vector<std::string> lines) {
  Ticket ticket = queue_lines(std::move(lines));
  co_return co_await delivered(ticket);
}

Task<> Connection::write_loop() {
  for (;;) {
    while (!closed_ && urgent_.empty() && queue_.empty()) co_await wake_writer_.wait();
    if (closed_) co_return;
    auto now = clock_->now();
    if (!urgent_.empty()) {
      std::string line = std::move(urgent_.front());
      urgent_.pop_front();
      bucket_.take(now);
      writing_ = true;
      auto [ec, n] = co_await transport_->write(asio::buffer(line));
      writing_ = false;
      written_.notify();
      if (ec) {
        write_failed(ec);
        co_return;
      }
      continue;
    }
    auto wait = bucket_.wait(now);
    if (wait > ConnectionClock::Duration::zero()) {
      paced_ = true;
      // Sleep in short steps so that an urgent line (PONG) is not held long.
      co_await clock_->sleep(std::min<ConnectionClock::Duration>(wait, 100ms));
      continue;
    }
    bool echoes = true;
    const std::uint64_t count = take_batch(now, echoes);
    // Where echoes will not confirm it all, a PING after every batch does,
    // so that a link cut in the middle of a paced backlog repeats nothing
    // confirmed before the cut. Not paced itself: it must not hold the
    // next line back by a whole send_delay (servers count it, so it costs
    // a little of their flood allowance: one short line per write).
    if (!echoes) append_confirmation(batch_, written_seq_ + count);
    writing_ = true;
    auto [ec, n] = co_await transport_->write(asio::buffer(batch_));
    writing_ = false;
    if (ec) {
      // Lines that left whole before the failure count as written.
      note_written(lines_within(std::min(n, batch_.size())));
      write_failed(ec);
      written_.notify();
      co_return;
    }
    note_written(count);
    written_.notify();
  }
}

Task<> Connection::keepalive() {
  auto step = std::clamp<std::chrono::milliseconds>(options_.ping_interval / 4, 50ms, 1s);
  while (!closed_) {
    co_await clock_->sleep(step);
    auto idle = clock_->now() - last_rx_;
    if (idle > options_.ping_interval + options_.ping_timeout) {
      log_->warn("no answer from {} for {} s: the link is dead", endpoint(options_),
                 std::chrono::duration_cast<std::chrono::seconds>(idle).count());
      close("ping timeout");
      co_return;
    }
    // A message whose echo is late (a refusal we did not recognise): a
    // PING confirms it all the same.
    if (options_.confirm && written_seq_ > confirmed_seq_ && pinged_seq_ < written_seq_ &&
        clock_->now() - last_write_ >= kConfirmFallback) {
      std::string ping;
      append_confirmation(ping, written_seq_);
      post_urgent(std::move(ping));
    }
    if (idle > options_.ping_interval && !ping_sent_) {
      ping_sent_ = true;
      post_urgent("PING :immp\r\n");
    }
  }
}

Task<> Connection::quit_deadline(std::chrono::milliseconds grace) {
  // Outliving a quick quit is harmless: the connection is closed by then.
  co_await clock_->sleep(grace);
  close("quit timed out");
}

Task<> Connection::quit(std::string message, std::chrono::milliseconds grace) {
  if (closed_) co_return;
  if (open_) {
    std::string error;
    auto line = format_line("QUIT", {message}, &error);
    // Whatever is still queued is dropped: we are leaving.
    queue_.clear();
    post_urgent(line ? std::move(*line) : std::string("QUIT\r\n"));
    tasks_.spawn("irc quit deadline", quit_deadline(grace));
    while (!closed_ && (!urgent_.empty() || writing_)) co_await written_.wait();
  }
  close("quit");
}

}  // namespace immp::irc
