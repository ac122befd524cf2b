// A child process for integration tests: the real `immp` binary, cmake, a
// test server. Its stdin, stdout and stderr are pipes the test controls.
//
//   Process immp({immp_binary, "config.yaml"});
//   ASSERT_TRUE(immp.wait_for(Stream::err, "Host ready", 5s)) << immp.err();
//   immp.write("!hello\n");
//   ASSERT_TRUE(immp.wait_for(Stream::out, "Hello, alice!", 5s)) << immp.out();
//   immp.signal(SIGTERM);
//   EXPECT_EQ(immp.wait(2s), 0);
//
//   ProcessResult r = run_process({"cmake", "--version"}, 60s);
//   EXPECT_EQ(r.exit_code, 0) << r.err;
//
// Output is collected only while a member function of Process runs (every
// waiting function drains both pipes, so a chatty child never blocks on a
// full pipe). Not thread-safe: use one Process from one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace immp::test {

enum class Stream { out, err };

struct ProcessOptions {
  // The child's working directory; empty: the test's own.
  std::filesystem::path cwd;
  // Variables set (or replaced) in the child's environment, on top of the
  // test's own environment.
  std::map<std::string, std::string> env = {};
};

class Process {
 public:
  // Starts argv[0] (looked up in PATH when it has no '/') with `argv`. The
  // child gets default signal dispositions and an empty signal mask, and
  // runs in its own process group. Throws std::runtime_error when it
  // cannot be started (missing binary, bad cwd).
  explicit Process(std::vector<std::string> argv, ProcessOptions options = {});
  // A child still running is killed with SIGKILL (its whole process group)
  // and reaped; the pipes are closed. Note: the first Process sets SIGPIPE
  // to SIG_IGN in the test process, so that writing to a child that ended
  // is an error (EPIPE), not the end of the test run.
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  // The command line, for failure messages: "immp --check bad.yaml".
  std::string command() const;

  // Writes all of `data` to the child's stdin; blocks while the pipe is
  // full (64 KiB the child has not read yet). Throws std::runtime_error when
  // stdin is closed or the child no longer reads it (EPIPE).
  void write(std::string_view data);
  // Closes the child's stdin: it reads end of file.
  void close_stdin();

  // Everything read so far from the child's stdout / stderr.
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }
  const std::string& output(Stream stream) const { return stream == Stream::out ? out_ : err_; }

  // Reads both pipes until `needle` appears in `stream` at or after byte
  // offset `from`, the stream ends, or `timeout` passes. True when found.
  // Pass `from = output(stream).size()` before an action to wait only for
  // what the action produces.
  bool wait_for(Stream stream, std::string_view needle, std::chrono::milliseconds timeout,
                std::size_t from = 0);
  // Reads whatever is available during `duration` (to see that something
  // does not happen, or to let output settle).
  void drain(std::chrono::milliseconds duration);

  // Sends `signo` to the child (not its group). No-op once it was reaped.
  void signal(int signo);

  // Waits up to `timeout` for the child to end, reading both pipes to the
  // end meanwhile. Returns its exit code, 128 + the signal number if a
  // signal ended it (as a shell reports it), or nullopt if it is still
  // running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  // The exit code once wait() or running() saw the child end.
  std::optional<int> exit_code() const { return exit_code_; }
  // Whether the child is still running (reads what is ready meanwhile).
  bool running();

 private:
  // Polls the open pipes for up to `timeout` and appends what they have.
  // Returns false once both pipes are closed.
  bool pump(std::chrono::milliseconds timeout);
  bool reap(bool block);

  std::vector<std::string> argv_;
  pid_t pid_ = -1;
  int in_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
  std::optional<int> exit_code_;
};

struct ProcessResult {
  int exit_code = -1;  // as Process::wait(); -1 when it timed out (and was killed)
  std::string out;
  std::string err;
  bool timed_out = false;
  std::chrono::milliseconds elapsed{0};
};

// Runs a command to completion with `input` on its stdin (then end of
// file). A command still running after `timeout` is killed.
ProcessResult run_process(std::vector<std::string> argv, std::chrono::milliseconds timeout,
                          ProcessOptions options = {}, std::string_view input = {});

// A fresh directory under /tmp (mkdtemp), removed with everything in it by
// the destructor unless keep() was called (to look at it after a failure).
class TempDir {
 public:
  // `prefix` names the test: /tmp/<prefix>.XXXXXX.
  explicit TempDir(std::string_view prefix = "immp-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::filesystem::path& rel) const { return path_ / rel; }
  void keep() { keep_ = true; }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

// Writes `text` to `file`, creating its parent directories. Throws
// std::runtime_error when it cannot.
void write_file(const std::filesystem::path& file, std::string_view text);

// The whole of `file` as it is now; empty when it cannot be read (a test
// then fails on what it expected to find).
std::string read_file(const std::filesystem::path& file);

}  // namespace immp::test
