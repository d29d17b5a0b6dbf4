// The AWS provider: the lighthouse and worker pools as EC2 instances that join the mesh at first
// boot (userdata.h), with the security group, key pair, image lookup, per-node secrets, vCPU
// quota check and the lighthouse's Elastic IP around them. Every AWS object is tagged
// carrierarr:fleet=<fleet> and carrierarr:resource=<resource id>, which is how a re-run finds
// what a killed run made and how `down` proves nothing is left.
#ifndef CARRIERARR_PROVIDERS_AWS_AWS_PROVIDER_H_
#define CARRIERARR_PROVIDERS_AWS_AWS_PROVIDER_H_

#include <memory>
#include <string>

#include "core/seams.h"
#include "providers/provider.h"

namespace carrierarr::spec {
class ProviderRules;
}

namespace carrierarr::aws_provider {

inline constexpr char kName[] = "aws";  // fleet.yaml's `provider: aws`

inline constexpr char kFleetTag[] = "carrierarr:fleet";
inline constexpr char kResourceTag[] = "carrierarr:resource";
inline constexpr char kHashTag[] = "carrierarr:hash";

// Command-line choices that beat fleet.yaml and the recorded state (--profile, --region,
// --endpoint-url); CARRIERARR_AWS_ENDPOINT counts as --endpoint-url. Set once, before any AWS
// call, by the CLI.
struct Overrides {
  std::string profile, region, endpoint_url;
};
void SetOverrides(const Overrides& overrides);

// The provider and its part of fleet.yaml (fleet_rules.cc), as the registry makes them.
std::unique_ptr<providers::Provider> MakeAwsProvider(const Seams& seams);
const spec::ProviderRules& AwsFleetRules();

// "x86_64" or "arm64" (Graviton families: t4g, m7g, c6gn, g5g, ...).
std::string ArchOf(const std::string& instance_type);

}  // namespace carrierarr::aws_provider

#endif  // CARRIERARR_PROVIDERS_AWS_AWS_PROVIDER_H_
