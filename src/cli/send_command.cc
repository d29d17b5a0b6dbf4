// `carrierarr command NODE TYPE [KEY=VALUE...]`: sends any command to a node.
#include "cli/client_commands.h"
#include "cli/node_command.h"
#include "control_plane/http_api.h"

namespace carrierarr::cli {
namespace {

constexpr char kCommandUsage[] =
    "Usage: carrierarr command NODE TYPE [KEY=VALUE...] [flags]\n\n"
    "Sends any command to NODE. TYPE: shutdown, reboot, drain, pull-model (model=NAME),\n"
    "unload-model (model=NAME), exec (cmd=PROGRAM), update-config (heartbeat_interval_sec=N,\n"
    "status_interval_sec=N), restart-service (service=nebula|k3s|k3s-agent|ollama|liqo), or\n"
    "the enum names (COMMAND_TYPE_REBOOT). Exits 0 when the command succeeded.\n\nFlags:\n";

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

}  // namespace

int RunSendCommand(const Invocation& invocation) {
  return RunClientCommand<SendCommand>(invocation);
}

}  // namespace carrierarr::cli
