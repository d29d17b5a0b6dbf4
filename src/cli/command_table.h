// The one table of commands, for `carrierarr` and `carrierarr-fleet` alike: name, summary and
// which binary runs it. carrierarr runs its own and execs carrierarr-fleet for the others (the
// part that links gRPC), so that `pki` and the fleet commands do not load gRPC at every start.
#ifndef CARRIERARR_CLI_COMMAND_TABLE_H_
#define CARRIERARR_CLI_COMMAND_TABLE_H_

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli/command.h"

namespace carrierarr::cli {

enum class Binary { kCarrierarr, kCarrierarrFleet };

struct CommandInfo {
  std::string_view name;
  std::string_view summary;
  Binary binary;
};

// In the order `help` lists them.
inline constexpr CommandInfo kCommandTable[] = {
    {"init", "write a commented fleet.yaml", Binary::kCarrierarr},
    {"plan", "show what 'up' would create, replace or delete", Binary::kCarrierarr},
    {"up", "make the fleet match fleet.yaml (idempotent, resumable)", Binary::kCarrierarr},
    {"down", "remove everything carrierarr made for the fleet", Binary::kCarrierarr},
    {"status", "show every node: addresses, process, round trips over the mesh",
     Binary::kCarrierarr},
    {"doctor", "check for the known traps and say how to fix them", Binary::kCarrierarr},
    {"render",
     "render nebula-config | manifests | workload | talos | packer: configs, objects, images",
     Binary::kCarrierarr},
    {"power", "start or stop one node of a scaled pool (what the control plane runs)",
     Binary::kCarrierarr},
    {"pki", "Nebula certificate authority: ca, sign, keygen, print, verify", Binary::kCarrierarr},
    {"serve", "run the control plane (gRPC 50051 for agents, HTTP 8090)", Binary::kCarrierarrFleet},
    {"nodes", "list, show or delete the nodes registered with the control plane",
     Binary::kCarrierarrFleet},
    {"exec", "run a program on a node: exec NODE -- PROGRAM ARGS...", Binary::kCarrierarrFleet},
    {"drain", "cordon and drain a node's Kubernetes workloads, then shut it down",
     Binary::kCarrierarrFleet},
    {"command", "send any command to a node (reboot, pull-model, ...)", Binary::kCarrierarrFleet},
    {"tokens", "create, list or revoke agent enrollment tokens", Binary::kCarrierarrFleet},
    {"events", "show (or --follow) the control plane's events", Binary::kCarrierarrFleet},
    {"kubeconfig", "fetch the cloud cluster's kubeconfig from its k3s server (0600)",
     Binary::kCarrierarrFleet},
    {"wake", "wake a pool with scaling: one node starts (within its budget)",
     Binary::kCarrierarrFleet},
    {"sleep", "stop a scaled pool's nodes beyond its min", Binary::kCarrierarrFleet},
    {"pools", "the scaled pools: what runs, what is under way, what they cost",
     Binary::kCarrierarrFleet},
};

// How a binary runs one of its commands of the table.
struct CommandRunner {
  std::string_view name;
  RunCommand run;
};

// One of the two binaries: its name, help line and commands.
struct Program {
  Binary binary;
  std::string_view name;     // "carrierarr"
  std::string_view version;  // core/version.h
  std::string_view tagline;  // after "<name> <version>: " in help
  std::span<const CommandRunner> runners;
  // Runs a command of the other binary (all the arguments, its name first); null: this binary
  // neither runs nor lists those.
  int (*delegate)(const std::vector<std::string>& args) = nullptr;
};

// The runner of `name` in `program`, or null.
RunCommand FindRunner(const Program& program, std::string_view name);

// main of both binaries: help, version, or the command named by argv[1].
int RunProgram(const Program& program, const std::vector<std::string>& args, const Seams& seams,
               std::ostream& out, std::ostream& err);

}  // namespace carrierarr::cli

#endif  // CARRIERARR_CLI_COMMAND_TABLE_H_
