// carrierarr-fleet: the control plane (`serve`) and the operator's commands that talk to it.
// It is the part of carrierarr that links gRPC; `carrierarr <command>` execs it for these, so
// the main binary starts fast. It can also be run by itself: `carrierarr-fleet nodes`.
#include <iostream>
#include <string>
#include <vector>

#include "cli/client_commands.h"
#include "core/version.h"

namespace carrierarr::cli {
namespace {

constexpr Program kProgram{
    .binary = Binary::kCarrierarrFleet,
    .name = "carrierarr-fleet",
    .version = kVersion,
    .tagline =
        "the carrierarr control plane and its commands (usually run as 'carrierarr "
        "<command>').",
    .runners = kCarrierarrFleetRunners,
};

}  // namespace
}  // namespace carrierarr::cli

int main(int argc, char** argv) {
  const carrierarr::Seams seams = carrierarr::Seams::FromProcess();
  return carrierarr::cli::RunProgram(carrierarr::cli::kProgram, {argv + 1, argv + argc}, seams,
                                     std::cout, std::cerr);
}
