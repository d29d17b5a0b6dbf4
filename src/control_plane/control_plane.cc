#include "control_plane/control_plane.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/support/status_code_enum.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <tuple>

#include "control_plane/auth.h"

namespace carrierarr::control_plane {
namespace {

using ec2agent::v1::AgentMessage;
using ec2agent::v1::Command;
using ec2agent::v1::CommandResult;
using ec2agent::v1::CommandType;
using ec2agent::v1::ControlMessage;
using ec2agent::v1::HealthState;
using ec2agent::v1::NodeStatus;
using ec2agent::v1::RegisterRequest;
using ec2agent::v1::RegisterResponse;

constexpr char kAdminSetting[] = "admin_token_sha256";
constexpr char kConnected[] = "connected";
constexpr char kStale[] = "stale";
constexpr char kDead[] = "dead";

// Limits on what an agent may send: generous for any real node, small enough that one node
// cannot make the control plane hold megabytes per status.
constexpr size_t kMaxIdLength = 63;
constexpr size_t kMaxFieldLength = 256;
constexpr int kMaxLabels = 64;
constexpr int kMaxGpus = 64;
constexpr int kMaxModels = 1024;

Refusal Refuse(grpc::StatusCode code, std::string message) {
  return {static_cast<int>(code), std::move(message)};
}

bool ValidNodeId(const std::string& id) {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

std::optional<std::string> CheckRegistration(const RegisterRequest& r) {
  for (const std::string* f :
       {&r.instance_id(), &r.nebula_ip(), &r.public_ip(), &r.region(), &r.availability_zone(),
        &r.capabilities().gpu_model(), &r.agent_version()}) {
    if (f->size() > kMaxFieldLength) return "a field is longer than 256 bytes";
  }
  if (r.labels_size() > kMaxLabels) return "more than 64 labels";
  for (const auto& [k, v] : r.labels())
    if (k.size() > kMaxFieldLength || v.size() > kMaxFieldLength) return "a label is too long";
  return std::nullopt;
}

std::optional<std::string> CheckStatus(const NodeStatus& s) {
  if (s.gpus_size() > kMaxGpus) return "more than 64 GPUs in one status";
  if (s.loaded_models_size() > kMaxModels) return "more than 1024 models in one status";
  for (const auto& m : s.loaded_models())
    if (m.name().size() > kMaxFieldLength) return "a model name is longer than 256 bytes";
  return std::nullopt;
}

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string CommandTypeName(int type) {
  return ec2agent::v1::CommandType_IsValid(type)
             ? ec2agent::v1::CommandType_Name(static_cast<CommandType>(type))
             : "COMMAND_TYPE_" + std::to_string(type);
}

}  // namespace

ControlPlane::ControlPlane(std::unique_ptr<Store> store, ControlPlaneOptions options)
    : store_(std::move(store)), options_(options) {
  heartbeat_sec_ = options_.heartbeat_interval.count();
  status_sec_ = options_.status_interval.count();
}

Result<std::unique_ptr<ControlPlane>> ControlPlane::Create(std::unique_ptr<Store> store,
                                                           ControlPlaneOptions options) {
  std::unique_ptr<ControlPlane> cp(new ControlPlane(std::move(store), options));
  CARRIERARR_RETURN_IF_ERROR(cp->Load());
  if (options.background_threads) {
    cp->batch_thread_ = std::thread([p = cp.get()] { p->BatchLoop(); });
    cp->sweep_thread_ = std::thread([p = cp.get()] { p->SweepLoop(); });
  }
  return cp;
}

ControlPlane::~ControlPlane() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  batch_cv_.notify_all();
  if (batch_thread_.joinable()) batch_thread_.join();
  if (sweep_thread_.joinable()) sweep_thread_.join();
  Flush();
}

Status ControlPlane::Load() {
  auto nodes = store_->ListNodes();
  if (!nodes.ok()) return nodes.status();
  int64_t now = options_.clock->NowMs();
  for (NodeRecord& r : *nodes) {
    NodeState n;
    if (!n.registration.ParseFromString(r.registration))
      return Status::DataLoss("stored registration of node " + r.node_id + " is corrupt");
    n.has_status = !r.last_status.empty() && n.last_status.ParseFromString(r.last_status);
    n.credential_hash = r.credential_hash;
    n.registered_ms = r.registered_ms;
    n.last_seen_ms = r.last_seen_ms;
    n.lifecycle = r.lifecycle.empty() ? LifecycleAt(r.last_seen_ms, now) : r.lifecycle;
    node_by_credential_[r.credential_hash] = r.node_id;
    auto commands = store_->ListCommands(r.node_id, /*unfinished_only=*/true);
    if (!commands.ok()) return commands.status();
    for (CommandRecord& c : *commands) {
      PendingCommand p{c, {}};
      if (!p.command.ParseFromString(c.command))
        return Status::DataLoss("stored command " + c.command_id + " is corrupt");
      unfinished_.emplace(c.command_id, std::move(p));
    }
    nodes_.emplace(r.node_id, std::move(n));
  }
  auto admin = store_->GetSetting(kAdminSetting);
  if (!admin.ok()) return admin.status();
  if (*admin) admin_hash_ = **admin;
  Event("", "started",
        "control plane started with " + std::to_string(nodes_.size()) + " nodes and " +
            std::to_string(unfinished_.size()) + " unfinished commands (" + store_->Describe() +
            ")");
  return Status::Ok();
}

// --- authentication ---

Status ControlPlane::SetAdminToken(const std::string& secret) {
  std::string hash = Sha256Hex(secret);
  CARRIERARR_RETURN_IF_ERROR(store_->PutSetting(kAdminSetting, hash));
  std::lock_guard lock(mu_);
  admin_hash_ = hash;
  return Status::Ok();
}

bool ControlPlane::IsAdmin(const std::string& secret) const {
  if (secret.empty()) return false;
  std::string hash = Sha256Hex(secret);
  std::lock_guard lock(mu_);
  return !admin_hash_.empty() && hash == admin_hash_;
}

std::variant<std::string, Refusal> ControlPlane::AuthenticateNode(const std::string& secret) const {
  if (secret.empty())
    return Refuse(grpc::StatusCode::UNAUTHENTICATED,
                  "no credentials: send 'authorization: Bearer <node credential>' metadata");
  std::string hash = Sha256Hex(secret);
  std::lock_guard lock(mu_);
  auto it = node_by_credential_.find(hash);
  if (it == node_by_credential_.end())
    return Refuse(grpc::StatusCode::UNAUTHENTICATED,
                  "node credential not recognised (the node may have been deleted): register "
                  "again with an enrollment token");
  return it->second;
}

// --- the agent service ---

std::variant<RegisterResponse, Refusal> ControlPlane::Register(const std::string& secret,
                                                               const RegisterRequest& request) {
  auto refuse = [&](grpc::StatusCode code, std::string message) {
    refused_registrations_.Add();
    return Refuse(code, std::move(message));
  };
  if (secret.empty())
    return refuse(grpc::StatusCode::UNAUTHENTICATED,
                  "no enrollment token: send 'authorization: Bearer <token>' metadata "
                  "(carrierarr-agent --token-file); create one with 'carrierarr tokens create'");
  if (!request.node_id().empty() && !ValidNodeId(request.node_id()))
    return refuse(grpc::StatusCode::INVALID_ARGUMENT,
                  "node_id must be 1-63 characters of letters, digits, '-', '_' or '.'");
  if (auto bad = CheckRegistration(request))
    return refuse(grpc::StatusCode::INVALID_ARGUMENT, "invalid registration: " + *bad);

  const std::string hash = Sha256Hex(secret);
  const int64_t now = options_.clock->NowMs();
  RegisterRequest stored = request;
  std::string node_id;
  std::string credential;  // a new one, only when enrolling with a token
  std::shared_ptr<StreamSink> replaced_stream;
  {
    std::lock_guard lock(mu_);
    auto known = node_by_credential_.find(hash);
    if (known != node_by_credential_.end()) {
      node_id = known->second;
      if (!request.node_id().empty() && request.node_id() != node_id)
        return refuse(grpc::StatusCode::PERMISSION_DENIED,
                      "this credential belongs to node " + node_id + ", not " + request.node_id());
    }
  }
  int64_t registered_ms = now;
  if (node_id.empty()) {
    auto token = store_->ConsumeToken(hash, now);
    if (!token.ok()) {
      const Status& s = token.status();
      if (s.code() == StatusCode::kNotFound)
        return refuse(grpc::StatusCode::UNAUTHENTICATED,
                      "enrollment token not recognised: create one with 'carrierarr tokens "
                      "create'");
      if (s.code() == StatusCode::kPermissionDenied)
        return refuse(grpc::StatusCode::PERMISSION_DENIED,
                      "enrollment token refused (" + s.message() +
                          "): create a new one with 'carrierarr tokens create'");
      store_errors_.Add();
      return refuse(grpc::StatusCode::UNAVAILABLE, "store unavailable: " + s.message());
    }
    node_id = request.node_id().empty() ? NewId("node-") : request.node_id();
    credential = NewSecret("cnc_");
  } else {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(node_id);
    if (it != nodes_.end()) registered_ms = it->second.registered_ms;
  }
  stored.set_node_id(node_id);
  const std::string credential_hash = credential.empty() ? hash : Sha256Hex(credential);

  NodeRecord record{.node_id = node_id,
                    .registration = stored.SerializeAsString(),
                    .credential_hash = credential_hash,
                    .registered_ms = registered_ms,
                    .last_seen_ms = now,
                    .lifecycle = kConnected};
  if (Status s = store_->UpsertNode(record); !s.ok()) {
    store_errors_.Add();
    return refuse(grpc::StatusCode::UNAVAILABLE, "store unavailable: " + s.message());
  }
  {
    std::lock_guard lock(mu_);
    NodeState& n = nodes_[node_id];
    if (!credential.empty() && !n.credential_hash.empty()) {
      node_by_credential_.erase(n.credential_hash);  // a re-enrolled node's old credential dies
      replaced_stream = std::move(n.stream);
    }
    n.registration = stored;
    n.credential_hash = credential_hash;
    n.registered_ms = registered_ms;
    n.last_seen_ms = now;
    n.lifecycle = kConnected;
    n.idle_shutdown_sent = false;
    node_by_credential_[credential_hash] = node_id;
  }
  if (replaced_stream)
    replaced_stream->Close(static_cast<int>(grpc::StatusCode::UNAUTHENTICATED),
                           "node re-enrolled with a new token; this credential is no longer valid");
  registrations_.Add();
  Event(node_id, credential.empty() ? "reregistered" : "registered",
        std::string(ec2agent::v1::NodeType_Name(request.node_type())) + " " + request.nebula_ip() +
            (request.instance_id().empty() ? "" : " " + request.instance_id()));

  RegisterResponse response;
  response.set_accepted(true);
  response.set_message(credential.empty() ? "welcome back" : "registered");
  response.set_assigned_id(node_id);
  ec2agent::v1::ConfigUpdate config = CurrentConfig();
  response.set_heartbeat_interval_sec(config.heartbeat_interval_sec());
  response.set_status_interval_sec(config.status_interval_sec());
  response.set_idle_shutdown_minutes(config.idle_shutdown_minutes());
  response.set_node_credential(credential);
  return response;
}

void ControlPlane::AttachStream(const std::string& node_id,
                                const std::shared_ptr<StreamSink>& sink) {
  std::shared_ptr<StreamSink> old;
  std::vector<Command> pending;  // queued, and sent without a result (the agent skips repeats)
  std::string was;
  {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(node_id);
    if (it == nodes_.end()) return;
    old = std::exchange(it->second.stream, sink);
    it->second.last_seen_ms = options_.clock->NowMs();
    was = std::exchange(it->second.lifecycle, kConnected);
    for (const auto& [id, p] : unfinished_)
      if (p.record.node_id == node_id) pending.push_back(p.command);
  }
  if (old)
    old->Close(static_cast<int>(grpc::StatusCode::ABORTED),
               "replaced by a newer connection of this node");
  ControlMessage config;
  *config.mutable_config() = CurrentConfig();
  sink->Send(config);
  for (const Command& command : pending) DeliverCommand(sink.get(), command);
  if (was != kConnected) Event(node_id, "connected", "stream open (was " + was + ")");
}

void ControlPlane::DeliverCommand(StreamSink* sink, const Command& command) {
  ControlMessage m;
  *m.mutable_command() = command;
  if (!sink->Send(m)) return;
  commands_sent_.Add();
  std::lock_guard lock(mu_);
  auto it = unfinished_.find(command.command_id());
  if (it != unfinished_.end() && it->second.record.state == "queued") {
    it->second.record.state = "sent";
    if (!store_->PutCommand(it->second.record).ok()) store_errors_.Add();
  }
}

void ControlPlane::DetachStream(const std::string& node_id, const StreamSink* sink) {
  {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(node_id);
    if (it == nodes_.end() || it->second.stream.get() != sink) return;
    it->second.stream.reset();
  }
  Event(node_id, "disconnected", "stream closed");
}

std::optional<Refusal> ControlPlane::OnAgentMessage(const std::string& node_id,
                                                    const AgentMessage& message) {
  switch (message.payload_case()) {
    case AgentMessage::kStatus: {
      const NodeStatus& status = message.status();
      if (auto bad = CheckStatus(status)) {
        invalid_messages_.Add();
        return Refuse(grpc::StatusCode::INVALID_ARGUMENT, "invalid status: " + *bad);
      }
      const int64_t now = options_.clock->NowMs();
      NodeStatus copy = status;
      copy.set_node_id(node_id);  // from the credential, never from the message
      std::string was;
      {
        std::lock_guard lock(mu_);
        auto it = nodes_.find(node_id);
        if (it == nodes_.end())
          return Refuse(grpc::StatusCode::NOT_FOUND, "node " + node_id + " was deleted");
        it->second.last_status = copy;
        it->second.has_status = true;
        it->second.last_seen_ms = now;
        was = std::exchange(it->second.lifecycle, kConnected);
      }
      statuses_.Add();
      int64_t sent_us = NowUs();
      if (status.has_timestamp())
        sent_us = google::protobuf::util::TimeUtil::TimestampToMicroseconds(status.timestamp());
      {
        std::lock_guard lock(batch_mu_);
        // The writer sleeps while the batch is empty: wake it for the first entry (it then
        // waits batch_delay for more) and when the batch is full.
        if (batch_.empty()) batch_oldest_ = std::chrono::steady_clock::now();
        batch_.push_back({node_id, now, copy.SerializeAsString()});
        batch_sent_us_.push_back(sent_us);
        if (batch_.size() == 1 || batch_.size() >= options_.batch_max) batch_cv_.notify_one();
      }
      if (was != kConnected) Event(node_id, kConnected, "status received (was " + was + ")");
      return std::nullopt;
    }
    case AgentMessage::kCommandResult:
      return OnResult(node_id, message.command_result());
    case AgentMessage::kLog: {
      const auto& log = message.log();
      if (log.level() >= ec2agent::v1::LOG_LEVEL_WARN)
        Event(node_id, "log",
              ec2agent::v1::LogLevel_Name(log.level()) + " " + log.source() + ": " +
                  log.message().substr(0, 1024));
      OnHeartbeat(node_id);
      return std::nullopt;
    }
    case AgentMessage::PAYLOAD_NOT_SET:
      break;
  }
  invalid_messages_.Add();
  return Refuse(grpc::StatusCode::INVALID_ARGUMENT, "empty AgentMessage (no payload set)");
}

std::optional<Refusal> ControlPlane::OnResult(const std::string& node_id,
                                              const CommandResult& result) {
  results_.Add();
  std::shared_ptr<StreamSink> sink;
  bool known = false;
  {
    std::lock_guard lock(mu_);
    auto node = nodes_.find(node_id);
    if (node != nodes_.end()) {
      sink = node->second.stream;
      node->second.last_seen_ms = options_.clock->NowMs();
    }
    auto it = unfinished_.find(result.command_id());
    if (it != unfinished_.end() && it->second.record.node_id == node_id) {
      known = true;
      CommandRecord& r = it->second.record;
      r.state = result.success() ? "succeeded" : "failed";
      r.finished_ms = options_.clock->NowMs();
      r.result = result.SerializeAsString();
      if (!store_->PutCommand(r).ok()) store_errors_.Add();
      unfinished_.erase(it);
    }
  }
  if (known) {
    command_done_.notify_all();
    Event(node_id, "command",
          result.command_id() + (result.success() ? " succeeded" : " failed") +
              (result.error().empty() ? "" : ": " + result.error().substr(0, 256)));
  }
  // Acknowledge even a duplicate (a resend after reconnect) so the agent can forget it.
  if (sink) {
    ControlMessage ack;
    ack.mutable_ack()->set_message_id(result.command_id());
    ack.mutable_ack()->set_received(true);
    sink->Send(ack);
  }
  return std::nullopt;
}

void ControlPlane::OnHeartbeat(const std::string& node_id) {
  heartbeats_.Add();
  const int64_t now = options_.clock->NowMs();
  std::string was;
  {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(node_id);
    if (it == nodes_.end()) return;
    it->second.last_seen_ms = now;
    was = std::exchange(it->second.lifecycle, kConnected);
  }
  {
    std::lock_guard lock(batch_mu_);
    if (batch_.empty()) batch_oldest_ = std::chrono::steady_clock::now();
    batch_.push_back({node_id, now, ""});
    batch_sent_us_.push_back(-1);  // not a status: not part of the latency histogram
    if (batch_.size() == 1) batch_cv_.notify_one();
  }
  if (was != kConnected) Event(node_id, kConnected, "heartbeat received (was " + was + ")");
}

ec2agent::v1::FleetStatusResponse ControlPlane::FleetStatus(
    const ec2agent::v1::FleetStatusRequest& request) {
  ec2agent::v1::FleetStatusResponse response;
  auto* summary = response.mutable_summary();
  std::lock_guard lock(mu_);
  for (const auto& [id, n] : nodes_) {
    ec2agent::v1::NodeSummary s;
    s.set_node_id(id);
    s.set_node_type(n.registration.node_type());
    HealthState health = n.lifecycle == kDead    ? ec2agent::v1::HEALTH_STATE_UNHEALTHY
                         : n.lifecycle == kStale ? ec2agent::v1::HEALTH_STATE_DEGRADED
                                                 : n.last_status.health();
    s.set_health(health);
    s.set_nebula_ip(n.registration.nebula_ip());
    s.set_instance_id(n.registration.instance_id());
    s.set_connected(n.stream != nullptr);
    *s.mutable_last_seen() =
        google::protobuf::util::TimeUtil::MillisecondsToTimestamp(n.last_seen_ms);
    s.set_uptime_seconds(n.last_status.uptime_seconds());
    s.set_idle_seconds(n.last_status.idle_seconds());
    const auto& res = n.last_status.resources();
    s.set_cpu_percent(res.cpu_percent());
    s.set_memory_percent(res.memory_total_mb() > 0
                             ? 100.0 * static_cast<double>(res.memory_used_mb()) /
                                   static_cast<double>(res.memory_total_mb())
                             : 0);
    int gpus = std::max(n.last_status.gpus_size(), n.registration.capabilities().gpu_count());
    s.set_gpu_count(gpus);
    s.set_loaded_models(n.last_status.loaded_models_size());
    s.set_lifecycle(n.lifecycle);
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
    if (gpus > 0) summary->set_gpu_nodes(summary->gpu_nodes() + 1);
    summary->set_total_gpus(summary->total_gpus() + gpus);
    *response.add_nodes() = std::move(s);
  }
  return response;
}

// --- the admin service ---

Result<carrierarr::v1::CreateTokenResponse> ControlPlane::CreateToken(
    const carrierarr::v1::CreateTokenRequest& request) {
  if (request.max_uses() < 0)
    return Status::InvalidArgument("max_uses must be 0 (unlimited) or more");
  if (request.ttl_seconds() < 0) return Status::InvalidArgument("ttl must be 0 (never) or more");
  if (request.max_uses() == 0 && request.ttl_seconds() == 0)
    return Status::InvalidArgument(
        "a reusable token must expire: give a ttl (e.g. --ttl 24h) or a number of uses");
  if (request.name().size() > kMaxFieldLength) return Status::InvalidArgument("name too long");
  const int64_t now = options_.clock->NowMs();
  TokenRecord t{.id = NewId("tok_"),
                .name = request.name(),
                .max_uses = request.max_uses(),
                .uses = 0,
                .expires_ms = request.ttl_seconds() > 0 ? now + request.ttl_seconds() * 1000 : 0,
                .revoked = false,
                .created_ms = now};
  std::string secret = NewSecret("cet_");
  t.secret_hash = Sha256Hex(secret);
  CARRIERARR_RETURN_IF_ERROR(store_->PutToken(t));
  Event("", "token", "created " + t.id + (t.name.empty() ? "" : " (" + t.name + ")"));
  carrierarr::v1::CreateTokenResponse response;
  auto* token = response.mutable_token();
  token->set_id(t.id);
  token->set_name(t.name);
  token->set_max_uses(t.max_uses);
  token->set_expires_unix(t.expires_ms / 1000);
  token->set_created_unix(t.created_ms / 1000);
  response.set_secret(secret);
  return response;
}

Result<std::vector<carrierarr::v1::Token>> ControlPlane::ListTokens() {
  auto tokens = store_->ListTokens();
  if (!tokens.ok()) return tokens.status();
  std::vector<carrierarr::v1::Token> out;
  for (const TokenRecord& t : *tokens) {
    carrierarr::v1::Token p;
    p.set_id(t.id);
    p.set_name(t.name);
    p.set_max_uses(t.max_uses);
    p.set_uses(t.uses);
    p.set_expires_unix(t.expires_ms / 1000);
    p.set_revoked(t.revoked);
    p.set_created_unix(t.created_ms / 1000);
    out.push_back(std::move(p));
  }
  return out;
}

Status ControlPlane::RevokeToken(const std::string& id) {
  CARRIERARR_RETURN_IF_ERROR(store_->RevokeToken(id));
  Event("", "token", "revoked " + id);
  return Status::Ok();
}

carrierarr::v1::Node ControlPlane::ToNode(const std::string& id, const NodeState& n) const {
  carrierarr::v1::Node node;
  const RegisterRequest& r = n.registration;
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

std::vector<carrierarr::v1::Node> ControlPlane::ListNodes() {
  std::vector<carrierarr::v1::Node> out;
  std::lock_guard lock(mu_);
  out.reserve(nodes_.size());
  for (const auto& [id, n] : nodes_) out.push_back(ToNode(id, n));
  return out;
}

Result<carrierarr::v1::Node> ControlPlane::GetNode(const std::string& node_id) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end())
    return Status::NotFound("no node " + node_id + " (see 'carrierarr nodes')");
  return ToNode(it->first, it->second);
}

Status ControlPlane::DeleteNode(const std::string& node_id) {
  CARRIERARR_RETURN_IF_ERROR(store_->DeleteNode(node_id));
  std::shared_ptr<StreamSink> stream;
  {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(node_id);
    if (it != nodes_.end()) {
      node_by_credential_.erase(it->second.credential_hash);
      stream = std::move(it->second.stream);
      nodes_.erase(it);
    }
    std::erase_if(unfinished_, [&](const auto& e) { return e.second.record.node_id == node_id; });
  }
  command_done_.notify_all();
  if (stream)
    stream->Close(static_cast<int>(grpc::StatusCode::UNAUTHENTICATED),
                  "node deleted by the operator; enroll again with a new token");
  Event(node_id, "deleted", "node deleted");
  return Status::Ok();
}

carrierarr::v1::CommandRecord ControlPlane::ToCommand(const CommandRecord& r) const {
  carrierarr::v1::CommandRecord out;
  Command command;
  command.ParseFromString(r.command);
  out.set_command_id(r.command_id);
  out.set_node_id(r.node_id);
  out.set_type(command.type());
  out.mutable_args()->insert(command.args().begin(), command.args().end());
  out.mutable_argv()->CopyFrom(command.argv());
  out.set_timeout_seconds(command.timeout_seconds());
  out.set_state(r.state);
  out.set_created_unix_ms(r.created_ms);
  out.set_finished_unix_ms(r.finished_ms);
  if (!r.result.empty()) out.mutable_result()->ParseFromString(r.result);
  return out;
}

Result<carrierarr::v1::CommandRecord> ControlPlane::SendCommand(
    const carrierarr::v1::SendCommandRequest& request) {
  const int type = request.type();
  if (!ec2agent::v1::CommandType_IsValid(type) || type == ec2agent::v1::COMMAND_TYPE_UNSPECIFIED)
    return Status::InvalidArgument("unknown command type " + std::to_string(type));
  if (type == ec2agent::v1::COMMAND_TYPE_EXEC) {
    if (!options_.allow_exec)
      return Status::FailedPrecondition(
          "EXEC is off for this fleet: start the control plane with --allow-exec (and the "
          "agents with --allow-exec)");
    if (request.argv_size() == 0 && request.args().count("cmd") == 0)
      return Status::InvalidArgument("EXEC needs argv (the program and its arguments)");
  }
  if (request.timeout_seconds() < 0 || request.timeout_seconds() > 86400)
    return Status::InvalidArgument("timeout must be between 0 (none) and 86400 seconds");
  if ((type == ec2agent::v1::COMMAND_TYPE_PULL_MODEL ||
       type == ec2agent::v1::COMMAND_TYPE_UNLOAD_MODEL) &&
      request.args().count("model") == 0)
    return Status::InvalidArgument(CommandTypeName(type) + " needs args model=NAME");
  if (type == ec2agent::v1::COMMAND_TYPE_RESTART_SERVICE && request.args().count("service") == 0)
    return Status::InvalidArgument("RESTART_SERVICE needs args service=NAME");

  PendingCommand p;
  p.command.set_command_id(NewId("cmd_"));
  p.command.set_type(static_cast<CommandType>(type));
  p.command.mutable_args()->insert(request.args().begin(), request.args().end());
  p.command.mutable_argv()->CopyFrom(request.argv());
  p.command.set_timeout_seconds(request.timeout_seconds());
  p.record = {.command_id = p.command.command_id(),
              .node_id = request.node_id(),
              .command = p.command.SerializeAsString(),
              .state = "queued",
              .created_ms = options_.clock->NowMs()};
  std::shared_ptr<StreamSink> sink;
  {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(request.node_id());
    if (it == nodes_.end())
      return Status::NotFound("no node " + request.node_id() + " (see 'carrierarr nodes')");
    CARRIERARR_RETURN_IF_ERROR(store_->PutCommand(p.record));
    sink = it->second.stream;
    unfinished_.emplace(p.record.command_id, p);
  }
  Event(request.node_id(), "command",
        p.record.command_id + " " + CommandTypeName(type) + " queued");
  if (sink) DeliverCommand(sink.get(), p.command);
  return GetCommand(p.record.command_id);
}

Result<carrierarr::v1::CommandRecord> ControlPlane::GetCommand(const std::string& command_id) {
  {
    std::lock_guard lock(mu_);
    auto it = unfinished_.find(command_id);
    if (it != unfinished_.end()) return ToCommand(it->second.record);
  }
  auto r = store_->GetCommand(command_id);
  if (!r.ok()) return r.status();
  return ToCommand(*r);
}

Result<carrierarr::v1::CommandRecord> ControlPlane::WaitCommand(
    const std::string& command_id, std::chrono::steady_clock::time_point deadline) {
  {
    std::unique_lock lock(mu_);
    command_done_.wait_until(lock, deadline, [&] { return unfinished_.count(command_id) == 0; });
  }
  return GetCommand(command_id);
}

// --- events ---

void ControlPlane::Event(const std::string& node_id, const std::string& kind,
                         const std::string& message) {
  EventRecord e{
      .unix_ms = options_.clock->NowMs(), .node_id = node_id, .kind = kind, .message = message};
  auto seq = store_->AppendEvent(e);
  if (!seq.ok()) {
    store_errors_.Add();
    return;
  }
  {
    std::lock_guard lock(event_mu_);
    last_event_seq_ = std::max(last_event_seq_, *seq);
  }
  event_cv_.notify_all();
}

Result<std::vector<carrierarr::v1::Event>> ControlPlane::Events(int64_t after_seq, int limit,
                                                                std::chrono::milliseconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    auto events = store_->ListEvents(after_seq, limit);
    if (!events.ok()) return events.status();
    if (!events->empty() || std::chrono::steady_clock::now() >= deadline) {
      std::vector<carrierarr::v1::Event> out;
      for (const EventRecord& e : *events) {
        carrierarr::v1::Event p;
        p.set_seq(e.seq);
        p.set_unix_ms(e.unix_ms);
        p.set_node_id(e.node_id);
        p.set_kind(e.kind);
        p.set_message(e.message);
        out.push_back(std::move(p));
      }
      return out;
    }
    std::unique_lock lock(event_mu_);
    // Another replica sharing a PostgreSQL store appends without notifying us: poll at 1 s.
    event_cv_.wait_until(
        lock, std::min(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(1)),
        [&] { return last_event_seq_ > after_seq; });
  }
}

// --- lifecycle, batching ---

std::string ControlPlane::LifecycleAt(int64_t last_seen_ms, int64_t now_ms) const {
  int64_t age = now_ms - last_seen_ms;
  int64_t stale = options_.stale_after.count() > 0 ? options_.stale_after.count() * 1000
                                                   : 2 * status_sec_ * 1000;
  if (age >= options_.dead_after.count() * 1000) return kDead;
  if (age >= stale) return kStale;
  return kConnected;
}

ec2agent::v1::ConfigUpdate ControlPlane::CurrentConfig() const {
  ec2agent::v1::ConfigUpdate c;
  std::lock_guard lock(mu_);
  c.set_heartbeat_interval_sec(static_cast<int32_t>(heartbeat_sec_));
  c.set_status_interval_sec(static_cast<int32_t>(status_sec_));
  c.set_idle_shutdown_minutes(options_.idle_shutdown_minutes);
  return c;
}

void ControlPlane::CloseStreams(const std::string& why) {
  std::vector<std::shared_ptr<StreamSink>> sinks;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, n] : nodes_)
      if (n.stream) sinks.push_back(n.stream);
  }
  for (auto& s : sinks) s->Close(static_cast<int>(grpc::StatusCode::UNAVAILABLE), why);
}

void ControlPlane::UpdateIntervals(std::chrono::seconds heartbeat, std::chrono::seconds status) {
  std::vector<std::shared_ptr<StreamSink>> sinks;
  {
    std::lock_guard lock(mu_);
    heartbeat_sec_ = heartbeat.count();
    status_sec_ = status.count();
    for (auto& [id, n] : nodes_)
      if (n.stream) sinks.push_back(n.stream);
  }
  ControlMessage m;
  *m.mutable_config() = CurrentConfig();
  for (auto& s : sinks) s->Send(m);
  Event("", "config",
        "heartbeat " + std::to_string(heartbeat.count()) + "s, status " +
            std::to_string(status.count()) + "s");
}

void ControlPlane::Sweep() {
  const int64_t now = options_.clock->NowMs();
  std::vector<std::tuple<std::string, std::string, int64_t>> changes;  // node, state, last seen
  std::vector<CommandRecord> timed_out;
  std::vector<std::pair<std::string, int64_t>> idle;  // GPU nodes to shut down, idle seconds
  const int64_t idle_limit_s = options_.idle_shutdown_minutes * 60LL;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, n] : nodes_) {
      std::string state = LifecycleAt(n.last_seen_ms, now);
      if (state != n.lifecycle) {
        n.lifecycle = state;
        changes.emplace_back(id, state, n.last_seen_ms);
      }
      // Idle GPUs cost money: one SHUTDOWN per idle spell (a new registration re-arms it).
      if (idle_limit_s > 0 && !n.idle_shutdown_sent && n.has_status && n.lifecycle == kConnected &&
          n.registration.node_type() == ec2agent::v1::NODE_TYPE_GPU_WORKER &&
          n.last_status.idle_seconds() >= idle_limit_s) {
        n.idle_shutdown_sent = true;
        idle.emplace_back(id, n.last_status.idle_seconds());
      }
    }
    for (auto it = unfinished_.begin(); it != unfinished_.end();) {
      int timeout = it->second.command.timeout_seconds();
      int64_t limit =
          it->second.record.created_ms + timeout * 1000LL + options_.command_grace.count() * 1000;
      if (timeout > 0 && now > limit) {
        it->second.record.state = "timed_out";
        it->second.record.finished_ms = now;
        timed_out.push_back(it->second.record);
        it = unfinished_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& [id, state, last_seen] : changes) {
    if (!store_->SetLifecycle(id, state).ok()) store_errors_.Add();
    Event(id, state, "no word for " + std::to_string((now - last_seen) / 1000) + " s");
  }
  for (const CommandRecord& r : timed_out) {
    if (!store_->PutCommand(r).ok()) store_errors_.Add();
    Event(r.node_id, "command", r.command_id + " timed out");
  }
  if (!timed_out.empty()) command_done_.notify_all();
  for (const auto& [id, seconds] : idle) {
    Event(id, "idle", "idle for " + std::to_string(seconds / 60) + " min: shutting it down");
    carrierarr::v1::SendCommandRequest shutdown;
    shutdown.set_node_id(id);
    shutdown.set_type(ec2agent::v1::COMMAND_TYPE_SHUTDOWN);
    shutdown.set_timeout_seconds(300);
    if (auto r = SendCommand(shutdown); !r.ok()) store_errors_.Add();
  }
}

void ControlPlane::Flush() {
  std::lock_guard flush_lock(flush_mu_);
  std::vector<StatusWrite> writes;
  std::vector<int64_t> sent;
  {
    std::lock_guard lock(batch_mu_);
    writes.swap(batch_);
    sent.swap(batch_sent_us_);
  }
  if (writes.empty()) return;
  auto start = std::chrono::steady_clock::now();
  Status s = store_->WriteStatuses(writes);
  auto end = std::chrono::steady_clock::now();
  batches_.Add();
  batch_rows_.Add(writes.size());
  batch_write_ms_.Observe(std::chrono::duration<double, std::milli>(end - start).count());
  if (!s.ok()) {
    store_errors_.Add();
    return;  // the in-memory view still has them; the next status of each node retries
  }
  const int64_t now_us = NowUs();
  for (int64_t us : sent)
    if (us >= 0) store_latency_.Observe(static_cast<double>(now_us - us) / 1000.0);
}

void ControlPlane::BatchLoop() {
  std::unique_lock lock(batch_mu_);
  for (;;) {
    batch_cv_.wait_for(lock, std::chrono::milliseconds(200),
                       [&] { return !batch_.empty() || stopping_; });
    if (stopping_) return;  // the destructor flushes
    if (batch_.empty()) continue;
    auto due = batch_oldest_ + options_.batch_delay;
    batch_cv_.wait_until(lock, due,
                         [&] { return batch_.size() >= options_.batch_max || stopping_; });
    lock.unlock();
    Flush();
    lock.lock();
  }
}

void ControlPlane::SweepLoop() {
  std::unique_lock lock(stop_mu_);
  while (!stop_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; })) {
    lock.unlock();
    Sweep();
    lock.lock();
  }
}

// --- observability ---

ControlPlane::Census ControlPlane::TakeCensus() const {
  Census c{.by_lifecycle = {{kConnected, 0}, {kStale, 0}, {kDead, 0}}};
  std::lock_guard lock(mu_);
  for (const auto& [id, n] : nodes_) {
    c.by_lifecycle[n.lifecycle]++;
    if (n.stream) ++c.streams;
  }
  c.unfinished_commands = unfinished_.size();
  return c;
}

std::string ControlPlane::StatsJson() {
  nlohmann::json j;
  const Census census = TakeCensus();
  j["nodes"] = census.by_lifecycle;
  j["streams_open"] = census.streams;
  j["commands_unfinished"] = census.unfinished_commands;
  j["registrations"] = registrations_.value();
  j["registrations_refused"] = refused_registrations_.value();
  j["statuses"] = statuses_.value();
  j["heartbeats"] = heartbeats_.value();
  j["command_results"] = results_.value();
  j["store"] = {{"backend", store_->Describe()},
                {"batches", batches_.value()},
                {"rows", batch_rows_.value()},
                {"errors", store_errors_.value()},
                {"status_latency_ms",
                 {{"p50", store_latency_.Quantile(0.5)},
                  {"p99", store_latency_.Quantile(0.99)},
                  {"count", store_latency_.count()}}},
                {"batch_write_ms_p99", batch_write_ms_.Quantile(0.99)}};
  return j.dump();
}

std::string ControlPlane::PrometheusText() {
  std::string out;
  const Census census = TakeCensus();
  out +=
      "# HELP carrierarr_nodes Registered nodes by lifecycle state.\n"
      "# TYPE carrierarr_nodes gauge\n";
  for (const auto& [state, count] : census.by_lifecycle)
    out += "carrierarr_nodes{lifecycle=\"" + state + "\"} " + std::to_string(count) + "\n";
  RenderMetric("carrierarr_streams_open", "gauge", "Open agent Connect streams.",
               static_cast<double>(census.streams), &out);
  RenderMetric("carrierarr_registrations_total", "counter", "Accepted registrations.",
               static_cast<double>(registrations_.value()), &out);
  RenderMetric("carrierarr_registrations_refused_total", "counter", "Refused registrations.",
               static_cast<double>(refused_registrations_.value()), &out);
  RenderMetric("carrierarr_status_messages_total", "counter", "NodeStatus messages received.",
               static_cast<double>(statuses_.value()), &out);
  RenderMetric("carrierarr_heartbeats_total", "counter", "Heartbeats received.",
               static_cast<double>(heartbeats_.value()), &out);
  RenderMetric("carrierarr_command_results_total", "counter", "Command results received.",
               static_cast<double>(results_.value()), &out);
  RenderMetric("carrierarr_commands_sent_total", "counter", "Commands sent to agents.",
               static_cast<double>(commands_sent_.value()), &out);
  RenderMetric("carrierarr_invalid_messages_total", "counter", "Agent messages refused.",
               static_cast<double>(invalid_messages_.value()), &out);
  RenderMetric("carrierarr_store_batches_total", "counter", "Status batches written.",
               static_cast<double>(batches_.value()), &out);
  RenderMetric("carrierarr_store_batch_rows_total", "counter", "Status rows written.",
               static_cast<double>(batch_rows_.value()), &out);
  RenderMetric("carrierarr_store_errors_total", "counter", "Failed store writes.",
               static_cast<double>(store_errors_.value()), &out);
  store_latency_.Render("carrierarr_status_store_latency_seconds",
                        "From the agent's status timestamp to the committed store write.", &out);
  batch_write_ms_.Render("carrierarr_store_batch_write_seconds",
                         "Duration of one batched status write.", &out);
  return out;
}

}  // namespace carrierarr::control_plane
