// The commands of carrierarr-fleet (the binary that links gRPC; `carrierarr` execs it for
// these). `serve` runs the control plane (serve.cc); the others, one file each, are clients of
// its admin API, carrierarr.v1.Fleet (kubeconfig too: it fetches through a node's agent), and
// share these flags (client_command.h):
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
#ifndef CARRIERARR_CLI_CLIENT_COMMANDS_H_
#define CARRIERARR_CLI_CLIENT_COMMANDS_H_

#include "cli/command_table.h"

namespace carrierarr::cli {

int RunServe(const Invocation& invocation);
int RunNodes(const Invocation& invocation);
int RunExec(const Invocation& invocation);
int RunDrain(const Invocation& invocation);
int RunSendCommand(const Invocation& invocation);
int RunTokens(const Invocation& invocation);
int RunEvents(const Invocation& invocation);
int RunKubeconfig(const Invocation& invocation);
int RunWake(const Invocation& invocation);
int RunSleep(const Invocation& invocation);
int RunPools(const Invocation& invocation);

inline constexpr CommandRunner kCarrierarrFleetRunners[] = {
    {"serve", RunServe},   {"nodes", RunNodes},           {"exec", RunExec},
    {"drain", RunDrain},   {"command", RunSendCommand},   {"tokens", RunTokens},
    {"events", RunEvents}, {"kubeconfig", RunKubeconfig}, {"wake", RunWake},
    {"sleep", RunSleep},   {"pools", RunPools},
};

}  // namespace carrierarr::cli

#endif  // CARRIERARR_CLI_CLIENT_COMMANDS_H_
