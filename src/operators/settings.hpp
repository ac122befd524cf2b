// The `operators` config section: one entry per operator, by name.
//
//   operators:
//     dice:
//       command: python3
//       args: [examples/operators/dice.py]
//       config: {prefix: "!"}
//       restart: on-failure
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "immp/config.hpp"
#include "immp/queue.hpp"

namespace immp::operators {

enum class RestartPolicy { always, on_failure, never };

// One operator's settings, read from its (validated) entry.
struct OperatorSettings {
  std::string name;
  std::string command;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::filesystem::path cwd;  // absolute
  Node config = Node::map();  // the operator's own block (`config`)
  bool enabled = true;
  bool admin = false;  // may send `control` frames for other operators
  RestartPolicy restart = RestartPolicy::on_failure;
  // Health: a ping every interval; no sign of life (any frame) for
  // ping_timeout means a restart. Readiness must come within ready_timeout.
  std::chrono::milliseconds ping_interval{std::chrono::seconds(5)};
  std::chrono::milliseconds ping_timeout{std::chrono::seconds(15)};
  std::chrono::milliseconds ready_timeout{std::chrono::seconds(30)};
  // Shutdown: the request, then SIGTERM after `grace`, then SIGKILL after
  // `grace` again.
  std::chrono::milliseconds grace{std::chrono::seconds(2)};
  // Restarts back off from backoff to backoff_max (doubling); more than
  // crash_restarts restarts within crash_window is a crash loop: reported,
  // and the operator stays stopped.
  std::chrono::milliseconds backoff{std::chrono::milliseconds(500)};
  std::chrono::milliseconds backoff_max{std::chrono::seconds(30)};
  int crash_restarts = 5;
  std::chrono::milliseconds crash_window{std::chrono::seconds(60)};
  // The subscriber queue between the stream and this operator.
  std::size_t queue = 10000;
  Overflow overflow = Overflow::drop_oldest;
  std::filesystem::path data;  // persistent data directory (absolute)
};

// The schema of one entry of the section.
SpecPtr operator_schema();

// Reads the validated entry `entry` of operator `name`; relative paths
// resolve against `base_dir` (the config file's folder). Throws
// ConfigError for values the schema cannot express (a bad policy name).
OperatorSettings read_settings(const std::string& name, const Node& entry,
                               const std::filesystem::path& base_dir);

// Where the bus keeps its sockets and locks: `bus.runtime_dir` if set, else
// $XDG_RUNTIME_DIR/immp, else <base_dir>/.immp-run.
std::filesystem::path runtime_root(const Node& root, const std::filesystem::path& base_dir);

}  // namespace immp::operators
