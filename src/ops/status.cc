// `carrierarr status`: what exists, read back from the state and from reality.
#include <cstdlib>
#include <future>
#include <map>

#include "core/subprocess.h"
#include "ops/fleet_ops.h"
#include "providers/local/local_provider.h"
#include "providers/local/netns.h"

namespace carrierarr::ops {

namespace {

// The agents' reports, from the control plane's admin API through `carrierarr-fleet nodes
// --json` (this binary does not link gRPC). Node name -> report.
Result<std::map<std::string, NodeStatus::Agent>> AgentReports(const FleetContext& ctx) {
  auto fleet = FindOwnProgram("carrierarr-fleet");
  if (!fleet) return Status::NotFound("carrierarr-fleet is not installed next to carrierarr");
  const std::string control = ctx.paths.state_dir + "/control";
  auto run = Run({*fleet, "nodes", "--json", "--server", "unix:" + control + "/serve.sock",
                  "--admin-token-file", control + "/admin.token"},
                 {.timeout = std::chrono::seconds(10)});
  if (!run.ok()) return run.status();
  if (run->exit_code != 0) return Status::Unavailable(run->err);
  auto json = nlohmann::json::parse(run->out, nullptr, false);
  if (json.is_discarded()) return Status::DataLoss("carrierarr-fleet nodes --json: not JSON");
  std::map<std::string, NodeStatus::Agent> out;
  for (const auto& n : json.value("nodes", nlohmann::json::array())) {
    NodeStatus::Agent a;
    a.lifecycle = n.value("lifecycle", "");
    const auto status = n.value("last_status", nlohmann::json::object());
    a.health = status.value("health", "");
    if (a.health.rfind("HEALTH_STATE_", 0) == 0) a.health = a.health.substr(13);
    const auto res = status.value("resources", nlohmann::json::object());
    a.cpu_percent = res.value("cpu_percent", 0.0);
    // int64 fields arrive as strings in protobuf's JSON mapping.
    auto number = [](const nlohmann::json& v) {
      if (v.is_number()) return v.get<double>();
      if (v.is_string()) return std::atof(v.get<std::string>().c_str());
      return 0.0;
    };
    double total = number(res.value("memory_total_mb", nlohmann::json()));
    if (total > 0)
      a.memory_percent = 100 * number(res.value("memory_used_mb", nlohmann::json())) / total;
    a.gpus = static_cast<int>(status.value("gpus", nlohmann::json::array()).size());
    out[n.value("node_id", "")] = a;
  }
  return out;
}

}  // namespace

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
  auto agents = AgentReports(ctx);
  if (!agents.ok()) out.agents_problem = "no agent reports: " + agents.status().message();
  for (auto& f : futures) {
    out.nodes.push_back(f.get());
    if (agents.ok()) {
      auto it = agents->find(out.nodes.back().name);
      if (it != agents->end()) out.nodes.back().agent = it->second;
    }
  }
  return out;
}

}  // namespace carrierarr::ops
