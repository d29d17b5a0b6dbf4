// carrierarr serve: the control plane (gRPC ec2agent.v1 + carrierarr.v1, HTTP API) until
// SIGINT or SIGTERM. Part of the carrierarr-fleet binary.
#include <signal.h>

#include <iostream>
#include <thread>

#include "cli/flags.h"
#include "cli/fleet_client.h"
#include "control_plane/server.h"

namespace carrierarr::cli {
namespace {

constexpr char kServeUsage[] =
    "Usage: carrierarr serve [flags]\n\n"
    "Runs the control plane: agents connect to the gRPC listeners (ec2agent.v1.AgentControl),\n"
    "the operator's commands use the admin API (carrierarr.v1.Fleet, same listeners), and the\n"
    "HTTP API serves /health, /version, /api/v1/... and /metrics. The admin token is written to\n"
    "<state-dir>/admin.token (0600) on first start.\n\nFlags:\n";

std::chrono::seconds Seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::seconds>(d);
}

}  // namespace

int RunServe(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  control_plane::ServeOptions o;
  FlagSet flags;
  std::string listen, db, state_dir, http;
  std::chrono::nanoseconds heartbeat, status, stale, dead, batch_delay;
  int64_t idle_minutes = 0;
  flags.String("db", &db, "",
               "store: a SQLite file (default <state-dir>/fleet.db) or postgres://user@host/db");
  flags.String("state-dir", &state_dir, ".carrierarr/control",
               "directory for the admin token and the default SQLite store (0700)");
  flags.String("listen", &listen, "",
               "gRPC listeners, comma separated: HOST:PORT or unix:PATH (mode 0600) (default "
               "0.0.0.0:50051 and unix:<state-dir>/serve.sock, where the CLI looks)");
  flags.String("http", &http, "0.0.0.0:8090", "HTTP API listener HOST:PORT; empty turns it off");
  flags.String("tls-cert", &o.tls_cert, "", "PEM server certificate: TLS on the TCP listeners");
  flags.String("tls-key", &o.tls_key, "", "PEM private key of -tls-cert");
  flags.String("tls-client-ca", &o.tls_client_ca, "",
               "PEM CA: also require client certificates signed by it");
  flags.Duration("heartbeat-interval", &heartbeat, std::chrono::seconds(10),
                 "how often agents send a heartbeat (pushed to them)");
  flags.Duration("status-interval", &status, std::chrono::seconds(30),
                 "how often agents send their status (pushed to them)");
  flags.Duration("stale-after", &stale, std::chrono::seconds(0),
                 "a node with no word for this long is stale (default 2 x status interval)");
  flags.Duration("dead-after", &dead, std::chrono::minutes(5),
                 "a node with no word for this long is dead");
  flags.Int("idle-shutdown-minutes", &idle_minutes, 0,
            "ask GPU nodes idle this long to shut down (0 = off)");
  flags.Bool("allow-exec", &o.allow_exec, false,
             "allow EXEC commands (agents must also run with --allow-exec)");
  flags.Duration("batch-delay", &batch_delay, std::chrono::milliseconds(20),
                 "longest a status waits before its batch is written");
  Status parsed = flags.Parse(args);
  if (flags.help()) {
    out << kServeUsage << flags.Usage();
    return 0;
  }
  if (!parsed.ok()) {
    err << "Error: " << parsed.message() << "\n" << kServeUsage << flags.Usage();
    return 2;
  }
  if (!flags.args().empty()) {
    err << "Error: unexpected argument \"" << flags.args()[0] << "\"\n";
    return 2;
  }
  auto positive = [&](const char* name, std::chrono::nanoseconds d, bool zero_ok) {
    if (d.count() < 0 || (!zero_ok && Seconds(d).count() < 1)) {
      err << "Error: -" << name << " must be at least 1s\n";
      return false;
    }
    return true;
  };
  if (!positive("heartbeat-interval", heartbeat, false) ||
      !positive("status-interval", status, false) || !positive("stale-after", stale, true) ||
      !positive("dead-after", dead, false))
    return 2;
  if (idle_minutes < 0 || idle_minutes > 100000) {
    err << "Error: -idle-shutdown-minutes must be between 0 and 100000\n";
    return 2;
  }
  o.state_dir = state_dir;
  o.db = db.empty() ? state_dir + "/fleet.db" : db;
  if (listen.empty()) listen = "0.0.0.0:50051,unix:" + state_dir + "/serve.sock";
  o.grpc_listen = SplitCommaList(listen);
  o.http_listen = http;
  o.heartbeat_interval = Seconds(heartbeat);
  o.status_interval = Seconds(status);
  o.stale_after = Seconds(stale);
  o.dead_after = Seconds(dead);
  o.idle_shutdown_minutes = static_cast<int>(idle_minutes);
  o.batch_delay = std::chrono::duration_cast<std::chrono::milliseconds>(batch_delay);

  // Signals are taken by sigwait below, on this thread, never by a handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = control_plane::Server::Start(o);
  if (!server.ok()) {
    err << "Error: " << server.status().message() << "\n";
    return 1;
  }
  err << "carrierarr serve: listening on " << listen << (http.empty() ? "" : ", HTTP on " + http)
      << "; admin token in " << state_dir << "/admin.token" << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  err << "carrierarr serve: " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ", shutting down"
      << std::endl;
  (*server)->Shutdown();
  return 0;
}

}  // namespace carrierarr::cli
