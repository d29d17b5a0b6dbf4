#include "aws/secrets_manager.h"

#include <nlohmann/json.hpp>

namespace carrierarr::aws {
namespace {

using Json = nlohmann::json;
constexpr char kService[] = "secretsmanager";

Result<Json> Call(AwsApi* api, const std::string& action, const Json& body) {
  auto r = api->Json(kService, std::string("secretsmanager.") + action, body.dump());
  if (!r.ok()) return r.status();
  Json j = Json::parse(*r, nullptr, false);
  if (j.is_discarded()) return Status::DataLoss("secretsmanager " + action + ": not JSON");
  return j;
}

}  // namespace

Result<std::string> SecretsManager::CreateSecret(const std::string& name,
                                                 const std::string& secret_string,
                                                 const std::string& description, const Tags& tags) {
  Json body{{"Name", name}, {"SecretString", secret_string}, {"Description", description}};
  Json tag_list = Json::array();
  for (const auto& t : tags) tag_list.push_back({{"Key", t.key}, {"Value", t.value}});
  if (!tags.empty()) body["Tags"] = tag_list;
  auto j = Call(api_, "CreateSecret", body);
  if (!j.ok()) return j.status();
  return j->value("ARN", "");
}

Status SecretsManager::PutSecretValue(const std::string& secret_id,
                                      const std::string& secret_string) {
  auto j = Call(api_, "PutSecretValue", {{"SecretId", secret_id}, {"SecretString", secret_string}});
  return j.ok() ? Status::Ok() : j.status();
}

Result<std::string> SecretsManager::GetSecretValue(const std::string& secret_id) {
  auto j = Call(api_, "GetSecretValue", {{"SecretId", secret_id}});
  if (!j.ok()) return j.status();
  return j->value("SecretString", "");
}

Status SecretsManager::PutResourcePolicy(const std::string& secret_id, const std::string& policy) {
  auto j = Call(api_, "PutResourcePolicy", {{"SecretId", secret_id}, {"ResourcePolicy", policy}});
  return j.ok() ? Status::Ok() : j.status();
}

Result<SecretInfo> SecretsManager::DescribeSecret(const std::string& secret_id) {
  auto j = Call(api_, "DescribeSecret", {{"SecretId", secret_id}});
  if (!j.ok()) return j.status();
  SecretInfo info{.arn = j->value("ARN", ""),
                  .name = j->value("Name", ""),
                  .scheduled_for_deletion = j->contains("DeletedDate")};
  for (const auto& t : j->value("Tags", Json::array()))
    info.tags.push_back({t.value("Key", ""), t.value("Value", "")});
  return info;
}

Status SecretsManager::DeleteSecret(const std::string& secret_id) {
  auto j =
      Call(api_, "DeleteSecret", {{"SecretId", secret_id}, {"ForceDeleteWithoutRecovery", true}});
  if (!j.ok() && j.status().code() == StatusCode::kNotFound) return Status::Ok();
  return j.ok() ? Status::Ok() : j.status();
}

}  // namespace carrierarr::aws
