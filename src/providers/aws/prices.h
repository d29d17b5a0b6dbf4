// EC2's on-demand list prices for the instance types fleets usually run: Linux, us-east-1, USD
// per hour, as AWS publishes them. Other regions cost up to a third more: a fleet with a budget
// outside us-east-1 writes its own under `prices` in fleet.yaml (which always wins).
#ifndef CARRIERARR_PROVIDERS_AWS_PRICES_H_
#define CARRIERARR_PROVIDERS_AWS_PRICES_H_

#include <optional>
#include <string_view>

#include "spec/fleet.h"

namespace carrierarr::aws_provider {

// nullopt for a type the table does not hold.
std::optional<spec::MicroUsd> ListPrice(std::string_view instance_type);

}  // namespace carrierarr::aws_provider

#endif  // CARRIERARR_PROVIDERS_AWS_PRICES_H_
