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
struct FleetSpec;
}  // namespace carrierarr::spec

namespace carrierarr::aws_provider {

inline constexpr char kName[] = "aws";  // fleet.yaml's `provider: aws`

class SessionFactory;  // session.h

inline constexpr char kFleetTag[] = "carrierarr:fleet";
inline constexpr char kResourceTag[] = "carrierarr:resource";
inline constexpr char kHashTag[] = "carrierarr:hash";

// The command line's choices that beat fleet.yaml and the recorded state on every command: the
// CLI puts --profile, --region and --endpoint-url into Seams::overrides under these keys, so
// that every AwsProvider a command makes (its deleters included) sees them.
// CARRIERARR_AWS_ENDPOINT in Seams::environment counts as --endpoint-url.
inline constexpr char kProfileOverride[] = "aws.profile";
inline constexpr char kRegionOverride[] = "aws.region";
inline constexpr char kEndpointOverride[] = "aws.endpoint_url";

// The provider as the registry makes it: libcurl, and the seams' environment, time and overrides.
std::unique_ptr<providers::Provider> MakeAwsProvider(const Seams& seams);
// The same over the given sessions (tests: a transport to an in-process FakeAws, simulated time).
std::unique_ptr<providers::Provider> MakeAwsProviderWith(std::shared_ptr<SessionFactory> sessions);
// Its part of fleet.yaml (fleet_rules.cc), as the registry hands it to the parser.
const spec::ProviderRules& AwsFleetRules();

// Whether the cloud nodes run k3s: providers.aws.k3s and the lighthouse, which runs the k3s
// server, on aws (elsewhere there is no server to join; fleet.yaml's rules refuse `k3s: true`
// written with aws pools then).
bool K3sOn(const spec::FleetSpec& fleet);

// "x86_64" or "arm64" (Graviton families: t4g, m7g, c6gn, g5g, ...).
std::string ArchOf(const std::string& instance_type);

// The agent's digest for `arch`: its own when fleet.yaml lists one per architecture.
std::string AgentDigest(const spec::AwsProviderSpec& aws, const std::string& arch);

}  // namespace carrierarr::aws_provider

#endif  // CARRIERARR_PROVIDERS_AWS_AWS_PROVIDER_H_
