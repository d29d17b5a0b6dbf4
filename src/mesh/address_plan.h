// The address plan (IPAM) of a fleet, as the seeds lay it out in a /16: the lighthouse at .0.1,
// the homelab at .1.x, workers from .2.1 upwards. Assignments are stable: a node keeps its
// address for its whole life (the engine records them in the state file), and an address is
// never handed to a new node while the node that had it still exists.
#ifndef CARRIERARR_MESH_ADDRESS_PLAN_H_
#define CARRIERARR_MESH_ADDRESS_PLAN_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "spec/fleet.h"

namespace carrierarr::mesh {

// A new role goes last, and in the table in address_plan.cc that checks it ends at the last one.
enum class Role { kLighthouse, kHomelab, kWorker };
std::string_view RoleName(Role role);  // "lighthouse", "homelab", "worker"

struct NodePlan {
  std::string name;  // "lighthouse", "homelab", "<pool>-<n>" (n from 1)
  Role role = Role::kWorker;
  std::string pool;  // workers only
  spec::PoolType pool_type = spec::PoolType::kCpuWorker;
  std::string provider;
  uint32_t mesh_ip = 0;
  // Role groups first (lighthouse | homelab | workers [+ gpu-compute]), then the spec's,
  // deduplicated.
  std::vector<std::string> groups;
};

// The name of a pool's n-th node (n from 1): "<pool>-<n>".
inline std::string WorkerName(const std::string& pool, int n) {
  return pool + "-" + std::to_string(n);
}

// name -> mesh address, for every node that exists now (desired or about to be removed).
using Assignments = std::map<std::string, uint32_t>;

// The nodes `fleet` asks for, in a stable order (lighthouse, homelab, then pools in file order).
// Existing nodes keep their address from `existing`; new workers get the lowest address from .2.1
// up that no existing node holds (skipping .0 and .255). Fails when the mesh is full.
Result<std::vector<NodePlan>> PlanNodes(const spec::FleetSpec& fleet, const Assignments& existing);

// The same with the homelab made of `homelab_members` (the provider hosting the homelab names
// them: a Kubernetes cluster's joining nodes), one homelab node each, named after the member.
// The first holds homelab.mesh_ip; the others keep their recorded address, or take the lowest
// free one in the homelab's .1.x. Empty: the one node "homelab", as above. Fails for a name that
// is not a node id (1-63 of [a-z0-9._-]), is given twice, or is a lighthouse or worker's name.
Result<std::vector<NodePlan>> PlanNodes(const spec::FleetSpec& fleet, const Assignments& existing,
                                        const std::vector<std::string>& homelab_members);

// The lighthouse's mesh address: the mesh network + 0.1.
uint32_t LighthouseIp(const spec::FleetSpec& fleet);

}  // namespace carrierarr::mesh

#endif  // CARRIERARR_MESH_ADDRESS_PLAN_H_
