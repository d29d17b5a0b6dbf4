// `carrierarr drain NODE`: cordons and drains a node's Kubernetes workloads, then shuts it down.
#include <algorithm>

#include "cli/client_commands.h"
#include "cli/node_command.h"

namespace carrierarr::cli {
namespace {

constexpr char kDrainUsage[] =
    "Usage: carrierarr drain NODE [flags]\n\n"
    "Cordons NODE in Kubernetes, drains its workloads (kubectl drain --ignore-daemonsets\n"
    "--delete-emptydir-data), then shuts it down. Waits for the result.\n\nFlags:\n";

class DrainCommand final : public NodeCommand {
 public:
  DrainCommand()
      : NodeCommand(
            {.spec = {"drain", "", kDrainUsage},
             .default_timeout = std::chrono::minutes(5),
             .timeout_usage = "how long kubectl drain may take (kubectl drain --timeout)"}) {}

  void DeclareFlags(FlagSet& flags) override {
    NodeCommand::DeclareFlags(flags);
    flags.Bool("force", &force_, false, "also evict pods no controller manages (kubectl --force)");
    flags.String("k8s-node", &k8s_node_, "", "the node's Kubernetes name (default: NODE)");
  }

  Status Check(const ClientArgs& args) override {
    if (args.positional.size() != 1) return Status::InvalidArgument("drain needs exactly one NODE");
    int32_t timeout_s = 0;
    if (!TimeoutSeconds(&timeout_s) || timeout_s == 0)
      return Status::InvalidArgument("-timeout must be between 1s and 24h");
    const std::string& node = args.positional[0];
    StartRequest(node, ec2agent::v1::COMMAND_TYPE_DRAIN);
    (*request_.mutable_args())["node"] = k8s_node_.empty() ? node : k8s_node_;
    (*request_.mutable_args())["force"] = force_ ? "true" : "false";
    (*request_.mutable_args())["timeout"] = std::to_string(timeout_s) + "s";
    // The agent cordons, drains (bounded by the drain timeout), then shuts down: give it a
    // minute beyond the drain.
    request_.set_timeout_seconds(std::min(86400, timeout_s + 60));
    return Status::Ok();
  }

 private:
  bool force_ = false;
  std::string k8s_node_;
};

}  // namespace

int RunDrain(const Invocation& invocation) { return RunClientCommand<DrainCommand>(invocation); }

}  // namespace carrierarr::cli
