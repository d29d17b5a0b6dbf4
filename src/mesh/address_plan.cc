#include "mesh/address_plan.h"

#include <algorithm>
#include <set>

#include "core/enum_table.h"

namespace carrierarr::mesh {
namespace {

void AddGroups(std::vector<std::string>& out, const std::vector<std::string>& more) {
  for (const auto& g : more) {
    if (std::find(out.begin(), out.end(), g) == out.end()) out.push_back(g);
  }
}

constexpr EnumName<Role> kRoleNames[] = {
    {Role::kLighthouse, "lighthouse"},
    {Role::kHomelab, "homelab"},
    {Role::kWorker, "worker"},
};
static_assert(IsEnumTable(kRoleNames, Role::kWorker));

}  // namespace

std::string_view RoleName(Role role) { return EnumNameOr(kRoleNames, role, "?"); }

uint32_t LighthouseIp(const spec::FleetSpec& fleet) { return fleet.mesh.cidr.Network() | 0x0001; }

Result<std::vector<NodePlan>> PlanNodes(const spec::FleetSpec& fleet, const Assignments& existing) {
  return PlanNodes(fleet, existing, {});
}

namespace {

bool IsNodeId(const std::string& s) {
  return !s.empty() && s.size() <= 63 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

// One homelab node per member: the first on homelab.mesh_ip, the others on their recorded
// address or the lowest free one of the homelab's /24. `taken` gains what they hold.
Result<std::vector<NodePlan>> PlanMembers(const spec::FleetSpec& fleet, const Assignments& existing,
                                          const std::vector<std::string>& members,
                                          std::set<uint32_t>& taken) {
  const uint32_t site = fleet.homelab.mesh_ip & 0xffffff00;
  std::vector<NodePlan> out;
  std::set<std::string> seen;
  for (const auto& name : members) {
    if (!IsNodeId(name)) {
      return Status::InvalidArgument("homelab node '" + name +
                                     "' cannot be a mesh node: node names must be 1-63 of "
                                     "[a-z0-9._-]; leave it out with a node selector");
    }
    if (!seen.insert(name).second) {
      return Status::InvalidArgument("homelab node '" + name + "' is listed twice");
    }
    NodePlan node{.name = name,
                  .role = Role::kHomelab,
                  .provider = fleet.homelab.provider,
                  .groups = {"homelab"}};
    AddGroups(node.groups, fleet.homelab.groups);
    out.push_back(node);
  }
  out.front().mesh_ip = fleet.homelab.mesh_ip;
  for (auto& node : out) {
    if (node.mesh_ip != 0) continue;
    auto it = existing.find(node.name);
    if (it != existing.end() && (it->second & 0xffffff00) == site &&
        it->second != fleet.homelab.mesh_ip) {
      node.mesh_ip = it->second;
    }
  }
  for (const auto& node : out) taken.insert(node.mesh_ip);
  for (auto& node : out) {
    for (uint32_t low = 1; node.mesh_ip == 0 && low < 255; ++low) {
      if (taken.insert(site | low).second) node.mesh_ip = site | low;
    }
    if (node.mesh_ip == 0) {
      return Status::FailedPrecondition("the homelab's " + FormatIpv4(site) +
                                        "/24 has no free address left for " + node.name);
    }
  }
  return out;
}

}  // namespace

Result<std::vector<NodePlan>> PlanNodes(const spec::FleetSpec& fleet, const Assignments& existing,
                                        const std::vector<std::string>& homelab_members) {
  std::vector<NodePlan> nodes;
  NodePlan lighthouse{.name = "lighthouse",
                      .role = Role::kLighthouse,
                      .provider = fleet.lighthouse.provider,
                      .mesh_ip = LighthouseIp(fleet),
                      .groups = {"lighthouse"}};
  nodes.push_back(lighthouse);
  NodePlan homelab{.name = "homelab",
                   .role = Role::kHomelab,
                   .provider = fleet.homelab.provider,
                   .mesh_ip = fleet.homelab.mesh_ip,
                   .groups = {"homelab"}};
  AddGroups(homelab.groups, fleet.homelab.groups);

  std::set<uint32_t> taken{lighthouse.mesh_ip, homelab.mesh_ip};
  for (const auto& [name, ip] : existing) {
    // A member's recorded address is its own again (PlanMembers decides).
    if (std::find(homelab_members.begin(), homelab_members.end(), name) == homelab_members.end())
      taken.insert(ip);
  }
  if (homelab_members.empty()) {
    nodes.push_back(homelab);
  } else {
    auto members = PlanMembers(fleet, existing, homelab_members, taken);
    if (!members.ok()) return members.status();
    for (auto& m : *members) nodes.push_back(std::move(m));
  }
  const Ipv4Net& mesh = fleet.mesh.cidr;
  uint32_t next = mesh.Network() | 0x0201;  // .2.1
  const uint32_t last = mesh.Network() | ~mesh.mask;
  auto allocate = [&]() -> Result<uint32_t> {
    for (; next < last; ++next) {
      uint32_t low = next & 0xff;
      if (low == 0 || low == 255 || taken.count(next) != 0) continue;
      taken.insert(next);
      return next++;
    }
    return Status::FailedPrecondition("mesh " + mesh.ToString() +
                                      " has no free worker address left");
  };

  for (const auto& pool : fleet.pools) {
    for (int i = 1; i <= pool.count; ++i) {
      NodePlan worker{.name = WorkerName(pool.name, i),
                      .role = Role::kWorker,
                      .pool = pool.name,
                      .pool_type = pool.type,
                      .provider = pool.provider,
                      .groups = {"workers"}};
      if (pool.type == spec::PoolType::kGpuWorker) worker.groups.push_back("gpu-compute");
      AddGroups(worker.groups, pool.groups);
      nodes.push_back(worker);
    }
  }
  for (const auto& name : homelab_members) {
    for (const auto& node : nodes) {
      if (node.role != Role::kHomelab && node.name == name) {
        return Status::InvalidArgument("homelab node '" + name + "' has the name of the fleet's " +
                                       std::string(RoleName(node.role)) +
                                       " node; rename it or leave it out with a node selector");
      }
    }
  }
  // Existing workers first keep their addresses; new ones then take the lowest free ones.
  for (auto& node : nodes) {
    if (node.role != Role::kWorker) continue;
    auto it = existing.find(node.name);
    if (it != existing.end() && mesh.Contains(it->second)) node.mesh_ip = it->second;
  }
  for (auto& node : nodes) {
    if (node.role != Role::kWorker || node.mesh_ip != 0) continue;
    auto ip = allocate();
    if (!ip.ok()) return ip.status();
    node.mesh_ip = *ip;
  }
  return nodes;
}

}  // namespace carrierarr::mesh
