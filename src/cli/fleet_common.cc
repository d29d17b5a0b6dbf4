#include "cli/fleet_common.h"

#include "providers/aws/aws_provider.h"

namespace carrierarr::cli {

void AwsFlags::Declare(FlagSet& flags) {
  flags.String("profile", &profile, "",
               "AWS profile (else providers.aws.profile, AWS_PROFILE, default)");
  flags.String("region", &region, "",
               "AWS region (else providers.aws.region, AWS_REGION, the profile's)");
  flags.String("endpoint-url", &endpoint_url, "",
               "an EC2-compatible endpoint for every AWS call (else CARRIERARR_AWS_ENDPOINT)");
}

void AwsFlags::Apply(ops::FleetContext& ctx) const {
  std::string endpoint = endpoint_url;
  if (endpoint.empty()) endpoint = ctx.seams.environment.Get("CARRIERARR_AWS_ENDPOINT");
  if (!profile.empty()) ctx.spec.aws.profile = profile;
  if (!region.empty()) ctx.spec.aws.region = region;
  if (!endpoint.empty()) ctx.spec.aws.endpoint_url = endpoint;
  ctx.seams.overrides[aws_provider::kProfileOverride] = profile;
  ctx.seams.overrides[aws_provider::kRegionOverride] = region;
  ctx.seams.overrides[aws_provider::kEndpointOverride] = endpoint;
}

std::optional<int> ParseCommandFlags(const CommandSpec& command, FlagSet& flags,
                                     const std::vector<std::string>& args, std::string* fleet_file,
                                     std::ostream& out, std::ostream& err) {
  flags.String("f", fleet_file, "fleet.yaml", "path to the fleet file (also --file)");
  flags.String("file", fleet_file, "fleet.yaml", "path to the fleet file");
  Status s = flags.Parse(args);
  if (s.ok() && flags.help()) {
    out << "Usage: " << command.usage << "\n" << command.summary << "\n\nFlags:\n" << flags.Usage();
    return kExitOk;
  }
  if (s.ok() && !flags.args().empty()) {
    s = Status::InvalidArgument("unexpected argument \"" + flags.args()[0] + "\"");
  }
  if (!s.ok()) {
    err << "Error: " << s.message() << "\nRun 'carrierarr " << command.name
        << " -h' for its flags.\n";
    return kExitUsage;
  }
  return std::nullopt;
}

void ReportError(std::ostream& err, const Status& status) {
  std::string message = status.message();
  std::string indented;
  for (char c : message) {
    indented += c;
    if (c == '\n') indented += "  ";
  }
  err << "Error: " << indented << "\n";
}

std::optional<ops::FleetContext> LoadFleetOrReport(const std::string& fleet_file,
                                                   const Seams& seams, std::ostream& err) {
  auto ctx = ops::LoadContext(fleet_file, seams);
  if (!ctx.ok()) {
    if (ctx.status().code() == StatusCode::kInvalidArgument) {
      err << ctx.status().message() << "\n";
      err << "Error: " << fleet_file << " is not valid; fix the lines above "
          << "(reference: docs/fleet-yaml.md)\n";
    } else {
      ReportError(err, ctx.status());
    }
    return std::nullopt;
  }
  return std::move(*ctx);
}

}  // namespace carrierarr::cli
