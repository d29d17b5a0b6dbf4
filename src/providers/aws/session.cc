#include "providers/aws/session.h"

#include <cstdlib>
#include <thread>

#include "core/time_source.h"
#include "providers/aws/aws_provider.h"

namespace carrierarr::aws_provider {
namespace {

std::mutex overrides_mu;
Overrides overrides;  // guarded by overrides_mu

}  // namespace

void SetOverrides(const Overrides& o) {
  std::lock_guard<std::mutex> lock(overrides_mu);
  overrides = o;
  if (overrides.endpoint_url.empty()) {
    if (const char* env = std::getenv("CARRIERARR_AWS_ENDPOINT")) overrides.endpoint_url = env;
  }
}

nlohmann::json Target::ToJson() const {
  return {{"region", region}, {"profile", profile}, {"endpoint_url", endpoint_url}};
}

Target Target::FromJson(const nlohmann::json& attrs) {
  return {.region = attrs.value("region", ""),
          .profile = attrs.value("profile", ""),
          .endpoint_url = attrs.value("endpoint_url", "")};
}

Session::Session(Target target) : target_(std::move(target)) {}

std::shared_ptr<Session> Session::For(Target target) {
  {
    std::lock_guard<std::mutex> lock(overrides_mu);
    if (!overrides.profile.empty()) target.profile = overrides.profile;
    if (!overrides.region.empty()) target.region = overrides.region;
    if (!overrides.endpoint_url.empty()) {
      target.endpoint_url = overrides.endpoint_url;
    } else if (const char* env = std::getenv("CARRIERARR_AWS_ENDPOINT"); env && *env) {
      target.endpoint_url = env;  // also for callers that never parsed flags
    }
  }
  static std::mutex mu;
  static std::map<Target, std::shared_ptr<Session>> sessions;  // guarded by mu; process-long
  std::lock_guard<std::mutex> lock(mu);
  auto& s = sessions[target];
  if (!s) s = std::make_shared<Session>(target);
  return s;
}

Status Session::Connect() {
  std::lock_guard<std::mutex> lock(mu_);
  if (connected_) return Status::Ok();
  if (!transport_) {
    auto transport = aws::MakeCurlTransport();
    if (!transport.ok()) return transport.status();
    transport_ = std::move(*transport);
    credentials_ = std::make_unique<aws::CredentialChain>(
        Environment::FromProcess(),
        aws::AwsSelection{.profile = target_.profile, .region = target_.region}, transport_.get(),
        RealTimeSource::Get());
  }
  auto region = credentials_->Region();
  if (!region.ok()) {
    return region.status().WithPrefix(
        "AWS region: set providers.aws.region in fleet.yaml, pass --region, or export AWS_REGION");
  }
  // Fail early and once with the chain's explanation, not at the first resource.
  auto creds = credentials_->Get();
  if (!creds.ok()) return creds.status();
  client_ = std::make_unique<aws::AwsClient>(
      aws::ClientOptions{.region = *region, .endpoint_url = target_.endpoint_url}, transport_.get(),
      credentials_.get());
  ec2_ = std::make_unique<aws::Ec2>(client_.get());
  secrets_ = std::make_unique<aws::SecretsManager>(client_.get());
  quotas_ = std::make_unique<aws::ServiceQuotas>(client_.get());
  region_ = *region;
  connected_ = true;
  return Status::Ok();
}

std::string Session::region() const {
  std::lock_guard<std::mutex> lock(mu_);
  return region_;
}

aws::CallStats Session::Stats() const { return client_ ? client_->Stats() : aws::CallStats{}; }

Result<std::map<std::string, aws::Instance>> Session::FleetInstances(const std::string& fleet) {
  CARRIERARR_RETURN_IF_ERROR(Connect());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (instances_) return *instances_;
  }
  auto found = ec2_->DescribeInstances(
      {},
      {{.name = std::string("tag:") + kFleetTag, .values = {fleet}},
       {.name = "instance-state-name", .values = {"pending", "running", "stopping", "stopped"}}});
  if (!found.ok()) return found.status();
  std::map<std::string, aws::Instance> by_resource;
  for (auto& i : *found) {
    std::string id = i.TagValue(kResourceTag);
    if (!id.empty()) by_resource[id] = std::move(i);
  }
  std::lock_guard<std::mutex> lock(mu_);
  instances_ = by_resource;
  return by_resource;
}

std::string Session::Remembered(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = remembered_.find(key);
  return it == remembered_.end() ? "" : it->second;
}

void Session::Remember(const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> lock(mu_);
  remembered_[key] = value;
}

void Session::InvalidateInstances() {
  std::lock_guard<std::mutex> lock(mu_);
  instances_.reset();
}

Status Session::Poll(const std::string& what, std::chrono::seconds limit,
                     const std::function<Result<bool>()>& done) {
  std::chrono::milliseconds interval(250);
  bool fixed = false;
  if (const char* env = std::getenv("CARRIERARR_AWS_POLL_MS")) {
    interval = std::chrono::milliseconds(std::atoi(env));
    fixed = true;
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    auto r = done();
    if (!r.ok()) return r.status();
    if (*r) return Status::Ok();
    if (std::chrono::steady_clock::now() + interval > deadline) break;
    std::this_thread::sleep_for(interval);
    if (!fixed)
      interval = std::min<std::chrono::milliseconds>(interval * 3 / 2, std::chrono::seconds(5));
  }
  return Status::DeadlineExceeded(what + ": still not done after " + std::to_string(limit.count()) +
                                  " s");
}

}  // namespace carrierarr::aws_provider
