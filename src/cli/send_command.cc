// `carrierarr command NODE TYPE [KEY=VALUE...]`: sends any command to a node;
// `carrierarr command cancel ID`: cancels one.
#include "cli/client_command.h"
#include "cli/client_commands.h"
#include "cli/client_output.h"
#include "cli/node_command.h"
#include "control_plane/http_api.h"

namespace carrierarr::cli {
namespace {

constexpr char kCommandUsage[] =
    "Usage: carrierarr command NODE TYPE [KEY=VALUE...] [flags]\n\n"
    "Sends any command to NODE. TYPE: shutdown, reboot, drain, pull-model (model=NAME),\n"
    "unload-model (model=NAME), exec (cmd=PROGRAM), update-config (heartbeat_interval_sec=N,\n"
    "status_interval_sec=N), restart-service (service=nebula|k3s|k3s-agent|ollama|liqo), or\n"
    "the enum names (COMMAND_TYPE_REBOOT). Exits 0 when the command succeeded.\n"
    "unload-model without model= unloads every model.\n\n"
    "       carrierarr command cancel ID [flags]\n\n"
    "Cancels command ID (as printed by --no-wait, or in 'carrierarr events'): one not yet sent\n"
    "is cancelled at once; a running one is stopped by its node.\n\nFlags:\n";

constexpr char kCancelUsage[] =
    "Usage: carrierarr command cancel ID [flags]\n\n"
    "Cancels command ID: one its node has not received yet is cancelled at once (it never\n"
    "runs); one it has is stopped there (its whole process group), and the command then shows\n"
    "as cancelled. Fails for a command that already finished. Prints the command's state.\n\n"
    "Flags:\n";

class SendCommand final : public NodeCommand {
 public:
  SendCommand()
      : NodeCommand({.spec = {"command", "", kCommandUsage},
                     .default_timeout = std::chrono::minutes(10),
                     .timeout_usage = "how long the command may run on the node (0 = no limit)"}) {}

  Status Check(const ClientArgs& args) override {
    const auto& pos = args.positional;
    if (pos.size() < 2) return Status::InvalidArgument("command needs NODE and TYPE");
    int type = 0;
    if (!control_plane::ParseCommandType(pos[1], &type))
      return Status::InvalidArgument("unknown command type \"" + pos[1] + "\"");
    int32_t timeout_s = 0;
    if (!TimeoutSeconds(&timeout_s))
      return Status::InvalidArgument("-timeout must be between 0 (none) and 24h");
    if (type == ec2agent::v1::COMMAND_TYPE_FETCH_KUBECONFIG)
      return Status::InvalidArgument(
          "the kubeconfig holds the cluster's admin key, so 'command' does not print it: use "
          "'carrierarr kubeconfig', which writes it 0600");
    StartRequest(pos[0], static_cast<ec2agent::v1::CommandType>(type));
    for (size_t i = 2; i < pos.size(); ++i) {
      auto eq = pos[i].find('=');
      if (eq == std::string::npos || eq == 0)
        return Status::InvalidArgument("\"" + pos[i] + "\" is not KEY=VALUE");
      (*request_.mutable_args())[pos[i].substr(0, eq)] = pos[i].substr(eq + 1);
    }
    request_.set_timeout_seconds(timeout_s);
    return Status::Ok();
  }
};

class CancelCommand final : public ClientCommand {
 public:
  CommandSpec Spec() const override { return {"command cancel", "", kCancelUsage}; }

  Status Check(const ClientArgs& args) override {
    if (args.positional.size() != 1)
      return Status::InvalidArgument("command cancel needs one command ID");
    request_.set_command_id(args.positional[0]);
    return Status::Ok();
  }

  int Run(Client& client, const ClientArgs& /*args*/, const Invocation& invocation) override {
    carrierarr::v1::CommandRecord record;
    if (int failed = client.Call(&carrierarr::v1::Fleet::Stub::CancelCommand, request_, &record,
                                 invocation.err))
      return failed;
    if (flags().json) {
      invocation.out << ProtoJson(record) << "\n";
    } else {
      invocation.out << record.command_id() << " " << record.state() << "\n";
      if (record.state() == "cancelling")
        invocation.err << "(" << Printable(record.node_id())
                       << " was told to stop it; its result shows in 'carrierarr events')\n";
    }
    return kExitOk;
  }

 private:
  carrierarr::v1::CancelCommandRequest request_;
};

// "cancel ID" cancels; "cancel TYPE ..." still sends TYPE to a node named cancel.
bool IsCancel(const std::vector<std::string>& args) {
  int type = 0;
  return !args.empty() && args[0] == "cancel" &&
         (args.size() < 2 || !control_plane::ParseCommandType(args[1], &type));
}

}  // namespace

int RunSendCommand(const Invocation& invocation) {
  if (IsCancel(invocation.args)) {
    const Invocation rest{{invocation.args.begin() + 1, invocation.args.end()},
                          invocation.seams,
                          invocation.out,
                          invocation.err};
    return RunClientCommand<CancelCommand>(rest);
  }
  return RunClientCommand<SendCommand>(invocation);
}

}  // namespace carrierarr::cli
