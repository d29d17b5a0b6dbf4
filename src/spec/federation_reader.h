// fleet.yaml's `federation` section (federation_parser.cc): read into FederationSpec, and the
// rules across its fields, run once the whole document has been read. Internal to spec.
#ifndef CARRIERARR_SPEC_FEDERATION_READER_H_
#define CARRIERARR_SPEC_FEDERATION_READER_H_

#include <yaml-cpp/yaml.h>

#include "spec/fleet.h"
#include "spec/fleet_reader.h"

namespace carrierarr::spec {

void ReadFederation(FleetReader& r, const YAML::Node& node, FederationSpec& out);
void ValidateFederation(FleetReader& r, const FleetSpec& fleet);

// Cilium's rules for a cluster name (at most 32 of [a-z0-9-], alphanumeric at both ends: it
// names a data key of the cilium-clustermesh Secret); Liqo's cluster ids follow the same shape.
bool IsClusterName(const std::string& s);
inline constexpr size_t kMaxClusterNameLength = 32;

}  // namespace carrierarr::spec

#endif  // CARRIERARR_SPEC_FEDERATION_READER_H_
