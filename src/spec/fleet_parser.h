// Reads fleet.yaml into a FleetSpec. Every problem is reported, not just the first, each as
// "FILE:LINE:COLUMN: what is wrong; how to fix it" (lines and columns from 1).
#ifndef CARRIERARR_SPEC_FLEET_PARSER_H_
#define CARRIERARR_SPEC_FLEET_PARSER_H_

#include <string>
#include <string_view>

#include "core/status.h"
#include "spec/fleet.h"

namespace carrierarr::spec {

// `filename` only labels messages. On failure the status is kInvalidArgument and its message
// holds one line per problem.
Result<FleetSpec> ParseFleet(std::string_view yaml, const std::string& filename);

// Reads and parses a file.
Result<FleetSpec> LoadFleet(const std::string& path);

// The commented fleet.yaml that `carrierarr init` writes; ParseFleet accepts it as is.
std::string InitTemplate(const std::string& fleet_name);

}  // namespace carrierarr::spec

#endif  // CARRIERARR_SPEC_FLEET_PARSER_H_
