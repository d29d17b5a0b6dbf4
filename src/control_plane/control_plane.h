// The control plane's logic, apart from its transports: registration and authentication, the
// in-memory view of every node (served to readers without touching the store), batched status
// writes, commands and their results, lifecycle (connected / stale / dead) and events. The gRPC
// services (agent_service.cc, admin_service.cc) and the HTTP API (http_api.cc) are thin
// adapters over it.
//
// Thread safety: every public method may be called from any thread. Lock order: mu_ before
// the store's own lock; never call a StreamSink while holding mu_ (a sink may call back).
#ifndef CARRIERARR_CONTROL_PLANE_CONTROL_PLANE_H_
#define CARRIERARR_CONTROL_PLANE_CONTROL_PLANE_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "carrierarr/v1/fleet.pb.h"
#include "control_plane/metrics.h"
#include "control_plane/store.h"
#include "core/status.h"
#include "core/time_source.h"
#include "ec2agent/v1/agent.pb.h"

namespace carrierarr::control_plane {

struct ControlPlaneOptions {
  std::chrono::seconds heartbeat_interval{10};
  std::chrono::seconds status_interval{30};
  std::chrono::seconds stale_after{0};  // 0 = 2 x status_interval
  std::chrono::seconds dead_after{300};
  int idle_shutdown_minutes = 0;
  bool allow_exec = false;
  std::chrono::milliseconds batch_delay{20};
  size_t batch_max = 2000;
  std::chrono::seconds command_grace{30};
  const TimeSource* clock = RealTimeSource::Get();
  bool background_threads = true;  // tests drive Flush() and Sweep() themselves when false
};

// Where the control plane sends a connected node's messages: the node's Connect stream.
// Implemented by the gRPC reactor. Send returns false once the stream is gone.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  virtual bool Send(const ec2agent::v1::ControlMessage& message) = 0;
  // Ends the stream with this gRPC-style code (see grpc::StatusCode) and message.
  virtual void Close(int grpc_code, const std::string& message) = 0;
};

// A refusal that maps onto a gRPC status: code is a grpc::StatusCode value.
struct Refusal {
  int grpc_code;
  std::string message;
};

class ControlPlane {
 public:
  // Loads nodes, unfinished commands and the event sequence from `store` (which it keeps).
  static Result<std::unique_ptr<ControlPlane>> Create(std::unique_ptr<Store> store,
                                                      ControlPlaneOptions options);
  ~ControlPlane();  // stops the background threads and flushes pending status writes

  Store& store() { return *store_; }
  const ControlPlaneOptions& options() const { return options_; }

  // --- authentication (secret = the bearer value; empty = none given) ---
  // The admin token: the one whose hash is in the "admin_token_sha256" setting.
  Status SetAdminToken(const std::string& secret);
  bool IsAdmin(const std::string& secret) const;
  // The node id that this node credential belongs to, or a Refusal (UNAUTHENTICATED).
  std::variant<std::string, Refusal> AuthenticateNode(const std::string& secret) const;

  // --- the agent service ---
  std::variant<ec2agent::v1::RegisterResponse, Refusal> Register(
      const std::string& secret, const ec2agent::v1::RegisterRequest& request);
  // Attaches a node's new Connect stream (closing an older one), sends it the config and every
  // unfinished command.
  void AttachStream(const std::string& node_id, const std::shared_ptr<StreamSink>& sink);
  void DetachStream(const std::string& node_id, const StreamSink* sink);
  // A message from a node's stream; a Refusal ends the stream (invalid content).
  std::optional<Refusal> OnAgentMessage(const std::string& node_id,
                                        const ec2agent::v1::AgentMessage& message);
  void OnHeartbeat(const std::string& node_id);
  ec2agent::v1::FleetStatusResponse FleetStatus(const ec2agent::v1::FleetStatusRequest& request);

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
  Result<carrierarr::v1::CommandRecord> GetCommand(const std::string& command_id);
  // Waits until the command has finished or `deadline` passes; returns it as it is then.
  Result<carrierarr::v1::CommandRecord> WaitCommand(const std::string& command_id,
                                                    std::chrono::steady_clock::time_point deadline);
  // Events after after_seq (up to limit); waits up to `wait` for one when there is none yet.
  Result<std::vector<carrierarr::v1::Event>> Events(int64_t after_seq, int limit,
                                                    std::chrono::milliseconds wait);

  // --- observability ---
  std::string StatsJson();       // the /api/v1/stats document
  std::string PrometheusText();  // /metrics
  const LatencyHistogram& store_latency() const { return store_latency_; }

  // --- driven by the background threads, or by tests ---
  void Flush();  // writes the pending status batch now
  void Sweep();  // lifecycle transitions and command timeouts as of clock->NowMs()
  // Ends every open Connect stream (UNAVAILABLE): the agents reconnect, to this control plane or
  // the next one. Called on shutdown so that it need not wait for streams to time out.
  void CloseStreams(const std::string& why);
  // Pushes new intervals to every connected node (ConfigUpdate).
  void UpdateIntervals(std::chrono::seconds heartbeat, std::chrono::seconds status);

 private:
  struct NodeState {
    ec2agent::v1::RegisterRequest registration;
    std::string credential_hash;
    int64_t registered_ms = 0;
    int64_t last_seen_ms = 0;
    std::string lifecycle;
    ec2agent::v1::NodeStatus last_status;
    bool has_status = false;
    bool idle_shutdown_sent = false;
    std::shared_ptr<StreamSink> stream;
  };
  struct PendingCommand {
    CommandRecord record;
    ec2agent::v1::Command command;
  };

  // Nodes by lifecycle, open streams and unfinished commands: what /api/v1/stats and /metrics
  // both report.
  struct Census {
    std::map<std::string, int> by_lifecycle;
    size_t streams = 0;
    size_t unfinished_commands = 0;
  };
  Census TakeCensus() const;

  ControlPlane(std::unique_ptr<Store> store, ControlPlaneOptions options);
  Status Load();
  void Event(const std::string& node_id, const std::string& kind, const std::string& message);
  std::string LifecycleAt(int64_t last_seen_ms, int64_t now_ms) const;  // needs mu_ (or no threads)
  ec2agent::v1::ConfigUpdate CurrentConfig() const;
  carrierarr::v1::Node ToNode(const std::string& id, const NodeState& node) const;
  carrierarr::v1::CommandRecord ToCommand(const CommandRecord& record) const;
  // Sends a command on a node's stream and marks it sent.
  void DeliverCommand(StreamSink* sink, const ec2agent::v1::Command& command);
  std::optional<Refusal> OnResult(const std::string& node_id,
                                  const ec2agent::v1::CommandResult& result);
  void BatchLoop();
  void SweepLoop();

  std::unique_ptr<Store> store_;
  ControlPlaneOptions options_;

  mutable std::mutex mu_;
  std::map<std::string, NodeState> nodes_;                           // by node id
  std::unordered_map<std::string, std::string> node_by_credential_;  // credential hash -> id
  std::map<std::string, PendingCommand> unfinished_;                 // by command id
  std::string admin_hash_;
  int64_t heartbeat_sec_ = 0, status_sec_ = 0;
  std::condition_variable command_done_;

  // Status batch: filled by OnAgentMessage, written by BatchLoop / Flush.
  std::mutex batch_mu_;
  std::condition_variable batch_cv_;
  std::vector<StatusWrite> batch_;
  std::vector<int64_t> batch_sent_us_;  // the agents' send times (Unix us; -1: heartbeat)
  std::chrono::steady_clock::time_point batch_oldest_;
  std::mutex flush_mu_;  // one flush at a time

  std::mutex event_mu_;
  std::condition_variable event_cv_;
  int64_t last_event_seq_ = 0;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread batch_thread_, sweep_thread_;

  // Metrics.
  Counter registrations_, refused_registrations_, statuses_, heartbeats_, results_, commands_sent_,
      batches_, batch_rows_, store_errors_, invalid_messages_;
  LatencyHistogram store_latency_;   // agent send (status timestamp) -> committed
  LatencyHistogram batch_write_ms_;  // one WriteStatuses call
};

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_CONTROL_PLANE_H_
