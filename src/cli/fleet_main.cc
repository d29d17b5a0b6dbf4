// carrierarr-fleet: the control plane (`serve`) and the operator's commands that talk to it.
// It is the part of carrierarr that links gRPC; `carrierarr <command>` execs it for these, so
// the main binary starts fast. It can also be run by itself: `carrierarr-fleet nodes`.
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/fleet_client.h"

namespace carrierarr::cli {
namespace {

constexpr Command kCommands[] = {
    {"serve", "run the control plane (gRPC 50051 for agents, HTTP 8090)", RunServe},
    {"nodes", "list, show or delete the nodes registered with the control plane", RunNodes},
    {"exec", "run a program on a node: exec NODE -- PROGRAM ARGS...", RunExec},
    {"drain", "cordon and drain a node's Kubernetes workloads, then shut it down", RunDrain},
    {"command", "send any command to a node (reboot, pull-model, ...)", RunFleetCommand},
    {"tokens", "create, list or revoke agent enrollment tokens", RunTokens},
    {"events", "show (or --follow) the control plane's events", RunEvents},
};

constexpr std::string_view kVersion = CARRIERARR_VERSION;

void PrintHelp(std::ostream& out) {
  out << "carrierarr-fleet " << kVersion
      << ": the carrierarr control plane and its commands (usually run as 'carrierarr "
         "<command>').\n\nUsage: carrierarr-fleet <command> [flags]\n\nCommands:\n";
  for (const auto& c : kCommands)
    out << "  " << c.name << std::string(10 - c.name.size(), ' ') << c.summary << "\n";
  out << "  version   print the version\n"
         "  help      show this help\n\n"
         "Run 'carrierarr-fleet <command> -h' for a command's flags.\n";
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    PrintHelp(std::cerr);
    return 2;
  }
  const std::string& name = args[0];
  if (name == "help" || name == "-h" || name == "--help" || name == "-help") {
    PrintHelp(std::cout);
    return 0;
  }
  if (name == "version" || name == "--version" || name == "-version") {
    std::cout << "carrierarr-fleet " << kVersion << "\n";
    return 0;
  }
  for (const auto& c : kCommands)
    if (c.name == name) return c.run({args.begin() + 1, args.end()}, std::cout, std::cerr);
  std::cerr << "Error: unknown command \"" << name << "\"\n"
            << "Run 'carrierarr-fleet help' for the list of commands.\n";
  return 2;
}

}  // namespace
}  // namespace carrierarr::cli

int main(int argc, char** argv) { return carrierarr::cli::Main(argc, argv); }
