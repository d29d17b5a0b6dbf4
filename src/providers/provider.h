// Where nodes come from. A provider turns each planned node into the resources that host it
// (a network namespace and a process locally, an instance with userdata on AWS) and knows how to
// delete them from the state file alone. Providers are chosen by name from fleet.yaml through
// providers/registry.h.
#ifndef CARRIERARR_PROVIDERS_PROVIDER_H_
#define CARRIERARR_PROVIDERS_PROVIDER_H_

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "mesh/address_plan.h"
#include "provision/resource.h"
#include "provision/state_store.h"
#include "spec/fleet.h"

namespace carrierarr::providers {

// Paths a provider may use, all inside the fleet's state directory.
struct FleetPaths {
  std::string state_dir;  // <fleet dir>/.carrierarr
  std::string NebulaConfig(const std::string& node) const {
    return state_dir + "/nebula/" + node + ".yml";
  }
  std::string Log(const std::string& node) const { return state_dir + "/logs/" + node + ".log"; }
  std::string HostCert(const std::string& node) const {
    return state_dir + "/pki/" + node + ".crt";
  }
  std::string HostKey(const std::string& node) const { return state_dir + "/pki/" + node + ".key"; }
  std::string CaCert() const { return state_dir + "/pki/ca.crt"; }
  std::string CaKey() const { return state_dir + "/pki/ca.key"; }
  // The control plane's directory: its unix socket and admin token (local fleets run it).
  std::string ControlDir() const { return state_dir + "/control"; }
  // The key pair that signs enrollment tokens: the private key is the operator's, the control
  // plane reads the public one (serve --enrollment-key).
  std::string EnrollmentKey() const { return ControlDir() + "/enrollment.key"; }
  std::string EnrollmentPublicKey() const { return ControlDir() + "/enrollment.pub"; }
  std::string AwsDir() const { return state_dir + "/aws"; }  // key pair, k3s join token
};

// Where a node's Nebula finds its files, on the node.
struct NodeFiles {
  std::string ca, cert, key;
  std::string tun = "nebula1";
};

// What `status` learns about a node from its provider.
struct NodeObservation {
  bool created = false;  // the provider has something for it
  bool running = false;  // its nebula (namespace) or its instance (cloud) runs
  int pid = 0;           // local: nebula's pid
  std::string underlay;  // the address others reach it at, when known
  std::string detail;    // "i-0abc running" and such
  std::string problem;   // why it is not running, and what to do
  // Round trips over the mesh, where this machine can measure them (local namespaces).
  std::optional<double> rtt_lighthouse_ms, rtt_homelab_ms;
  bool mesh_checked = false;  // the round trips above were attempted
};

class EnrollmentMinter;  // providers/enrollment.h

// Everything a provider needs to add one node's resources.
struct NodeRequest {
  const spec::FleetSpec& fleet;
  const FleetPaths& paths;
  const provision::FleetState& state;  // what earlier runs made (recorded attributes)
  const mesh::NodePlan& node;
  std::vector<std::string> deps;    // its certificate and Nebula config (and the lighthouse)
  std::string lighthouse_endpoint;  // underlay "HOST:PORT"
  std::shared_ptr<const EnrollmentMinter> enrollment;  // tokens for the node's agent
};

// What the provider hosting the homelab adds once for the whole fleet.
struct FleetRequest {
  const spec::FleetSpec& fleet;
  const FleetPaths& paths;
  const std::vector<mesh::NodePlan>& nodes;            // lighthouse, homelab, then the workers
  std::shared_ptr<const EnrollmentMinter> enrollment;  // tokens for the agents it starts
  // fleet.yaml's absolute path: the control plane of a fleet with scaled pools reads it (serve
  // --fleet) for its burst controller.
  std::string fleet_file;
};

// One line of `carrierarr doctor`.
struct DoctorCheck {
  std::string name;
  bool ok = true;
  std::string detail;  // what was found
  std::string fix;     // how to fix it (when !ok)

  static DoctorCheck Pass(std::string name, std::string detail) {
    return {std::move(name), true, std::move(detail), ""};
  }
  static DoctorCheck Fail(std::string name, std::string detail, std::string fix) {
    return {std::move(name), false, std::move(detail), std::move(fix)};
  }
  // Problems as one detail: "a; b".
  static std::string List(const std::vector<std::string>& problems) {
    std::string out;
    for (const auto& p : problems) out += (out.empty() ? "" : "; ") + p;
    return out;
  }
};

// What a provider's doctor checks look at once the fleet is deployed.
struct DoctorRequest {
  const spec::FleetSpec& fleet;
  const FleetPaths& paths;
  const std::vector<mesh::NodePlan>& nodes;  // lighthouse, homelab, then the workers
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string name() const = 0;
  // Its nodes are launched elsewhere and join the mesh at first boot: this machine neither
  // waits for them nor pings them; their agents vouch for them.
  virtual bool IsCloud() const = 0;
  // What must hold on this machine before anything is made (root, programs); a clear error else.
  virtual Status CheckEnvironment() const = 0;
  // The underlay "HOST:PORT" at which the other nodes reach the lighthouse. Cloud providers may
  // learn it only once something is made (an Elastic IP): see EndpointResources.
  virtual std::string LighthouseEndpoint(const spec::FleetSpec& fleet,
                                         const mesh::NodePlan& lighthouse,
                                         const provision::FleetState& state) const = 0;
  // Called on the provider hosting the homelab before the nodes are planned: the names of the
  // homelab's members, one mesh node each, the first holding homelab.mesh_ip (a cluster's
  // joining nodes). Empty: the one node "homelab".
  virtual Result<std::vector<std::string>> HomelabMembers(const spec::FleetSpec& /*fleet*/) const {
    return std::vector<std::string>{};
  }
  // Resource ids that must exist before LighthouseEndpoint is known; `up` makes them first.
  virtual std::vector<std::string> EndpointResources(const spec::FleetSpec& /*fleet*/) const {
    return {};
  }
  // Paths and device of the node's Nebula files as they are on the node.
  virtual NodeFiles NebulaFiles(const FleetPaths& paths, const mesh::NodePlan& node) const = 0;
  // The id of the resource that runs the node's Nebula ("nebula/gpu-1", "instance/gpu-1").
  virtual std::string RunningResourceId(const mesh::NodePlan& node) const = 0;
  // Scale to zero (ops/power.h, the burst controller's hands): the ids of the resources that run
  // `node`, in the order they start (local: its nebula, agent token, agent and Ollama). Empty: this
  // provider cannot stop and start nodes, and a scaled pool on it runs only its min.
  virtual std::vector<std::string> PowerResourceIds(const spec::FleetSpec& /*fleet*/,
                                                    const mesh::NodePlan& /*node*/) const {
    return {};
  }
  // Stops one of them, keeping what starting it again needs (local: the namespace; a cloud: the
  // instance and its volumes); returns the attributes to record for it.
  virtual Result<nlohmann::json> PowerOff(const provision::ResourceRecord& record,
                                          const provision::KindRegistry& /*kinds*/) const {
    return Status::FailedPrecondition("provider " + name() + " cannot stop " + record.kind +
                                      " resources");
  }
  // Appends the resources hosting the node. Shared resources (a bridge, a security group) are
  // added once, by id.
  virtual void AddNodeResources(const NodeRequest& request, provision::ResourceList& out) const = 0;
  virtual void RegisterKinds(provision::KindRegistry& kinds) const = 0;
  // Called on the provider hosting the homelab: what the fleet needs once (the control plane,
  // and the agents of the nodes on this provider).
  virtual void AddFleetResources(const FleetRequest& /*request*/,
                                 provision::ResourceList& /*out*/) const {}
  // `doctor`: what this machine needs for the provider, checked before anything is deployed.
  virtual std::vector<DoctorCheck> EnvironmentChecks() const { return {}; }
  // `doctor` once deployed: its settings and what it can see of its nodes (every registered
  // provider is asked: each decides what concerns it).
  virtual std::vector<DoctorCheck> DeploymentChecks(const DoctorRequest& /*request*/) const {
    return {};
  }
  // Round trips over the mesh from each of `nodes` (all on this provider) to `target`, all at
  // once; nullopt for a node with no answer within `timeout`. Nodes this machine cannot measure
  // from are left out (cloud instances).
  virtual std::map<std::string, std::optional<double>> MeshRoundTrips(
      const spec::FleetSpec& /*fleet*/, const std::vector<mesh::NodePlan>& /*nodes*/,
      uint32_t /*target*/, std::chrono::milliseconds /*timeout*/) const {
    return {};
  }
  // Reads this provider's nodes back for `status`, all at once (one cloud call, parallel pings).
  // `lighthouse` and `homelab` are the mesh addresses round trips are measured to.
  virtual std::map<std::string, NodeObservation> ObserveNodes(
      const spec::FleetSpec& fleet, const provision::FleetState& state,
      const std::vector<mesh::NodePlan>& nodes, uint32_t lighthouse, uint32_t homelab) const = 0;
  // `carrierarr render manifests`: whether this provider, hosting the homelab, has Kubernetes
  // objects to write, and writes them as kustomize directories under `out_dir` (the fleet's key
  // material is made by then). Returns the paths written.
  virtual bool HasManifests() const { return false; }
  virtual Result<std::vector<std::string>> WriteManifests(const FleetRequest& /*request*/,
                                                          const std::string& /*out_dir*/) const {
    return Status::FailedPrecondition("provider " + name() + " has no Kubernetes manifests");
  }
  // What still exists in the provider under the fleet's name after `down` (cloud resources
  // carrierarr tagged), one line each; empty when everything is gone.
  virtual Result<std::vector<std::string>> Leftovers(const spec::FleetSpec& /*fleet*/) const {
    return std::vector<std::string>{};
  }
};

}  // namespace carrierarr::providers

#endif  // CARRIERARR_PROVIDERS_PROVIDER_H_
