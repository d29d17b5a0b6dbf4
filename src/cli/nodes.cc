// `carrierarr nodes [get ID | delete ID]`: the nodes registered with the control plane.
#include <map>
#include <nlohmann/json.hpp>

#include "cli/client_command.h"
#include "cli/client_commands.h"
#include "cli/client_output.h"

namespace carrierarr::cli {
namespace {

using Stub = carrierarr::v1::Fleet::Stub;

constexpr char kNodesUsage[] =
    "Usage: carrierarr nodes [flags]              list the registered nodes\n"
    "       carrierarr nodes get ID [flags]       one node in detail, with its last status\n"
    "       carrierarr nodes delete ID [flags]    forget a node (it must enroll again)\n\n"
    "Flags:\n";

using Rows = std::vector<std::vector<std::string>>;

std::string Capacity(const ec2agent::v1::NodeCapabilities& cap) {
  std::string caps = std::to_string(cap.cpu_cores()) + " cores, " +
                     std::to_string(cap.memory_mb()) + " MiB memory, " +
                     std::to_string(cap.disk_mb()) + " MiB disk";
  if (cap.gpu_count() > 0 || cap.has_gpu())
    caps += ", " + std::to_string(cap.gpu_count()) + " x " +
            (cap.gpu_model().empty() ? "GPU" : cap.gpu_model()) + " (" +
            std::to_string(cap.gpu_memory_mb()) + " MiB)";
  return caps;
}

// The rows of a node's last status. Values come from the agent: printed escaped.
void AddStatusRows(const ec2agent::v1::NodeStatus& s, Rows& rows) {
  auto row = [&](const std::string& k, const std::string& v) {
    if (!v.empty()) rows.push_back({k + ":", Printable(v)});
  };
  const auto& r = s.resources();
  row("health", HealthText(s.health()) +
                    (s.has_timestamp() ? " (as of " + UtcTime(s.timestamp().seconds()) + ")" : ""));
  row("cpu", Percent(r.cpu_percent()) + "%");
  row("memory", std::to_string(r.memory_used_mb()) + " / " + std::to_string(r.memory_total_mb()) +
                    " MiB (" + MemPercent(r) + "%)");
  row("disk",
      std::to_string(r.disk_used_mb()) + " / " + std::to_string(r.disk_total_mb()) + " MiB");
  // An idle time longer than the uptime is a placeholder (the original agent's, before its
  // first request), not a measurement.
  row("uptime", std::to_string(s.uptime_seconds()) + "s, idle " +
                    (s.idle_seconds() >= 0 && s.idle_seconds() <= s.uptime_seconds()
                         ? std::to_string(s.idle_seconds()) + "s"
                         : "unknown"));
  row("nebula", ServiceText(s.nebula()));
  row("k3s", ServiceText(s.k3s()));
  row("ollama", ServiceText(s.ollama()));
  row("liqo", ServiceText(s.liqo()));
  for (const auto& g : s.gpus())
    row("gpu " + std::to_string(g.index()),
        g.name() + ": " + Percent(g.utilization_percent()) + "% busy, " +
            std::to_string(g.memory_used_mb()) + " / " + std::to_string(g.memory_total_mb()) +
            " MiB, " + std::to_string(g.temperature_c()) + " C");
  for (const auto& m : s.loaded_models())
    row("model", m.name() + (m.currently_loaded() ? " (in memory)" : " (on disk)") + ", " +
                     std::to_string(m.size_bytes() >> 20) + " MiB");
}

void PrintNodeDetails(const carrierarr::v1::Node& n, int64_t now_ms, std::ostream& out) {
  Rows rows;
  auto row = [&](const std::string& k, const std::string& v) {
    if (!v.empty()) rows.push_back({k + ":", Printable(v)});
  };
  row("node", n.node_id());
  row("type", NodeTypeName(n.node_type()));
  row("lifecycle", n.lifecycle());
  row("nebula ip", n.nebula_ip());
  row("public ip", n.public_ip());
  row("instance", n.instance_id());
  row("region", n.region() + (n.availability_zone().empty() ? "" : " / " + n.availability_zone()));
  std::string labels;
  for (const auto& [k, v] :
       std::map<std::string, std::string>(n.labels().begin(), n.labels().end()))
    labels += (labels.empty() ? "" : ", ") + k + "=" + v;
  row("labels", labels);
  row("capacity", Capacity(n.capabilities()));
  row("agent", n.agent_version());
  row("registered", UtcTime(n.registered_unix()));
  row("last seen", Ago(n.last_seen_unix_ms(), now_ms));
  if (n.has_last_status()) {
    AddStatusRows(n.last_status(), rows);
  } else {
    row("status", "none received yet");
  }
  PrintTable(out, rows);
}

void PrintNodeList(const carrierarr::v1::ListNodesResponse& response, int64_t now_ms,
                   std::ostream& out) {
  // MODELS: in memory / listed (on disk included).
  Rows rows = {
      {"NODE", "TYPE", "LIFECYCLE", "NEBULA IP", "CPU%", "MEM%", "GPUS", "MODELS", "LAST SEEN"}};
  for (const auto& n : response.nodes()) {
    const bool s = n.has_last_status();
    const auto& status = n.last_status();
    const int gpus =
        s && status.gpus_size() > 0 ? status.gpus_size() : n.capabilities().gpu_count();
    rows.push_back({Printable(n.node_id()), NodeTypeName(n.node_type()), n.lifecycle(),
                    n.nebula_ip().empty() ? "-" : Printable(n.nebula_ip()),
                    s ? Percent(status.resources().cpu_percent()) : "-",
                    s ? MemPercent(status.resources()) : "-", std::to_string(gpus),
                    s ? ModelCounts(status) : "-", Ago(n.last_seen_unix_ms(), now_ms)});
  }
  PrintTable(out, rows);
}

class NodesCommand final : public ClientCommand {
 public:
  CommandSpec Spec() const override { return {"nodes", "", kNodesUsage}; }

  Status Check(const ClientArgs& args) override {
    const auto& pos = args.positional;
    sub_ = pos.empty() ? "list" : pos[0];
    if ((sub_ == "list" && pos.size() > 1) ||
        ((sub_ == "get" || sub_ == "delete") && pos.size() != 2))
      return Status::InvalidArgument("wrong number of arguments for \"nodes " + sub_ + "\"");
    if (sub_ != "list" && sub_ != "get" && sub_ != "delete")
      return Status::InvalidArgument("unknown nodes subcommand \"" + sub_ +
                                     "\" (list, get, delete)");
    return Status::Ok();
  }

  int Run(Client& client, const ClientArgs& args, const Invocation& invocation) override {
    if (sub_ == "get") return Get(client, args.positional[1], invocation);
    if (sub_ == "delete") return Delete(client, args.positional[1], invocation);
    return List(client, invocation);
  }

 private:
  int Get(Client& client, const std::string& id, const Invocation& invocation) {
    carrierarr::v1::GetNodeRequest request;
    request.set_node_id(id);
    carrierarr::v1::Node node;
    if (int failed = client.Call(&Stub::GetNode, request, &node, invocation.err)) return failed;
    if (flags().json)
      invocation.out << ProtoJson(node) << "\n";
    else
      PrintNodeDetails(node, invocation.seams.time->NowMs(), invocation.out);
    return kExitOk;
  }

  int Delete(Client& client, const std::string& id, const Invocation& invocation) {
    carrierarr::v1::DeleteNodeRequest request;
    request.set_node_id(id);
    carrierarr::v1::DeleteNodeResponse response;
    int failed = client.Call(&Stub::DeleteNode, request, &response, invocation.err);
    if (failed == kExitOk)
      PrintDone(invocation.out, flags().json, "node_id", id, "deleted", "node");
    return failed;
  }

  int List(Client& client, const Invocation& invocation) {
    carrierarr::v1::ListNodesResponse response;
    if (int failed = client.Call(&Stub::ListNodes, carrierarr::v1::ListNodesRequest(), &response,
                                 invocation.err))
      return failed;
    if (flags().json) {
      invocation.out << ProtoJson(response) << "\n";
    } else if (response.nodes().empty()) {
      invocation.err << "no nodes registered yet (enroll agents with a token from 'carrierarr "
                        "tokens create')\n";
    } else {
      PrintNodeList(response, invocation.seams.time->NowMs(), invocation.out);
    }
    return kExitOk;
  }

  std::string sub_;
};

}  // namespace

int RunNodes(const Invocation& invocation) { return RunClientCommand<NodesCommand>(invocation); }

}  // namespace carrierarr::cli
