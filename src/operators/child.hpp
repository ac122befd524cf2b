// ChildProcess: one started operator process, watched through a pidfd so
// that its end is an Asio event (no SIGCHLD handler shared with the rest
// of the host).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/posix/stream_descriptor.hpp>

#include "immp/asio.hpp"

namespace immp::operators {

struct SpawnOptions {
  std::string command;             // looked up in PATH when it has no '/'
  std::vector<std::string> args;   // without argv[0]
  std::vector<std::string> env;    // the whole environment, "KEY=value"
  std::filesystem::path cwd;
  int inherit_fd = -1;  // one descriptor the child keeps (the name lock)
};

class ChildProcess {
 public:
  // Starts the process in its own process group, stdin from /dev/null,
  // stdout and stderr into pipes, default signal handling, and SIGTERM
  // when the host dies. Throws std::runtime_error naming the command and
  // the reason when it cannot start (not found, not executable, bad cwd).
  static std::unique_ptr<ChildProcess> spawn(Executor ex, const SpawnOptions& options);
  // A child still running is killed (SIGKILL, its group) and reaped.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  asio::posix::stream_descriptor& out() { return out_; }
  asio::posix::stream_descriptor& err() { return err_; }
  // Completes when the process ended; returns its status as a shell
  // reports it (exit code, or 128 + signal). Once only.
  Task<int> wait();
  std::optional<int> status() const { return status_; }
  // Sends `signo` to the process group, unless it was reaped.
  void kill(int signo);

 private:
  explicit ChildProcess(Executor ex);
  bool reap(bool block);

  pid_t pid_ = -1;
  asio::posix::stream_descriptor pidfd_;
  asio::posix::stream_descriptor out_;
  asio::posix::stream_descriptor err_;
  std::optional<int> status_;
};

}  // namespace immp::operators
