#include "operators/supervisor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "operators/connection.hpp"
#include "operators/json_node.hpp"

extern char** environ;

// GCC 12 at -O2 reports -Wmismatched-new-delete for coroutine frames that
// Asio's awaitable_frame_base allocates and frees itself: a false report
// (as in runner/runner.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace immp::operators {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace asio::experimental::awaitable_operators;

std::string_view phase_name(Phase phase) {
  switch (phase) {
    case Phase::stopped:
      return "stopped";
    case Phase::starting:
      return "starting";
    case Phase::ready:
      return "ready";
    case Phase::stopping:
      return "stopping";
    case Phase::backoff:
      return "backoff";
    case Phase::failed:
      return "failed";
  }
  return "?";
}

namespace {

std::string random_token() {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 8; ++i) out += fmt::format("{:08x}", rd());
  return out;
}

std::string millis(std::chrono::milliseconds ms) {
  return ms.count() % 1000 == 0 ? fmt::format("{}s", ms.count() / 1000)
                                : fmt::format("{}ms", ms.count());
}

}  // namespace

Supervisor::Supervisor(Context& context, OperatorSettings settings)
    : ctx_(context),
      settings_(std::move(settings)),
      log_(logger("immp.operator." + settings_.name)),
      wake_(context.host.executor()),
      exited_(context.host.executor()) {}

Supervisor::~Supervisor() {
  child_.reset();  // kills and reaps one that is still running
  notify_.reset();
  if (!notify_path_.empty()) {
    std::error_code ec;
    fs::remove(notify_path_, ec);
  }
  wipe_scratch();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void Supervisor::event(std::string what, std::string detail) {
  if (ctx_.report) ctx_.report(OperatorEvent{name(), std::move(what), std::move(detail)});
}

void Supervisor::set_phase(Phase phase, std::string detail) {
  if (phase == phase_) return;
  phase_ = phase;
  event(std::string(phase_name(phase)), std::move(detail));
}

bool Supervisor::lock() {
  if (lock_fd_ >= 0) return true;
  std::error_code ec;
  fs::create_directories(ctx_.lock_dir, ec);
  fs::path file = ctx_.lock_dir / (name() + ".lock");
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    log_->error("cannot open the lock {}: {}", file.string(), std::strerror(errno));
    set_phase(Phase::failed, "lock");
    event("refused", file.string());
    return false;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    log_->error(
        "operator '{}' is already running under another immp (the lock {} is held); not "
        "starting it here",
        name(), file.string());
    phase_ = Phase::failed;
    event("refused", file.string());
    return false;
  }
  // Who holds it, for a person looking at the file.
  std::string pid = std::to_string(::getpid()) + "\n";
  [[maybe_unused]] int t = ::ftruncate(fd, 0);
  [[maybe_unused]] auto n = ::pwrite(fd, pid.data(), pid.size(), 0);
  lock_fd_ = fd;
  return true;
}

fs::path Supervisor::scratch() const { return ctx_.run_dir / "scratch" / name(); }

void Supervisor::wipe_scratch() {
  std::error_code ec;
  fs::remove_all(scratch(), ec);
}

void Supervisor::start() {
  if (phase_ == Phase::failed && lock_fd_ < 0 && !lock()) return;
  want_running_ = true;
  recent_restarts_.clear();
  if (!started_) {
    started_ = true;
    open_notify_socket();
    auto self = shared_from_this();
    forever_.push_back(&ctx_.tasks.spawn("operator " + name(), [](std::shared_ptr<Supervisor> s) -> Task<> {
      co_await s->life();
    }(self)));
    forever_.push_back(&ctx_.tasks.spawn("operator " + name() + " health",
                                         [](std::shared_ptr<Supervisor> s) -> Task<> {
                                           co_await s->health();
                                         }(self)));
  }
  wake_.notify();
}

void Supervisor::open_notify_socket() {
  using dgram = asio::local::datagram_protocol;
  std::error_code ec;
  fs::create_directories(ctx_.run_dir / "notify", ec);
  notify_path_ = ctx_.run_dir / "notify" / name();
  fs::remove(notify_path_, ec);
  try {
    notify_ = std::make_unique<dgram::socket>(ctx_.host.executor(), dgram::endpoint(notify_path_.string()));
    auto self = shared_from_this();
    forever_.push_back(&ctx_.tasks.spawn("operator " + name() + " notify",
                                         [](std::shared_ptr<Supervisor> s) -> Task<> {
                                           co_await s->notify_reader();
                                         }(self)));
  } catch (const std::exception& e) {
    log_->warn("no notify socket at {}: {}", notify_path_.string(), e.what());
    notify_.reset();
  }
}

void Supervisor::launch() {
  std::error_code ec;
  wipe_scratch();
  fs::create_directories(scratch(), ec);
  fs::permissions(scratch(), fs::perms::owner_all, ec);
  fs::create_directories(settings_.data, ec);
  if (ec) log_->warn("cannot create its data directory {}: {}", settings_.data.string(), ec.message());
  token_ = random_token();
  SpawnOptions o;
  o.command = settings_.command;
  o.args = settings_.args;
  o.cwd = settings_.cwd;
  o.inherit_fd = lock_fd_;
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  // The host's own systemd settings are not the operator's.
  for (const char* k : {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID"}) {
    env.erase(k);
  }
  for (const auto& [k, v] : settings_.env) env[k] = v;
  env["IMMP_BUS_SOCKET"] = ctx_.socket.string();
  env["IMMP_OPERATOR_NAME"] = name();
  env["IMMP_OPERATOR_TOKEN"] = token_;
  env["IMMP_SCRATCH_DIR"] = scratch().string();
  env["IMMP_DATA_DIR"] = settings_.data.string();
  if (notify_) {
    env["NOTIFY_SOCKET"] = notify_path_.string();
    env["WATCHDOG_USEC"] = std::to_string(
        std::chrono::duration_cast<std::chrono::microseconds>(settings_.ping_timeout).count());
  }
  for (const auto& [k, v] : env) o.env.push_back(k + "=" + v);
  child_ = std::shared_ptr<ChildProcess>(ChildProcess::spawn(ctx_.host.executor(), o));
  child_running_ = true;
  ++run_;
  launched_at_ = last_seen_ = last_ping_ = Clock::now();
  last_watchdog_.reset();
  unhealthy_ = false;
  status_.clear();
  log_->info("started (pid {}): {}", child_->pid(), settings_.command);
  set_phase(Phase::starting, std::to_string(child_->pid()));
  auto self = shared_from_this();
  for (bool err : {true, false}) {
    ctx_.tasks.spawn("operator " + name() + (err ? " stderr" : " stdout"),
                     [](std::shared_ptr<Supervisor> s, std::shared_ptr<ChildProcess> c,
                        bool e) -> Task<> { co_await s->pipe_reader(std::move(c), e); }(self, child_, err));
  }
}

Task<int> Supervisor::run_once() {
  try {
    launch();
  } catch (const std::exception& e) {
    log_->error("{}", e.what());
    co_return 127;
  }
  auto child = child_;
  int status = co_await child->wait();
  co_return status;
}

Task<> Supervisor::life() {
  std::chrono::milliseconds delay = settings_.backoff;
  for (;;) {
    while (!want_running_) co_await wake_.wait();
    int status = co_await run_once();
    child_running_ = false;
    auto ran = Clock::now() - launched_at_;
    if (auto c = connection_.lock()) c->close();
    wipe_scratch();
    bool failed = status != 0 || unhealthy_;
    if (status >= 128) {
      log_->log(want_running_ && !terminating_ ? spdlog::level::warn : spdlog::level::info,
                "exited: killed by signal {}", status - 128);
    } else {
      log_->log(status != 0 ? spdlog::level::warn : spdlog::level::info, "exited with status {}",
                status);
    }
    event("exited", std::to_string(status));
    exited_.notify();
    if (!want_running_) {
      set_phase(Phase::stopped);
      continue;
    }
    if (restart_now_) {
      restart_now_ = false;
      ++restarts_;
      delay = settings_.backoff;
      continue;
    }
    if (settings_.restart == RestartPolicy::never ||
        (settings_.restart == RestartPolicy::on_failure && !failed)) {
      want_running_ = false;
      set_phase(Phase::stopped);
      continue;
    }
    // A run that lasted past the crash window starts the backoff afresh.
    if (ran > settings_.crash_window) delay = settings_.backoff;
    auto now = Clock::now();
    recent_restarts_.push_back(now);
    while (!recent_restarts_.empty() && now - recent_restarts_.front() > settings_.crash_window) {
      recent_restarts_.pop_front();
    }
    if (static_cast<int>(recent_restarts_.size()) > settings_.crash_restarts) {
      log_->error("crash loop: {} restarts within {}; not restarting it (start it again by hand)",
                  settings_.crash_restarts, millis(settings_.crash_window));
      want_running_ = false;
      set_phase(Phase::failed, "crash loop");
      event("crash-loop");
      continue;
    }
    ++restarts_;
    log_->info("restarting in {} (restart {})", millis(delay), restarts_);
    set_phase(Phase::backoff, std::to_string(delay.count()));
    asio::steady_timer timer(ctx_.host.executor(), delay);
    auto waited = (timer.async_wait(asio::as_tuple(asio::use_awaitable)) || wake_.wait());
    co_await std::move(waited);
    delay = std::min(delay * 2, settings_.backoff_max);
  }
}

Task<> Supervisor::health() {
  auto tick = std::min(settings_.ping_interval, settings_.ping_timeout / 2);
  if (tick < std::chrono::milliseconds(10)) tick = std::chrono::milliseconds(10);
  asio::steady_timer timer(ctx_.host.executor());
  for (;;) {
    timer.expires_after(tick);
    co_await timer.async_wait(asio::use_awaitable);
    if (!child_running_ || terminating_) continue;
    auto now = Clock::now();
    auto conn = connection_.lock();
    if (phase_ == Phase::starting && now - launched_at_ > settings_.ready_timeout) {
      std::string why = "not ready within " + millis(settings_.ready_timeout);
      auto t = terminate(true, why);
      co_await std::move(t);
      continue;
    }
    if (conn && now - last_seen_ > settings_.ping_timeout) {
      std::string why = "no answer for " + millis(settings_.ping_timeout);
      auto t = terminate(true, why);
      co_await std::move(t);
      continue;
    }
    if (last_watchdog_ && now - *last_watchdog_ > settings_.ping_timeout) {
      std::string why = "no WATCHDOG=1 for " + millis(settings_.ping_timeout);
      auto t = terminate(true, why);
      co_await std::move(t);
      continue;
    }
    if (conn && now - last_ping_ >= settings_.ping_interval) {
      last_ping_ = now;
      conn->send_line(R"({"op":"ping"})");
    }
    if (auto sub = subscriber_.lock()) {
      std::size_t depth = sub->queue().size();
      if (!depth_warned_ && depth * 2 > sub->queue().capacity()) {
        depth_warned_ = true;
        log_->warn("its queue is over half full: {} of {} events{}", depth, sub->queue().capacity(),
                   halted_ ? " (halted)" : "");
      } else if (depth_warned_ && depth * 4 < sub->queue().capacity()) {
        depth_warned_ = false;
        log_->info("its queue is down to {} events", depth);
      }
    }
  }
}

Task<> Supervisor::notify_reader() {
  std::array<char, 4096> buf;
  for (;;) {
    auto [ec, n] = co_await notify_->async_receive(asio::buffer(buf),
                                                    asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) continue;
    if (child_running_) on_notify(std::string_view(buf.data(), n));
  }
}

void Supervisor::on_notify(std::string_view datagram) {
  while (!datagram.empty()) {
    auto nl = datagram.find('\n');
    std::string_view line = datagram.substr(0, nl);
    datagram = nl == std::string_view::npos ? std::string_view() : datagram.substr(nl + 1);
    if (line == "READY=1") {
      ready("READY=1");
    } else if (line == "WATCHDOG=1") {
      last_watchdog_ = Clock::now();
      alive();
    } else if (line == "WATCHDOG=trigger") {
      ctx_.tasks.spawn("operator " + name() + " restart", [](std::shared_ptr<Supervisor> s) -> Task<> {
        co_await s->terminate(true, "it asked for it (WATCHDOG=trigger)");
      }(shared_from_this()));
    } else if (line == "RELOADING=1") {
      log_->info("reloading");
      event("sd-reloading");
    } else if (line == "STOPPING=1") {
      log_->info("stopping");
      event("sd-stopping");
    } else if (line.starts_with("STATUS=")) {
      set_status(std::string(line.substr(7)));
    }
  }
}

Task<> Supervisor::pipe_reader(std::shared_ptr<ChildProcess> child, bool err) {
  // The pipe belongs to this run's child, kept alive here until it ends.
  asio::posix::stream_descriptor& pipe = err ? child->err() : child->out();
  std::string_view stream = err ? "stderr" : "stdout";
  asio::streambuf buf(64 * 1024);
  for (;;) {
    auto [ec, n] = co_await asio::async_read_until(pipe, buf, '\n', asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::not_found || (n == 0 && buf.size() >= buf.max_size())) {
      // A line longer than the buffer: log it in pieces.
      std::string piece(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
      buf.consume(buf.size());
      log_->info("[{}] {}", stream, piece);
      continue;
    }
    if (ec) {
      if (buf.size() > 0) {
        std::string rest(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
        log_->info("[{}] {}", stream, rest);
      }
      co_return;
    }
    std::string line(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + n - 1);
    buf.consume(n);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // Python's logging (LEVEL:name:message) keeps its level.
    auto level = spdlog::level::info;
    if (line.starts_with("ERROR:") || line.starts_with("CRITICAL:") || line.starts_with("Traceback")) {
      level = spdlog::level::err;
    } else if (line.starts_with("WARNING:")) {
      level = spdlog::level::warn;
    } else if (line.starts_with("DEBUG:")) {
      level = spdlog::level::debug;
    }
    log_->log(level, "{}", line);
  }
}

Task<bool> Supervisor::wait_exit(std::chrono::milliseconds timeout) {
  // This run's end: by the time the waiter wakes, a restart may have
  // started the next run already.
  std::uint64_t run = run_;
  auto ended = [&] { return !child_running_ || run_ != run; };
  asio::steady_timer timer(ctx_.host.executor(), timeout);
  while (!ended()) {
    auto either = (exited_.wait() || timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    auto which = co_await std::move(either);
    if (which.index() == 1) break;
  }
  co_return ended();
}

Task<> Supervisor::terminate(bool unhealthy, std::string why) {
  std::uint64_t run = run_;
  if (!child_running_ || terminating_) {
    while (child_running_ && run_ == run) co_await exited_.wait();
    co_return;
  }
  terminating_ = true;
  std::shared_ptr<ChildProcess> child = child_;  // signals go to this run only
  if (unhealthy) {
    unhealthy_ = true;
    log_->warn("{}: restarting it", why);
    event("unhealthy", why);
  } else {
    log_->info("stopping ({})", why);
  }
  set_phase(Phase::stopping, why);
  bool asked = false;
  if (auto c = connection_.lock(); c && !unhealthy) {
    json::object frame{{"op", "shutdown"}, {"grace_ms", settings_.grace.count()}};
    c->send(frame);
    asked = true;
  }
  if (!asked || !co_await wait_exit(settings_.grace)) {
    if (asked) log_->info("still running {} after the shutdown request: SIGTERM", millis(settings_.grace));
    child->kill(SIGTERM);
    if (!co_await wait_exit(settings_.grace)) {
      log_->warn("still running {} after SIGTERM: SIGKILL", millis(settings_.grace));
      child->kill(SIGKILL);
      co_await wait_exit(std::chrono::seconds(30));
    }
  }
  terminating_ = false;
}

Task<> Supervisor::stop() {
  want_running_ = false;
  wake_.notify();  // out of a backoff
  if (child_running_) {
    auto t = terminate(false, "stop");
    co_await std::move(t);
  }
  if (phase_ != Phase::failed) set_phase(Phase::stopped);
}

Task<> Supervisor::restart() {
  if (!child_running_) {
    start();
    co_return;
  }
  restart_now_ = true;
  want_running_ = true;
  auto t = terminate(false, "restart");
  co_await std::move(t);
}

void Supervisor::retire() {
  for (auto* signal : std::exchange(forever_, {})) signal->emit(asio::cancellation_type::terminal);
  started_ = false;
  if (notify_) {
    boost::system::error_code ignored;
    notify_->close(ignored);
  }
  if (lock_fd_ >= 0) ::close(std::exchange(lock_fd_, -1));
}

void Supervisor::halt() {
  if (halted_) return;
  halted_ = true;
  auto sub = subscriber_.lock();
  log_->info("halted: events wait in its queue ({} now)", sub ? sub->queue().size() : 0);
  event("halted");
}

void Supervisor::resume() {
  if (!halted_) return;
  halted_ = false;
  auto sub = subscriber_.lock();
  log_->info("resumed: delivering {} queued events", sub ? sub->queue().size() : 0);
  if (auto c = connection_.lock()) c->wake();
  event("resumed");
}

void Supervisor::reload(Node config, bool write_back) {
  config.set_path("operators." + name() + ".config");
  config.repath();
  settings_.config = std::move(config);
  if (auto c = connection_.lock()) {
    json::object frame{{"op", "reload"}, {"config", node_to_json(settings_.config)}};
    c->send(frame);
  }
  if (child_running_) child_->kill(SIGHUP);
  log_->info("config reloaded");
  event("reloaded");
  if (write_back && ctx_.config_changed) ctx_.config_changed(name(), settings_.config);
}

OperatorStatus Supervisor::status() const {
  OperatorStatus s;
  s.name = name();
  s.phase = phase_;
  s.pid = child_running_ && child_ ? child_->pid() : 0;
  s.restarts = restarts_;
  if (auto sub = subscriber_.lock()) {
    s.queued = sub->queue().size();
    s.dropped = sub->queue().dropped();
  }
  s.halted = halted_;
  s.connected = !connection_.expired();
  s.status = status_;
  return s;
}

bool Supervisor::check_token(std::string_view token) const {
  if (token_.empty() || token.size() != token_.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < token.size(); ++i) diff |= token[i] ^ token_[i];
  return diff == 0 && child_running_;
}

bool Supervisor::attach(const std::shared_ptr<Connection>& connection) {
  if (auto c = connection_.lock(); c && c != connection) return false;
  connection_ = connection;
  last_seen_ = last_ping_ = Clock::now();
  event("connected");
  return true;
}

void Supervisor::detach(const Connection* connection) {
  auto c = connection_.lock();
  if (c && c.get() != connection) return;
  connection_.reset();
  subscriber_.reset();
  event("disconnected");
}

void Supervisor::alive() { last_seen_ = Clock::now(); }

void Supervisor::ready(std::string_view via) {
  alive();
  if (phase_ != Phase::starting) return;
  log_->info("ready (pid {}, {})", child_ ? child_->pid() : 0, via);
  set_phase(Phase::ready, std::string(via));
}

void Supervisor::set_status(std::string status) {
  log_->info("status: {}", status);
  status_ = std::move(status);
  event("status", status_);
}

void Supervisor::set_subscriber(bus::SubscriberPtr subscriber) {
  subscriber_ = subscriber;
  depth_warned_ = false;
}

}  // namespace immp::operators
