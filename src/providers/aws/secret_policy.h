// The resource policy on a node's Secrets Manager secret (nebula_material: secretsmanager): the
// secret holds the node's Nebula key and its tokens, and only the node's own instance may read
// it. Every node of a fleet shares one instance profile (providers.aws.iam_instance_profile),
// whose IAM policy lets it read carrierarr/<fleet>/*; this policy narrows that down per secret
// with an explicit Deny, which beats any Allow:
//
//   before the launch (SealedSecretPolicy): GetSecretValue is denied to everyone;
//   after it (NodeSecretPolicy): denied to every caller whose request does not come from the
//     node's instance (ec2:SourceInstanceARN, the global condition key that AWS sets on requests
//     signed with an instance's role credentials; absent for any other caller, which the
//     ArnNotEquals operator then denies too).
//
// `carrierarr up` puts the sealed policy before it writes the secret's content, launches the
// instance, then puts the node's policy. Pure functions: thread-safe.
#ifndef CARRIERARR_PROVIDERS_AWS_SECRET_POLICY_H_
#define CARRIERARR_PROVIDERS_AWS_SECRET_POLICY_H_

#include <nlohmann/json.hpp>
#include <string>

namespace carrierarr::aws_provider {

// "aws", "aws-cn" (cn-*) or "aws-us-gov" (us-gov-*).
std::string PartitionOf(const std::string& region);

// arn:<partition>:ec2:<region>:<account>:instance/<id>
std::string InstanceArn(const std::string& region, const std::string& account,
                        const std::string& instance_id);

// Nobody reads the secret.
nlohmann::json SealedSecretPolicy();

// Only requests from `instance_arn` read the secret.
nlohmann::json NodeSecretPolicy(const std::string& instance_arn);

}  // namespace carrierarr::aws_provider

#endif  // CARRIERARR_PROVIDERS_AWS_SECRET_POLICY_H_
