// What /api/v1/stats and /metrics report: one snapshot of the control plane's counters, taken by
// ControlPlane::Metrics(), and its two renderings. No lock: the counters are atomics and the
// census comes from the registry's own snapshot.
#ifndef CARRIERARR_CONTROL_PLANE_FLEET_METRICS_H_
#define CARRIERARR_CONTROL_PLANE_FLEET_METRICS_H_

#include <cstdint>
#include <map>
#include <string>

#include "control_plane/metrics.h"

namespace carrierarr::control_plane {

struct FleetMetrics {
  std::map<std::string, int> nodes_by_lifecycle;
  size_t streams_open = 0;
  size_t commands_unfinished = 0;
  uint64_t registrations = 0, registrations_refused = 0, statuses = 0, heartbeats = 0,
           command_results = 0, commands_sent = 0, invalid_messages = 0;
  // Models on the nodes' last statuses: in memory (currently_loaded), and all they listed.
  uint64_t models_loaded = 0, models_listed = 0;
  uint64_t events_dropped = 0;  // agents' events over their rate limit
  std::string store_backend;
  uint64_t store_batches = 0, store_rows = 0, store_errors = 0;
  const LatencyHistogram* store_latency = nullptr;   // agent send -> committed; not owned
  const LatencyHistogram* batch_write_ms = nullptr;  // one batched write; not owned
};

// The /api/v1/stats document.
std::string RenderStatsJson(const FleetMetrics& m);
// The Prometheus text format (0.0.4) of /metrics.
std::string RenderPrometheus(const FleetMetrics& m);

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_FLEET_METRICS_H_
