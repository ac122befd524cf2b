#include "support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

extern char** environ;

namespace immp::test {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

[[noreturn]] void fail(const std::string& what, int error = errno) {
  throw std::runtime_error(what + ": " + std::strerror(error));
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

milliseconds left(Clock::time_point deadline) {
  auto now = Clock::now();
  if (now >= deadline) return milliseconds(0);
  return std::chrono::ceil<milliseconds>(deadline - now);
}

// Owns the file actions and attributes of one posix_spawn call.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    ::posix_spawn_file_actions_destroy(&actions);
    ::posix_spawnattr_destroy(&attr);
  }
};

}  // namespace

Process::Process(std::vector<std::string> argv, ProcessOptions options) : argv_(std::move(argv)) {
  if (argv_.empty()) throw std::invalid_argument("Process: empty command line");
  // A child that stops reading its stdin must give the test an error from
  // write(), not a SIGPIPE that ends the whole test run. The child gets
  // default dispositions back below.
  ::signal(SIGPIPE, SIG_IGN);

  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) fail("pipe");
  if (::pipe2(out, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(in[0]), ::close(in[1]);
    fail("pipe", e);
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(in[0]), ::close(in[1]), ::close(out[0]), ::close(out[1]);
    fail("pipe", e);
  }

  SpawnSetup setup;
  // dup2 clears FD_CLOEXEC on the target; every other descriptor of ours is
  // close-on-exec (pipe2 above, and what the libraries open).
  ::posix_spawn_file_actions_adddup2(&setup.actions, in[0], STDIN_FILENO);
  ::posix_spawn_file_actions_adddup2(&setup.actions, out[1], STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(&setup.actions, err[1], STDERR_FILENO);
  if (!options.cwd.empty()) {
    ::posix_spawn_file_actions_addchdir_np(&setup.actions, options.cwd.c_str());
  }
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  ::posix_spawnattr_setsigdefault(&setup.attr, &all);
  ::posix_spawnattr_setsigmask(&setup.attr, &none);
  ::posix_spawnattr_setpgroup(&setup.attr, 0);
  ::posix_spawnattr_setflags(&setup.attr,
                             POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);

  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    std::string key(entry.substr(0, entry.find('=')));
    if (!options.env.count(key)) env.emplace_back(entry);
  }
  for (const auto& [key, value] : options.env) env.push_back(key + "=" + value);

  std::vector<char*> cargv, cenv;
  for (auto& a : argv_) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  for (auto& e : env) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  int rc = ::posix_spawnp(&pid_, argv_[0].c_str(), &setup.actions, &setup.attr, cargv.data(),
                          cenv.data());
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(in[1]), ::close(out[0]), ::close(err[0]);
    pid_ = -1;
    std::string where = options.cwd.empty() ? "" : " in " + options.cwd.string();
    fail("cannot start " + command() + where, rc);
  }
  in_ = in[1];
  out_fd_ = out[0];
  err_fd_ = err[0];
  ::fcntl(out_fd_, F_SETFL, ::fcntl(out_fd_, F_GETFL) | O_NONBLOCK);
  ::fcntl(err_fd_, F_SETFL, ::fcntl(err_fd_, F_GETFL) | O_NONBLOCK);
}

Process::~Process() {
  if (pid_ > 0 && !exit_code_) {
    ::kill(-pid_, SIGKILL);  // the child and whatever it started in its group
    ::kill(pid_, SIGKILL);
    reap(true);
  }
  close_fd(in_);
  close_fd(out_fd_);
  close_fd(err_fd_);
}

std::string Process::command() const {
  std::string out;
  for (const auto& a : argv_) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

void Process::write(std::string_view data) {
  if (in_ < 0) throw std::runtime_error("write to " + command() + ": stdin is closed");
  while (!data.empty()) {
    ssize_t n = ::write(in_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write to " + command());
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void Process::close_stdin() { close_fd(in_); }

bool Process::pump(milliseconds timeout) {
  pollfd fds[2];
  std::string* sinks[2];
  int* owners[2];
  nfds_t n = 0;
  for (auto [fd, sink] : {std::pair{&out_fd_, &out_}, std::pair{&err_fd_, &err_}}) {
    if (*fd < 0) continue;
    fds[n] = pollfd{*fd, POLLIN, 0};
    sinks[n] = sink;
    owners[n] = fd;
    ++n;
  }
  if (n == 0) return false;
  int ready = ::poll(fds, n, static_cast<int>(timeout.count()));
  if (ready <= 0) return true;  // timeout, or EINTR: the caller loops
  char buffer[16384];
  for (nfds_t i = 0; i < n; ++i) {
    if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    for (;;) {
      ssize_t got = ::read(*owners[i], buffer, sizeof buffer);
      if (got > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(got));
        continue;
      }
      if (got < 0 && errno == EINTR) continue;
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      close_fd(*owners[i]);  // end of file, or an error: nothing more will come
      break;
    }
  }
  return out_fd_ >= 0 || err_fd_ >= 0;
}

bool Process::wait_for(Stream stream, std::string_view needle, milliseconds timeout,
                       std::size_t from) {
  auto deadline = Clock::now() + timeout;
  const std::string& text = output(stream);
  const int& fd = stream == Stream::out ? out_fd_ : err_fd_;
  for (;;) {
    if (text.size() >= from && text.find(needle, from) != std::string::npos) return true;
    if (fd < 0) return false;  // the stream ended without it
    auto rest = left(deadline);
    if (rest.count() == 0) return false;
    pump(std::min(rest, milliseconds(50)));
  }
}

void Process::drain(milliseconds duration) {
  auto deadline = Clock::now() + duration;
  while (left(deadline).count() > 0) {
    if (!pump(left(deadline))) std::this_thread::sleep_for(left(deadline));
  }
}

void Process::signal(int signo) {
  if (pid_ > 0 && !exit_code_) ::kill(pid_, signo);
}

bool Process::reap(bool block) {
  if (exit_code_) return true;
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r != pid_) return false;
  if (WIFEXITED(status)) {
    exit_code_ = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    exit_code_ = 128 + WTERMSIG(status);
  } else {
    exit_code_ = -1;
  }
  return true;
}

bool Process::running() {
  pump(milliseconds(0));
  return !reap(false);
}

std::optional<int> Process::wait(milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!reap(false)) {
    auto rest = left(deadline);
    if (rest.count() == 0) return std::nullopt;
    auto slice = std::min(rest, milliseconds(10));
    if (!pump(slice)) std::this_thread::sleep_for(slice);
  }
  // Collect what the child wrote before it ended. Something it started may
  // still hold the pipes open: give that a moment, not the whole timeout.
  auto tail = Clock::now() + std::min(left(deadline), milliseconds(500)) + milliseconds(50);
  while (left(tail).count() > 0 && pump(std::min(left(tail), milliseconds(50)))) {
  }
  return exit_code_;
}

ProcessResult run_process(std::vector<std::string> argv, milliseconds timeout,
                          ProcessOptions options, std::string_view input) {
  auto start = Clock::now();
  Process p(std::move(argv), std::move(options));
  if (!input.empty()) p.write(input);
  p.close_stdin();
  ProcessResult result;
  auto code = p.wait(timeout);
  result.timed_out = !code;
  result.exit_code = code.value_or(-1);
  result.out = p.out();
  result.err = p.err();
  result.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  return result;  // a child still running is killed by ~Process
}

TempDir::TempDir(std::string_view prefix) {
  std::string pattern = "/tmp/" + std::string(prefix) + ".XXXXXX";
  if (!::mkdtemp(pattern.data())) fail("mkdtemp " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  if (keep_) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::filesystem::path& file, std::string_view text) {
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace immp::test
