// Service Quotas: the request, Quota.Value, and which vCPU quota a type counts against.
#include "aws/service_quotas.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace carrierarr::aws {
namespace {

class QuotaApi final : public AwsApi {
 public:
  std::string target, body, answer;
  Result<std::string> Query(const std::string&, const std::string&, const QueryParams&) override {
    return Status::Internal("not a Query API");
  }
  Result<std::string> Json(const std::string&, const std::string& t,
                           const std::string& b) override {
    target = t;
    body = b;
    return answer;
  }
};

TEST(ServiceQuotasTest, ReadsQuotaValue) {
  QuotaApi api;
  api.answer =
      R"({"Quota":{"ServiceCode":"ec2","QuotaCode":"L-DB2E81BA","QuotaName":"Running On-Demand G and VT instances","Value":8.0,"Unit":"None"}})";
  ServiceQuotas quotas(&api);
  EXPECT_EQ(*quotas.GetServiceQuota("ec2", "L-DB2E81BA"), 8.0);
  EXPECT_EQ(api.target, "ServiceQuotasV20190624.GetServiceQuota");
  EXPECT_EQ(nlohmann::json::parse(api.body),
            nlohmann::json::parse(R"({"ServiceCode":"ec2","QuotaCode":"L-DB2E81BA"})"));
  api.answer = R"({"Quota":{}})";
  EXPECT_EQ(quotas.GetServiceQuota("ec2", "L-DB2E81BA").status().code(), StatusCode::kDataLoss);
}

TEST(ServiceQuotasTest, QuotaCodesByFamily) {
  EXPECT_EQ(VcpuQuotaFor("g4dn.xlarge", false).code, "L-DB2E81BA");
  EXPECT_EQ(VcpuQuotaFor("g5.2xlarge", true).code, "L-3819A6DF");
  EXPECT_EQ(VcpuQuotaFor("vt1.3xlarge", false).code, "L-DB2E81BA");
  EXPECT_EQ(VcpuQuotaFor("p4d.24xlarge", false).code, "L-417A185B");
  EXPECT_EQ(VcpuQuotaFor("p3.2xlarge", true).code, "L-7212CCBC");
  EXPECT_EQ(VcpuQuotaFor("t3.small", false).code, "L-1216C47A");
  EXPECT_EQ(VcpuQuotaFor("m5.large", true).code, "L-34B43A08");
  EXPECT_EQ(VcpusOf("g4dn.xlarge"), 4);
  EXPECT_EQ(VcpusOf("p4d.24xlarge"), 96);
  EXPECT_EQ(VcpusOf("x2iedn.32xlarge"), std::nullopt);
}

}  // namespace
}  // namespace carrierarr::aws
