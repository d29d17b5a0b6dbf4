#include "control_plane/node_registry.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <utility>

namespace carrierarr::control_plane {

using ec2agent::v1::HealthState;

NodeRegistry::NodeRegistry(LifecyclePolicy policy, std::chrono::seconds heartbeat,
                           std::chrono::seconds status, int idle_shutdown_minutes)
    : policy_(policy), idle_shutdown_minutes_(idle_shutdown_minutes) {
  MutexLock lock(mu_);
  heartbeat_sec_ = heartbeat.count();
  status_sec_ = status.count();
}

Status NodeRegistry::Load(const NodeRecord& r, int64_t now_ms) {
  NodeState n;
  if (!n.registration.ParseFromString(r.registration))
    return Status::DataLoss("stored registration of node " + r.node_id + " is corrupt");
  n.has_status = !r.last_status.empty() && n.last_status.ParseFromString(r.last_status);
  n.credential_hash = r.credential_hash;
  n.registered_ms = r.registered_ms;
  n.last_seen_ms = r.last_seen_ms;
  MutexLock lock(mu_);
  n.lifecycle = r.lifecycle.empty() ? LifecycleAt(r.last_seen_ms, now_ms) : r.lifecycle;
  node_by_credential_[r.credential_hash] = r.node_id;
  nodes_.emplace(r.node_id, std::move(n));
  return Status::Ok();
}

size_t NodeRegistry::size() const {
  MutexLock lock(mu_);
  return nodes_.size();
}

std::optional<std::string> NodeRegistry::NodeOfCredential(const std::string& hash) const {
  MutexLock lock(mu_);
  auto it = node_by_credential_.find(hash);
  if (it == node_by_credential_.end()) return std::nullopt;
  return it->second;
}

std::optional<int64_t> NodeRegistry::RegisteredMs(const std::string& node_id) const {
  MutexLock lock(mu_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return std::nullopt;
  return it->second.registered_ms;
}

std::shared_ptr<StreamSink> NodeRegistry::Enroll(const std::string& node_id,
                                                 const ec2agent::v1::RegisterRequest& registration,
                                                 const std::string& credential_hash,
                                                 bool new_credential, int64_t registered_ms,
                                                 int64_t now_ms) {
  std::shared_ptr<StreamSink> replaced;
  MutexLock lock(mu_);
  NodeState& n = nodes_[node_id];
  if (new_credential && !n.credential_hash.empty()) {
    node_by_credential_.erase(n.credential_hash);  // a re-enrolled node's old credential dies
    replaced = std::move(n.stream);
  }
  n.registration = registration;
  n.credential_hash = credential_hash;
  n.registered_ms = registered_ms;
  n.last_seen_ms = now_ms;
  n.lifecycle = kConnected;
  n.idle_shutdown_sent = false;
  node_by_credential_[credential_hash] = node_id;
  return replaced;
}

std::string NodeRegistry::MarkSeen(NodeState& node, int64_t now_ms) {
  node.last_seen_ms = now_ms;
  return std::exchange(node.lifecycle, kConnected);
}

std::optional<NodeRegistry::Attached> NodeRegistry::Attach(const std::string& node_id,
                                                           const std::shared_ptr<StreamSink>& sink,
                                                           int64_t now_ms) {
  MutexLock lock(mu_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return std::nullopt;
  Attached a;
  a.replaced = std::exchange(it->second.stream, sink);
  a.was = MarkSeen(it->second, now_ms);
  return a;
}

bool NodeRegistry::Detach(const std::string& node_id, const StreamSink* sink) {
  MutexLock lock(mu_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end() || it->second.stream.get() != sink) return false;
  it->second.stream.reset();
  return true;
}

std::optional<std::string> NodeRegistry::Touch(const std::string& node_id, int64_t now_ms) {
  MutexLock lock(mu_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return std::nullopt;
  return MarkSeen(it->second, now_ms);
}

std::optional<std::string> NodeRegistry::RecordStatus(const std::string& node_id,
                                                      const ec2agent::v1::NodeStatus& status,
                                                      int64_t now_ms) {
  MutexLock lock(mu_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return std::nullopt;
  it->second.last_status = status;
  it->second.has_status = true;
  return MarkSeen(it->second, now_ms);
}

std::optional<std::shared_ptr<StreamSink>> NodeRegistry::NoteSeen(const std::string& node_id,
                                                                  int64_t now_ms) {
  MutexLock lock(mu_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return std::nullopt;
  it->second.last_seen_ms = now_ms;
  return it->second.stream;
}

std::optional<std::shared_ptr<StreamSink>> NodeRegistry::StreamOf(
    const std::string& node_id) const {
  MutexLock lock(mu_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return std::nullopt;
  return it->second.stream;
}

std::vector<std::shared_ptr<StreamSink>> NodeRegistry::Streams() const {
  std::vector<std::shared_ptr<StreamSink>> sinks;
  MutexLock lock(mu_);
  for (const auto& [id, n] : nodes_)
    if (n.stream) sinks.push_back(n.stream);
  return sinks;
}

std::optional<std::shared_ptr<StreamSink>> NodeRegistry::Remove(const std::string& node_id) {
  MutexLock lock(mu_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return std::nullopt;
  node_by_credential_.erase(it->second.credential_hash);
  std::shared_ptr<StreamSink> stream = std::move(it->second.stream);
  nodes_.erase(it);
  return stream;
}

std::string NodeRegistry::LifecycleAt(int64_t last_seen_ms, int64_t now_ms) const {
  int64_t age = now_ms - last_seen_ms;
  int64_t stale =
      policy_.stale_after.count() > 0 ? policy_.stale_after.count() * 1000 : 2 * status_sec_ * 1000;
  if (age >= policy_.dead_after.count() * 1000) return kDead;
  if (age >= stale) return kStale;
  return kConnected;
}

namespace {

// An agent cannot have been idle for longer than it has been up: a larger idle_seconds is a
// placeholder (the original agent's time.Since of a zero time), not a measurement.
bool IdleTrusted(const ec2agent::v1::NodeStatus& s) {
  return s.idle_seconds() >= 0 && s.idle_seconds() <= s.uptime_seconds();
}

int CountLoaded(const ec2agent::v1::NodeStatus& s) {
  return static_cast<int>(std::count_if(s.loaded_models().begin(), s.loaded_models().end(),
                                        [](const auto& m) { return m.currently_loaded(); }));
}

}  // namespace

NodeRegistry::SweepResult NodeRegistry::Sweep(int64_t now_ms) {
  SweepResult out;
  const int64_t idle_limit_s = idle_shutdown_minutes_ * 60LL;
  MutexLock lock(mu_);
  for (auto& [id, n] : nodes_) {
    std::string state = LifecycleAt(n.last_seen_ms, now_ms);
    if (state != n.lifecycle) {
      n.lifecycle = state;
      out.transitions.push_back({id, state, n.last_seen_ms});
    }
    // Idle GPUs cost money: one SHUTDOWN per idle spell (a new registration re-arms it).
    if (idle_limit_s > 0 && !n.idle_shutdown_sent && n.has_status && n.lifecycle == kConnected &&
        n.registration.node_type() == ec2agent::v1::NODE_TYPE_GPU_WORKER &&
        n.last_status.idle_seconds() >= idle_limit_s && IdleTrusted(n.last_status)) {
      n.idle_shutdown_sent = true;
      out.idle.push_back({id, n.last_status.idle_seconds()});
    }
  }
  return out;
}

namespace {

ec2agent::v1::NodeSummary Summarize(const std::string& id,
                                    const ec2agent::v1::RegisterRequest& registration,
                                    const ec2agent::v1::NodeStatus& status,
                                    const std::string& lifecycle, bool connected,
                                    int64_t last_seen_ms) {
  ec2agent::v1::NodeSummary s;
  s.set_node_id(id);
  s.set_node_type(registration.node_type());
  s.set_health(lifecycle == kDead    ? ec2agent::v1::HEALTH_STATE_UNHEALTHY
               : lifecycle == kStale ? ec2agent::v1::HEALTH_STATE_DEGRADED
                                     : status.health());
  s.set_nebula_ip(registration.nebula_ip());
  s.set_instance_id(registration.instance_id());
  s.set_connected(connected);
  *s.mutable_last_seen() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(last_seen_ms);
  s.set_uptime_seconds(status.uptime_seconds());
  s.set_idle_seconds(status.idle_seconds());
  const auto& res = status.resources();
  s.set_cpu_percent(res.cpu_percent());
  s.set_memory_percent(res.memory_total_mb() > 0
                           ? 100.0 * static_cast<double>(res.memory_used_mb()) /
                                 static_cast<double>(res.memory_total_mb())
                           : 0);
  s.set_gpu_count(std::max(status.gpus_size(), registration.capabilities().gpu_count()));
  s.set_loaded_models(CountLoaded(status));  // in memory; the list also holds those on disk
  s.set_lifecycle(lifecycle);
  return s;
}

}  // namespace

ec2agent::v1::FleetStatusResponse NodeRegistry::FleetStatus(
    const ec2agent::v1::FleetStatusRequest& request, std::string_view only) const {
  ec2agent::v1::FleetStatusResponse response;
  auto* summary = response.mutable_summary();
  MutexLock lock(mu_);
  for (const auto& [id, n] : nodes_) {
    if (!only.empty() && id != only) continue;
    ec2agent::v1::NodeSummary s = Summarize(id, n.registration, n.last_status, n.lifecycle,
                                            n.stream != nullptr, n.last_seen_ms);
    const HealthState health = s.health();
    if (request.node_type() != ec2agent::v1::NODE_TYPE_UNSPECIFIED &&
        request.node_type() != s.node_type())
      continue;
    if (request.health() != ec2agent::v1::HEALTH_STATE_UNSPECIFIED && request.health() != health)
      continue;
    summary->set_total_nodes(summary->total_nodes() + 1);
    if (health == ec2agent::v1::HEALTH_STATE_HEALTHY)
      summary->set_healthy_nodes(summary->healthy_nodes() + 1);
    else
      summary->set_unhealthy_nodes(summary->unhealthy_nodes() + 1);
    if (s.gpu_count() > 0) summary->set_gpu_nodes(summary->gpu_nodes() + 1);
    summary->set_total_gpus(summary->total_gpus() + s.gpu_count());
    *response.add_nodes() = std::move(s);
  }
  return response;
}

carrierarr::v1::Node NodeRegistry::ToNode(const std::string& id, const NodeState& n) {
  carrierarr::v1::Node node;
  const ec2agent::v1::RegisterRequest& r = n.registration;
  node.set_node_id(id);
  node.set_node_type(r.node_type());
  node.set_instance_id(r.instance_id());
  node.set_nebula_ip(r.nebula_ip());
  node.set_public_ip(r.public_ip());
  node.set_region(r.region());
  node.set_availability_zone(r.availability_zone());
  node.mutable_labels()->insert(r.labels().begin(), r.labels().end());
  *node.mutable_capabilities() = r.capabilities();
  node.set_lifecycle(n.lifecycle);
  node.set_registered_unix(n.registered_ms / 1000);
  node.set_last_seen_unix_ms(n.last_seen_ms);
  if (n.has_status) *node.mutable_last_status() = n.last_status;
  node.set_agent_version(r.agent_version());
  return node;
}

std::vector<carrierarr::v1::Node> NodeRegistry::List() const {
  std::vector<carrierarr::v1::Node> out;
  MutexLock lock(mu_);
  out.reserve(nodes_.size());
  for (const auto& [id, n] : nodes_) out.push_back(ToNode(id, n));
  return out;
}

Result<carrierarr::v1::Node> NodeRegistry::Get(const std::string& node_id) const {
  MutexLock lock(mu_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end())
    return Status::NotFound("no node " + node_id + " (see 'carrierarr nodes')");
  return ToNode(it->first, it->second);
}

NodeRegistry::Census NodeRegistry::TakeCensus() const {
  Census c{.by_lifecycle = {{kConnected, 0}, {kStale, 0}, {kDead, 0}}};
  MutexLock lock(mu_);
  for (const auto& [id, n] : nodes_) {
    c.by_lifecycle[n.lifecycle]++;
    if (n.stream) ++c.streams;
    c.models_loaded += CountLoaded(n.last_status);
    c.models_listed += n.last_status.loaded_models_size();
  }
  return c;
}

ec2agent::v1::ConfigUpdate NodeRegistry::Config() const {
  ec2agent::v1::ConfigUpdate c;
  MutexLock lock(mu_);
  c.set_heartbeat_interval_sec(static_cast<int32_t>(heartbeat_sec_));
  c.set_status_interval_sec(static_cast<int32_t>(status_sec_));
  c.set_idle_shutdown_minutes(idle_shutdown_minutes_);
  return c;
}

std::vector<std::shared_ptr<StreamSink>> NodeRegistry::SetIntervals(std::chrono::seconds heartbeat,
                                                                    std::chrono::seconds status) {
  {
    MutexLock lock(mu_);
    heartbeat_sec_ = heartbeat.count();
    status_sec_ = status.count();
  }
  return Streams();
}

}  // namespace carrierarr::control_plane
