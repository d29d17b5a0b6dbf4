// The control-plane commands of carrierarr-fleet (the binary that links gRPC; `carrierarr`
// execs it for these). `serve` runs the control plane (serve.cc); the others are clients of its
// admin API, carrierarr.v1.Fleet, and share these flags:
//
//   -server             unix:PATH or HOST:PORT (env CARRIERARR_SERVER; default
//                       unix:<fleet dir>/.carrierarr/control/serve.sock)
//   -admin-token-file   env CARRIERARR_ADMIN_TOKEN_FILE; default
//                       <fleet dir>/.carrierarr/control/admin.token
//   -f                  fleet.yaml, whose directory is the fleet dir of the defaults above
//   -tls-ca             PEM CA: TLS to HOST:PORT, verified against it
//   -json               machine-readable output (proto3 JSON with proto field names)
//   -timeout            RPC deadline (for exec, drain and command: the command's own timeout)
//
// Exit codes: 0 done, 1 failed (unreachable, refused, the command failed), 2 bad usage. exec
// exits with the remote program's exit code.
#ifndef CARRIERARR_CLI_FLEET_CLIENT_H_
#define CARRIERARR_CLI_FLEET_CLIENT_H_

#include <ostream>
#include <string>
#include <vector>

namespace carrierarr::cli {

// Each gets its arguments after its own name and returns the exit code.
int RunServe(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int RunNodes(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int RunExec(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int RunDrain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int RunFleetCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int RunTokens(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int RunEvents(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace carrierarr::cli

#endif  // CARRIERARR_CLI_FLEET_CLIENT_H_
