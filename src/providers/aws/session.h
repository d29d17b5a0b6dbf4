// One AWS account and region as the provider's resources see it: the client stack (transport,
// credential chain, AwsClient) built lazily on the first call, so planning a fleet makes no AWS
// call and needs no credentials, and lookups shared by the resources (the security group's id,
// the image for an arch, the fleet's instances) cached with their invalidation. Sessions come
// from a SessionFactory, which the provider owns: nothing here is process-wide.
// Thread-safe: the engine creates resources from several threads.
#ifndef CARRIERARR_PROVIDERS_AWS_SESSION_H_
#define CARRIERARR_PROVIDERS_AWS_SESSION_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "aws/client.h"
#include "aws/credentials.h"
#include "aws/ec2.h"
#include "aws/secrets_manager.h"
#include "aws/service_quotas.h"
#include "core/environment.h"
#include "core/time_source.h"

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

// What every session of a provider is made with. The pointers are not owned.
struct SessionDeps {
  // A transport for the AWS APIs and the metadata endpoints; called once per session, at its
  // first AWS call. Production: aws::MakeCurlTransport.
  std::function<Result<std::unique_ptr<aws::HttpTransport>>()> make_transport;
  Environment environment;  // the credential chain's, and CARRIERARR_AWS_POLL_MS
  TimeSource* time = RealTimeSource::Get();
  ProcessRunner* processes = RealProcessRunner::Get();  // credential_process
  // The command line's choices (--profile, --region, --endpoint-url or CARRIERARR_AWS_ENDPOINT):
  // a non-empty field beats fleet.yaml's and the recorded target's.
  Target overrides;
};

class Session {
 public:
  Session(Target target, SessionDeps deps);
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
  // DescribeInstances; cached until InvalidateInstances(). A list that was being read while
  // the cache was invalidated is returned to its reader but never cached: it may predate the
  // launch or termination that invalidated it.
  Result<std::map<std::string, aws::Instance>> FleetInstances(const std::string& fleet);
  void InvalidateInstances();

  // Values one resource learns and others need, kept for the life of the session: the image
  // chosen for an arch, the fleet's security group id ("" = not known yet).
  std::string Remembered(const std::string& key) const;
  void Remember(const std::string& key, const std::string& value);

  // Polls until `done` says yes or fails (bounded by `limit` of the session's time), waiting
  // 250 ms, then longer (x1.5 up to 5 s). CARRIERARR_AWS_POLL_MS sets a fixed interval (tests,
  // the fake endpoint).
  Status Poll(const std::string& what, std::chrono::seconds limit,
              const std::function<Result<bool>()>& done);

 private:
  const Target target_;
  const SessionDeps deps_;
  mutable std::mutex mu_;
  bool connected_ = false;  // guarded by mu_ (with the objects below, built once)
  std::string region_;
  std::unique_ptr<aws::HttpTransport> transport_;
  std::unique_ptr<aws::CredentialChain> credentials_;
  std::unique_ptr<aws::AwsClient> client_;
  std::unique_ptr<aws::Ec2> ec2_;
  std::unique_ptr<aws::SecretsManager> secrets_;
  std::unique_ptr<aws::ServiceQuotas> quotas_;
  std::map<std::string, std::map<std::string, aws::Instance>> instances_;  // by fleet; mu_
  uint64_t instances_generation_ = 0;              // guarded by mu_; bumped by every invalidation
  std::map<std::string, std::string> remembered_;  // guarded by mu_
};

// The sessions of one provider: one per target (after the overrides), made on first use and
// shared by every resource and deleter of that provider. Thread-safe.
class SessionFactory {
 public:
  explicit SessionFactory(SessionDeps deps) : deps_(std::move(deps)) {}
  SessionFactory(const SessionFactory&) = delete;
  SessionFactory& operator=(const SessionFactory&) = delete;

  // The target with the command line's overrides applied: where calls for `target` go.
  Target Resolve(Target target) const;
  std::shared_ptr<Session> For(const Target& target);

 private:
  const SessionDeps deps_;
  std::mutex mu_;
  std::map<Target, std::shared_ptr<Session>> sessions_;  // guarded by mu_
};

// Session::For(...) and Connect() in one: the session for `target`, ready to call.
Result<std::shared_ptr<Session>> Connected(SessionFactory& sessions, const Target& target);

}  // namespace carrierarr::aws_provider

#endif  // CARRIERARR_PROVIDERS_AWS_SESSION_H_
