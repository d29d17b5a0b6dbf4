// carrierarr: the operator's command line. Dispatches to one subcommand per file in src/cli/.
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
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

constexpr std::string_view kVersion = CARRIERARR_VERSION;

void PrintHelp(std::ostream& out) {
  out << "carrierarr " << kVersion
      << ": cloud capacity for a homelab Kubernetes cluster over a Nebula mesh.\n\n"
         "Usage: carrierarr <command> [flags]\n\nCommands:\n";
  for (const auto& c : kCommands)
    out << "  " << c.name << std::string(10 - c.name.size(), ' ') << c.summary << "\n";
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
