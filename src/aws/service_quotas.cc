#include "aws/service_quotas.h"

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

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
  // The sizes the docs and the seeds use, per family; GPU families in full. Every size listed
  // follows the rule below, "metal" aside.
  static const std::set<std::string_view> kG5Sizes = {
      "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"};
  static const std::map<std::string_view, std::set<std::string_view>> kSizes = {
      {"g4dn", {"xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "metal"}},
      {"g5", kG5Sizes},
      {"g6", kG5Sizes},
      {"g6e", kG5Sizes},
      {"p3", {"2xlarge", "8xlarge", "16xlarge"}},
      {"p4d", {"24xlarge"}},
      {"p5", {"48xlarge"}},
      {"t3", {"micro", "small", "medium", "large", "xlarge", "2xlarge"}},
      {"t4g", {"small", "medium"}},
      {"m5", {"large", "xlarge", "2xlarge"}},
      {"c5", {"large", "xlarge", "2xlarge"}}};
  const std::string_view type(instance_type);
  const size_t dot = type.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto family = kSizes.find(type.substr(0, dot));
  const std::string_view size = type.substr(dot + 1);
  if (family == kSizes.end() || family->second.count(size) == 0) return std::nullopt;
  // The one bare-metal size listed: the whole host.
  if (type == "g4dn.metal") return 96;
  // Two vCPUs up to "large" (the burstable t sizes below it included), then 4 per "xlarge".
  if (size == "micro" || size == "small" || size == "medium" || size == "large") return 2;
  if (size == "xlarge") return 4;
  return 4 * std::stoi(std::string(size));  // "<N>xlarge"
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
