// The runner: builds a Host from a config file and runs it until a signal.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "core/registry.hpp"
#include "immp/config.hpp"
#include "immp/host.hpp"

namespace immp {

// The whole top-level schema (IMMP's runner sections plus the bus).
SpecPtr runner_schema();

class Runner {
 public:
  // Reads and validates `config_file`, resolves every class and builds
  // every plug, hook, channel and group, without starting anything.
  // Throws ConfigError (exit code 2) for any problem.
  // `extra` modules are registered next to the built-ins (tests use this).
  Runner(std::filesystem::path config_file, asio::io_context& io, bool write_back = false,
         std::vector<const Module*> extra = {});
  ~Runner();

  Host& host() { return *host_; }
  const Node& config() const { return root_; }

  // Opens the host, runs until SIGINT/SIGTERM (a second one exits at
  // once), closes it. Returns the process exit code.
  int run();

  // Writes the live config back to the file (with -w).
  void write_back();

 private:
  void build(const std::vector<const Module*>& extra);
  void apply_config(Openable& source);

  std::filesystem::path file_;
  asio::io_context& io_;
  bool write_back_;
  Node raw_;   // as written in the file: what -w writes back
  Node root_;  // validated, defaults filled in
  Registry registry_;  // declared before host_: plugin code outlives instances
  std::unique_ptr<Host> host_;
  LoggerPtr log_;
};

}  // namespace immp
