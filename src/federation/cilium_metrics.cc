#include "federation/cilium_metrics.h"

#include <cmath>
#include <cstdlib>

namespace carrierarr::federation {
namespace {

// "cilium_clustermesh_x" and "cilium_agent_clustermesh_x" -> "clustermesh_x"; others "".
std::string_view MeshMetric(std::string_view name) {
  for (std::string_view prefix : {"cilium_agent_", "cilium_"}) {
    if (name.substr(0, prefix.size()) != prefix) continue;
    std::string_view rest = name.substr(prefix.size());
    return rest.substr(0, 12) == "clustermesh_" ? rest : std::string_view();
  }
  return {};
}

// `{a="x",b="y"}` from `at` (just past '{'); the value of `want`, "" if absent. False: malformed.
bool ReadLabels(std::string_view line, size_t& at, const std::string& want, std::string& value) {
  for (;;) {
    while (at < line.size() && (line[at] == ' ' || line[at] == ',')) ++at;
    if (at < line.size() && line[at] == '}') {
      ++at;
      return true;
    }
    const size_t eq = line.find('=', at);
    if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') return false;
    const std::string_view key = line.substr(at, eq - at);
    std::string v;
    size_t i = eq + 2;
    for (; i < line.size() && line[i] != '"'; ++i) {
      if (line[i] == '\\' && i + 1 < line.size()) {
        ++i;
        v += line[i] == 'n' ? '\n' : line[i];
      } else {
        v += line[i];
      }
    }
    if (i >= line.size()) return false;  // unterminated value
    at = i + 1;
    if (key == want) value = v;
  }
}

}  // namespace

Result<AgentMeshView> ParseAgentMetrics(std::string_view text) {
  AgentMeshView view;
  int line_no = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    const size_t name_end = line.find_first_of("{ ");
    if (name_end == std::string_view::npos || name_end == 0) {
      return Status::InvalidArgument("metrics line " + std::to_string(line_no) +
                                     ": not a sample: " + std::string(line.substr(0, 120)));
    }
    const std::string_view metric = MeshMetric(line.substr(0, name_end));
    if (metric.empty()) continue;
    size_t at = name_end;
    std::string target;
    if (line[at] == '{') {
      ++at;
      if (!ReadLabels(line, at, "target_cluster", target)) {
        return Status::InvalidArgument("metrics line " + std::to_string(line_no) +
                                       ": unreadable labels: " + std::string(line.substr(0, 120)));
      }
    }
    const std::string rest(line.substr(at));
    char* parsed_end = nullptr;
    const double value = std::strtod(rest.c_str(), &parsed_end);
    if (parsed_end == rest.c_str() || !std::isfinite(value)) {
      return Status::InvalidArgument("metrics line " + std::to_string(line_no) +
                                     ": no value: " + std::string(line.substr(0, 120)));
    }
    const auto count = static_cast<int64_t>(value);
    if (metric == "clustermesh_remote_clusters") {
      view.remote_clusters = count;
    } else if (!target.empty() && metric == "clustermesh_remote_cluster_readiness_status") {
      view.remotes[target].ready = value == 1;
    } else if (!target.empty() && metric == "clustermesh_remote_cluster_nodes") {
      view.remotes[target].nodes = count;
    } else if (!target.empty() && metric == "clustermesh_remote_cluster_endpoints") {
      view.remotes[target].endpoints = count;
    }
  }
  return view;
}

}  // namespace carrierarr::federation
