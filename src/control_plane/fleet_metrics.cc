#include "control_plane/fleet_metrics.h"

#include <nlohmann/json.hpp>

namespace carrierarr::control_plane {

std::string RenderStatsJson(const FleetMetrics& m) {
  nlohmann::json j;
  j["nodes"] = m.nodes_by_lifecycle;
  j["streams_open"] = m.streams_open;
  j["commands_unfinished"] = m.commands_unfinished;
  j["registrations"] = m.registrations;
  j["registrations_refused"] = m.registrations_refused;
  j["statuses"] = m.statuses;
  j["heartbeats"] = m.heartbeats;
  j["command_results"] = m.command_results;
  j["models"] = {{"loaded", m.models_loaded}, {"listed", m.models_listed}};
  j["events_dropped"] = m.events_dropped;
  j["store"] = {{"backend", m.store_backend},
                {"batches", m.store_batches},
                {"rows", m.store_rows},
                {"errors", m.store_errors},
                {"status_latency_ms",
                 {{"p50", m.store_latency->Quantile(0.5)},
                  {"p99", m.store_latency->Quantile(0.99)},
                  {"count", m.store_latency->count()}}},
                {"batch_write_ms_p99", m.batch_write_ms->Quantile(0.99)}};
  return j.dump();
}

std::string RenderPrometheus(const FleetMetrics& m) {
  std::string out =
      "# HELP carrierarr_nodes Registered nodes by lifecycle state.\n"
      "# TYPE carrierarr_nodes gauge\n";
  for (const auto& [state, count] : m.nodes_by_lifecycle)
    out += "carrierarr_nodes{lifecycle=\"" + state + "\"} " + std::to_string(count) + "\n";
  RenderMetric("carrierarr_streams_open", "gauge", "Open agent Connect streams.",
               static_cast<double>(m.streams_open), &out);
  RenderMetric("carrierarr_models_loaded", "gauge",
               "Models in memory on the nodes (currently_loaded in their last status).",
               static_cast<double>(m.models_loaded), &out);
  RenderMetric("carrierarr_models_listed", "gauge",
               "Models the nodes listed in their last status, on disk or in memory.",
               static_cast<double>(m.models_listed), &out);
  struct CounterLine {
    const char* name;
    const char* help;
    uint64_t value;
  };
  for (const CounterLine& c : {
           CounterLine{"carrierarr_registrations_total", "Accepted registrations.",
                       m.registrations},
           {"carrierarr_registrations_refused_total", "Refused registrations.",
            m.registrations_refused},
           {"carrierarr_status_messages_total", "NodeStatus messages received.", m.statuses},
           {"carrierarr_heartbeats_total", "Heartbeats received.", m.heartbeats},
           {"carrierarr_command_results_total", "Command results received.", m.command_results},
           {"carrierarr_commands_sent_total", "Commands sent to agents.", m.commands_sent},
           {"carrierarr_invalid_messages_total", "Agent messages refused.", m.invalid_messages},
           {"carrierarr_agent_events_dropped_total", "Agent events over their rate limit.",
            m.events_dropped},
           {"carrierarr_store_batches_total", "Status batches written.", m.store_batches},
           {"carrierarr_store_batch_rows_total", "Status rows written.", m.store_rows},
           {"carrierarr_store_errors_total", "Failed store writes.", m.store_errors},
       })
    RenderMetric(c.name, "counter", c.help, static_cast<double>(c.value), &out);
  m.store_latency->Render("carrierarr_status_store_latency_seconds",
                          "From the agent's status timestamp to the committed store write.", &out);
  m.batch_write_ms->Render("carrierarr_store_batch_write_seconds",
                           "Duration of one batched status write.", &out);
  return out;
}

}  // namespace carrierarr::control_plane
