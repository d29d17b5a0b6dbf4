// The control plane's in-memory view of every node: registration, credential, last status,
// lifecycle (connected / stale / dead) and open Connect stream. Readers (ListNodes, FleetStatus,
// the census) are served from here without touching the store; what must persist is written by
// the caller (ControlPlane), outside this lock.
//
// Thread safety: every method may be called from any thread. mu_ guards all state below; it is
// a leaf lock (nothing else is taken while it is held) and no StreamSink is called under it:
// methods return the sinks their caller must close or send to. Callers: the gRPC reactors
// (register, attach, status, heartbeat), the admin and HTTP threads (reads, delete), the sweep
// thread (Sweep).
#ifndef CARRIERARR_CONTROL_PLANE_NODE_REGISTRY_H_
#define CARRIERARR_CONTROL_PLANE_NODE_REGISTRY_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "carrierarr/v1/fleet.pb.h"
#include "control_plane/store.h"
#include "control_plane/stream_sink.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "ec2agent/v1/agent.pb.h"

namespace carrierarr::control_plane {

inline constexpr char kConnected[] = "connected";
inline constexpr char kStale[] = "stale";
inline constexpr char kDead[] = "dead";

// When a silent node turns stale and dead.
struct LifecyclePolicy {
  std::chrono::seconds stale_after{0};  // 0 = 2 x the status interval
  std::chrono::seconds dead_after{300};
};

class NodeRegistry {
 public:
  NodeRegistry(LifecyclePolicy policy, std::chrono::seconds heartbeat, std::chrono::seconds status,
               int idle_shutdown_minutes);

  // Adds a stored node (at start-up); DataLoss when its registration does not parse.
  Status Load(const NodeRecord& record, int64_t now_ms) EXCLUDES(mu_);
  size_t size() const EXCLUDES(mu_);

  // The node this credential hash belongs to.
  std::optional<std::string> NodeOfCredential(const std::string& credential_hash) const
      EXCLUDES(mu_);
  // When the node first registered; nullopt for an unknown node.
  std::optional<int64_t> RegisteredMs(const std::string& node_id) const EXCLUDES(mu_);

  // Records a (re)registration as connected at now_ms. A new credential replaces the node's old
  // one, whose stream is returned for the caller to close.
  std::shared_ptr<StreamSink> Enroll(const std::string& node_id,
                                     const ec2agent::v1::RegisterRequest& registration,
                                     const std::string& credential_hash, bool new_credential,
                                     int64_t registered_ms, int64_t now_ms) EXCLUDES(mu_);

  struct Attached {
    std::shared_ptr<StreamSink> replaced;  // the node's older stream, to close
    std::string was;                       // the lifecycle before
  };
  // Makes `sink` the node's stream; nullopt for an unknown node.
  std::optional<Attached> Attach(const std::string& node_id,
                                 const std::shared_ptr<StreamSink>& sink, int64_t now_ms)
      EXCLUDES(mu_);
  // Forgets the stream if it is still the node's; false otherwise.
  bool Detach(const std::string& node_id, const StreamSink* sink) EXCLUDES(mu_);

  // The node was heard from: connected again. Returns the lifecycle before (nullopt: unknown).
  std::optional<std::string> Touch(const std::string& node_id, int64_t now_ms) EXCLUDES(mu_);
  // As Touch, and keeps `status` as the node's latest.
  std::optional<std::string> RecordStatus(const std::string& node_id,
                                          const ec2agent::v1::NodeStatus& status, int64_t now_ms)
      EXCLUDES(mu_);

  // Moves the node's last-seen time only (its lifecycle follows at the next sweep) and returns
  // its open stream (null when none); nullopt for an unknown node.
  std::optional<std::shared_ptr<StreamSink>> NoteSeen(const std::string& node_id, int64_t now_ms)
      EXCLUDES(mu_);
  // The node's open stream (null when none); nullopt for an unknown node.
  std::optional<std::shared_ptr<StreamSink>> StreamOf(const std::string& node_id) const
      EXCLUDES(mu_);
  std::vector<std::shared_ptr<StreamSink>> Streams() const EXCLUDES(mu_);

  // Forgets the node and its credential; returns its stream (to close), nullopt when unknown.
  std::optional<std::shared_ptr<StreamSink>> Remove(const std::string& node_id) EXCLUDES(mu_);

  struct Transition {
    std::string node_id, lifecycle;
    int64_t last_seen_ms = 0;
  };
  struct IdleNode {
    std::string node_id;
    int64_t idle_seconds = 0;
  };
  struct SweepResult {
    std::vector<Transition> transitions;
    // GPU nodes to shut down, once per idle spell; never one whose idle_seconds exceeds its
    // uptime_seconds (the original agent reports ~9.2e9 before its first request).
    std::vector<IdleNode> idle;
  };
  // Moves every node to its lifecycle as of now_ms.
  SweepResult Sweep(int64_t now_ms) EXCLUDES(mu_);

  // Only node `only` (and a summary of it alone) when `only` is not empty.
  ec2agent::v1::FleetStatusResponse FleetStatus(const ec2agent::v1::FleetStatusRequest& request,
                                                std::string_view only = {}) const EXCLUDES(mu_);
  std::vector<carrierarr::v1::Node> List() const EXCLUDES(mu_);
  Result<carrierarr::v1::Node> Get(const std::string& node_id) const EXCLUDES(mu_);

  struct Census {
    std::map<std::string, int> by_lifecycle;
    size_t streams = 0;
    uint64_t models_loaded = 0;  // in memory, on every node's last status
    uint64_t models_listed = 0;  // listed at all (on disk or in memory)
  };
  Census TakeCensus() const EXCLUDES(mu_);

  ec2agent::v1::ConfigUpdate Config() const EXCLUDES(mu_);
  // New intervals; returns the open streams, to send the new Config() to.
  std::vector<std::shared_ptr<StreamSink>> SetIntervals(std::chrono::seconds heartbeat,
                                                        std::chrono::seconds status) EXCLUDES(mu_);

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

  std::string LifecycleAt(int64_t last_seen_ms, int64_t now_ms) const REQUIRES(mu_);
  // The node's lifecycle becomes connected as of now_ms; returns the one before.
  static std::string MarkSeen(NodeState& node, int64_t now_ms);
  static carrierarr::v1::Node ToNode(const std::string& id, const NodeState& node);

  const LifecyclePolicy policy_;
  const int idle_shutdown_minutes_;

  mutable Mutex mu_;
  std::map<std::string, NodeState> nodes_ GUARDED_BY(mu_);  // by node id
  std::unordered_map<std::string, std::string> node_by_credential_
      GUARDED_BY(mu_);  // credential hash -> id
  int64_t heartbeat_sec_ GUARDED_BY(mu_) = 0;
  int64_t status_sec_ GUARDED_BY(mu_) = 0;
};

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_NODE_REGISTRY_H_
