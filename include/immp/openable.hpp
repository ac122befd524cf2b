// What plugs and hooks have in common: a name, a config, a state, a host.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "immp/asio.hpp"
#include "immp/config.hpp"
#include "immp/log.hpp"

namespace immp {

class Host;
namespace detail {
struct HostCore;
}

enum class State { disabled, inactive, starting, active, stopping, failed };
std::string_view state_name(State state);

// Everything a plug or hook is constructed with.
struct Init {
  std::string name;  // the instance name from the config
  Node config;       // its validated `config` section (defaults filled in)
  Host& host;        // owns the instance and outlives it
};

class Openable {
 public:
  explicit Openable(const Init& init, std::string_view logger_name);
  virtual ~Openable() = default;
  Openable(const Openable&) = delete;
  Openable& operator=(const Openable&) = delete;

  const std::string& name() const { return name_; }
  Host& host() const { return host_; }
  State state() const { return state_; }
  const LoggerPtr& log() const { return log_; }

  // The live config section. A plug or hook that changes its settings at
  // runtime calls set_config(); with `immp -w` the file is rewritten.
  const Node& config() const { return config_; }
  void set_config(Node config);

  // Connect / open. Runs on the host's executor; must not block. Background
  // work is started here and ended in stop(). An exception marks it failed.
  virtual Task<> start();
  // Disconnect / close. Bounded by the host's phase timeout.
  virtual Task<> stop();

 private:
  friend class Host;
  friend struct detail::HostCore;
  std::string name_;
  Host& host_;
  Node config_;
  State state_ = State::inactive;
  LoggerPtr log_;
};

}  // namespace immp
