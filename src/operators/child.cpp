#include "operators/child.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <boost/asio/use_awaitable.hpp>

namespace immp::operators {

namespace {

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// Writes errno to the error pipe and ends the child (async-signal-safe).
[[noreturn]] void child_fail(int pipe_fd, int step) {
  int report[2] = {step, errno};
  [[maybe_unused]] auto n = ::write(pipe_fd, report, sizeof report);
  ::_exit(127);
}

}  // namespace

ChildProcess::ChildProcess(Executor ex) : pidfd_(ex), out_(ex), err_(std::move(ex)) {}

std::unique_ptr<ChildProcess> ChildProcess::spawn(Executor ex, const SpawnOptions& options) {
  std::unique_ptr<ChildProcess> child(new ChildProcess(std::move(ex)));
  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls.
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(options.command.c_str()));
  for (const auto& a : options.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : options.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  std::string cwd = options.cwd.string();

  int out[2], err[2], report[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error(std::strerror(errno));
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]), ::close(out[1]);
    throw std::runtime_error(std::strerror(errno));
  }
  if (::pipe2(report, O_CLOEXEC) != 0) {
    for (int fd : {out[0], out[1], err[0], err[1]}) ::close(fd);
    throw std::runtime_error(std::strerror(errno));
  }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {out[0], out[1], err[0], err[1], report[0], report[1]}) ::close(fd);
    throw std::runtime_error("fork: " + std::string(std::strerror(errno)));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);  // the host is gone already
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s = 1; s < NSIG; ++s) ::signal(s, SIG_DFL);
    int null = ::open("/dev/null", O_RDONLY);
    if (null < 0 || ::dup2(null, 0) < 0) child_fail(report[1], 1);
    if (::dup2(out[1], 1) < 0 || ::dup2(err[1], 2) < 0) child_fail(report[1], 1);
    if (options.inherit_fd >= 0) {
      int flags = ::fcntl(options.inherit_fd, F_GETFD);
      ::fcntl(options.inherit_fd, F_SETFD, flags & ~FD_CLOEXEC);
    }
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) child_fail(report[1], 2);
    ::execvpe(argv[0], argv.data(), envp.data());
    child_fail(report[1], 3);
  }
  ::close(out[1]);
  ::close(err[1]);
  ::close(report[1]);
  child->pid_ = pid;
  child->out_.assign(out[0]);
  child->err_.assign(err[0]);
  // The report pipe closes on a successful exec; otherwise it says why.
  int failure[2] = {0, 0};
  ssize_t n;
  do {
    n = ::read(report[0], failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  ::close(report[0]);
  if (n == static_cast<ssize_t>(sizeof failure)) {
    child->reap(true);
    const char* step = failure[0] == 2 ? "cannot enter its directory " : "cannot run ";
    std::string what = failure[0] == 2 ? cwd : options.command;
    throw std::runtime_error(step + ("'" + what + "': ") + std::strerror(failure[1]));
  }
  int fd = pidfd_open(pid);
  if (fd < 0) {
    child->kill(SIGKILL);
    child->reap(true);
    throw std::runtime_error("pidfd_open: " + std::string(std::strerror(errno)));
  }
  child->pidfd_.assign(fd);
  return child;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_) {
    kill(SIGKILL);
    reap(true);
  }
}

bool ChildProcess::reap(bool block) {
  if (status_) return true;
  int st = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &st, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r != pid_) return false;
  status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return true;
}

Task<int> ChildProcess::wait() {
  while (!reap(false)) {
    co_await pidfd_.async_wait(asio::posix::stream_descriptor::wait_read, asio::use_awaitable);
  }
  co_return *status_;
}

void ChildProcess::kill(int signo) {
  if (pid_ > 0 && !status_) ::kill(-pid_, signo);
}

}  // namespace immp::operators
