// Secrets Manager (JSON 1.1) for the nodes' Nebula material. Thread-safe as its AwsApi.
#ifndef CARRIERARR_AWS_SECRETS_MANAGER_H_
#define CARRIERARR_AWS_SECRETS_MANAGER_H_

#include <string>

#include "aws/client.h"
#include "aws/ec2.h"

namespace carrierarr::aws {

struct SecretInfo {
  std::string arn, name;
  bool scheduled_for_deletion = false;  // DeletedDate present
  Tags tags;
};

class SecretsManager {
 public:
  explicit SecretsManager(AwsApi* api) : api_(api) {}
  // Returns the ARN. kAlreadyExists on ResourceExistsException.
  Result<std::string> CreateSecret(const std::string& name, const std::string& secret_string,
                                   const std::string& description, const Tags& tags);
  Status PutSecretValue(const std::string& secret_id, const std::string& secret_string);
  Result<std::string> GetSecretValue(const std::string& secret_id);  // SecretString; never logged
  // The secret's resource policy (a JSON policy document), replacing any before it. Its Deny
  // statements bind every caller, whatever their own IAM policies allow.
  Status PutResourcePolicy(const std::string& secret_id, const std::string& policy);
  Result<SecretInfo> DescribeSecret(const std::string& secret_id);  // kNotFound when absent
  // ForceDeleteWithoutRecovery: the name is free again at once. Absent counts as success.
  Status DeleteSecret(const std::string& secret_id);

 private:
  AwsApi* api_;
};

}  // namespace carrierarr::aws

#endif  // CARRIERARR_AWS_SECRETS_MANAGER_H_
