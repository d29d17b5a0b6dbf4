// `carrierarr status`: what exists, read back from the state and from reality.
#include <future>

#include "ops/fleet_ops.h"
#include "providers/local/local_provider.h"
#include "providers/local/netns.h"

namespace carrierarr::ops {

Result<FleetStatus> ReadFleetStatus(const FleetContext& ctx) {
  auto state = ReadState(ctx);
  if (!state.ok()) return state.status();
  FleetStatus out;
  out.fleet = ctx.spec.name;
  out.deployed = !state->resources.empty();
  auto desired = BuildDesired(ctx, *state);
  if (!desired.ok()) return desired.status();
  if (!out.deployed) {
    for (const auto& n : desired->nodes) {
      out.nodes.push_back({.name = n.name,
                           .role = std::string(mesh::RoleName(n.role)),
                           .provider = n.provider,
                           .mesh_ip = FormatIpv4(n.mesh_ip),
                           .problem = "not created; run 'carrierarr up'"});
    }
    return out;
  }
  // Round trips are measured from inside the nodes' namespaces, which takes root.
  CARRIERARR_RETURN_IF_ERROR(local::CheckNetnsSupport());
  const uint32_t lighthouse = desired->nodes[0].mesh_ip;
  const uint32_t homelab = desired->nodes[1].mesh_ip;
  std::vector<std::future<NodeStatus>> futures;
  for (const auto& node : desired->nodes) {
    auto rec = state->resources.find("nebula/" + node.name);
    nlohmann::json attrs = rec == state->resources.end() ? nlohmann::json() : rec->second.attrs;
    std::string underlay = desired->ProviderFor(node).UnderlayAddress(ctx.spec, node);
    futures.push_back(std::async(std::launch::async, [&ctx, node, attrs, underlay, lighthouse,
                                                      homelab] {
      NodeStatus s{.name = node.name,
                   .role = std::string(mesh::RoleName(node.role)),
                   .provider = node.provider,
                   .mesh_ip = FormatIpv4(node.mesh_ip),
                   .underlay_ip = underlay};
      if (attrs.is_null()) {
        s.problem = "not created; run 'carrierarr up'";
        return s;
      }
      local::ProcessInfo p = local::ObserveNebula(attrs);
      s.running = p.running;
      s.pid = p.pid;
      if (!s.running) {
        s.problem = "nebula is not running; see " +
                    attrs.value("log_path", std::string("its log")) +
                    ", then 'carrierarr up' restarts it";
        return s;
      }
      std::string ns = local::NodeNamespace(ctx.spec.name, node.name);
      auto ping = [&](uint32_t target) -> std::optional<double> {
        if (target == node.mesh_ip) return 0.0;
        auto rtt = local::Ping(ns, target, std::chrono::milliseconds(1000));
        if (!rtt.ok()) return std::nullopt;
        return rtt->count() / 1000.0;
      };
      s.rtt_lighthouse_ms = ping(lighthouse);
      s.rtt_homelab_ms = ping(homelab);
      s.healthy = s.rtt_lighthouse_ms.has_value() && s.rtt_homelab_ms.has_value();
      if (!s.healthy) {
        s.problem = std::string("no answer over the mesh from the ") +
                    (s.rtt_lighthouse_ms ? "homelab" : "lighthouse") + "; run 'carrierarr doctor'";
      }
      return s;
    }));
  }
  for (auto& f : futures) out.nodes.push_back(f.get());
  return out;
}

}  // namespace carrierarr::ops
