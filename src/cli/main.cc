// carrierarr: the operator's command line. Dispatches to one subcommand per file in src/cli/;
// the control-plane commands (serve, nodes, exec, ...) are carrierarr-fleet's, which this execs.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/subprocess.h"
#include "core/version.h"
#include "pki/crypto.h"

namespace carrierarr::cli {
namespace {

// Replaces this process with carrierarr-fleet (next to this binary, else on PATH).
int ExecFleet(const std::vector<std::string>& args) {
  auto found = FindOwnProgram("carrierarr-fleet");
  if (!found) {
    std::cerr << "Error: \"" << args[0]
              << "\" needs the carrierarr-fleet program, which is neither next to carrierarr nor "
                 "on PATH; install both from the same build\n";
    return kExitFailure;
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
  return kExitFailure;
}

constexpr Program kProgram{
    .binary = Binary::kCarrierarr,
    .name = "carrierarr",
    .version = kVersion,
    .tagline = "cloud capacity for a homelab Kubernetes cluster over a Nebula mesh.",
    .runners = kCarrierarrRunners,
    .delegate = ExecFleet,
};

}  // namespace
}  // namespace carrierarr::cli

int main(int argc, char** argv) {
  carrierarr::pki::InitCrypto();
  const carrierarr::Seams seams = carrierarr::Seams::FromProcess();
  return carrierarr::cli::RunProgram(carrierarr::cli::kProgram, {argv + 1, argv + argc}, seams,
                                     std::cout, std::cerr);
}
