// `carrierarr kubeconfig [--node NAME] [--out PATH]`: the cloud cluster's kubeconfig, fetched
// from the k3s server node through its agent (FETCH_KUBECONFIG, over the mesh; no SSH), made to
// reach the server at its mesh address and kept 0600 in the fleet's state directory. It holds
// the cluster's admin key: it is written, never printed.
#include <nlohmann/json.hpp>

#include "cli/client_command.h"
#include "cli/client_commands.h"
#include "cli/client_output.h"
#include "ops/k3s_cluster.h"

namespace carrierarr::cli {
namespace {

constexpr char kKubeconfigUsage[] =
    "Usage: carrierarr kubeconfig [--node NAME] [--out PATH] [flags]\n\n"
    "Fetches the cloud cluster's (k3s) admin kubeconfig from the k3s server node through its\n"
    "agent, points it at the node's mesh address (https://MESH-IP:6443) and writes it, mode\n"
    "0600, to <fleet dir>/.carrierarr/k3s/kubeconfig (or --out). It is never printed.\n"
    "The k3s server node is the one whose agent reports the cloud cluster (in 'carrierarr\n"
    "status'), else the only lighthouse; --node names it. Its agent must run with\n"
    "--allow-kubeconfig-fetch (the AWS userdata sets it there).\n\nFlags:\n";

// How long the agent may take to read a file, and the wait for its answer beyond that.
constexpr int kFetchTimeoutSeconds = 30;
constexpr std::chrono::seconds kFetchWait{kFetchTimeoutSeconds + 45};

bool ReportsCluster(const carrierarr::v1::Node& n) {
  return n.last_status().k3s_cluster_nodes_size() > 0;
}

// The k3s server node among `nodes`: the one named, else the only one reporting a cluster,
// else the only lighthouse.
Result<carrierarr::v1::Node> FindServer(const carrierarr::v1::ListNodesResponse& nodes,
                                        const std::string& name) {
  std::vector<const carrierarr::v1::Node*> reporting, lighthouses;
  std::string all;
  for (const auto& n : nodes.nodes()) {
    if (!name.empty() && n.node_id() == name) return n;
    if (ReportsCluster(n)) reporting.push_back(&n);
    if (n.node_type() == ec2agent::v1::NODE_TYPE_LIGHTHOUSE) lighthouses.push_back(&n);
    all += (all.empty() ? "" : ", ") + Printable(n.node_id());
  }
  if (!name.empty())
    return Status::NotFound("no node " + Printable(name) + " is registered with the control plane" +
                            (all.empty() ? "" : " (nodes: " + all + ")"));
  if (reporting.size() == 1) return *reporting[0];
  if (reporting.empty() && lighthouses.size() == 1) return *lighthouses[0];
  return Status::NotFound(
      std::string(reporting.size() > 1 ? "several nodes report a cloud cluster"
                                       : "no node reports a cloud cluster") +
      ", so which one is the k3s server is not clear: name it with --node NAME" +
      (all.empty() ? " (no node is registered yet; is 'carrierarr up' done?)"
                   : " (nodes: " + all + ")"));
}

// The error of a failed FETCH_KUBECONFIG, in the operator's words.
std::string FetchFailure(const carrierarr::v1::CommandRecord& record) {
  const std::string node = Printable(record.node_id());
  const std::string said = Printable(record.result().error());
  if (record.state() == "queued" || record.state() == "sent")
    return "no answer from " + node +
           " in time: is its agent connected? ('carrierarr nodes' shows it)";
  if (record.state() == "timed_out") return "the agent on " + node + " did not answer in time";
  if (said.find("--allow-kubeconfig-fetch") != std::string::npos)
    return "the agent on " + node +
           " refuses to hand out the kubeconfig: start it with --allow-kubeconfig-fetch (the "
           "AWS userdata does so on the k3s server node)";
  if (said.find("unknown command type") != std::string::npos)
    return "the agent on " + node + " is too old for FETCH_KUBECONFIG (it said: " + said +
           "); update carrierarr-agent there";
  return "fetching the kubeconfig from " + node + " failed (" + record.state() +
         "): " + (said.empty() ? "no reason given" : said);
}

class KubeconfigCommand final : public ClientCommand {
 public:
  CommandSpec Spec() const override { return {"kubeconfig", "", kKubeconfigUsage}; }

  void DeclareFlags(FlagSet& flags) override {
    flags.String("node", &node_, "", "the k3s server node (default: found from the reports)");
    flags.String("out", &out_, "",
                 "where to write it (default: <fleet dir>/.carrierarr/k3s/kubeconfig)");
  }

  Status Check(const ClientArgs& args) override {
    if (!args.positional.empty())
      return Status::InvalidArgument("kubeconfig takes no arguments (the node is --node NAME)");
    return Status::Ok();
  }

  int Run(Client& client, const ClientArgs& /*args*/, const Invocation& invocation) override {
    carrierarr::v1::ListNodesResponse nodes;
    if (int failed = client.Call(&carrierarr::v1::Fleet::Stub::ListNodes,
                                 carrierarr::v1::ListNodesRequest(), &nodes, invocation.err))
      return failed;
    auto server = FindServer(nodes, node_);
    if (!server.ok()) return Fail(invocation.err, server.status().message());
    if (server->nebula_ip().empty())
      return Fail(invocation.err, Printable(server->node_id()) +
                                      " registered no mesh address, so the kubeconfig could not "
                                      "reach it; is its agent's --nebula-ip (or tun device) set?");
    carrierarr::v1::SendCommandRequest request;
    request.set_node_id(server->node_id());
    request.set_type(ec2agent::v1::COMMAND_TYPE_FETCH_KUBECONFIG);
    request.set_timeout_seconds(kFetchTimeoutSeconds);
    request.set_wait(true);
    carrierarr::v1::CommandRecord record;
    grpc::Status st = client.stub().SendCommand(client.Context(kFetchWait).get(), request, &record);
    if (!st.ok()) return client.Fail(st, invocation.err);
    if (record.state() != "succeeded") return Fail(invocation.err, FetchFailure(record));
    const std::string path = out_.empty() ? ops::CloudKubeconfigPath(FleetStateDir(flags())) : out_;
    Status stored = ops::StoreCloudKubeconfig(record.result().stdout(), server->nebula_ip(), path);
    if (!stored.ok())
      return Fail(invocation.err, "the kubeconfig from " + Printable(server->node_id()) +
                                      " was not written: " + stored.message());
    return Report(invocation, *server, path);
  }

 private:
  static int Fail(std::ostream& err, const std::string& message) {
    err << "Error: " << message << "\n";
    return kExitFailure;
  }

  int Report(const Invocation& invocation, const carrierarr::v1::Node& server,
             const std::string& path) const {
    if (flags().json) {
      invocation.out << nlohmann::json{{"node", server.node_id()},
                                       {"mesh_ip", server.nebula_ip()},
                                       {"path", path}}
                            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                     << "\n";
      return kExitOk;
    }
    invocation.out << "wrote the cloud cluster's kubeconfig (from " << Printable(server.node_id())
                   << ", for its mesh address " << Printable(server.nebula_ip()) << ") to " << path
                   << "\n  try: kubectl --kubeconfig " << path << " get nodes\n";
    return kExitOk;
  }

  std::string node_, out_;
};

}  // namespace

int RunKubeconfig(const Invocation& invocation) {
  return RunClientCommand<KubeconfigCommand>(invocation);
}

}  // namespace carrierarr::cli
