// What `carrierarr status` prints of a FleetStatus: the text table (and the cloud cluster's
// nodes under it), or JSON. Apart from the command so that tests render a status of their own.
#ifndef CARRIERARR_CLI_STATUS_H_
#define CARRIERARR_CLI_STATUS_H_

#include <ostream>

#include "ops/fleet_ops.h"

namespace carrierarr::cli {

// `healthy` is how many of status.nodes are healthy. The cloud cluster shows only when a node's
// agent reports one (JSON: "cloud_cluster", with each node's explanation).
void PrintStatusText(const ops::FleetStatus& status, int healthy, std::ostream& out);
void PrintStatusJson(const ops::FleetStatus& status, int healthy, std::ostream& out);

}  // namespace carrierarr::cli

#endif  // CARRIERARR_CLI_STATUS_H_
