#include "providers/aws/session.h"

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "providers/aws/aws_provider.h"

namespace carrierarr::aws_provider {

nlohmann::json Target::ToJson() const {
  return {{"region", region}, {"profile", profile}, {"endpoint_url", endpoint_url}};
}

Target Target::FromJson(const nlohmann::json& attrs) {
  return {.region = attrs.value("region", ""),
          .profile = attrs.value("profile", ""),
          .endpoint_url = attrs.value("endpoint_url", "")};
}

Session::Session(Target target, SessionDeps deps)
    : target_(std::move(target)), deps_(std::move(deps)) {}

Status Session::Connect() {
  std::lock_guard<std::mutex> lock(mu_);
  if (connected_) return Status::Ok();
  if (!transport_) {
    auto transport = deps_.make_transport();
    if (!transport.ok()) return transport.status();
    transport_ = std::move(*transport);
    credentials_ = std::make_unique<aws::CredentialChain>(
        deps_.environment, aws::AwsSelection{.profile = target_.profile, .region = target_.region},
        transport_.get(), deps_.time, deps_.processes);
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
      aws::ClientOptions{
          .region = *region, .endpoint_url = target_.endpoint_url, .time = deps_.time},
      transport_.get(), credentials_.get());
  ec2_ = std::make_unique<aws::Ec2>(client_.get(), deps_.time);
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
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = instances_.find(fleet); it != instances_.end()) return it->second;
    generation = instances_generation_;
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
  // Another thread launched or terminated something while this list was on its way: the list
  // may not show it, so it must not answer the next reader (that thread's read-back above all).
  if (instances_generation_ == generation) instances_[fleet] = by_resource;
  return by_resource;
}

void Session::InvalidateInstances() {
  std::lock_guard<std::mutex> lock(mu_);
  instances_.clear();
  ++instances_generation_;
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

Status Session::Poll(const std::string& what, std::chrono::seconds limit,
                     const std::function<Result<bool>()>& done) {
  std::chrono::milliseconds interval(250);
  const bool fixed = deps_.environment.Has("CARRIERARR_AWS_POLL_MS");
  if (fixed) {
    interval = std::chrono::milliseconds(
        std::atoi(deps_.environment.Get("CARRIERARR_AWS_POLL_MS").c_str()));
  }
  TimeSource& time = *deps_.time;
  const auto deadline = time.MonotonicNow() + limit;
  while (true) {
    auto r = done();
    if (!r.ok()) return r.status();
    if (*r) return Status::Ok();
    if (time.MonotonicNow() + interval > deadline) break;
    time.SleepFor(interval);
    if (!fixed)
      interval = std::min<std::chrono::milliseconds>(interval * 3 / 2, std::chrono::seconds(5));
  }
  return Status::DeadlineExceeded(what + ": still not done after " + std::to_string(limit.count()) +
                                  " s");
}

Target SessionFactory::Resolve(Target target) const {
  const Target& o = deps_.overrides;
  if (!o.profile.empty()) target.profile = o.profile;
  if (!o.region.empty()) target.region = o.region;
  if (!o.endpoint_url.empty()) target.endpoint_url = o.endpoint_url;
  return target;
}

std::shared_ptr<Session> SessionFactory::For(const Target& target) {
  Target resolved = Resolve(target);
  std::lock_guard<std::mutex> lock(mu_);
  auto& s = sessions_[resolved];
  if (!s) s = std::make_shared<Session>(resolved, deps_);
  return s;
}

Result<std::shared_ptr<Session>> Connected(SessionFactory& sessions, const Target& target) {
  auto session = sessions.For(target);
  CARRIERARR_RETURN_IF_ERROR(session->Connect());
  return session;
}

}  // namespace carrierarr::aws_provider
