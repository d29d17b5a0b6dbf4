// fleet.yaml's GPU-burst keys (burst_parser.cc): a pool's `scaling` and `budget`, the fleet's
// `budget` and `prices`, and the rules across them, run once the whole document has been read.
// Internal to spec.
#ifndef CARRIERARR_SPEC_BURST_READER_H_
#define CARRIERARR_SPEC_BURST_READER_H_

#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "spec/fleet.h"
#include "spec/fleet_reader.h"

namespace carrierarr::spec {

// `where` names the pool in messages ("pool 'gpu'").
void ReadScaling(FleetReader& r, const YAML::Node& node, const std::string& where, PoolSpec& pool);
void ReadBudget(FleetReader& r, const YAML::Node& node, const std::string& where, Budget& out);
// A pool's `models` and `keep_alive` from its map `m`.
void ReadModels(FleetReader& r, std::map<std::string, YAML::Node>& m, const std::string& where,
                PoolSpec& pool);
void ReadPrices(FleetReader& r, const YAML::Node& node, std::map<std::string, InstancePrice>& out);

// Each scaled pool's price (fleet.yaml's `prices`, else `list_price` of the pool's provider),
// and the rules: a budget only on a scaled pool, a price wherever a budget applies.
using ListPriceFn = std::function<std::optional<MicroUsd>(const PoolSpec&)>;
void ValidateBurst(FleetReader& r, FleetSpec& fleet, const ListPriceFn& list_price);

}  // namespace carrierarr::spec

#endif  // CARRIERARR_SPEC_BURST_READER_H_
