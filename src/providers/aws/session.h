// One AWS account and region as the provider's resources see it: the client stack (curl
// transport, credential chain, AwsClient) built lazily on the first call, so planning a fleet
// makes no AWS call and needs no credentials, and lookups shared by the resources (the security
// group's id, the image for an arch, the fleet's instances) cached with their invalidation.
// Thread-safe: the engine creates resources from several threads.
#ifndef CARRIERARR_PROVIDERS_AWS_SESSION_H_
#define CARRIERARR_PROVIDERS_AWS_SESSION_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "aws/client.h"
#include "aws/credentials.h"
#include "aws/ec2.h"
#include "aws/secrets_manager.h"
#include "aws/service_quotas.h"

namespace carrierarr::aws_provider {

// Which account, region and endpoint: recorded in every resource's attrs so that `down` works
// from the state file alone.
struct Target {
  std::string region, profile, endpoint_url;
  nlohmann::json ToJson() const;
  static Target FromJson(const nlohmann::json& attrs);
  bool operator<(const Target& o) const {
    return std::tie(region, profile, endpoint_url) < std::tie(o.region, o.profile, o.endpoint_url);
  }
};

class Session {
 public:
  // The session for `target` (after the command-line overrides), shared by every caller.
  static std::shared_ptr<Session> For(Target target);
  // Ready to call: credentials found, region known. The error says how to fix it.
  Status Connect();

  aws::Ec2& ec2() { return *ec2_; }
  aws::SecretsManager& secrets() { return *secrets_; }
  aws::ServiceQuotas& quotas() { return *quotas_; }
  aws::CallStats Stats() const;
  const Target& target() const { return target_; }
  // The region in force (the target's, or the credential chain's answer); after Connect().
  std::string region() const;

  // The fleet's live instances (not terminated), by carrierarr:resource tag, from one
  // DescribeInstances; cached until Invalidate().
  Result<std::map<std::string, aws::Instance>> FleetInstances(const std::string& fleet);
  void InvalidateInstances();

  // Values one resource learns and others need, kept for the life of the process: the image
  // chosen for an arch, the fleet's security group id ("" = not known yet).
  std::string Remembered(const std::string& key) const;
  void Remember(const std::string& key, const std::string& value);

  // Polls until `done` says yes or fails (bounded by `limit`), waiting 250 ms, then longer
  // (x1.5 up to 5 s). CARRIERARR_AWS_POLL_MS sets a fixed interval (tests, the fake endpoint).
  Status Poll(const std::string& what, std::chrono::seconds limit,
              const std::function<Result<bool>()>& done);

  explicit Session(Target target);

 private:
  Target target_;
  mutable std::mutex mu_;
  bool connected_ = false;  // guarded by mu_ (with the objects below, built once)
  std::string region_;
  std::unique_ptr<aws::HttpTransport> transport_;
  std::unique_ptr<aws::CredentialChain> credentials_;
  std::unique_ptr<aws::AwsClient> client_;
  std::unique_ptr<aws::Ec2> ec2_;
  std::unique_ptr<aws::SecretsManager> secrets_;
  std::unique_ptr<aws::ServiceQuotas> quotas_;
  std::optional<std::map<std::string, aws::Instance>> instances_;  // guarded by mu_
  std::map<std::string, std::string> remembered_;                  // guarded by mu_
};

}  // namespace carrierarr::aws_provider

#endif  // CARRIERARR_PROVIDERS_AWS_SESSION_H_
