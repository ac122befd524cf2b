#include "operators/operators_hook.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "operators/connection.hpp"

// GCC 12 at -O2 reports -Wmismatched-new-delete for coroutine frames that
// Asio's awaitable_frame_base allocates and frees itself: a false report
// (as in runner/runner.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace immp::operators {

namespace fs = std::filesystem;

OperatorsHook::OperatorsHook(const Init& init, OperatorsOptions options)
    : Hook(init),
      options_(std::move(options)),
      bus_(init.host, options_.keep),
      tasks_(init.host.executor(), logger("immp.operators")),
      run_dir_(options_.runtime_root / fmt::format("host-{}", ::getpid())),
      socket_(run_dir_ / "bus.sock"),
      ctx_{init.host, bus_, tasks_, *this, run_dir_, options_.runtime_root / "locks", socket_,
           nullptr, nullptr} {
  ctx_.report = [this](const OperatorEvent& e) { report(e); };
  ctx_.config_changed = [this](const std::string& name, const Node& config) {
    auto listeners = config_listeners_;
    for (auto& [id, l] : listeners) l(name, config);
  };
  for (auto& s : options_.operators) add(s);
}

OperatorsHook::~OperatorsHook() {
  *alive_ = false;
  // Supervisors go first: their children are killed and reaped now if
  // stop() did not run.
  supervisors_.clear();
}

std::shared_ptr<Supervisor> OperatorsHook::add(OperatorSettings settings) {
  std::string name = settings.name;
  auto sup = std::make_shared<Supervisor>(ctx_, std::move(settings));
  supervisors_[name] = sup;
  return sup;
}

void OperatorsHook::report(const OperatorEvent& event) {
  auto listeners = listeners_;
  for (auto& [id, l] : listeners) l(event);
}

Subscription OperatorsHook::on_event(std::function<void(const OperatorEvent&)> listener) {
  std::uint64_t id = next_listener_++;
  listeners_[id] = std::move(listener);
  return Subscription([this, id, alive = std::weak_ptr<bool>(alive_)] {
    if (auto a = alive.lock(); a && *a) listeners_.erase(id);
  });
}

Subscription OperatorsHook::on_config_changed(
    std::function<void(const std::string& name, const Node& config)> listener) {
  std::uint64_t id = next_listener_++;
  config_listeners_[id] = std::move(listener);
  return Subscription([this, id, alive = std::weak_ptr<bool>(alive_)] {
    if (auto a = alive.lock(); a && *a) config_listeners_.erase(id);
  });
}

Task<> OperatorsHook::start() {
  std::error_code ec;
  fs::create_directories(options_.runtime_root, ec);
  fs::permissions(options_.runtime_root, fs::perms::owner_all, ec);
  fs::remove_all(run_dir_, ec);  // a previous host with our pid
  fs::create_directories(run_dir_, ec);
  if (ec) throw std::runtime_error("cannot create " + run_dir_.string() + ": " + ec.message());
  // 0700 before the socket exists: nobody else can reach it, even briefly.
  fs::permissions(run_dir_, fs::perms::owner_all, ec);
  mode_t old = ::umask(0077);
  try {
    acceptor_ = std::make_unique<asio::local::stream_protocol::acceptor>(
        host().executor(), asio::local::stream_protocol::endpoint(socket_.string()));
  } catch (const std::exception& e) {
    ::umask(old);
    throw std::runtime_error("cannot listen on " + socket_.string() + ": " + e.what());
  }
  ::umask(old);
  ::chmod(socket_.c_str(), 0600);
  log()->info("bus socket at {}", socket_.string());
  tasks_.spawn("bus acceptor", accept_loop());
  for (auto& [name, sup] : supervisors_) {
    if (!sup->settings().enabled) continue;
    if (sup->lock()) sup->start();
  }
  co_return;
}

Task<> OperatorsHook::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_->async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      log()->warn("bus socket: {}", ec.message());
      asio::steady_timer pause(host().executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::use_awaitable);
      continue;
    }
    tasks_.spawn("bus connection", serve(std::move(socket)));
  }
}

Task<> OperatorsHook::serve(asio::local::stream_protocol::socket socket) {
  auto connection = std::make_shared<Connection>(ctx_, std::move(socket));
  co_await connection->run();
}

Task<> OperatorsHook::stop() {
  // Every operator at once: each has its own grace periods.
  struct Pending {
    explicit Pending(Executor ex) : done(std::move(ex)) {}
    std::size_t running = 0;
    Signal done;
  };
  auto pending = std::make_shared<Pending>(host().executor());
  for (auto& [name, sup] : supervisors_) {
    ++pending->running;
    tasks_.spawn("operator " + name + " stop",
                 [](std::shared_ptr<Supervisor> s, std::shared_ptr<Pending> p) -> Task<> {
                   co_await s->stop();
                   if (--p->running == 0) p->done.notify();
                 }(sup, pending));
  }
  while (pending->running > 0) co_await pending->done.wait();
  for (auto& [name, sup] : supervisors_) sup->retire();
  if (acceptor_) {
    boost::system::error_code ignored;
    acceptor_->close(ignored);
  }
  co_await tasks_.stop(std::chrono::seconds(2));
  acceptor_.reset();
  std::error_code ec;
  fs::remove_all(run_dir_, ec);
}

Task<> OperatorsHook::on_receive(const Received& received) {
  auto published = bus_.publish(received.sent);
  co_await std::move(published);
}

std::shared_ptr<Supervisor> OperatorsHook::supervisor(std::string_view name) const {
  auto it = supervisors_.find(name);
  return it == supervisors_.end() ? nullptr : it->second;
}

bool OperatorsHook::halt(std::string_view name) {
  auto s = supervisor(name);
  if (s) s->halt();
  return s != nullptr;
}

bool OperatorsHook::resume(std::string_view name) {
  auto s = supervisor(name);
  if (s) s->resume();
  return s != nullptr;
}

Task<bool> OperatorsHook::restart(std::string_view name) {
  auto s = supervisor(name);
  if (!s) co_return false;
  if (!s->lock()) co_return false;
  co_await s->restart();
  co_return true;
}

Task<bool> OperatorsHook::stop_operator(std::string_view name) {
  auto s = supervisor(name);
  if (!s) co_return false;
  co_await s->stop();
  co_return true;
}

bool OperatorsHook::start_operator(std::string_view name) {
  auto s = supervisor(name);
  if (!s) return false;
  if (s->lock()) s->start();
  return true;
}

bool OperatorsHook::reload(std::string_view name, Node config) {
  auto s = supervisor(name);
  if (s) s->reload(std::move(config), true);
  return s != nullptr;
}

Task<std::optional<std::string>> OperatorsHook::control(std::string_view name,
                                                        std::string_view action) {
  auto s = supervisor(name);
  if (!s) co_return "unknown operator '" + std::string(name) + "'";
  if (action == "halt") {
    s->halt();
  } else if (action == "resume") {
    s->resume();
  } else if (action == "reload") {
    s->reload(s->config(), false);
  } else if (action == "restart") {
    co_await restart(name);
  } else if (action == "stop") {
    co_await s->stop();
  } else if (action == "start") {
    start_operator(name);
  } else {
    co_return "unknown action '" + std::string(action) +
        "': expected halt, resume, reload, restart, stop or start";
  }
  co_return std::nullopt;
}

Task<> OperatorsHook::apply(std::vector<OperatorSettings> operators) {
  std::map<std::string, OperatorSettings, std::less<>> next;
  for (auto& o : operators) next.emplace(o.name, std::move(o));
  std::vector<std::string> gone;
  for (auto& [name, sup] : supervisors_) {
    if (!next.count(name)) gone.push_back(name);
  }
  for (const auto& name : gone) {
    auto sup = supervisors_[name];
    co_await sup->stop();
    sup->retire();
    supervisors_.erase(name);
    log()->info("operator {} removed", name);
  }
  for (auto& [name, settings] : next) {
    auto sup = supervisor(name);
    if (!sup) {
      auto added = add(settings);
      if (settings.enabled && added->lock()) added->start();
      log()->info("operator {} added", name);
      continue;
    }
    OperatorSettings before = sup->settings();
    OperatorSettings after = settings;
    bool config_only = !(before.config == after.config);
    before.config = after.config = Node();
    bool same = before.command == after.command && before.args == after.args &&
                before.env == after.env && before.cwd == after.cwd &&
                before.enabled == after.enabled && before.admin == after.admin &&
                before.restart == after.restart && before.ping_interval == after.ping_interval &&
                before.ping_timeout == after.ping_timeout && before.grace == after.grace &&
                before.queue == after.queue && before.data == after.data &&
                before.ready_timeout == after.ready_timeout && before.backoff == after.backoff &&
                before.backoff_max == after.backoff_max &&
                before.crash_restarts == after.crash_restarts &&
                before.crash_window == after.crash_window && before.overflow == after.overflow;
    if (same) {
      if (config_only) sup->reload(settings.config, false);
      continue;
    }
    // Anything else: a new supervisor with the new settings, under the
    // same lock (handed over by stopping the old one first).
    co_await sup->stop();
    sup->retire();
    supervisors_.erase(name);
    sup.reset();
    auto fresh = add(settings);
    if (settings.enabled && fresh->lock()) fresh->start();
    log()->info("operator {} restarted with its new settings", name);
  }
}

std::vector<OperatorStatus> OperatorsHook::status() const {
  std::vector<OperatorStatus> out;
  for (const auto& [name, sup] : supervisors_) out.push_back(sup->status());
  return out;
}

std::optional<OperatorStatus> OperatorsHook::status(std::string_view name) const {
  auto s = supervisor(name);
  if (!s) return std::nullopt;
  return s->status();
}

}  // namespace immp::operators

namespace immp::operators {

std::vector<OperatorSettings> read_section(const Node& root, const fs::path& base_dir) {
  std::vector<OperatorSettings> out;
  const Node* section = root.find("operators");
  if (!section || !section->is_map()) return out;
  for (const auto& [name, entry] : section->as_map()) out.push_back(read_settings(name, entry, base_dir));
  return out;
}

std::unique_ptr<OperatorsHook> make_operators_hook(Host& host, const Node& root,
                                                   const fs::path& base_dir) {
  auto operators = read_section(root, base_dir);
  if (operators.empty()) return nullptr;
  OperatorsOptions options;
  options.runtime_root = runtime_root(root, base_dir);
  options.operators = std::move(operators);
  return std::make_unique<OperatorsHook>(Init{"operators", Node::map(), host}, std::move(options));
}

}  // namespace immp::operators
