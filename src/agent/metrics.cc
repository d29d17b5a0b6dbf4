#include "agent/metrics.h"

#include <unistd.h>

#include <cstdio>

namespace carrierarr::agent {
namespace {

// Label values are ours (command type names), but escape anyway: the format requires it.
std::string EscapeLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

void AgentMetrics::SetConnected(bool connected, std::string reason) {
  std::lock_guard<std::mutex> lock(mu_);
  connected_ = connected;
  reason_ = connected ? "" : std::move(reason);
}

bool AgentMetrics::connected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connected_;
}

std::string AgentMetrics::not_ready_reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reason_;
}

void AgentMetrics::CountCommand(const std::string& type, const std::string& result) {
  std::lock_guard<std::mutex> lock(mu_);
  ++commands_[{type, result}];
}

uint64_t AgentMetrics::commands(const std::string& type, const std::string& result) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = commands_.find({type, result});
  return it == commands_.end() ? 0 : it->second;
}

std::string AgentMetrics::RenderPrometheus() const {
  bool connected;
  std::map<std::pair<std::string, std::string>, uint64_t> commands;
  {
    std::lock_guard<std::mutex> lock(mu_);
    connected = connected_;
    commands = commands_;
  }
  std::string out;
  out +=
      "# HELP carrierarr_agent_connected Whether the agent's stream to the control plane is up.\n"
      "# TYPE carrierarr_agent_connected gauge\n"
      "carrierarr_agent_connected " +
      std::string(connected ? "1" : "0") +
      "\n"
      "# HELP carrierarr_agent_reconnects_total Streams opened after the first.\n"
      "# TYPE carrierarr_agent_reconnects_total counter\n"
      "carrierarr_agent_reconnects_total " +
      std::to_string(reconnects()) +
      "\n"
      "# HELP carrierarr_agent_status_sent_total Status reports sent.\n"
      "# TYPE carrierarr_agent_status_sent_total counter\n"
      "carrierarr_agent_status_sent_total " +
      std::to_string(status_sent()) +
      "\n"
      "# HELP carrierarr_agent_commands_total Commands received, by type and result.\n"
      "# TYPE carrierarr_agent_commands_total counter\n";
  for (const auto& [key, count] : commands) {
    out += "carrierarr_agent_commands_total{type=\"" + EscapeLabel(key.first) + "\",result=\"" +
           EscapeLabel(key.second) + "\"} " + std::to_string(count) + "\n";
  }
  out +=
      "# HELP carrierarr_agent_rss_bytes Resident set size of the agent.\n"
      "# TYPE carrierarr_agent_rss_bytes gauge\n"
      "carrierarr_agent_rss_bytes " +
      std::to_string(CurrentRssBytes()) + "\n";
  return out;
}

uint64_t CurrentRssBytes() {
  FILE* f = std::fopen("/proc/self/statm", "re");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;  // NOLINT(google-runtime-int): fscanf's types
  int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<uint64_t>(resident) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace carrierarr::agent
