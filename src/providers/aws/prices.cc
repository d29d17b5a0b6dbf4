#include "providers/aws/prices.h"

#include <algorithm>
#include <array>
#include <utility>

namespace carrierarr::aws_provider {
namespace {

// Sorted by name (checked below, at compile time), micro-dollars per hour.
constexpr std::array<std::pair<std::string_view, spec::MicroUsd>, 46> kPrices = {{
    {"c6i.large", 85'000},       {"c6i.xlarge", 170'000},      {"c7g.large", 72'500},
    {"c7g.xlarge", 145'000},     {"g4dn.12xlarge", 3'912'000}, {"g4dn.16xlarge", 4'352'000},
    {"g4dn.2xlarge", 752'000},   {"g4dn.4xlarge", 1'204'000},  {"g4dn.8xlarge", 2'176'000},
    {"g4dn.xlarge", 526'000},    {"g5.12xlarge", 5'672'000},   {"g5.16xlarge", 4'096'000},
    {"g5.24xlarge", 8'144'000},  {"g5.2xlarge", 1'212'000},    {"g5.48xlarge", 16'288'000},
    {"g5.4xlarge", 1'624'000},   {"g5.8xlarge", 2'448'000},    {"g5.xlarge", 1'006'000},
    {"g5g.16xlarge", 2'744'000}, {"g5g.2xlarge", 556'000},     {"g5g.4xlarge", 828'000},
    {"g5g.8xlarge", 1'372'000},  {"g5g.xlarge", 420'000},      {"g6.12xlarge", 4'601'600},
    {"g6.16xlarge", 3'396'800},  {"g6.24xlarge", 6'675'200},   {"g6.2xlarge", 977'600},
    {"g6.48xlarge", 13'350'400}, {"g6.4xlarge", 1'323'200},    {"g6.8xlarge", 2'014'400},
    {"g6.xlarge", 804'800},      {"m6i.large", 96'000},        {"m6i.xlarge", 192'000},
    {"m7g.large", 81'600},       {"m7g.xlarge", 163'200},      {"p3.16xlarge", 24'480'000},
    {"p3.2xlarge", 3'060'000},   {"p3.8xlarge", 12'240'000},   {"t3.large", 83'200},
    {"t3.medium", 41'600},       {"t3.micro", 10'400},         {"t3.small", 20'800},
    {"t3.xlarge", 166'400},      {"t4g.medium", 33'600},       {"t4g.micro", 8'400},
    {"t4g.small", 16'800},
}};

static_assert(std::is_sorted(kPrices.begin(), kPrices.end(),
                             [](const auto& a, const auto& b) { return a.first < b.first; }),
              "kPrices must stay sorted by instance type");

}  // namespace

std::optional<spec::MicroUsd> ListPrice(std::string_view instance_type) {
  auto it = std::lower_bound(kPrices.begin(), kPrices.end(), instance_type,
                             [](const auto& entry, std::string_view t) { return entry.first < t; });
  if (it == kPrices.end() || it->first != instance_type) return std::nullopt;
  return it->second;
}

}  // namespace carrierarr::aws_provider
