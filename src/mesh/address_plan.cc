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
  nodes.push_back(homelab);

  std::set<uint32_t> taken{lighthouse.mesh_ip, homelab.mesh_ip};
  for (const auto& [name, ip] : existing) taken.insert(ip);
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
      NodePlan worker{.name = pool.name + "-" + std::to_string(i),
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
