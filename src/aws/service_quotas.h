// Service Quotas (JSON 1.1): read one quota's value. Thread-safe as its AwsApi.
#ifndef CARRIERARR_AWS_SERVICE_QUOTAS_H_
#define CARRIERARR_AWS_SERVICE_QUOTAS_H_

#include <optional>
#include <string>

#include "aws/client.h"

namespace carrierarr::aws {

// The EC2 vCPU quota an instance type counts against, and its name, for messages.
struct VcpuQuota {
  std::string code;  // "L-DB2E81BA"
  std::string name;  // "Running On-Demand G and VT instances"
};
// By family letter(s) of the type and whether it is spot: G/VT, P, standard (A C D H I M R T Z)...
VcpuQuota VcpuQuotaFor(const std::string& instance_type, bool spot);
// vCPUs of common types (GPU families and the sizes the docs use); nullopt when unknown.
std::optional<int> VcpusOf(const std::string& instance_type);

class ServiceQuotas {
 public:
  explicit ServiceQuotas(AwsApi* api) : api_(api) {}
  // Quota.Value of GetServiceQuota{ServiceCode, QuotaCode}.
  Result<double> GetServiceQuota(const std::string& service_code, const std::string& quota_code);

 private:
  AwsApi* api_;
};

}  // namespace carrierarr::aws

#endif  // CARRIERARR_AWS_SERVICE_QUOTAS_H_
