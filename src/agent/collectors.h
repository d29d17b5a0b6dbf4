// What the worker agent reports about its node: identity (mesh IP, EC2 metadata), capacity and
// usage (/proc, statvfs), GPUs (nvidia-smi), Ollama models and idle time (its local HTTP API)
// and the state of the services it cares about (nebula, k3s, ollama, liqo).
//
// Every probe is bounded by a short timeout and treats "not there" as a normal answer (no GPU,
// not on EC2, Ollama not installed), never as an error that stops the agent.
#ifndef CARRIERARR_AGENT_COLLECTORS_H_
#define CARRIERARR_AGENT_COLLECTORS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/k3s_nodes.h"
#include "core/process_runner.h"
#include "core/status.h"
#include "core/subprocess.h"
#include "core/time_source.h"
#include "ec2agent/v1/agent.pb.h"

namespace carrierarr::agent {

// The IPv4 address of the first up interface whose name starts with device_prefix ("nebula":
// nebula's default tun names are nebula1, nebula0, ...). nullopt when there is none.
std::optional<std::string> DetectMeshIp(const std::string& device_prefix = "nebula");

// Identity from EC2's instance metadata service, IMDSv2 only (a PUT for a session token, then
// GETs with it). `endpoint` is "http://169.254.169.254" on EC2; tests point it at loopback.
struct Ec2Identity {
  std::string instance_id;
  std::string region;
  std::string availability_zone;
  std::string public_ip;  // empty when the instance has none
  std::string instance_type;
};
// nullopt, quietly, when the endpoint does not answer within `timeout` (not on EC2).
std::optional<Ec2Identity> QueryImds(const std::string& endpoint,
                                     std::chrono::milliseconds timeout);

// GPUs from `nvidia-smi --query-gpu=index,name,memory.used,memory.total,utilization.gpu,
// temperature.gpu --format=csv,noheader,nounits`. An empty list when nvidia-smi is not
// installed or finds no GPU; `error` (optional) receives the reason when it ran and failed.
std::vector<ec2agent::v1::GPUStatus> QueryGpus(const std::string& nvidia_smi = "nvidia-smi",
                                               std::string* error = nullptr,
                                               ProcessRunner* processes = RealProcessRunner::Get());
// Parses the CSV above; exposed for tests. Lines it cannot parse are skipped.
std::vector<ec2agent::v1::GPUStatus> ParseNvidiaSmiCsv(const std::string& csv);

// The cloud cluster's nodes: `kubectl --kubeconfig PATH get nodes -o json`, bounded in time
// (kKubectlNodesTimeout) and output (kMaxKubectlNodesOutputBytes), parsed by ParseKubectlNodes.
// An error says what failed (kubectl missing, its exit and first line of stderr, bad output);
// it never quotes the kubeconfig.
inline constexpr std::chrono::seconds kKubectlNodesTimeout{10};
Result<std::vector<K3sNodeReport>> QueryK3sNodes(const std::string& kubectl,
                                                 const std::string& kubeconfig,
                                                 ProcessRunner* processes);

// `t` as a protobuf Timestamp (NodeStatus.timestamp, HeartbeatRequest.timestamp).
void SetTimestamp(std::chrono::system_clock::time_point t, google::protobuf::Timestamp* ts);

// Ollama's local HTTP API (default http://127.0.0.1:11434).
class OllamaClient {
 public:
  explicit OllamaClient(std::string base_url) : base_url_(std::move(base_url)) {}
  // Installed models (/api/tags) with currently_loaded from /api/ps. Unavailable when Ollama
  // does not answer.
  Result<std::vector<ec2agent::v1::OllamaModel>> Models() const;
  // POST /api/pull, and /api/generate with keep_alive 0. `cancel` (optional) abandons the call
  // (Aborted) when it fires.
  Status Pull(const std::string& model, std::chrono::seconds timeout,
              const CancelSignal* cancel = nullptr) const;
  Status Unload(const std::string& model, std::chrono::seconds timeout,
                const CancelSignal* cancel = nullptr) const;
  const std::string& base_url() const { return base_url_; }

 private:
  std::string base_url_;
};

// CPU, memory, disk, uptime. CPU percent is measured between two calls of Sample() (the first
// call reports 0). Thread-safe.
class ResourceSampler {
 public:
  explicit ResourceSampler(std::string proc_root = "/proc", std::string disk_path = "/");
  ec2agent::v1::ResourceUsage Sample();
  ec2agent::v1::NodeCapabilities Capabilities() const;  // cores, memory, disk (no GPU fields)
  int64_t UptimeSeconds() const;                        // host uptime

 private:
  std::string proc_root_;
  std::string disk_path_;
  std::mutex mu_;
  uint64_t last_busy_ = 0;
  uint64_t last_total_ = 0;
};

// Service state of nebula, k3s (server or agent), ollama and liqo. A process counts only when it
// runs in this agent's network namespace (several local-fleet nodes share one PID namespace).
// Looked up by process name under /proc.
struct ServiceStates {
  ec2agent::v1::ServiceStatus nebula, k3s, ollama, liqo;
};
ServiceStates ProbeServices(const std::string& proc_root = "/proc");

// Bounds on what one NodeStatus carries, within what the control plane accepts (a status over
// them is refused whole): strings (service messages, GPU and model names) are cut on UTF-8
// character boundaries, lists are cut (models in memory are kept before models on disk).
constexpr size_t kMaxStatusStringBytes = 256;
constexpr int kMaxStatusGpus = 64;
constexpr int kMaxStatusModels = 512;
void LimitNodeStatus(ec2agent::v1::NodeStatus& status);

// Everything above, gathered into one NodeStatus. Owns the sampler and the Ollama client;
// thread-compatible (one caller of Collect/Capabilities at a time); NoteActivity may be called
// from any thread meanwhile (the command runner's workers do).
struct CollectorOptions {
  std::string proc_root = "/proc";
  std::string disk_path = "/";
  std::string nvidia_smi = "nvidia-smi";
  std::string ollama_url = "http://127.0.0.1:11434";
  // The status's timestamp and idle time. Not owned; outlives the collector.
  TimeSource* time = RealTimeSource::Get();
  ProcessRunner* processes = RealProcessRunner::Get();  // runs nvidia-smi, kubectl; not owned
  // The k3s admin kubeconfig: where the file exists (the k3s server node), the status carries
  // the cluster's nodes (QueryK3sNodes). Empty: never looked for.
  std::string kubectl = "kubectl";
  std::string k3s_kubeconfig;
  // Where a change in the cluster probe's outcome is told (one line per change, not per
  // status). Empty: not told.
  std::function<void(const std::string&)> log;
};
class StatusCollector {
 public:
  explicit StatusCollector(CollectorOptions options);
  // node_id is filled in; health is HEALTHY when nebula runs and nothing is in ERROR,
  // DEGRADED when a service that is installed is not running, UNHEALTHY when nebula is down.
  // loaded_models lists every installed model (/api/tags) with currently_loaded set for those
  // in memory (/api/ps), as the original agent does; empty when Ollama does not answer within
  // 500 ms, so that a hung Ollama never holds up the status. Bounded by LimitNodeStatus.
  ec2agent::v1::NodeStatus Collect(const std::string& node_id);
  // Capabilities including GPUs (has_gpu, gpu_model, gpu_count, gpu_memory_mb).
  ec2agent::v1::NodeCapabilities Capabilities();
  // Called by the command runner when a model is used, and by Collect from Ollama's /api/ps
  // (expires_at moves when a request came): the basis of idle_seconds.
  void NoteActivity();

 private:
  // Fills status.k3s_cluster_nodes on the k3s server node; logs a change of outcome once.
  void CollectK3sNodes(ec2agent::v1::NodeStatus& status);

  CollectorOptions options_;
  ResourceSampler sampler_;
  OllamaClient ollama_;
  // Monotonic ticks (options_.time) of the last activity: atomic, as NoteActivity comes from other
  // threads.
  std::atomic<std::chrono::steady_clock::rep> last_activity_ticks_{0};
  // "name expires_at" of each model in the last /api/ps answer, to spot the ones that moved.
  std::set<std::string> ps_marks_;
  bool ps_seen_ = false;
  // The last cluster probe's error ("" when it worked or did not run), so that a lasting
  // failure is logged once, not at every status.
  std::string k3s_error_;
};

}  // namespace carrierarr::agent

#endif  // CARRIERARR_AGENT_COLLECTORS_H_
