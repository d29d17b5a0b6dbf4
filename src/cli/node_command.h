// What exec, drain and command share: each builds one SendCommandRequest from its arguments,
// and sends it (waiting for the result unless --no-wait) and reports it the same way.
#ifndef CARRIERARR_CLI_NODE_COMMAND_H_
#define CARRIERARR_CLI_NODE_COMMAND_H_

#include <chrono>
#include <string>
#include <utility>

#include "cli/client_command.h"

namespace carrierarr::cli {

class NodeCommand : public ClientCommand {
 public:
  CommandSpec Spec() const final { return options_.spec; }
  // Declares -timeout (how long the command may run on the node) and -no-wait; a command with
  // flags of its own declares them after calling this.
  void DeclareFlags(FlagSet& flags) override;
  // The command's own -timeout (how long it may run on the node) replaces the RPC's.
  bool rpc_timeout_flag() const override { return false; }
  int Run(Client& client, const ClientArgs& args, const Invocation& invocation) final;

 protected:
  // What sets one node command apart from the others, besides its Check.
  struct Options {
    CommandSpec spec;
    // exec: the program's own output goes to out/err as it is, and the exit code is the
    // program's.
    bool exec_style = false;
    std::chrono::nanoseconds default_timeout;
    std::string timeout_usage;
  };
  explicit NodeCommand(Options options) : options_(std::move(options)) {}
  // -timeout in whole seconds, 0..86400; false when out of that range.
  bool TimeoutSeconds(int32_t* seconds) const;
  // Starts request_ (what Check fills in) with the node, the type and whether to wait.
  void StartRequest(const std::string& node, ec2agent::v1::CommandType type);

  carrierarr::v1::SendCommandRequest request_;

 private:
  const Options options_;
  std::chrono::nanoseconds timeout_{0};
  bool no_wait_ = false;
};

}  // namespace carrierarr::cli

#endif  // CARRIERARR_CLI_NODE_COMMAND_H_
