#include "providers/aws/secret_policy.h"

namespace carrierarr::aws_provider {
namespace {

using Json = nlohmann::json;

constexpr char kPolicyVersion[] = "2012-10-17";
constexpr char kReadAction[] = "secretsmanager:GetSecretValue";

// Deny GetSecretValue on this secret ("*" in a secret's policy is the secret itself) to every
// principal, under `condition` when it is not null.
Json DenyRead(const std::string& sid, const Json& condition) {
  Json statement{{"Sid", sid},
                 {"Effect", "Deny"},
                 {"Principal", "*"},
                 {"Action", kReadAction},
                 {"Resource", "*"}};
  if (!condition.is_null()) statement["Condition"] = condition;
  return {{"Version", kPolicyVersion}, {"Statement", Json::array({statement})}};
}

}  // namespace

std::string PartitionOf(const std::string& region) {
  if (region.rfind("cn-", 0) == 0) return "aws-cn";
  if (region.rfind("us-gov-", 0) == 0) return "aws-us-gov";
  return "aws";
}

std::string InstanceArn(const std::string& region, const std::string& account,
                        const std::string& instance_id) {
  return "arn:" + PartitionOf(region) + ":ec2:" + region + ":" + account + ":instance/" +
         instance_id;
}

Json SealedSecretPolicy() { return DenyRead("SealedUntilTheNodesInstanceIsLaunched", nullptr); }

Json NodeSecretPolicy(const std::string& instance_arn) {
  return DenyRead("OnlyTheNodesOwnInstanceReadsIt",
                  {{"ArnNotEquals", {{"ec2:SourceInstanceARN", instance_arn}}}});
}

}  // namespace carrierarr::aws_provider
