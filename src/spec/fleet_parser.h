// Reads fleet.yaml into a FleetSpec. Every problem is reported, not just the first, each as
// "FILE:LINE:COLUMN: what is wrong; how to fix it" (lines and columns from 1).
#ifndef CARRIERARR_SPEC_FLEET_PARSER_H_
#define CARRIERARR_SPEC_FLEET_PARSER_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "spec/fleet.h"

namespace carrierarr::spec {

class ProviderRules;  // a provider's part of fleet.yaml: spec/fleet_reader.h
// The providers a parse knows, in the registry's order (the default first).
using ProviderRulesList = std::vector<const ProviderRules*>;

// `filename` only labels messages; `providers` are the providers fleet.yaml may name, with their
// settings sections and checks (providers::FleetRules() gives this build's). On failure the
// status is kInvalidArgument and its message holds one line per problem.
Result<FleetSpec> ParseFleet(std::string_view yaml, const std::string& filename,
                             const ProviderRulesList& providers);

// Reads and parses a file.
Result<FleetSpec> LoadFleet(const std::string& path, const ProviderRulesList& providers);

// The commented fleet.yaml that `carrierarr init` writes; ParseFleet accepts it as is.
std::string InitTemplate(const std::string& fleet_name);

}  // namespace carrierarr::spec

#endif  // CARRIERARR_SPEC_FLEET_PARSER_H_
