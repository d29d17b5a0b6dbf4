// carrierarr: the operator's command line. Dispatches to one subcommand per file in src/cli/.
// The control-plane commands (serve, nodes, exec, ...) live in the carrierarr-fleet binary,
// which links gRPC; this one execs it for them, so that `pki` and the fleet commands do not pay
// for loading gRPC at every start.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/subprocess.h"
#include "pki/crypto.h"

namespace carrierarr::cli {
namespace {

constexpr Command kCommands[] = {
    {"init", "write a commented fleet.yaml", RunInit},
    {"plan", "show what 'up' would create, replace or delete", RunPlan},
    {"up", "make the fleet match fleet.yaml (idempotent, resumable)", RunUp},
    {"down", "remove everything carrierarr made for the fleet", RunDown},
    {"status", "show every node: addresses, process, round trips over the mesh", RunStatus},
    {"doctor", "check for the known traps and say how to fix them", RunDoctor},
    {"render", "render nebula-config: write the nodes' Nebula configs", RunRender},
    {"pki", "Nebula certificate authority: ca, sign, keygen, print, verify", RunPki},
};

// Commands of carrierarr-fleet: name, summary.
constexpr std::pair<std::string_view, std::string_view> kFleetCommands[] = {
    {"serve", "run the control plane (gRPC 50051 for agents, HTTP 8090)"},
    {"nodes", "list, show or delete the nodes registered with the control plane"},
    {"exec", "run a program on a node: exec NODE -- PROGRAM ARGS..."},
    {"drain", "cordon and drain a node's Kubernetes workloads, then shut it down"},
    {"command", "send any command to a node (reboot, pull-model, ...)"},
    {"tokens", "create, list or revoke agent enrollment tokens"},
    {"events", "show (or --follow) the control plane's events"},
};

constexpr std::string_view kVersion = CARRIERARR_VERSION;

// Replaces this process with carrierarr-fleet (next to this binary, else on PATH).
int ExecFleet(const std::vector<std::string>& args) {
  auto found = FindOwnProgram("carrierarr-fleet");
  if (!found) {
    std::cerr << "Error: \"" << args[0]
              << "\" needs the carrierarr-fleet program, which is neither next to carrierarr nor "
                 "on PATH; install both from the same build\n";
    return 1;
  }
  const std::string path = *found;
  std::vector<char*> argv;
  std::string name = "carrierarr-fleet";
  argv.push_back(name.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  execv(path.c_str(), argv.data());
  std::cerr << "Error: cannot run " << path << ": " << std::strerror(errno) << "\n";
  return 1;
}

void PrintHelp(std::ostream& out) {
  out << "carrierarr " << kVersion
      << ": cloud capacity for a homelab Kubernetes cluster over a Nebula mesh.\n\n"
         "Usage: carrierarr <command> [flags]\n\nCommands:\n";
  for (const auto& c : kCommands)
    out << "  " << c.name << std::string(10 - c.name.size(), ' ') << c.summary << "\n";
  for (const auto& [name, summary] : kFleetCommands)
    out << "  " << name << std::string(10 - name.size(), ' ') << summary << "\n";
  out << "  version   print the version\n"
         "  help      show this help\n\n"
         "Run 'carrierarr <command> -h' for a command's flags.\n";
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
    std::cout << "carrierarr " << kVersion << "\n";
    return 0;
  }
  for (const auto& c : kCommands) {
    if (c.name == name) return c.run({args.begin() + 1, args.end()}, std::cout, std::cerr);
  }
  for (const auto& c : kFleetCommands)
    if (c.first == name) return ExecFleet(args);
  std::cerr << "Error: unknown command \"" << name << "\"\n"
            << "Run 'carrierarr help' for the list of commands.\n";
  return 2;
}

}  // namespace
}  // namespace carrierarr::cli

int main(int argc, char** argv) {
  carrierarr::pki::InitCrypto();
  return carrierarr::cli::Main(argc, argv);
}
