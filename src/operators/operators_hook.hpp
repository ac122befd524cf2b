// OperatorsHook: the host side of the `operators` section. Feeds the host's
// message stream into the bus, listens on the bus socket, and supervises
// every configured operator. The runner adds it (as `operators`) when the
// section has entries; tests and an admin UI drive it through this API.
//
// Everything runs on the host's executor; nothing is thread-safe.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/local/stream_protocol.hpp>

#include "bus/bus.hpp"
#include "immp/hook.hpp"
#include "immp/host.hpp"
#include "immp/tasks.hpp"
#include "operators/settings.hpp"
#include "operators/supervisor.hpp"

namespace immp::operators {

struct OperatorsOptions {
  // Sockets, scratch directories and name locks live under it (see
  // runtime_root()); created 0700 when missing.
  std::filesystem::path runtime_root;
  std::vector<OperatorSettings> operators;
  std::size_t keep = 1024;  // events kept for resume cursors
};

class OperatorsHook final : public Hook {
 public:
  OperatorsHook(const Init& init, OperatorsOptions options);
  ~OperatorsHook() override;

  // Opens the socket and starts every enabled operator (a refused lock
  // marks that operator failed; the others run).
  Task<> start() override;
  // Stops every operator (shutdown sequence, all at once), closes the
  // socket and removes this host's runtime directory.
  Task<> stop() override;
  Task<> on_receive(const Received& received) override;

  // ---- control, by operator name: false (or an error) for an unknown name ----
  bool halt(std::string_view name);
  bool resume(std::string_view name);
  Task<bool> restart(std::string_view name);
  // Stops an operator and leaves it stopped; start() runs it again.
  Task<bool> stop_operator(std::string_view name);
  bool start_operator(std::string_view name);
  // Gives an operator a new config block (a `reload` frame and SIGHUP) and
  // reports it to config listeners (the runner writes it back with -w).
  bool reload(std::string_view name, Node config);
  // One action by name (`halt`, `resume`, `reload`, `restart`, `stop`,
  // `start`), as a `control` frame asks; an error sentence, or nullopt.
  Task<std::optional<std::string>> control(std::string_view name, std::string_view action);
  // Applies a changed `operators` section (a reloaded file): removed ones
  // stop, new ones start, changed ones restart, and those whose `config`
  // block alone changed get it by `reload`.
  Task<> apply(std::vector<OperatorSettings> operators);

  std::vector<OperatorStatus> status() const;
  std::optional<OperatorStatus> status(std::string_view name) const;
  std::shared_ptr<Supervisor> supervisor(std::string_view name) const;
  bus::Bus& bus() { return bus_; }
  const std::filesystem::path& socket_path() const { return socket_; }
  const std::filesystem::path& run_dir() const { return run_dir_; }

  // Called for every operator event, on the host's executor.
  [[nodiscard]] Subscription on_event(std::function<void(const OperatorEvent&)> listener);
  // Called when an operator's config block changed at runtime.
  [[nodiscard]] Subscription on_config_changed(
      std::function<void(const std::string& name, const Node& config)> listener);

 private:
  Task<> accept_loop();
  Task<> serve(asio::local::stream_protocol::socket socket);
  void report(const OperatorEvent& event);
  std::shared_ptr<Supervisor> add(OperatorSettings settings);

  OperatorsOptions options_;
  bus::Bus bus_;
  TaskGroup tasks_;
  std::filesystem::path run_dir_;
  std::filesystem::path socket_;
  Context ctx_;
  std::unique_ptr<asio::local::stream_protocol::acceptor> acceptor_;
  std::map<std::string, std::shared_ptr<Supervisor>, std::less<>> supervisors_;
  std::map<std::uint64_t, std::function<void(const OperatorEvent&)>> listeners_;
  std::map<std::uint64_t, std::function<void(const std::string&, const Node&)>> config_listeners_;
  std::uint64_t next_listener_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Every entry of the validated config's `operators` section.
std::vector<OperatorSettings> read_section(const Node& root, const std::filesystem::path& base_dir);
// The hook the runner adds (named `operators`) for a config with operators;
// null when the section is empty.
std::unique_ptr<OperatorsHook> make_operators_hook(Host& host, const Node& root,
                                                   const std::filesystem::path& base_dir);

}  // namespace immp::operators
