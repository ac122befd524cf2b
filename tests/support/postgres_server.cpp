#include "support/postgres_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/process.hpp"

namespace immp::test {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("PostgresServer: no free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

struct User {
  uid_t uid;
  gid_t gid;
};

// Forks and execs `argv` with stdout/stderr appended to `log`, as `user`
// when given. Everything the child needs is prepared before fork(), since
// only async-signal-safe calls are allowed after it in a threaded process.
pid_t spawn(const std::vector<std::string>& args, const fs::path& log, const fs::path& cwd,
            const std::optional<User>& user) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::string log_path = log.string(), cwd_path = cwd.string();
  static char env_lc[] = "LC_ALL=C", env_path[] = "PATH=/usr/bin:/bin", env_tz[] = "TZ=UTC";
  char* envp[] = {env_lc, env_path, env_tz, nullptr};

  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    if (user) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(user->gid) != 0 || ::setuid(user->uid) != 0) {
        ::_exit(126);
      }
    }
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    if (::chdir(cwd_path.c_str()) != 0) ::_exit(126);
    ::execve(argv[0], argv.data(), envp);
    ::_exit(127);
  }
  return pid;
}

std::optional<User> postgres_user_if_root() {
  if (::geteuid() != 0) return std::nullopt;
  passwd* pw = ::getpwnam("postgres");
  if (!pw) {
    throw std::runtime_error(
        "PostgresServer: running as root, but there is no `postgres` user to run the server as");
  }
  return User{pw->pw_uid, pw->pw_gid};
}

}  // namespace

std::optional<fs::path> PostgresServer::find_binaries() {
  auto usable = [](const fs::path& dir) {
    return fs::exists(dir / "initdb") && fs::exists(dir / "postgres");
  };
  if (const char* env = std::getenv("IMMP_PG_BIN"); env && usable(env)) return fs::path(env);
  std::optional<fs::path> best;
  int best_version = -1;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    int version = std::atoi(entry.path().filename().c_str());
    if (version > best_version && usable(entry.path() / "bin")) {
      best = entry.path() / "bin";
      best_version = version;
    }
  }
  return best;
}

std::string PostgresServer::missing_reason() {
  return "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb; "
         "install Debian's postgresql package or set IMMP_PG_BIN)";
}

PostgresServer::PostgresServer(const fs::path& bin_dir) : bin_(bin_dir) {
  auto user = postgres_user_if_root();
  as_postgres_user_ = user.has_value();

  std::string tmpl = (fs::temp_directory_path() / "immp-pg-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) {
    throw std::runtime_error(std::string("PostgresServer: mkdtemp: ") + std::strerror(errno));
  }
  dir_ = tmpl;
  try {
    if (user && ::chown(dir_.c_str(), user->uid, user->gid) != 0) {
      throw std::runtime_error(std::string("PostgresServer: chown: ") + std::strerror(errno));
    }
    pid_t pid = spawn({(bin_ / "initdb").string(), "-D", (dir_ / "data").string(), "-U", "postgres",
                       "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"},
                      dir_ / "initdb.log", dir_, user);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      throw std::runtime_error("PostgresServer: initdb failed:\n" + read_file(dir_ / "initdb.log"));
    }
    port_ = free_port();
    start();
  } catch (...) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    throw;
  }
}

PostgresServer::~PostgresServer() {
  stop();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string PostgresServer::url(const std::string& database) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

void PostgresServer::start() {
  if (pid_ > 0) return;
  auto user = postgres_user_if_root();
  // Durability settings off: a test database is thrown away anyway.
  pid_ = spawn({(bin_ / "postgres").string(), "-D", (dir_ / "data").string(), "-p",
                std::to_string(port_), "-k", dir_.string(), "-c", "listen_addresses=127.0.0.1",
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"},
               dir_ / "postgres.log", dir_, user);
  auto deadline = std::chrono::steady_clock::now() + 30s;
  std::string last_error;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("PostgresServer: postgres exited at start:\n" +
                               read_file(dir_ / "postgres.log"));
    }
    try {
      pqxx::connection c(url() + "?connect_timeout=2");
      return;
    } catch (const std::exception& e) {
      last_error = e.what();
    }
    std::this_thread::sleep_for(50ms);
  }
  stop();
  throw std::runtime_error("PostgresServer: not accepting connections after 30 s (" + last_error +
                           "):\n" + read_file(dir_ / "postgres.log"));
}

void PostgresServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGINT);  // fast shutdown
  auto deadline = std::chrono::steady_clock::now() + 15s;
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  pid_ = -1;
}

std::string PostgresServer::create_database(const std::string& name) {
  pqxx::connection c(url());
  pqxx::nontransaction tx(c);
  tx.exec("CREATE DATABASE " + tx.quote_name(name));
  return url(name);
}

}  // namespace immp::test

// libpqxx 6.4 leaks libpq's last result (about 2 KB) when a connection is
// lost, which the tests that restart PostgreSQL do on purpose. Defined here
// so every test program that starts a server gets it; other leaks are
// still reported.
extern "C" const char* __lsan_default_suppressions() { return "leak:libpq.so\n"; }
