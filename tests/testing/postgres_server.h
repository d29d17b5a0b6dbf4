// A real PostgreSQL 15 server for tests: initdb and postgres from /usr/lib/postgresql/15/bin,
// run in a scratch directory and reachable only through a unix socket in that directory (no TCP
// port, so parallel test binaries never collide). Missing server binaries are a loud failure,
// never a skip: install the postgresql package (scripts/setup.sh).
//
// PostgreSQL refuses to run as root; when the tests run as root, initdb and postgres run as the
// `postgres` system user instead (the postgresql package creates it).
//
// Thread safety: Start() and the destructor are for one thread; CreateDatabase() and url() may
// be called from several threads once the server runs (the server serializes CREATE DATABASE).
#ifndef CARRIERARR_TESTS_TESTING_POSTGRES_SERVER_H_
#define CARRIERARR_TESTS_TESTING_POSTGRES_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "core/status.h"
#include "testing/tools.h"

namespace carrierarr::testing {

class PostgresServer {
 public:
  // Runs initdb, starts postgres and waits (at most 30 s) until it accepts connections.
  // FailedPrecondition when the server binaries are missing; Internal (with the server's log)
  // when it does not come up.
  static Result<std::unique_ptr<PostgresServer>> Start();

  // Stops the server by its own pid (fast shutdown, then SIGKILL if it lingers) and removes
  // its data directory.
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // Creates a fresh, empty database and returns its libpq URL, e.g.
  // "postgresql:///name?host=/tmp/carrierarr-test-x/sock&port=5432&user=postgres".
  // `name` must be a plain identifier ([a-z0-9_], at most 63 characters). Fails the current
  // test (ADD_FAILURE) and returns a URL that cannot connect when anything goes wrong.
  std::string CreateDatabase(const std::string& name);

  // The URL of the server's built-in "postgres" database.
  std::string url() const { return UrlFor("postgres"); }
  const std::string& socket_dir() const { return socket_dir_; }
  static constexpr int kPort = 5432;  // names the socket file only: no TCP listener

 private:
  friend PostgresServer& SharedPostgresServer();
  PostgresServer() = default;
  std::string UrlFor(const std::string& database) const;
  // The last lines of the server's log, for failure messages.
  std::string LogTail() const;
  void Stop();

  std::unique_ptr<ScratchDir> dir_;
  std::string data_dir_;
  std::string socket_dir_;
  std::string log_path_;
  pid_t pid_ = -1;
  std::string start_error_;  // why the shared server is not running; empty when it runs
};

// One server per test binary, started on first use (thread-safe) and stopped at exit. When it
// cannot start, every CreateDatabase() call fails its test with the reason and the fix.
PostgresServer& SharedPostgresServer();

}  // namespace carrierarr::testing

#endif  // CARRIERARR_TESTS_TESTING_POSTGRES_SERVER_H_
