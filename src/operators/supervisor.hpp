// Supervisor: one named operator's life — its lock, its process, its
// readiness and health, its restarts, its scratch directory — and the
// state the bus connection of that operator reads (halted, config).
//
// Everything runs on the host's executor; nothing is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "bus/bus.hpp"
#include "immp/log.hpp"
#include "immp/tasks.hpp"
#include <boost/asio/local/datagram_protocol.hpp>

#include "operators/child.hpp"
#include "operators/settings.hpp"

namespace immp::operators {

class Connection;
class OperatorsHook;

enum class Phase { stopped, starting, ready, stopping, backoff, failed };
std::string_view phase_name(Phase phase);

// Something that happened to an operator, for listeners (tests, an admin
// UI) and for the log: `what` is one of starting, ready, connected,
// disconnected, exited, unhealthy, backoff, crash-loop, refused, stopped,
// halted, resumed, reloaded, status (STATUS=), sd-reloading (RELOADING=1),
// sd-stopping (STOPPING=1), and the phases' names.
struct OperatorEvent {
  std::string name;
  std::string what;
  std::string detail;
};

// What the host reports about one operator (`status` frames, the API).
struct OperatorStatus {
  std::string name;
  Phase phase = Phase::stopped;
  int pid = 0;
  int restarts = 0;
  std::size_t queued = 0;
  std::uint64_t dropped = 0;
  bool halted = false;
  bool connected = false;
  std::string status;  // the last STATUS= the operator gave
};

// What supervisors and connections share; owned by OperatorsHook.
struct Context {
  Host& host;
  bus::Bus& bus;
  TaskGroup& tasks;
  OperatorsHook& owner;
  std::filesystem::path run_dir;   // this host's: bus socket, notify sockets, scratch
  std::filesystem::path lock_dir;  // shared by every host using the same runtime root
  std::filesystem::path socket;    // the bus socket
  std::function<void(const OperatorEvent&)> report;
  // An operator's config block changed (through the API or a `config`
  // frame with `set`): the runner writes it back with -w.
  std::function<void(const std::string& name, const Node& config)> config_changed;
};

class Supervisor : public std::enable_shared_from_this<Supervisor> {
 public:
  Supervisor(Context& context, OperatorSettings settings);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  const std::string& name() const { return settings_.name; }
  const OperatorSettings& settings() const { return settings_; }
  Phase phase() const { return phase_; }
  const LoggerPtr& log() const { return log_; }

  // Takes the name's lock (flock on <lock_dir>/<name>.lock). False, logged
  // and reported as `refused`, when another host (or an operator that
  // outlived its host) holds it.
  bool lock();
  // Runs the operator (again), restarting it by its policy.
  void start();
  // The shutdown sequence (request, SIGTERM after grace, SIGKILL after
  // grace); the operator stays stopped. Returns once it exited.
  Task<> stop();
  // Ends its own tasks and releases its lock, after stop(): the
  // supervisor is being removed (or the host closes).
  void retire();
  // Stops it the same way and starts it at once (not counted as a crash).
  Task<> restart();
  // Halted: nothing is delivered; events wait in its queue (under its
  // overflow policy) and are delivered in order on resume.
  void halt();
  void resume();
  bool halted() const { return halted_; }
  // A new config block: sent in a `reload` frame, with SIGHUP. When
  // `write_back`, the runner writes it to the file (-w).
  void reload(Node config, bool write_back);
  const Node& config() const { return settings_.config; }
  OperatorStatus status() const;
  std::filesystem::path scratch() const;

  // ---- for its connection ----
  bool check_token(std::string_view token) const;
  // False when another connection is attached.
  bool attach(const std::shared_ptr<Connection>& connection);
  void detach(const Connection* connection);
  void alive();  // any frame: a sign of life
  void ready(std::string_view via);
  void set_status(std::string status);
  // The subscriber of its connection, if subscribed (for depths).
  void set_subscriber(bus::SubscriberPtr subscriber);

 private:
  using Clock = std::chrono::steady_clock;
  Task<> life();
  Task<> health();
  Task<> notify_reader();
  Task<> pipe_reader(std::shared_ptr<ChildProcess> child, bool err);
  Task<int> run_once();
  Task<> terminate(bool unhealthy, std::string why);
  Task<bool> wait_exit(std::chrono::milliseconds timeout);
  void launch();
  void set_phase(Phase phase, std::string detail = {});
  void event(std::string what, std::string detail = {});
  void wipe_scratch();
  void open_notify_socket();
  void on_notify(std::string_view datagram);

  Context& ctx_;
  OperatorSettings settings_;
  LoggerPtr log_;
  Phase phase_ = Phase::stopped;
  int lock_fd_ = -1;
  std::string token_;
  bool started_ = false;       // life() runs
  bool want_running_ = false;  // started and not stopped
  bool restart_now_ = false;   // a restart() is under way
  bool unhealthy_ = false;     // this run was ended for not answering
  bool terminating_ = false;
  bool halted_ = false;
  int restarts_ = 0;
  std::deque<Clock::time_point> recent_restarts_;
  std::shared_ptr<ChildProcess> child_;
  bool child_running_ = false;
  std::uint64_t run_ = 0;  // counts launches: which run a waiter waits for
  Clock::time_point launched_at_;
  Clock::time_point last_seen_;
  Clock::time_point last_ping_;
  std::optional<Clock::time_point> last_watchdog_;
  std::weak_ptr<Connection> connection_;
  std::weak_ptr<bus::Subscriber> subscriber_;
  std::string status_;
  std::unique_ptr<asio::local::datagram_protocol::socket> notify_;
  std::filesystem::path notify_path_;
  Signal wake_;    // want_running_ changed
  Signal exited_;  // the child ended
  bool depth_warned_ = false;
  // The never-ending tasks' cancellation signals (valid until cancelled).
  std::vector<asio::cancellation_signal*> forever_;
};

}  // namespace immp::operators
