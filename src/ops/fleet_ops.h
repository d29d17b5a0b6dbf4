// The fleet operations behind `plan`, `up`, `down`, `status`, `doctor` and `render`: they compose
// the fleet spec, the address plan, the providers and the provisioning engine. The CLI only
// parses flags and prints what these return.
#ifndef CARRIERARR_OPS_FLEET_OPS_H_
#define CARRIERARR_OPS_FLEET_OPS_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "burst/readiness.h"
#include "core/seams.h"
#include "core/status.h"
#include "federation/federation.h"
#include "mesh/address_plan.h"
#include "ops/k3s_cluster.h"
#include "providers/enrollment.h"
#include "providers/provider.h"
#include "providers/registry.h"
#include "provision/engine.h"
#include "provision/plan.h"
#include "provision/state_store.h"
#include "spec/fleet.h"

namespace carrierarr::ops {

// One fleet as every operation sees it: its spec, where its state lives, the outside world
// (time, processes, environment) that the operations and providers may use (nothing below the
// CLI reaches around `seams`), and the providers its nodes may be on.
struct FleetContext {
  std::string fleet_file;  // as given (for messages)
  std::string fleet_dir;   // its directory; the state lives in <fleet_dir>/.carrierarr
  spec::FleetSpec spec;
  providers::FleetPaths paths;
  Seams seams;
  // Not owned; outlives the context. Tests hand in a registry with fakes.
  const providers::ProviderRegistry* registry = &providers::ProviderRegistry::BuiltIn();
  // Enrollment tokens for the agents that providers start or launch; null: tokens signed with
  // the fleet's enrollment key (providers::MakeSignedMinter on seams.time).
  std::shared_ptr<const providers::EnrollmentMinter> enrollment;
};
// Reads fleet_file with the providers of `registry` (which must outlive the context).
Result<FleetContext> LoadContext(
    const std::string& fleet_file, Seams seams,
    const providers::ProviderRegistry& registry = providers::ProviderRegistry::BuiltIn());

// The recorded state, read without taking the lock: for commands that change nothing.
Result<provision::FleetState> ReadState(const FleetContext& ctx);

// Everything `up` would make, for one state snapshot.
struct Desired {
  std::vector<mesh::NodePlan> nodes;
  provision::ResourceList resources;
  provision::KindRegistry kinds;
  std::map<std::string, std::unique_ptr<providers::Provider>> providers;  // by name
  std::shared_ptr<const providers::EnrollmentMinter> enrollment;
  std::string lighthouse_endpoint;  // "HOST:PORT" (a placeholder until a cloud address exists)
  // From the federation: what it could not plan yet, and whether its recorded objects are to be
  // left alone (a cluster it needs cannot be reached).
  std::vector<std::string> notes;
  bool hold_federation = false;
  // The running resources of scaled pools' nodes beyond min (ops/power.h): `up` records new
  // ones powered off, and leaves the ones the burst controller stopped stopped.
  std::set<std::string> power_managed;
  const providers::Provider& ProviderFor(const mesh::NodePlan& node) const;
};
// Without the federation's objects, which read both clusters (status, doctor and render must
// work when a cluster does not answer); BuildDesiredWithFederation adds them (plan, up).
Result<Desired> BuildDesired(const FleetContext& ctx, const provision::FleetState& state);
Result<Desired> BuildDesiredWithFederation(const FleetContext& ctx,
                                           const provision::FleetState& state);
// What the federation needs of the fleet: both clusters' mesh addresses, the cloud nodes.
federation::FederationRequest FederationRequestFor(const FleetContext& ctx, const Desired& d);
// Deleters for every kind any provider of ctx.registry records (for `down` from the state
// alone).
provision::KindRegistry AllKinds(const FleetContext& ctx);

// Groups of resources that --skip-* flags leave alone, as the seeds' scripts did.
struct SkipOptions {
  bool certs = false;     // --skip-certs: keep the CA and host certificates as they are
  bool teardown = false;  // --skip-teardown: do not delete what fleet.yaml no longer lists
  bool peering = false;  // --skip-peering: leave the federation's objects (Liqo, ClusterMesh) alone
};

struct PlanRequest {
  std::set<std::string> targets;
  SkipOptions skip;
  bool observe = true;
};

Result<provision::Plan> PlanFleet(const FleetContext& ctx, const PlanRequest& request);

struct UpOptions {
  PlanRequest plan;
  int parallelism = 8;
  std::chrono::milliseconds mesh_wait{
      15000};  // how long to wait for every node to reach the lighthouse
  std::function<void(const provision::StepEvent&)> on_event;
  std::function<void(const provision::Plan&)> on_plan;  // before applying
};

struct UpResult {
  provision::Plan plan;
  provision::ApplyResult apply;
  int nodes = 0;
  int nodes_meshed = 0;  // nodes that reached the lighthouse over the mesh
  int nodes_cloud = 0;   // of `nodes`, launched in a cloud: they join at first boot, unwatched
  // Of `nodes`, a scaled pool's nodes left stopped for the burst controller (not counted above).
  int nodes_stopped = 0;
  // Of `nodes`, ready but where this machine cannot ping them (a Kubernetes homelab's members).
  int nodes_unmeasured = 0;
  std::chrono::milliseconds elapsed{0};
};
Result<UpResult> Up(const FleetContext& ctx, const UpOptions& options);

struct DownOptions {
  std::set<std::string> targets;  // empty: everything
  int parallelism = 8;
  std::function<void(const provision::StepEvent&)> on_event;
  std::function<void(const provision::Plan&)> on_plan;
};
struct DownResult {
  provision::Plan plan;
  provision::ApplyResult apply;
  bool state_removed = false;  // everything is gone, and so is .carrierarr/
  // Cloud resources still tagged with the fleet's name after the run (could not be removed).
  std::vector<std::string> leftovers;
};
Result<DownResult> Down(const FleetContext& ctx, const DownOptions& options);

struct NodeStatus {
  std::string name;
  std::string role;
  std::string provider;
  std::string mesh_ip;
  std::string underlay_ip;
  bool running = false;
  int pid = 0;
  std::optional<double> rtt_lighthouse_ms;  // over the mesh
  std::optional<double> rtt_homelab_ms;
  bool healthy = false;
  std::string detail;   // what the provider says of it ("i-0abc running")
  std::string problem;  // why not healthy
  // What the node's agent last told the control plane (empty lifecycle: nothing known).
  struct Agent {
    std::string lifecycle;  // connected, stale, dead
    std::string health;     // HEALTHY, DEGRADED, UNHEALTHY
    double cpu_percent = 0;
    double memory_percent = 0;
    int gpus = 0;
    bool nebula_running = false;          // its Nebula, as the agent sees it
    bool ollama_up = false;               // Ollama runs, or answered the agent with models
    std::set<std::string> loaded_models;  // in Ollama's memory
    // On the k3s server node: the cloud cluster's nodes as its agent last reported them.
    std::vector<K3sClusterNode> cluster;
  } agent;
  // A worker's readiness ladder (burst/readiness.h); empty for the lighthouse and homelab.
  std::vector<burst::Rung> ladder;
};
struct FleetStatus {
  std::string fleet;
  std::vector<NodeStatus> nodes;
  bool deployed = false;       // the state records anything
  std::string agents_problem;  // why agent reports are missing (control plane unreachable)
  federation::FederationView federation;  // mode "" when fleet.yaml federates nothing
  // The scaled pools, as the control plane's burst controller reports them (`carrierarr pools`).
  struct Pool {
    std::string name;
    int min = 0, max = 0;
    std::vector<std::string> running;  // nodes beyond min that run
    int pending = 0;                   // decisions not yet carried out
    spec::MicroUsd spent_today = 0, spent_month = 0, forecast_day = 0;
  };
  std::vector<Pool> pools;
  std::string pools_problem;  // why they are missing (control plane unreachable, no --fleet)
};
Result<FleetStatus> ReadFleetStatus(const FleetContext& ctx);

using DoctorCheck = providers::DoctorCheck;
Result<std::vector<DoctorCheck>> Doctor(const FleetContext& ctx);

// Writes every node's Nebula config into `out_dir` (<node>.yml); returns the paths written.
Result<std::vector<std::string>> RenderNebulaConfigs(const FleetContext& ctx,
                                                     const std::string& out_dir);

// `render manifests`: makes the fleet's key material on this machine (the CA, the certificates,
// the Nebula configs, the tokens: every resource of a file kind, nothing in a cluster), then has
// the homelab's provider write its Kubernetes objects as kustomize directories into `out_dir`.
// Fails, before making anything, when the homelab's provider has none.
Result<std::vector<std::string>> RenderManifests(const FleetContext& ctx,
                                                 const std::string& out_dir);

// `render packer`: the Packer templates of the fleet's lighthouse and GPU worker images
// (aws_provider::RenderPacker) into out_dir, the values file 0600 (an agent_url may carry a
// presigned query). Needs nothing but fleet.yaml.
Result<std::vector<std::string>> RenderPacker(const FleetContext& ctx, const std::string& out_dir);

// `render talos` (federation.mode direct): for every pool node, <node>.patch.yaml, the Talos
// machine-config patch that joins it to the homelab over the mesh (federation/talos.h), and,
// with talosctl's machine config of its role given, <node>.yaml, that config with the patch
// merged: the node's userdata. Both 0600 (they hold the node's Nebula key). A pool in
// federation.direct.control_plane_pools is refused unless force_control_plane is set.
struct TalosConfigs {
  std::string worker;         // talosctl gen config's worker.yaml ("" = patches only)
  std::string control_plane;  // its controlplane.yaml, for forced control-plane pools
};
Result<std::vector<std::string>> RenderTalos(const FleetContext& ctx, const TalosConfigs& configs,
                                             const std::string& out_dir);

// `render workload`: the example offloaded GPU inference Deployment and Service
// (federation::RenderOffloadedWorkload) as the kustomize directory <out_dir>/workload. Needs
// federation.mode liqo; `ns` must be an offloaded namespace ("" = the first). Nothing is applied.
Result<std::vector<std::string>> RenderWorkload(const FleetContext& ctx, const std::string& ns,
                                                int gpus, const std::string& out_dir);

}  // namespace carrierarr::ops

#endif  // CARRIERARR_OPS_FLEET_OPS_H_
