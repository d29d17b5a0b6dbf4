// What the control-plane clients (nodes, exec, drain, command, tokens, events) share: the
// flags that find the control plane and its admin token, the channel, each RPC's context, and
// how a failed RPC is explained. A ClientCommand checks its arguments, then runs with a Client.
#ifndef CARRIERARR_CLI_CLIENT_COMMAND_H_
#define CARRIERARR_CLI_CLIENT_COMMAND_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "carrierarr/v1/fleet.grpc.pb.h"
#include "cli/command.h"
#include "core/status.h"

namespace carrierarr::cli {

struct ClientFlags {
  std::string server, token_file, fleet_file, tls_ca;
  bool json = false;
  std::chrono::nanoseconds rpc_timeout{std::chrono::seconds(10)};
};

// The admin API of one control plane, with the admin token. Not thread-safe (one command).
class Client {
 public:
  // Reads the admin token and opens the channel (lazily: nothing connects until the first RPC).
  // Explains a failure on `err` and returns null.
  static std::unique_ptr<Client> Open(const ClientFlags& flags, TimeSource* time,
                                      std::ostream& err);

  carrierarr::v1::Fleet::Stub& stub() { return *stub_; }

  // A context with the admin token and a deadline `timeout` from now (none when zero).
  std::unique_ptr<grpc::ClientContext> Context(std::chrono::nanoseconds timeout) const;
  // A context with -timeout as its deadline.
  std::unique_ptr<grpc::ClientContext> Context() const { return Context(flags_.rpc_timeout); }

  // Explains a failed RPC on `err`; returns the exit code (1).
  int Fail(const grpc::Status& status, std::ostream& err) const;

  // A unary RPC of the admin API with -timeout as its deadline: kExitOk, or the exit code of
  // its failure, explained on `err`.
  template <typename Request, typename Response>
  int Call(grpc::Status (carrierarr::v1::Fleet::Stub::*rpc)(grpc::ClientContext*, const Request&,
                                                            Response*),
           const Request& request, Response* response, std::ostream& err) {
    grpc::Status status = (stub_.get()->*rpc)(Context().get(), request, response);
    return status.ok() ? kExitOk : Fail(status, err);
  }

 private:
  Client(const ClientFlags& flags, TimeSource* time) : flags_(flags), time_(time) {}

  ClientFlags flags_;
  TimeSource* time_;
  std::string token_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<carrierarr::v1::Fleet::Stub> stub_;
};

// The arguments left once the flags are parsed (they may come anywhere among them).
struct ClientArgs {
  std::vector<std::string> positional;
  std::vector<std::string> verbatim;  // after verbatim_after() positional ones, or after "--"
};

class ClientCommand : public Command {
 public:
  // Spec().usage is the whole text before the flags' list ("Usage: ...\n\nFlags:\n").

  // True: the shared -timeout bounds each RPC. False: the command declares -timeout itself
  // (exec, drain, command: how long the command may run on the node).
  virtual bool rpc_timeout_flag() const { return true; }
  // After this many positional arguments the rest is taken as it is (exec's program and its
  // arguments, flags of theirs included). SIZE_MAX: only "--" ends the flags.
  virtual size_t verbatim_after() const { return SIZE_MAX; }
  // Checks the arguments before anything connects. kInvalidArgument is a usage error (exit 2,
  // with the usage); any other error is printed as it is (exit 1).
  virtual Status Check(const ClientArgs& args) = 0;
  // Runs with the channel open; returns the exit code.
  virtual int Run(Client& client, const ClientArgs& args, const Invocation& invocation) = 0;

 protected:
  const ClientFlags& flags() const { return flags_; }

 private:
  friend int RunClientCommand(ClientCommand& command, const Invocation& invocation);
  ClientFlags flags_;
};

// The preamble and the run: flags, -h, usage errors, defaults from the environment and -f, the
// command's checks, the channel, and the command.
int RunClientCommand(ClientCommand& command, const Invocation& invocation);

// Runs a ClientCommand of type C: what each command's Run<Name> is.
template <typename C>
int RunClientCommand(const Invocation& invocation) {
  C command;
  return RunClientCommand(command, invocation);
}

// The fleet's state directory, <fleet dir>/.carrierarr, the fleet dir being -f's directory
// (default: the working directory).
std::string FleetStateDir(const ClientFlags& flags);

// Whole seconds of a duration flag, for timeout_seconds (0..86400); false when out of range.
bool TimeoutSeconds(std::chrono::nanoseconds d, int32_t* out);

}  // namespace carrierarr::cli

#endif  // CARRIERARR_CLI_CLIENT_COMMAND_H_
