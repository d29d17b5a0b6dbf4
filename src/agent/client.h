// The agent's side of ec2agent.v1 (docs/agent-protocol.md): Register (bootstrap token or the
// stored node credential), then one Connect stream at a time for status, command results and
// the control plane's commands, acks and configuration, plus Heartbeat as a backup. Reconnects
// with exponential backoff and full jitter; keeps command results that were not acknowledged and
// sends them again on the next stream.
//
// Threads: Start() runs one connection thread (register, open the stream, send status and
// heartbeats, back off) and, per stream, one reader thread; every command runs on a worker
// thread of its own. All waits are on one condition variable, so Stop() returns promptly.
//
// Thread safety: Start and Stop from one thread (the owner); the accessors and ApplyIntervals
// from any thread. The object is not restartable. Commands still running when Stop() returns
// finish in the background (their state is shared, not owned by this object) and their results
// are dropped; commands_in_flight() tells the owner whether any are left.
#ifndef CARRIERARR_AGENT_CLIENT_H_
#define CARRIERARR_AGENT_CLIENT_H_

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "agent/collectors.h"
#include "agent/command_runner.h"
#include "agent/metrics.h"
#include "core/process_runner.h"
#include "core/status.h"
#include "core/time_source.h"
#include "ec2agent/v1/agent.pb.h"

namespace carrierarr::agent {

struct ClientOptions {
  std::string control_plane;  // gRPC target: "host:port" or "unix:/path"

  // What Register sends: node_id, node_type, instance_id, nebula_ip, public_ip, region,
  // availability_zone, labels. capabilities and agent_version are filled in by the client.
  // NODE_TYPE_UNSPECIFIED means: gpu-worker when the collector finds a GPU, else cpu-worker.
  ec2agent::v1::RegisterRequest identity;

  // Bootstrap token (a secret, never logged) or a file holding it, re-read on every Register
  // that needs it, so that an operator can drop in a new token without restarting the agent.
  std::string token;
  std::string token_file;
  std::string state_dir;  // <state_dir>/credential holds the node credential (0600)

  std::string tls_ca;           // PEM file; non-empty turns TLS on
  std::string tls_server_name;  // overrides the name checked in the server's certificate

  std::chrono::milliseconds backoff_initial{1000};
  std::chrono::milliseconds backoff_max{60000};
  std::function<double()> backoff_random;  // uniform [0,1); empty: a seeded generator
  // A stream that stayed up this long resets the backoff.
  std::chrono::milliseconds stable_after{30000};
  // Until the control plane sends its own.
  std::chrono::milliseconds status_interval{30000};
  std::chrono::milliseconds heartbeat_interval{10000};
  std::chrono::milliseconds rpc_deadline{10000};  // Register, Heartbeat
  // How long a successful SHUTDOWN/REBOOT/DRAIN waits for the control plane's ack of its result
  // before it powers off anyway.
  std::chrono::milliseconds power_ack_wait{15000};

  size_t max_unacked_results = 64;     // oldest dropped beyond this ...
  size_t max_unacked_bytes = 2 << 20;  // ... or beyond this much output
  size_t max_recent_ids = 1024;        // command ids remembered to ignore repeats
  size_t max_running_commands = 16;    // more at once are refused with an error result

  CollectorOptions collector;
  RunnerOptions runner;
  // power and model_activity are passed to the CommandRunner as they are; update_config is
  // called after the client applied the new intervals itself.
  CommandRunner::Hooks hooks;

  // The clock of the backoff, the status and heartbeat timers, the heartbeat's timestamp, and
  // (set here for them) of the collector and the runner. Not owned; outlives the client. Waits
  // on the real clock end early on Stop(); another source passes the time with its SleepFor.
  TimeSource* time = RealTimeSource::Get();
  // Starts every program the collector and the runner run (set here for them). Not owned.
  ProcessRunner* processes = RealProcessRunner::Get();

  std::string version;  // sent as RegisterRequest.agent_version
  // One line per state change; never gets a token or credential. Empty: stderr.
  std::function<void(const std::string&)> log;
};

// The default ClientOptions::log: "<UTC time> carrierarr-agent: <line>" on stderr.
void LogToStderr(const std::string& line);

class AgentClient {
 public:
  // `metrics` may be null (the client then keeps its own; see metrics()).
  explicit AgentClient(ClientOptions options, std::shared_ptr<AgentMetrics> metrics = nullptr);
  ~AgentClient();  // Stop()
  AgentClient(const AgentClient&) = delete;
  AgentClient& operator=(const AgentClient&) = delete;

  // Builds the channel (fails when the TLS CA cannot be read) and starts the connection thread.
  // Does not wait for the control plane: see WaitConnected().
  Status Start();
  // Ends the stream, cancels RPCs in flight and joins the client's threads; returns within
  // about a second. Idempotent.
  void Stop();

  // True while a stream is open and the control plane has answered on it.
  bool connected() const;
  // Waits up to `timeout` for connected(); false on timeout or after Stop().
  bool WaitConnected(std::chrono::milliseconds timeout) const;

  // The id the control plane assigned (the requested node_id until the first Register).
  std::string node_id() const;
  std::chrono::milliseconds status_interval() const;
  std::chrono::milliseconds heartbeat_interval() const;
  int idle_shutdown_minutes() const;  // as the control plane last sent it
  // Results waiting for the control plane's ack.
  size_t unacked_results() const;
  size_t commands_in_flight() const;
  // Why the last attempt failed ("" while connected): what /ready reports.
  std::string last_error() const;
  const std::shared_ptr<AgentMetrics>& metrics() const { return metrics_; }

  // New intervals in seconds (0 or less: unchanged); the timers follow at once.
  void ApplyIntervals(int heartbeat_sec, int status_sec);

  struct State;  // shared with the worker threads; defined in client.cc

 private:
  std::shared_ptr<AgentMetrics> metrics_;
  std::shared_ptr<State> state_;
};

}  // namespace carrierarr::agent

#endif  // CARRIERARR_AGENT_CLIENT_H_
