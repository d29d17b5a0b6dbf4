// carrierarr serve: the control plane (gRPC ec2agent.v1 + carrierarr.v1, HTTP API) until
// SIGINT or SIGTERM. Part of the carrierarr-fleet binary.
#include <signal.h>

#include <iostream>
#include <string>
#include <tuple>

#include "cli/client_commands.h"
#include "cli/flags.h"
#include "control_plane/server.h"
#include "core/subprocess.h"
#include "providers/registry.h"
#include "spec/fleet_parser.h"

namespace carrierarr::cli {
namespace {

using std::chrono::nanoseconds;

constexpr char kServeUsage[] =
    "Usage: carrierarr serve [flags]\n\n"
    "Runs the control plane: agents connect to the gRPC listeners (ec2agent.v1.AgentControl),\n"
    "the operator's commands use the admin API (carrierarr.v1.Fleet, same listeners), and the\n"
    "HTTP API serves /health, /version, /api/v1/... and /metrics. The admin token is written to\n"
    "<state-dir>/admin.token (0600) on first start.\n\nFlags:\n";

std::chrono::seconds Seconds(nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::seconds>(d);
}

class ServeCommand final : public Command {
 public:
  CommandSpec Spec() const override { return {"serve", "", kServeUsage}; }

  void DeclareFlags(FlagSet& flags) override {
    flags.String("db", &db_, "",
                 "store: a SQLite file (default <state-dir>/fleet.db) or postgres://user@host/db");
    flags.String("state-dir", &state_dir_, ".carrierarr/control",
                 "directory for the admin token and the default SQLite store (created 0700; an "
                 "existing one must not be writable by every user)");
    flags.String("listen", &listen_, "",
                 "gRPC listeners, comma separated: HOST:PORT or unix:PATH (mode 0600) (default "
                 "127.0.0.1:50051 and unix:<state-dir>/serve.sock, where the CLI looks)");
    flags.String("http", &http_, "127.0.0.1:8090",
                 "HTTP API listener HOST:PORT; empty turns it off");
    flags.String("mesh-cidr", &o_.mesh_cidr, "",
                 "the Nebula mesh CIDR (e.g. 10.42.0.0/16): plain-text listeners inside it are "
                 "not warned about");
    flags.Duration("http-request-timeout", &http_request_timeout_, std::chrono::seconds(10),
                   "longest an HTTP client may take to send a whole request (headers and body)");
    flags.Duration("http-idle-timeout", &http_idle_timeout_, std::chrono::seconds(30),
                   "an HTTP keep-alive connection idle this long is closed");
    flags.Int("http-max-connections", &http_max_connections_, 512,
              "open HTTP connections at most; more are answered 503 and closed");
    flags.Int("http-max-connections-per-client", &http_max_per_client_, 32,
              "open HTTP connections at most from one client address");
    flags.String("tls-cert", &o_.tls_cert, "", "PEM server certificate: TLS on the TCP listeners");
    flags.String("tls-key", &o_.tls_key, "", "PEM private key of -tls-cert");
    flags.String("tls-client-ca", &o_.tls_client_ca, "",
                 "PEM CA: also require client certificates signed by it");
    flags.String("enrollment-key", &o_.enrollment_key, "",
                 "PEM Ed25519 public key: also accept single-use enrollment tokens signed by its "
                 "private key (carrierarr up passes <state>/control/enrollment.pub)");
    flags.String("mesh-identity", &o_.mesh_identity_dir, "",
                 "DIR with the fleet's ca.crt and host certificates (<state>/pki): a connection "
                 "from a mesh address registers only as the node whose certificate carries it, "
                 "token or not (carrierarr up turns it on)");
    flags.Duration("heartbeat-interval", &heartbeat_, std::chrono::seconds(10),
                   "how often agents send a heartbeat (pushed to them)");
    flags.Duration("status-interval", &status_, std::chrono::seconds(30),
                   "how often agents send their status (pushed to them)");
    flags.Duration("stale-after", &stale_, std::chrono::seconds(0),
                   "a node with no word for this long is stale (default 2 x status interval)");
    flags.Duration("dead-after", &dead_, std::chrono::minutes(5),
                   "a node with no word for this long is dead");
    flags.Int("idle-shutdown-minutes", &idle_minutes_, 0,
              "ask GPU nodes idle this long to shut down (0 = off)");
    flags.Bool("allow-exec", &o_.allow_exec, false,
               "allow EXEC commands (agents must also run with --allow-exec)");
    flags.Duration("batch-delay", &batch_delay_, std::chrono::milliseconds(20),
                   "longest a status waits before its batch is written");
    flags.Int("event-retention-count", &o_.event_retention_count, 100000,
              "keep the newest this many events (0 = no count limit)");
    flags.Duration("event-retention-age", &event_age_, std::chrono::hours(24 * 30),
                   "drop events older than this (0 = no age limit)");
    flags.String("fleet", &o_.fleet_file, "",
                 "fleet.yaml: run the burst controller, which wakes and stops its pools with "
                 "`scaling` (carrierarr wake|sleep|pools), by running `carrierarr power` "
                 "(carrierarr up passes it for a fleet with scaling)");
    flags.String("gateway", &o_.gateway_listen, "",
                 "HOST:PORT: serve the model gateway there, Ollama's and OpenAI's APIs for the "
                 "models of --fleet's pools, holding a request while its pool wakes (carrierarr "
                 "up passes <homelab>:11434 for a fleet with models; empty: off)");
    flags.Duration("gateway-max-wait", &gateway_max_wait_, std::chrono::minutes(10),
                   "longest the gateway holds a request for a waking pool (then 503)");
    flags.Int("gateway-max-held", &gateway_max_held_, 256,
              "requests the gateway holds at most for waking pools (more: 503)");
  }

  // --fleet's fleet.yaml, read as `carrierarr` reads it.
  Status LoadBurstFleet() {
    if (o_.fleet_file.empty()) return Status::Ok();
    auto fleet = spec::LoadFleet(o_.fleet_file, providers::FleetRules());
    if (!fleet.ok()) return fleet.status().WithPrefix("--fleet");
    o_.burst_fleet = std::move(*fleet);
    o_.power_binary = FindOwnProgram("carrierarr").value_or("carrierarr");
    return Status::Ok();
  }

  // The flags' values, checked, as ServeOptions.
  Status Check() {
    for (auto [name, d, zero_ok] : {std::tuple{"heartbeat-interval", heartbeat_, false},
                                    {"status-interval", status_, false},
                                    {"stale-after", stale_, true},
                                    {"dead-after", dead_, false}}) {
      if (d.count() < 0 || (!zero_ok && Seconds(d).count() < 1))
        return Status::InvalidArgument(std::string("-") + name + " must be at least 1s");
    }
    if (o_.event_retention_count < 0 || event_age_.count() < 0)
      return Status::InvalidArgument(
          "-event-retention-count and -event-retention-age must not be negative");
    o_.event_retention_age = Seconds(event_age_);
    if (idle_minutes_ < 0 || idle_minutes_ > 100000)
      return Status::InvalidArgument("-idle-shutdown-minutes must be between 0 and 100000");
    CARRIERARR_RETURN_IF_ERROR(CheckHttpLimits());
    o_.state_dir = state_dir_;
    o_.db = db_.empty() ? state_dir_ + "/fleet.db" : db_;
    if (listen_.empty()) listen_ = "127.0.0.1:50051,unix:" + state_dir_ + "/serve.sock";
    o_.grpc_listen = SplitCommaList(listen_);
    o_.http_listen = http_;
    o_.heartbeat_interval = Seconds(heartbeat_);
    o_.status_interval = Seconds(status_);
    o_.stale_after = Seconds(stale_);
    o_.dead_after = Seconds(dead_);
    o_.idle_shutdown_minutes = static_cast<int>(idle_minutes_);
    o_.batch_delay = std::chrono::duration_cast<std::chrono::milliseconds>(batch_delay_);
    if (gateway_max_wait_ < std::chrono::seconds(1) || gateway_max_wait_ > std::chrono::hours(1))
      return Status::InvalidArgument("-gateway-max-wait must be from 1s to 1h");
    if (gateway_max_held_ < 1 || gateway_max_held_ > 100000)
      return Status::InvalidArgument("-gateway-max-held must be from 1 to 100000");
    o_.gateway_max_wait = std::chrono::duration_cast<std::chrono::milliseconds>(gateway_max_wait_);
    o_.gateway_max_held = static_cast<size_t>(gateway_max_held_);
    if (!o_.gateway_listen.empty() && o_.fleet_file.empty())
      return Status::InvalidArgument(
          "-gateway needs -fleet: the gateway serves the models of the fleet's pools");
    return LoadBurstFleet();
  }

  Status CheckHttpLimits() {
    using std::chrono::milliseconds;
    for (auto [name, d] : {std::pair{"http-request-timeout", http_request_timeout_},
                           {"http-idle-timeout", http_idle_timeout_}}) {
      if (std::chrono::duration_cast<milliseconds>(d).count() < 1)
        return Status::InvalidArgument(std::string("-") + name + " must be at least 1ms");
    }
    for (auto [name, n] : {std::pair{"http-max-connections", http_max_connections_},
                           {"http-max-connections-per-client", http_max_per_client_}}) {
      if (n < 1 || n > 100000)
        return Status::InvalidArgument(std::string("-") + name + " must be between 1 and 100000");
    }
    HttpLimitsOf(o_.http_limits);
    return Status::Ok();
  }
  void HttpLimitsOf(control_plane::HttpLimits& l) const {
    l.request_timeout =
        std::chrono::duration_cast<std::chrono::milliseconds>(http_request_timeout_);
    l.idle_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(http_idle_timeout_);
    l.max_connections = static_cast<size_t>(http_max_connections_);
    l.max_connections_per_client = static_cast<size_t>(http_max_per_client_);
  }

  // Serves until SIGINT or SIGTERM, reading time from `time`.
  int Run(const TimeSource* time, std::ostream& err) {
    o_.clock = time;
    // Signals are taken by sigwait below, on this thread, never by a handler.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    auto server = control_plane::Server::Start(o_);
    if (!server.ok()) {
      err << "Error: " << server.status().message() << "\n";
      return kExitFailure;
    }
    for (const std::string& w : control_plane::PlainTextListenerWarnings(o_))
      err << "carrierarr serve: " << w << std::endl;
    err << "carrierarr serve: listening on " << listen_
        << (http_.empty() ? "" : ", HTTP on " + http_)
        << (o_.gateway_listen.empty() ? "" : ", model gateway on " + o_.gateway_listen)
        << "; admin token in " << state_dir_ << "/admin.token" << std::endl;
    int sig = 0;
    sigwait(&signals, &sig);
    err << "carrierarr serve: " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ", shutting down"
        << std::endl;
    (*server)->Shutdown();
    return kExitOk;
  }

 private:
  control_plane::ServeOptions o_;
  std::string listen_, db_, state_dir_, http_;
  nanoseconds heartbeat_, status_, stale_, dead_, batch_delay_, event_age_, http_request_timeout_,
      http_idle_timeout_, gateway_max_wait_;
  int64_t idle_minutes_ = 0, http_max_connections_ = 0, http_max_per_client_ = 0,
          gateway_max_held_ = 0;
};

}  // namespace

int RunServe(const Invocation& invocation) {
  ServeCommand command;
  FlagSet flags;
  command.DeclareFlags(flags);
  Status parsed = flags.Parse(invocation.args);
  if (flags.help()) {
    invocation.out << kServeUsage << flags.Usage();
    return kExitOk;
  }
  if (!parsed.ok()) {
    invocation.err << "Error: " << parsed.message() << "\n" << kServeUsage << flags.Usage();
    return kExitUsage;
  }
  if (!flags.args().empty()) {
    invocation.err << "Error: unexpected argument \"" << flags.args()[0] << "\"\n";
    return kExitUsage;
  }
  if (Status checked = command.Check(); !checked.ok()) {
    invocation.err << "Error: " << checked.message() << "\n";
    return kExitUsage;
  }
  return command.Run(invocation.seams.time, invocation.err);
}

}  // namespace carrierarr::cli
