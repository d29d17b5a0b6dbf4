// Secrets Manager: the JSON 1.1 request of every action used and the parsing of its answers.
#include "aws/secrets_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <nlohmann/json.hpp>

namespace carrierarr::aws {
namespace {

using JsonDoc = nlohmann::json;

class JsonApi final : public AwsApi {
 public:
  std::string service, target;
  JsonDoc body;
  std::deque<Result<std::string>> answers;
  Result<std::string> Query(const std::string&, const std::string&, const QueryParams&) override {
    return Status::Internal("not a Query API");
  }
  Result<std::string> Json(const std::string& s, const std::string& t,
                           const std::string& b) override {
    service = s;
    target = t;
    body = JsonDoc::parse(b);
    auto a = answers.front();
    answers.pop_front();
    return a;
  }
};

TEST(SecretsManagerTest, EveryActionsRequestAndAnswer) {
  JsonApi api;
  SecretsManager sm(&api);
  api.answers.push_back(std::string(
      R"({"ARN":"arn:aws:secretsmanager:us-east-1:1:secret:carrierarr/demo/gpu-1-AbCd","Name":"carrierarr/demo/gpu-1","VersionId":"v1"})"));
  auto arn = sm.CreateSecret("carrierarr/demo/gpu-1", R"({"nebula_ip":"10.42.2.1"})", "d",
                             {{"carrierarr:fleet", "demo"}});
  ASSERT_TRUE(arn.ok());
  EXPECT_THAT(*arn, ::testing::HasSubstr("secret:carrierarr/demo/gpu-1"));
  EXPECT_EQ(api.service, "secretsmanager");
  EXPECT_EQ(api.target, "secretsmanager.CreateSecret");
  EXPECT_EQ(
      api.body,
      JsonDoc::parse(
          R"({"Name":"carrierarr/demo/gpu-1","SecretString":"{\"nebula_ip\":\"10.42.2.1\"}","Description":"d","Tags":[{"Key":"carrierarr:fleet","Value":"demo"}]})"));

  api.answers.push_back(std::string(R"({"ARN":"a","Name":"n"})"));
  ASSERT_TRUE(sm.PutSecretValue("n", "v2").ok());
  EXPECT_EQ(api.target, "secretsmanager.PutSecretValue");
  EXPECT_EQ(api.body, JsonDoc::parse(R"({"SecretId":"n","SecretString":"v2"})"));

  api.answers.push_back(std::string(R"({"ARN":"a","Name":"n"})"));
  ASSERT_TRUE(sm.PutResourcePolicy("n", R"({"Version":"2012-10-17","Statement":[]})").ok());
  EXPECT_EQ(api.target, "secretsmanager.PutResourcePolicy");
  EXPECT_EQ(
      api.body,
      JsonDoc::parse(
          R"({"SecretId":"n","ResourcePolicy":"{\"Version\":\"2012-10-17\",\"Statement\":[]}"})"));

  api.answers.push_back(std::string(R"({"ARN":"a","Name":"n","SecretString":"s3cret"})"));
  EXPECT_EQ(*sm.GetSecretValue("n"), "s3cret");
  EXPECT_EQ(api.target, "secretsmanager.GetSecretValue");

  api.answers.push_back(std::string(
      R"({"ARN":"a","Name":"n","DeletedDate":1.7E9,"Tags":[{"Key":"k","Value":"v"}]})"));
  auto info = sm.DescribeSecret("n");
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->scheduled_for_deletion);
  EXPECT_EQ(info->tags, (Tags{{"k", "v"}}));

  api.answers.push_back(std::string(R"({"ARN":"a","Name":"n","DeletionDate":1.7E9})"));
  ASSERT_TRUE(sm.DeleteSecret("n").ok());
  EXPECT_EQ(api.body, JsonDoc::parse(R"({"SecretId":"n","ForceDeleteWithoutRecovery":true})"));
  api.answers.push_back(
      Status::NotFound("secretsmanager DeleteSecret: ResourceNotFoundException: gone"));
  EXPECT_TRUE(sm.DeleteSecret("n").ok()) << "absent counts as deleted";
  api.answers.push_back(
      Status::AlreadyExists("secretsmanager CreateSecret: ResourceExistsException: x"));
  EXPECT_EQ(sm.CreateSecret("n", "v", "d", {}).status().code(), StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace carrierarr::aws
