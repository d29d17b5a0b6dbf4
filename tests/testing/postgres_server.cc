#include "testing/postgres_server.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "core/file_util.h"
#include "core/subprocess.h"

extern char** environ;

// LeakSanitizer (CARRIERARR_SANITIZE builds): PQexec in Debian 12's libpq 15 / libpqxx 6.4 leaks
// one PGresult when it runs on a connection the server has terminated, which the stores'
// reconnect tests do on purpose. Only allocations made inside libpq are exempt; a leaked
// pqxx::connection or result of ours is still reported (its own allocation is ours).
extern "C" const char* __lsan_default_suppressions() { return "leak:libpq.so.5\n"; }

namespace carrierarr::testing {
namespace {

constexpr char kBinDir[] = "/usr/lib/postgresql/15/bin";
constexpr char kMissingBinaries[] =
    "PostgreSQL server binaries not found: install the postgresql package (scripts/setup.sh)";

// The argv prefix that runs a server program as `postgres` when we are root (PostgreSQL refuses
// to run as root), and that stops it when this process dies without running its destructors.
struct Identity {
  std::vector<std::string> prefix;
  uid_t uid = 0;
  gid_t gid = 0;
  bool switch_user = false;
};

Result<Identity> ServerIdentity() {
  Identity id;
  auto setpriv = FindProgram("setpriv");
  if (!setpriv) {
    return Status::FailedPrecondition(
        "setpriv not found: install the util-linux package (scripts/setup.sh)");
  }
  id.prefix = {*setpriv, "--pdeathsig", "TERM"};
  if (::geteuid() == 0) {
    struct passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) {
      return Status::FailedPrecondition(
          "tests run as root, but there is no `postgres` user to run PostgreSQL as: install the "
          "postgresql package (scripts/setup.sh)");
    }
    id.uid = pw->pw_uid;
    id.gid = pw->pw_gid;
    id.switch_user = true;
    id.prefix.insert(id.prefix.end(), {"--reuid=" + std::to_string(id.uid),
                                       "--regid=" + std::to_string(id.gid), "--clear-groups"});
  }
  id.prefix.push_back("--");
  return id;
}

bool IsIdentifier(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return !(name[0] >= '0' && name[0] <= '9');
}

}  // namespace

Result<std::unique_ptr<PostgresServer>> PostgresServer::Start() {
  const std::string initdb = std::string(kBinDir) + "/initdb";
  const std::string postgres = std::string(kBinDir) + "/postgres";
  const std::string pg_isready = std::string(kBinDir) + "/pg_isready";
  for (const std::string& program : {initdb, postgres, pg_isready}) {
    if (::access(program.c_str(), X_OK) != 0) {
      return Status::FailedPrecondition(std::string(kMissingBinaries) + " (no " + program + ")");
    }
  }
  auto identity = ServerIdentity();
  if (!identity.ok()) return identity.status();

  std::unique_ptr<PostgresServer> server(new PostgresServer());
  server->dir_ = std::make_unique<ScratchDir>();
  server->socket_dir_ = server->dir_->path();
  server->data_dir_ = *server->dir_ / "data";
  server->log_path_ = *server->dir_ / "postgres.log";
  if (identity->switch_user &&
      ::chown(server->socket_dir_.c_str(), identity->uid, identity->gid) != 0) {
    return Status::Internal("chown " + server->socket_dir_ + " to postgres: " + ErrnoString(errno));
  }

  // Trust authentication over a socket only we can reach; no fsync, since a test database
  // need not survive a power cut.
  std::vector<std::string> argv = identity->prefix;
  argv.insert(argv.end(), {initdb, "-D", server->data_dir_, "-U", "postgres", "-A", "trust",
                           "--no-sync", "--locale=C", "-E", "UTF8"});
  RunOptions options;
  options.working_dir = server->socket_dir_;
  options.timeout = std::chrono::seconds(120);
  auto ran = Run(argv, options);
  if (!ran.ok()) return ran.status().WithPrefix("initdb");
  if (ran->exit_code != 0 || ran->signaled) {
    return Status::Internal("initdb failed (exit " + std::to_string(ran->exit_code) +
                            "): " + ran->err + ran->out);
  }

  argv = identity->prefix;
  argv.insert(argv.end(), {postgres, "-D", server->data_dir_, "-k", server->socket_dir_, "-p",
                           std::to_string(kPort), "-c", "listen_addresses=", "-c", "fsync=off",
                           "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c",
                           "shared_buffers=32MB"});
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, server->log_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addchdir_np(&actions, server->socket_dir_.c_str());
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return Status::Internal("cannot start " + postgres + ": " + ErrnoString(rc));
  server->pid_ = pid;

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (true) {
    int wait_status = 0;
    if (::waitpid(server->pid_, &wait_status, WNOHANG) == server->pid_) {
      server->pid_ = -1;
      return Status::Internal("postgres exited during startup; its log:\n" + server->LogTail());
    }
    RunOptions quick;
    quick.timeout = std::chrono::seconds(5);
    auto ready = Run({pg_isready, "-q", "-h", server->socket_dir_, "-p", std::to_string(kPort),
                      "-U", "postgres", "-d", "postgres"},
                     quick);
    if (ready.ok() && !ready->signaled && ready->exit_code == 0) break;
    if (std::chrono::steady_clock::now() > deadline) {
      return Status::DeadlineExceeded(
          "postgres did not accept connections within 30 s; its log:\n" + server->LogTail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return server;
}

PostgresServer::~PostgresServer() { Stop(); }

void PostgresServer::Stop() {
  if (pid_ <= 0) return;
  // SIGINT is PostgreSQL's "fast" shutdown: roll back open sessions and exit.
  ::kill(pid_, SIGINT);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::fprintf(stderr, "postgres (pid %d) ignored SIGINT for 15 s; killing it\n", pid_);
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string PostgresServer::UrlFor(const std::string& database) const {
  return "postgresql:///" + database + "?host=" + socket_dir_ + "&port=" + std::to_string(kPort) +
         "&user=postgres";
}

std::string PostgresServer::LogTail() const {
  auto log = ReadFile(log_path_);
  if (!log.ok()) return "(no log: " + log.status().ToString() + ")";
  constexpr size_t kTail = 4000;
  return log->size() > kTail ? log->substr(log->size() - kTail) : *log;
}

std::string PostgresServer::CreateDatabase(const std::string& name) {
  const std::string unusable = "postgresql:///" + name + "?host=/nonexistent&port=1";
  if (!start_error_.empty()) {
    ADD_FAILURE() << "the test PostgreSQL server is not running: " << start_error_;
    return unusable;
  }
  if (!IsIdentifier(name)) {
    ADD_FAILURE() << "CreateDatabase: \"" << name
                  << "\" is not a plain identifier ([a-z0-9_], at most 63 characters)";
    return unusable;
  }
  // createdb speaks to the server as a client: no need to switch users here.
  RunOptions options;
  options.timeout = std::chrono::seconds(60);
  auto ran = Run({std::string(kBinDir) + "/createdb", "-h", socket_dir_, "-p",
                  std::to_string(kPort), "-U", "postgres", name},
                 options);
  if (!ran.ok()) {
    ADD_FAILURE() << "createdb " << name << ": " << ran.status().ToString();
    return unusable;
  }
  if (ran->signaled || ran->exit_code != 0) {
    ADD_FAILURE() << "createdb " << name << " failed (exit " << ran->exit_code << "): " << ran->err;
    return unusable;
  }
  return UrlFor(name);
}

PostgresServer& SharedPostgresServer() {
  // Destroyed at exit like any static, which stops the server; a crash leaves setpriv's
  // --pdeathsig to stop it.
  static std::unique_ptr<PostgresServer> shared = [] {
    auto started = PostgresServer::Start();
    if (started.ok()) return std::move(*started);
    std::unique_ptr<PostgresServer> failed(new PostgresServer());
    failed->start_error_ = started.status().ToString();
    return failed;
  }();
  return *shared;
}

}  // namespace carrierarr::testing
