// `carrierarr status`: what exists, read back from the state and from reality.
#include <algorithm>
#include <cstdlib>
#include <map>

#include "core/subprocess.h"
#include "ops/fleet_ops.h"
#include "provision/plan.h"

namespace carrierarr::ops {

namespace {

// A string of an agent's report as `status` may print it on a terminal: no control characters
// (an escape sequence from a node's name or message would act on the terminal).
std::string Plain(const nlohmann::json& n, const char* key) {
  std::string s = n.value(key, "");
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return s;
}

// NodeStatus.k3s_cluster_nodes in protobuf's JSON mapping (proto field names).
std::vector<K3sClusterNode> ClusterNodes(const nlohmann::json& status) {
  std::vector<K3sClusterNode> out;
  const auto nodes = status.value("k3s_cluster_nodes", nlohmann::json::array());
  if (!nodes.is_array()) return out;
  for (const auto& n : nodes) {
    if (!n.is_object()) continue;
    out.push_back({.name = Plain(n, "name"),
                   .ready = n.value("ready", false),
                   .reason = Plain(n, "reason"),
                   .message = Plain(n, "message"),
                   .roles = Plain(n, "roles"),
                   .internal_ip = Plain(n, "internal_ip"),
                   .gpu_allocatable = n.value("gpu_allocatable", 0)});
  }
  return out;
}

// `carrierarr-fleet COMMAND --json` against the fleet's control plane (this binary does not
// link gRPC): its JSON document.
Result<nlohmann::json> AskControlPlane(const FleetContext& ctx, const std::string& command) {
  auto fleet = FindOwnProgram("carrierarr-fleet");
  if (!fleet) return Status::NotFound("carrierarr-fleet is not installed next to carrierarr");
  const std::string control = ctx.paths.state_dir + "/control";
  auto run = ctx.seams.processes->Run(
      {*fleet, command, "--json", "--server", "unix:" + control + "/serve.sock",
       "--admin-token-file", control + "/admin.token"},
      {.timeout = std::chrono::seconds(10)});
  if (!run.ok()) return run.status();
  if (run->exit_code != 0) return Status::Unavailable(run->err);
  auto json = nlohmann::json::parse(run->out, nullptr, false);
  if (json.is_discarded())
    return Status::DataLoss("carrierarr-fleet " + command + " --json: not JSON");
  return json;
}

// The agents' reports, from the control plane's admin API. Node name -> report.
Result<std::map<std::string, NodeStatus::Agent>> AgentReports(const FleetContext& ctx) {
  CARRIERARR_ASSIGN_OR_RETURN(nlohmann::json json, AskControlPlane(ctx, "nodes"));
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
    auto state = [&](const char* service) {
      return status.value(service, nlohmann::json::object()).value("state", "");
    };
    a.nebula_running = state("nebula") == "SERVICE_STATE_RUNNING";
    const auto models = status.value("loaded_models", nlohmann::json::array());
    a.ollama_up = state("ollama") == "SERVICE_STATE_RUNNING" || !models.empty();
    for (const auto& m : models)
      if (m.is_object() && m.value("currently_loaded", false))
        a.loaded_models.insert(Plain(m, "name"));
    a.cluster = ClusterNodes(status);
    out[n.value("node_id", "")] = a;
  }
  return out;
}

// The scaled pools as the control plane's burst controller reports them.
Result<std::vector<FleetStatus::Pool>> PoolReports(const FleetContext& ctx) {
  CARRIERARR_ASSIGN_OR_RETURN(nlohmann::json json, AskControlPlane(ctx, "pools"));
  std::vector<FleetStatus::Pool> out;
  for (const auto& p : json.value("pools", nlohmann::json::array())) {
    FleetStatus::Pool pool{
        .name = Plain(p, "pool"),
        .min = p.value("min", 0),
        .max = p.value("max", 0),
        .pending = static_cast<int>(p.value("pending", nlohmann::json::array()).size()),
        .spent_today = p.value("spent_today_micro_usd", spec::MicroUsd{0}),
        .spent_month = p.value("spent_month_micro_usd", spec::MicroUsd{0}),
        .forecast_day = p.value("forecast_day_micro_usd", spec::MicroUsd{0})};
    for (const auto& n : p.value("running", nlohmann::json::array()))
      if (n.is_string()) pool.running.push_back(n.get<std::string>());
    out.push_back(std::move(pool));
  }
  return out;
}

// Each worker's readiness ladder. GPU allocatable comes from the k3s server's report of its
// cluster, where there is one.
void AddLadders(const spec::FleetSpec& fleet, const Desired& desired, FleetStatus& out) {
  std::map<std::string, int> allocatable;
  for (const NodeStatus& s : out.nodes)
    for (const K3sClusterNode& k : s.agent.cluster) allocatable[k.name] = k.gpu_allocatable;
  for (size_t i = 0; i < out.nodes.size(); ++i) {
    const mesh::NodePlan& node = desired.nodes[i];
    const spec::PoolSpec* pool = nullptr;
    for (const auto& p : fleet.pools)
      if (p.name == node.pool) pool = &p;
    if (pool == nullptr) continue;
    NodeStatus& s = out.nodes[i];
    burst::NodeFacts facts{.running = s.running,
                           .lifecycle = s.agent.lifecycle,
                           // Its agent reaches the control plane over the mesh.
                           .mesh_up = s.agent.nebula_running || s.agent.lifecycle == "connected",
                           .gpus = s.agent.gpus,
                           .ollama_up = s.agent.ollama_up,
                           .loaded = s.agent.loaded_models};
    if (auto a = allocatable.find(node.name); a != allocatable.end())
      facts.gpus_allocatable = a->second;
    s.ladder = burst::Ladder(*pool, facts);
  }
}

// What GPU burst adds to a deployed fleet's status: its stopped nodes marked as stopped on
// purpose, and the scaled pools as the control plane reports them.
void AddBurstViews(const FleetContext& ctx, const Desired& desired,
                   const provision::FleetState& state, FleetStatus& out) {
  // Stopped on purpose: a scaled pool's node the burst controller has not woken.
  for (size_t i = 0; i < out.nodes.size(); ++i) {
    const mesh::NodePlan& node = desired.nodes[i];
    auto rec = state.resources.find(desired.ProviderFor(node).RunningResourceId(node));
    if (rec == state.resources.end() || !provision::IsPoweredOff(rec->second)) continue;
    NodeStatus& s = out.nodes[i];
    s.healthy = true;
    s.problem.clear();
    s.detail = "stopped (scaled to zero; carrierarr wake " + node.pool + ")";
    // What the control plane last heard is of the run before: not shown as if it were now.
    s.agent = {};
  }
  const bool scaled = std::any_of(ctx.spec.pools.begin(), ctx.spec.pools.end(),
                                  [](const auto& p) { return p.scaling.enabled; });
  if (!scaled) return;
  auto pools = PoolReports(ctx);
  if (pools.ok()) {
    out.pools = std::move(*pools);
  } else {
    out.pools_problem = "no pool reports: " + pools.status().message();
  }
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
  // Each provider reads its own nodes back at once (pings run in parallel, one cloud call).
  std::map<std::string, std::vector<mesh::NodePlan>> by_provider;
  for (const auto& node : desired->nodes) by_provider[node.provider].push_back(node);
  // Reading nodes back may need this machine's help (root, to measure round trips from inside
  // namespaces).
  for (const auto& [provider, nodes] : by_provider) {
    CARRIERARR_RETURN_IF_ERROR(desired->providers.at(provider)->CheckEnvironment());
  }
  const uint32_t lighthouse = desired->nodes[0].mesh_ip;
  const uint32_t homelab = desired->nodes[1].mesh_ip;
  std::map<std::string, providers::NodeObservation> seen;
  for (const auto& [provider, nodes] : by_provider) {
    auto observed =
        desired->providers.at(provider)->ObserveNodes(ctx.spec, *state, nodes, lighthouse, homelab);
    seen.insert(observed.begin(), observed.end());
  }
  std::vector<NodeStatus> statuses;
  for (const auto& node : desired->nodes) {
    const providers::NodeObservation& o = seen[node.name];
    NodeStatus s{.name = node.name,
                 .role = std::string(mesh::RoleName(node.role)),
                 .provider = node.provider,
                 .mesh_ip = FormatIpv4(node.mesh_ip),
                 .underlay_ip = o.underlay,
                 .running = o.running,
                 .pid = o.pid,
                 .rtt_lighthouse_ms = o.rtt_lighthouse_ms,
                 .rtt_homelab_ms = o.rtt_homelab_ms,
                 .detail = o.detail,
                 .problem = o.problem};
    if (s.running && o.mesh_checked) {
      s.healthy = s.rtt_lighthouse_ms.has_value() && s.rtt_homelab_ms.has_value();
      if (!s.healthy) {
        s.problem = std::string("no answer over the mesh from the ") +
                    (s.rtt_lighthouse_ms ? "homelab" : "lighthouse") + "; run 'carrierarr doctor'";
      }
    }
    statuses.push_back(std::move(s));
  }
  auto agents = AgentReports(ctx);
  if (!agents.ok()) out.agents_problem = "no agent reports: " + agents.status().message();
  for (auto& node_status : statuses) {
    out.nodes.push_back(std::move(node_status));
    NodeStatus& s = out.nodes.back();
    if (agents.ok()) {
      auto it = agents->find(s.name);
      if (it != agents->end()) s.agent = it->second;
    }
    // A node this machine cannot ping (a cloud instance) is vouched for by its agent, which
    // reaches the control plane over the mesh.
    if (s.running && !seen[s.name].mesh_checked) {
      s.healthy = s.agent.lifecycle == "connected";
      if (!s.healthy && s.problem.empty()) {
        s.problem = s.agent.lifecycle.empty()
                        ? "its agent has not registered over the mesh yet (first boot installs "
                          "nebula and the agent; see /var/log/carrierarr-bootstrap.log on it)"
                        : "its agent is " + s.agent.lifecycle;
      }
    }
  }
  AddBurstViews(ctx, *desired, *state, out);
  AddLadders(ctx.spec, *desired, out);
  out.federation = federation::ObserveFederation(FederationRequestFor(ctx, *desired));
  return out;
}

}  // namespace carrierarr::ops
