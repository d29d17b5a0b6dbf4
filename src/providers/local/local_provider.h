// The local provider: every node is a network namespace on this machine, plugged into a private
// underlay bridge (itself in a namespace of its own, so the root namespace gains nothing but the
// namespace names), running the real `nebula` with the config and certificates carrierarr made.
#ifndef CARRIERARR_PROVIDERS_LOCAL_LOCAL_PROVIDER_H_
#define CARRIERARR_PROVIDERS_LOCAL_LOCAL_PROVIDER_H_

#include <string>

#include "core/ipv4.h"
#include "core/seams.h"
#include "mesh/address_plan.h"
#include "providers/local/netns.h"
#include "providers/provider.h"
#include "provision/resource.h"

namespace carrierarr::spec {
class ProviderRules;
}

namespace carrierarr::local {

inline constexpr char kName[] = "local";  // fleet.yaml's `provider: local`

// Names and addresses, all derived from the fleet name and the node's mesh address so that they
// are stable across runs and distinct between fleets. The '.' cannot occur in fleet or node
// names, so fleet "a" node "b-c-1" and fleet "a-b" node "c-1" never share a namespace.
std::string UnderlayNamespace(const std::string& fleet);                       // "<fleet>.ul"
std::string NodeNamespace(const std::string& fleet, const std::string& node);  // "<fleet>.<node>"
// The node's underlay address: the underlay network plus the low 16 bits of its mesh address
// (10.42.2.5 -> 198.18.2.5/15).
Ipv4Net UnderlayAddress(const Ipv4Net& underlay, uint32_t mesh_ip);
inline constexpr char kBridge[] = "br0";
inline constexpr char kTunDevice[] = "nebula1";

// Every resource below reaches namespaces and processes only through the Netns it is given (a
// copy: it shares the provider's runner and clock).
std::unique_ptr<provision::Resource> MakeUnderlayResource(const std::string& fleet,
                                                          const Netns& netns);

struct NodeNamespaceParams {
  std::string fleet;
  mesh::NodePlan node;
  Ipv4Net underlay;
  Netns netns;
};
std::unique_ptr<provision::Resource> MakeNodeNamespaceResource(const NodeNamespaceParams& params);

struct NebulaProcessParams {
  std::string fleet;
  mesh::NodePlan node;
  std::string config_path;
  std::string log_path;
  std::string nebula_binary = "nebula";
  std::vector<std::string> deps;  // the node's namespace, certificate, config (and lighthouse)
  Netns netns;
};
std::unique_ptr<provision::Resource> MakeNebulaProcessResource(const NebulaProcessParams& params);

// Deleters for "netns", "nebula", "daemon" and "agent-token".
void RegisterLocalKinds(provision::KindRegistry& kinds, const Netns& netns);

// The control plane (`carrierarr serve` in the homelab node's namespace, on its mesh address and
// on the unix socket <state dir>/control/serve.sock for the operator's shell, trusting tokens
// signed with the fleet's enrollment key), one single-use enrollment token per node from
// `request.enrollment` and `carrierarr-agent` in every node's namespace (agents.cc). They start
// and stop their programs through `seams`.
// The node runs Ollama: providers.local.ollama is set and its pool has models.
bool RunsOllama(const spec::FleetSpec& fleet, const mesh::NodePlan& node);
// Where a node's Ollama listens: its mesh address, Ollama's port.
constexpr int kOllamaPort = 11434;

void AddControlPlaneResources(const providers::FleetRequest& request, provision::ResourceList& out,
                              const Seams& seams);
void RegisterControlPlaneKinds(provision::KindRegistry& kinds, const Netns& netns);

// The provider itself and its part of fleet.yaml, as the registry (providers/registry.h) makes
// them: every program the provider runs goes through seams.processes, every wait through
// seams.time.
std::unique_ptr<providers::Provider> MakeLocalProvider(const Seams& seams);
const spec::ProviderRules& LocalFleetRules();

// `doctor`: root, iproute2 and nebula here; once deployed, the lighthouse's port, the underlay
// and handshakes as seen from inside the namespaces (doctor_checks.cc).
std::vector<providers::DoctorCheck> LocalEnvironmentChecks(const Netns& netns);
std::vector<providers::DoctorCheck> LocalDeploymentChecks(const Netns& netns,
                                                          const providers::DoctorRequest& request);

// What `status` reports about a node's process.
struct ProcessInfo {
  bool running = false;
  int pid = 0;
};
ProcessInfo ObserveNebula(const nlohmann::json& attrs, ProcessRunner& processes);

}  // namespace carrierarr::local

#endif  // CARRIERARR_PROVIDERS_LOCAL_LOCAL_PROVIDER_H_
