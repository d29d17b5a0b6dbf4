// `carrierarr status`: every node with its role, addresses, process and the measured round trip
// over the mesh to the lighthouse and to the homelab node; then the cloud cluster's (k3s) nodes
// as the k3s server's agent reports them.
#include "cli/status.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "burst/readiness.h"
#include "burst/spend.h"
#include "cli/commands.h"
#include "cli/fleet_command.h"

namespace carrierarr::cli {
namespace {

std::string Ms(const std::optional<double>& v) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f ms", *v);
  return buf;
}

// The node whose agent reports the cloud cluster (the k3s server), or null.
const ops::NodeStatus* ClusterReporter(const ops::FleetStatus& status) {
  for (const auto& n : status.nodes)
    if (!n.agent.cluster.empty()) return &n;
  return nullptr;
}

nlohmann::json ClusterJson(const ops::NodeStatus& reporter) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& c : reporter.agent.cluster) {
    nodes.push_back({{"name", c.name},
                     {"ready", c.ready},
                     {"reason", c.reason},
                     {"message", c.message},
                     {"roles", c.roles},
                     {"internal_ip", c.internal_ip},
                     {"explanation", ops::ExplainK3sNode(c)}});
  }
  return {{"reported_by", reporter.name}, {"nodes", nodes}};
}

class StatusCommand final : public FleetCommand {
 public:
  CommandSpec Spec() const override {
    return {"status", "Shows every node of the fleet and how it is doing.",
            "carrierarr status [-f fleet.yaml] [--json]"};
  }
  Preamble preamble() const override { return {.aws_flags = true, .json_usage = "print JSON"}; }

  int Run(ops::FleetContext* ctx, const Invocation& invocation) override {
    auto status = ops::ReadFleetStatus(*ctx);
    if (!status.ok()) return Fail(invocation.err, status.status());
    int healthy = 0;
    for (const auto& n : status->nodes) healthy += n.healthy ? 1 : 0;
    if (json())
      PrintStatusJson(*status, healthy, invocation.out);
    else
      PrintStatusText(*status, healthy, invocation.out);
    return healthy == static_cast<int>(status->nodes.size()) ? kExitOk : kExitFailure;
  }
};

}  // namespace

void PrintStatusJson(const ops::FleetStatus& status, int healthy, std::ostream& out) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& n : status.nodes) {
    nlohmann::json j{{"name", n.name},
                     {"role", n.role},
                     {"provider", n.provider},
                     {"mesh_ip", n.mesh_ip},
                     {"underlay_ip", n.underlay_ip},
                     {"running", n.running},
                     {"healthy", n.healthy}};
    if (n.pid != 0) j["pid"] = n.pid;
    j["rtt_lighthouse_ms"] =
        n.rtt_lighthouse_ms ? nlohmann::json(*n.rtt_lighthouse_ms) : nlohmann::json();
    j["rtt_homelab_ms"] = n.rtt_homelab_ms ? nlohmann::json(*n.rtt_homelab_ms) : nlohmann::json();
    if (!n.detail.empty()) j["detail"] = n.detail;
    if (!n.problem.empty()) j["problem"] = n.problem;
    if (!n.agent.lifecycle.empty()) {
      j["agent"] = {{"lifecycle", n.agent.lifecycle},
                    {"health", n.agent.health},
                    {"cpu_percent", n.agent.cpu_percent},
                    {"memory_percent", n.agent.memory_percent},
                    {"gpus", n.agent.gpus}};
    }
    if (!n.ladder.empty()) {
      nlohmann::json rungs = nlohmann::json::array();
      for (const auto& r : n.ladder) rungs.push_back({{"rung", r.name}, {"reached", r.reached}});
      j["readiness"] = {{"summary", burst::LadderSummary(n.ladder)}, {"ladder", rungs}};
    }
    nodes.push_back(j);
  }
  nlohmann::json j{{"fleet", status.fleet},
                   {"deployed", status.deployed},
                   {"healthy", healthy},
                   {"nodes", nodes},
                   {"agents_problem", status.agents_problem}};
  if (const ops::NodeStatus* reporter = ClusterReporter(status))
    j["cloud_cluster"] = ClusterJson(*reporter);
  if (!status.pools.empty() || !status.pools_problem.empty()) {
    nlohmann::json pools = nlohmann::json::array();
    for (const auto& p : status.pools)
      pools.push_back({{"pool", p.name},
                       {"min", p.min},
                       {"max", p.max},
                       {"running", p.running},
                       {"pending", p.pending},
                       {"spent_today_micro_usd", p.spent_today},
                       {"spent_month_micro_usd", p.spent_month},
                       {"forecast_day_micro_usd", p.forecast_day}});
    j["pools"] = pools;
    j["pools_problem"] = status.pools_problem;
  }
  if (!status.federation.mode.empty()) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& i : status.federation.items)
      items.push_back({{"what", i.what}, {"ok", i.ok}, {"detail", i.detail}});
    nlohmann::json sync = nlohmann::json::array();
    for (const auto& m : status.federation.sync) {
      sync.push_back({{"local", m.local},
                      {"remote", m.remote},
                      {"ok", m.ok()},
                      {"agents", m.agents},
                      {"agents_connected", m.agents_connected},
                      {"agents_total", m.agents_total},
                      {"clusters_connected", m.clusters_connected},
                      {"clusters_total", m.clusters_total},
                      {"nodes", m.nodes},
                      {"endpoints", m.endpoints},
                      {"identities", m.identities},
                      {"problem", m.problem}});
    }
    j["federation"] = {{"mode", status.federation.mode},
                       {"waiting", status.federation.waiting},
                       {"items", items},
                       {"clustermesh_sync", sync}};
  }
  // Agent text may hold anything: invalid UTF-8 is replaced, never a reason to fail.
  out << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

namespace {

std::string Count(int64_t n) { return n < 0 ? "-" : std::to_string(n); }

// The seeds' ClusterMesh sync table: per direction, the agents connected to the other cluster,
// the clusters each agent is connected to, and what they synced; then any problem.
void PrintMeshSync(const std::vector<federation::MeshSync>& sync, std::ostream& out) {
  if (sync.empty()) return;
  std::vector<std::vector<std::string>> rows = {
      {"", "direction", "agents", "clusters", "nodes", "endpoints", "identities"}};
  for (const auto& m : sync) {
    std::string agents = std::to_string(m.agents_connected) + "/" + std::to_string(m.agents);
    if (m.agents_total > m.agents) agents += " (of " + std::to_string(m.agents_total) + ")";
    rows.push_back({m.ok() ? "ok" : "FAIL", m.remote + " -> " + m.local, agents,
                    Count(m.clusters_connected) + "/" + Count(m.clusters_total), Count(m.nodes),
                    Count(m.endpoints), Count(m.identities)});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  out << "\n  ClusterMesh sync (what each cluster's Cilium agents have of the other):\n";
  for (const auto& row : rows) {
    out << " ";
    for (size_t c = 0; c < row.size(); ++c) {
      out << " " << row[c];
      if (c + 1 < row.size()) out << std::string(width[c] - row[c].size(), ' ');
    }
    out << "\n";
  }
  for (const auto& m : sync)
    if (!m.problem.empty())
      out << "  " << m.remote << " -> " << m.local << ": " << m.problem << "\n";
}

// "federation (liqo):" and one line per item: ok or FAIL, what, detail.
void PrintFederation(const federation::FederationView& view, std::ostream& out) {
  if (view.mode.empty()) return;
  out << "\nfederation (" << view.mode << "):\n";
  if (!view.waiting.empty()) out << "  waiting: " << view.waiting << "\n";
  size_t width = 0;
  for (const auto& i : view.items) width = std::max(width, i.what.size());
  for (const auto& i : view.items) {
    out << "  " << (i.ok ? "ok  " : "FAIL") << "  " << i.what
        << std::string(width - i.what.size(), ' ') << "  " << i.detail << "\n";
  }
  PrintMeshSync(view.sync, out);
}

// "readiness:" and where each worker is on its ladder (burst/readiness.h).
void PrintReadiness(const ops::FleetStatus& status, std::ostream& out) {
  if (!status.deployed) return;
  size_t width = 0;
  for (const auto& n : status.nodes)
    if (!n.ladder.empty()) width = std::max(width, n.name.size());
  if (width == 0) return;
  out << "\nreadiness:\n";
  for (const auto& n : status.nodes) {
    if (n.ladder.empty()) continue;
    size_t reached = 0;
    for (const auto& r : n.ladder) reached += r.reached ? 1 : 0;
    out << "  " << n.name << std::string(width - n.name.size(), ' ') << "  " << reached << "/"
        << n.ladder.size() << "  " << burst::LadderSummary(n.ladder) << "\n";
  }
}

}  // namespace

// "pools:" and one line per scaled pool: what runs and what it has cost (UTC).
void PrintPools(const ops::FleetStatus& status, std::ostream& out) {
  if (status.pools.empty() && status.pools_problem.empty()) return;
  out << "\npools:\n";
  for (const auto& p : status.pools) {
    std::string running;
    for (const auto& n : p.running) running += (running.empty() ? "" : ", ") + n;
    out << "  " << p.name << " (" << p.min << ".." << p.max
        << "): " << (running.empty() ? "asleep" : "woken: " + running)
        << (p.pending > 0 ? "; " + std::to_string(p.pending) + " under way" : "") << "; spent "
        << burst::FormatUsd(p.spent_today) << " today, " << burst::FormatUsd(p.spent_month)
        << " this month (UTC); forecast " << burst::FormatUsd(p.forecast_day) << " today\n";
  }
  if (!status.pools_problem.empty()) out << "  " << status.pools_problem << "\n";
}

void PrintStatusText(const ops::FleetStatus& status, int healthy, std::ostream& out) {
  out << "Fleet '" << status.fleet << "': " << healthy << "/" << status.nodes.size()
      << " nodes healthy" << (status.deployed ? "" : " (not deployed; run 'carrierarr up')")
      << "\n\n";
  char line[256];
  std::snprintf(line, sizeof(line), "%-14s %-10s %-12s %-15s %-19s %-10s %-10s %-10s %-22s %s\n",
                "NODE", "ROLE", "MESH IP", "UNDERLAY IP", "PROCESS", "RTT LH", "RTT HOME", "HEALTH",
                "AGENT", "CPU/MEM");
  out << line;
  for (const auto& n : status.nodes) {
    // A namespace's nebula by pid; a cloud node by its instance id.
    std::string process = n.pid != 0          ? "nebula " + std::to_string(n.pid)
                          : !n.detail.empty() ? n.detail.substr(0, n.detail.find(' '))
                                              : "stopped";
    std::string agent =
        n.agent.lifecycle.empty()
            ? "-"
            : n.agent.lifecycle + (n.agent.health.empty() ? "" : " " + n.agent.health);
    char usage[48] = "-";
    if (!n.agent.lifecycle.empty())
      std::snprintf(usage, sizeof usage, "%.0f%%/%.0f%%%s", n.agent.cpu_percent,
                    n.agent.memory_percent,
                    n.agent.gpus > 0 ? (" " + std::to_string(n.agent.gpus) + " GPU").c_str() : "");
    std::snprintf(line, sizeof(line), "%-14s %-10s %-12s %-15s %-19s %-10s %-10s %-10s %-22s %s\n",
                  n.name.c_str(), n.role.c_str(), n.mesh_ip.c_str(),
                  n.underlay_ip.empty() ? "-" : n.underlay_ip.c_str(), process.c_str(),
                  Ms(n.rtt_lighthouse_ms).c_str(), Ms(n.rtt_homelab_ms).c_str(),
                  n.healthy ? "healthy" : "unhealthy", agent.c_str(), usage);
    out << line;
  }
  for (const auto& n : status.nodes) {
    if (!n.problem.empty() && status.deployed) out << "  " << n.name << ": " << n.problem << "\n";
  }
  if (status.deployed && !status.agents_problem.empty())
    out << "  agents: " << status.agents_problem << "\n";
  if (const ops::NodeStatus* reporter = ClusterReporter(status))
    out << "\n" << ops::RenderCloudCluster(reporter->agent.cluster);
  PrintReadiness(status, out);
  PrintPools(status, out);
  PrintFederation(status.federation, out);
}

int RunStatus(const Invocation& invocation) { return RunFleetCommand<StatusCommand>(invocation); }

}  // namespace carrierarr::cli
