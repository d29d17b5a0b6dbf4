#include "aws/service_quotas.h"

#include <map>
#include <nlohmann/json.hpp>

namespace carrierarr::aws {

VcpuQuota VcpuQuotaFor(const std::string& instance_type, bool spot) {
  std::string family = instance_type.substr(0, instance_type.find_first_of("0123456789."));
  if (family == "g" || family == "vt") {
    return spot ? VcpuQuota{"L-3819A6DF", "All G and VT Spot Instance Requests"}
                : VcpuQuota{"L-DB2E81BA", "Running On-Demand G and VT instances"};
  }
  if (family == "p") {
    return spot ? VcpuQuota{"L-7212CCBC", "All P Spot Instance Requests"}
                : VcpuQuota{"L-417A185B", "Running On-Demand P instances"};
  }
  return spot ? VcpuQuota{"L-34B43A08",
                          "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance "
                          "Requests"}
              : VcpuQuota{"L-1216C47A",
                          "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) "
                          "instances"};
}

std::optional<int> VcpusOf(const std::string& instance_type) {
  // Sizes the docs and the seeds use; GPU families in full.
  static const std::map<std::string, int> kVcpus = {
      {"g4dn.xlarge", 4},    {"g4dn.2xlarge", 8},   {"g4dn.4xlarge", 16},  {"g4dn.8xlarge", 32},
      {"g4dn.12xlarge", 48}, {"g4dn.16xlarge", 64}, {"g4dn.metal", 96},    {"g5.xlarge", 4},
      {"g5.2xlarge", 8},     {"g5.4xlarge", 16},    {"g5.8xlarge", 32},    {"g5.12xlarge", 48},
      {"g5.16xlarge", 64},   {"g5.24xlarge", 96},   {"g5.48xlarge", 192},  {"g6.xlarge", 4},
      {"g6.2xlarge", 8},     {"g6.4xlarge", 16},    {"g6.8xlarge", 32},    {"g6.12xlarge", 48},
      {"g6.16xlarge", 64},   {"g6.24xlarge", 96},   {"g6.48xlarge", 192},  {"g6e.xlarge", 4},
      {"g6e.2xlarge", 8},    {"g6e.4xlarge", 16},   {"g6e.8xlarge", 32},   {"g6e.12xlarge", 48},
      {"g6e.16xlarge", 64},  {"g6e.24xlarge", 96},  {"g6e.48xlarge", 192}, {"p3.2xlarge", 8},
      {"p3.8xlarge", 32},    {"p3.16xlarge", 64},   {"p4d.24xlarge", 96},  {"p5.48xlarge", 192},
      {"t3.micro", 2},       {"t3.small", 2},       {"t3.medium", 2},      {"t3.large", 2},
      {"t3.xlarge", 4},      {"t3.2xlarge", 8},     {"t4g.small", 2},      {"t4g.medium", 2},
      {"m5.large", 2},       {"m5.xlarge", 4},      {"m5.2xlarge", 8},     {"c5.large", 2},
      {"c5.xlarge", 4},      {"c5.2xlarge", 8}};
  auto it = kVcpus.find(instance_type);
  if (it == kVcpus.end()) return std::nullopt;
  return it->second;
}

Result<double> ServiceQuotas::GetServiceQuota(const std::string& service_code,
                                              const std::string& quota_code) {
  nlohmann::json body{{"ServiceCode", service_code}, {"QuotaCode", quota_code}};
  auto r = api_->Json("servicequotas", "ServiceQuotasV20190624.GetServiceQuota", body.dump());
  if (!r.ok()) return r.status();
  auto j = nlohmann::json::parse(*r, nullptr, false);
  if (j.is_discarded() || !j.contains("Quota") || !j["Quota"].contains("Value"))
    return Status::DataLoss("servicequotas GetServiceQuota " + quota_code + ": no Quota.Value");
  return j["Quota"]["Value"].get<double>();
}

}  // namespace carrierarr::aws
