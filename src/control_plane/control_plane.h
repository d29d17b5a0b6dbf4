// The control plane's logic, apart from its transports: a facade over its parts, each in its
// own file with its own lock:
//   enrollment.h      the admin token, enrollment tokens, registration, node credentials
//   node_registry.h   the in-memory view of every node, lifecycle, open streams
//   command_queue.h   unfinished commands, timeouts, waiting for a result
//   status_batcher.h  batched status and heartbeat writes (its own thread)
//   event_log.h       the event log and waiting for events
//   agent_events.h    agents' events: rate limits per node, batched writes (its own thread)
//   fleet_metrics.h   /api/v1/stats and /metrics
// The gRPC services (grpc_services.h) and the HTTP API (http_api.h) are thin adapters over it;
// it reads time only from options.clock and knows no transport (StreamSink, Status).
//
// Thread safety: every public method may be called from any thread. The parts' locks are
// leaves, never nested in one another (the batcher's two and the command queue's, which each
// precede the store's own lock, aside), and no StreamSink is called with any of them held (a
// sink may call back). Threads: the gRPC reactors and admin handlers, the HTTP pool, the batch
// thread and the sweep thread (once a second: lifecycle, command timeouts, idle shutdowns).
#ifndef CARRIERARR_CONTROL_PLANE_CONTROL_PLANE_H_
#define CARRIERARR_CONTROL_PLANE_CONTROL_PLANE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "carrierarr/v1/fleet.pb.h"
#include "control_plane/agent_events.h"
#include "control_plane/command_queue.h"
#include "control_plane/enrollment.h"
#include "control_plane/event_log.h"
#include "control_plane/fleet_metrics.h"
#include "control_plane/mesh_identity.h"
#include "control_plane/metrics.h"
#include "control_plane/node_registry.h"
#include "control_plane/status_batcher.h"
#include "control_plane/store.h"
#include "control_plane/stream_sink.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "core/time_source.h"
#include "ec2agent/v1/agent.pb.h"

namespace carrierarr::burst {
class Controller;  // burst/controller.h
}  // namespace carrierarr::burst

namespace carrierarr::control_plane {

struct ControlPlaneOptions {
  std::chrono::seconds heartbeat_interval{10};
  std::chrono::seconds status_interval{30};
  std::chrono::seconds stale_after{0};  // 0 = 2 x status_interval
  std::chrono::seconds dead_after{300};
  int idle_shutdown_minutes = 0;
  bool allow_exec = false;  // EXEC commands are refused unless the fleet allows them
  // Status writes are batched: a batch is written when it has batch_max entries or its oldest
  // entry is batch_delay old.
  std::chrono::milliseconds batch_delay{20};
  size_t batch_max = 2000;
  std::chrono::seconds command_grace{30};  // beyond a command's timeout before it is timed_out
  const TimeSource* clock = RealTimeSource::Get();  // tests pass a SimulatedTimeSource
  // 32-byte Ed25519 key that fleet-signed enrollment tokens must verify with; empty: refused.
  std::string enrollment_public_key;
  // Mesh identity (mesh_identity.h), or null when off; not owned, must outlive the control plane.
  MeshIdentity* mesh_identity = nullptr;
  bool background_threads = true;  // tests drive Flush() and Sweep() themselves when false
  // The agent's gRPC receive limit (src/agent/client.cc sets 1 MiB): a command whose
  // ControlMessage is larger would end the node's stream at every delivery, so SendCommand
  // refuses it.
  size_t agent_max_message_bytes = size_t{1} << 20;
  // Rate limits and batching of the events agents cause (their WARN/ERROR logs).
  AgentEventLimits agent_events;
  // Event retention, applied by the sweep once a minute: the newest event_retention_count
  // events (0 = no count limit), none older than event_retention_age (0 = no age limit).
  int64_t event_retention_count = 100000;
  std::chrono::seconds event_retention_age = std::chrono::hours(24 * 30);
};

class ControlPlane {
 public:
  // Loads nodes, unfinished commands and the event sequence from `store` (which it keeps).
  static Result<std::unique_ptr<ControlPlane>> Create(std::unique_ptr<Store> store,
                                                      ControlPlaneOptions options);
  ~ControlPlane();  // stops the background threads and flushes pending status writes
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  Store& store() { return *store_; }
  const ControlPlaneOptions& options() const { return options_; }

  // --- authentication (secret = the bearer value; empty = none given) ---
  // The admin token: the one whose hash is in the "admin_token_sha256" setting.
  Status SetAdminToken(const std::string& secret);
  bool IsAdmin(const std::string& secret) const;
  // The node this caller is (Enrollment::AuthenticateNode); Unauthenticated when none.
  Result<std::string> AuthenticateNode(const Caller& caller) const;

  // --- the agent service ---
  // Errors: Unauthenticated, PermissionDenied, InvalidArgument, Unavailable (the store).
  Result<ec2agent::v1::RegisterResponse> Register(const Caller& caller,
                                                  const ec2agent::v1::RegisterRequest& request);
  // Attaches a node's new Connect stream (closing an older one), sends it the config and every
  // unfinished command.
  void AttachStream(const std::string& node_id, const std::shared_ptr<StreamSink>& sink);
  void DetachStream(const std::string& node_id, const StreamSink* sink);
  // A message from a node's stream; an error ends the stream (invalid content, deleted node).
  Status OnAgentMessage(const std::string& node_id, const ec2agent::v1::AgentMessage& message);
  void OnHeartbeat(const std::string& node_id);
  // The fleet, or only node `only` when it is not empty (what a node's own credential sees).
  ec2agent::v1::FleetStatusResponse FleetStatus(const ec2agent::v1::FleetStatusRequest& request,
                                                std::string_view only = {});

  // --- the admin service ---
  Result<carrierarr::v1::CreateTokenResponse> CreateToken(
      const carrierarr::v1::CreateTokenRequest& request);
  Result<std::vector<carrierarr::v1::Token>> ListTokens();
  Status RevokeToken(const std::string& id);
  std::vector<carrierarr::v1::Node> ListNodes();
  Result<carrierarr::v1::Node> GetNode(const std::string& node_id);
  Status DeleteNode(const std::string& node_id);
  Result<carrierarr::v1::CommandRecord> SendCommand(
      const carrierarr::v1::SendCommandRequest& request);
  // Cancels a command, whichever API asked: one not yet sent finishes as "cancelled" at once;
  // a sent, unfinished one becomes "cancelling" and the node gets a COMMAND_TYPE_CANCEL (its
  // own command, args command_id); the node's answer "cancelled" finishes it as "cancelled".
  // FailedPrecondition for a finished command, NotFound for an unknown one.
  Result<carrierarr::v1::CommandRecord> CancelCommand(const std::string& command_id);
  Result<carrierarr::v1::CommandRecord> GetCommand(const std::string& command_id);
  // Waits until the command has finished or `timeout` (of options.clock's time) has passed;
  // returns it as it is then.
  Result<carrierarr::v1::CommandRecord> WaitCommand(const std::string& command_id,
                                                    std::chrono::milliseconds timeout);
  // Events after after_seq (up to limit); waits up to `wait` for one when there is none yet.
  Result<std::vector<carrierarr::v1::Event>> Events(int64_t after_seq, int limit,
                                                    std::chrono::milliseconds wait);
  // The non-blocking forms of the two waits above, for transports that must hold no thread
  // while waiting (the HTTP API): a quick callback, called once; see CommandQueue::Watch and
  // EventLog::Watch. Each returns the id that its Unwatch takes.
  uint64_t WatchCommand(const std::string& command_id, std::function<void()> on_done);
  void UnwatchCommand(uint64_t watch_id);
  uint64_t WatchEvents(int64_t after_seq, std::function<void()> on_appended);
  void UnwatchEvents(uint64_t watch_id);

  // --- GPU burst (serve --fleet) ---
  // The burst controller, set once before serving (not owned; outlives every API call); null:
  // off. The admin API's pool calls and /metrics use it.
  void SetBurst(burst::Controller* burst) { burst_ = burst; }
  // More /metrics text (the model gateway's), appended on every scrape. Before serving starts;
  // `source` must outlive the control plane's serving.
  void AddMetrics(std::function<std::string()> source) {
    metrics_sources_.push_back(std::move(source));
  }
  // The admin calls of pools.cc: FailedPrecondition without a burst controller; the
  // controller's errors (NotFound, ResourceExhausted with a budget's figures, ...). Wake and
  // sleep wait up to request.wait_seconds (at most 600) for the actions they decided.
  Result<carrierarr::v1::PoolResponse> WakePool(const carrierarr::v1::PoolRequest& request);
  Result<carrierarr::v1::PoolResponse> SleepPool(const carrierarr::v1::PoolRequest& request);
  Result<carrierarr::v1::ListPoolsResponse> ListPools();

  // --- observability ---
  std::string StatsJson();       // the /api/v1/stats document
  std::string PrometheusText();  // /metrics
  FleetMetrics Metrics() const;  // what both report
  const LatencyHistogram& store_latency() const { return batcher_.store_latency(); }

  // --- driven by the background threads, or by tests ---
  void Flush();  // writes the pending status batch and agents' events now
  void Sweep();  // lifecycle transitions and command timeouts as of clock->NowMs()
  // Ends every open Connect stream (UNAVAILABLE): the agents reconnect, to this control plane or
  // the next one. Called on shutdown so that it need not wait for streams to time out.
  void CloseStreams(const std::string& why);
  // Pushes new intervals to every connected node (ConfigUpdate).
  void UpdateIntervals(std::chrono::seconds heartbeat, std::chrono::seconds status);

 private:
  ControlPlane(std::unique_ptr<Store> store, ControlPlaneOptions options);
  Status Load();
  // Sends a command on a node's stream and marks it sent (unless it was cancelled meanwhile).
  void DeliverCommand(StreamSink& sink, const ec2agent::v1::Command& command);
  // Stores a new command for the node and delivers it when the node is connected; NotFound when
  // there is no such node.
  Result<ec2agent::v1::Command> QueueCommand(const std::string& node_id,
                                             ec2agent::v1::Command command);
  void OnLog(const std::string& node_id, const ec2agent::v1::LogEntry& log);
  void PruneEvents(int64_t now_ms);
  Status OnStatus(const std::string& node_id, const ec2agent::v1::NodeStatus& status);
  void OnResult(const std::string& node_id, const ec2agent::v1::CommandResult& result);
  void SweepLoop() EXCLUDES(stop_mu_);

  std::unique_ptr<Store> store_;
  const ControlPlaneOptions options_;
  const TimeSource& clock_;

  // Counters the parts share; the rest live in the part they count.
  Counter statuses_, heartbeats_, results_, commands_sent_, store_errors_, invalid_messages_;
  // The parts, in construction order (each may use those above it).
  EventLog events_;
  AgentEvents agent_events_;
  NodeRegistry nodes_;
  CommandQueue commands_;
  StatusBatcher batcher_;
  Enrollment enrollment_;

  // The sweep thread's stop signal: stop_mu_ guards stopping_ (a leaf lock).
  Mutex stop_mu_;
  bool stopping_ GUARDED_BY(stop_mu_) = false;
  CondVar stop_cv_;
  std::thread sweep_thread_;
  std::atomic<int64_t> last_prune_ms_{-1};  // when the sweep last pruned events; -1: never
  burst::Controller* burst_ = nullptr;
  std::vector<std::function<std::string()>> metrics_sources_;  // set before serving
};

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_CONTROL_PLANE_H_
