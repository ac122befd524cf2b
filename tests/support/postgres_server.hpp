// A throwaway PostgreSQL server for tests: initdb into a fresh temporary
// directory, a postgres on a free loopback port (its unix socket in that
// directory), removed again by the destructor.
//
//   auto bin = PostgresServer::find_binaries();
//   if (!bin) GTEST_SKIP() << PostgresServer::missing_reason();
//   PostgresServer server(*bin);
//   std::string url = server.create_database("t1");
//
// As root (CI), PostgreSQL refuses to run; the server then runs as the
// `postgres` system user that Debian's package creates, and owns the
// directory.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

namespace immp::test {

class PostgresServer {
 public:
  // The directory holding initdb and postgres (the newest of
  // /usr/lib/postgresql/*/bin, or $IMMP_PG_BIN), if there is one.
  static std::optional<std::filesystem::path> find_binaries();
  // A sentence for GTEST_SKIP() when find_binaries() found nothing.
  static std::string missing_reason();

  // Starts the server and waits until it accepts connections. Throws
  // std::runtime_error with the server's log when it cannot.
  explicit PostgresServer(const std::filesystem::path& bin_dir);
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const { return port_; }
  const std::filesystem::path& socket_dir() const { return dir_; }
  // postgresql://postgres@127.0.0.1:<port>/postgres
  std::string url(const std::string& database = "postgres") const;
  // Creates a fresh database and returns its URL.
  std::string create_database(const std::string& name);

  // Stops the server (fast shutdown) without removing its data; start()
  // brings it back on the same port.
  void stop();
  void start();

 private:
  std::filesystem::path bin_;
  std::filesystem::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool as_postgres_user_ = false;
};

}  // namespace immp::test
