// `carrierarr exec NODE -- PROGRAM ARGS...`: runs a program on a node, exactly as given.
#include "cli/client_commands.h"
#include "cli/node_command.h"

namespace carrierarr::cli {
namespace {

constexpr char kExecUsage[] =
    "Usage: carrierarr exec NODE [flags] -- PROGRAM [ARGS...]\n\n"
    "Runs PROGRAM with ARGS on NODE exactly as given (no shell, nothing split or joined), and\n"
    "prints its output; exits with its exit code. Needs 'carrierarr serve --allow-exec' and\n"
    "the agent's --allow-exec.\n\nFlags:\n";

class ExecCommand final : public NodeCommand {
 public:
  ExecCommand()
      : NodeCommand({.spec = {"exec", "", kExecUsage},
                     .exec_style = true,
                     .default_timeout = std::chrono::seconds(60),
                     .timeout_usage = "how long the program may run on the node"}) {}

  size_t verbatim_after() const override { return 1; }

  Status Check(const ClientArgs& args) override {
    if (args.positional.empty()) return Status::InvalidArgument("exec needs a NODE");
    if (args.verbatim.empty())
      return Status::InvalidArgument("exec needs a PROGRAM after the node");
    int32_t timeout_s = 0;
    if (!TimeoutSeconds(&timeout_s))
      return Status::InvalidArgument("-timeout must be between 0 (none) and 24h");
    StartRequest(args.positional[0], ec2agent::v1::COMMAND_TYPE_EXEC);
    for (const auto& a : args.verbatim) request_.add_argv(a);
    request_.set_timeout_seconds(timeout_s);
    return Status::Ok();
  }
};

}  // namespace

int RunExec(const Invocation& invocation) { return RunClientCommand<ExecCommand>(invocation); }

}  // namespace carrierarr::cli
