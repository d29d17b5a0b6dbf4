#include "control_plane/control_plane.h"

#include <google/protobuf/util/time_util.h>

#include <optional>
#include <utility>

#include "burst/controller.h"
#include "control_plane/auth.h"
#include "control_plane/fleet_metrics.h"
#include "core/strings.h"

namespace carrierarr::control_plane {
namespace {

using ec2agent::v1::AgentMessage;
using ec2agent::v1::Command;
using ec2agent::v1::CommandResult;
using ec2agent::v1::CommandType;
using ec2agent::v1::ControlMessage;
using ec2agent::v1::NodeStatus;

// Limits on what an agent may send: generous for any real node, small enough that one node
// cannot make the control plane hold megabytes per status. Longer strings are cut (on a
// character boundary, with an event); longer lists refuse the status (and end the stream).
constexpr size_t kMaxFieldLength = 256;
constexpr int kMaxGpus = 64;
constexpr int kMaxModels = 1024;
// The cloud cluster's nodes (NodeStatus.k3s_cluster_nodes), as the agent bounds them: a Ready
// condition's message is longer than a service's.
constexpr int kMaxClusterNodes = 64;
constexpr size_t kMaxClusterFieldLength = 512;
constexpr size_t kMaxLogMessage = 1024;
constexpr size_t kMaxLogSource = 64;
constexpr size_t kMaxResultError = 256;
// How often the sweep thread runs, and how often it prunes the event log.
constexpr std::chrono::seconds kSweepInterval{1};
constexpr int64_t kPruneIntervalMs = 60'000;
// How long a CANCEL may take on the node.
constexpr int kCancelTimeoutSeconds = 60;

Status CheckStatus(const NodeStatus& s) {
  if (s.gpus_size() > kMaxGpus)
    return Status::InvalidArgument("invalid status: more than 64 GPUs in one status");
  if (s.loaded_models_size() > kMaxModels)
    return Status::InvalidArgument("invalid status: more than 1024 models in one status");
  if (s.k3s_cluster_nodes_size() > kMaxClusterNodes)
    return Status::InvalidArgument(
        "invalid status: more than 64 cloud cluster nodes in one status");
  return Status::Ok();
}

// Cuts `field` to `max` bytes; counts it in `cut` when it was longer.
void Bound(std::string* field, int* cut, size_t max = kMaxFieldLength) {
  if (field->size() <= max) return;
  *field = TruncateUtf8(*field, max);
  ++*cut;
}

// Cuts every string of a status to kMaxFieldLength bytes; returns how many it cut.
int BoundStatus(NodeStatus& s) {
  int cut = 0;
  for (ec2agent::v1::ServiceStatus* service :
       {s.mutable_nebula(), s.mutable_k3s(), s.mutable_ollama(), s.mutable_liqo()})
    Bound(service->mutable_message(), &cut);
  for (auto& gpu : *s.mutable_gpus()) Bound(gpu.mutable_name(), &cut);
  for (auto& model : *s.mutable_loaded_models()) Bound(model.mutable_name(), &cut);
  for (auto& n : *s.mutable_k3s_cluster_nodes())
    for (std::string* field : {n.mutable_name(), n.mutable_reason(), n.mutable_message(),
                               n.mutable_roles(), n.mutable_internal_ip()})
      Bound(field, &cut, kMaxClusterFieldLength);
  return cut;
}

// The original control plane puts an EXEC's command line in args["cmd"] and the original agent
// splits it on white space (Go's strings.Fields): an argv it splits back into the same words
// also travels that way. Only printable ASCII counts as safe: Go also splits on Unicode spaces.
std::optional<std::string> CmdLineOf(const google::protobuf::RepeatedPtrField<std::string>& argv) {
  if (argv.empty()) return std::nullopt;
  std::string line;
  for (const std::string& word : argv) {
    if (word.empty()) return std::nullopt;
    for (char c : word)
      if (c <= ' ' || c > '~') return std::nullopt;  // signed char: bytes >= 0x80 are < 0
    line += (line.empty() ? "" : " ") + word;
  }
  return line;
}

std::string CommandTypeName(int type) {
  return ec2agent::v1::CommandType_IsValid(type)
             ? ec2agent::v1::CommandType_Name(static_cast<CommandType>(type))
             : "COMMAND_TYPE_" + std::to_string(type);
}

Status CheckCommand(const carrierarr::v1::SendCommandRequest& request, bool allow_exec) {
  const int type = request.type();
  if (!ec2agent::v1::CommandType_IsValid(type) || type == ec2agent::v1::COMMAND_TYPE_UNSPECIFIED)
    return Status::InvalidArgument("unknown command type " + std::to_string(type));
  if (type == ec2agent::v1::COMMAND_TYPE_EXEC) {
    if (!allow_exec)
      return Status::FailedPrecondition(
          "EXEC is off for this fleet: start the control plane with --allow-exec (and the "
          "agents with --allow-exec)");
    if (request.argv_size() == 0 && request.args().count("cmd") == 0)
      return Status::InvalidArgument("EXEC needs argv (the program and its arguments)");
  }
  if (request.timeout_seconds() < 0 || request.timeout_seconds() > 86400)
    return Status::InvalidArgument("timeout must be between 0 (none) and 86400 seconds");
  // UNLOAD_MODEL without a model unloads every model (the original defines no arguments).
  if (type == ec2agent::v1::COMMAND_TYPE_PULL_MODEL && request.args().count("model") == 0)
    return Status::InvalidArgument("PULL_MODEL needs args model=NAME");
  if (type == ec2agent::v1::COMMAND_TYPE_CANCEL)
    return Status::InvalidArgument(
        "CANCEL is not sent directly: cancel a command with 'carrierarr command cancel ID' (the "
        "CancelCommand RPC, or POST /api/v1/commands/ID/cancel)");
  if (type == ec2agent::v1::COMMAND_TYPE_RESTART_SERVICE && request.args().count("service") == 0)
    return Status::InvalidArgument("RESTART_SERVICE needs args service=NAME");
  return Status::Ok();
}

}  // namespace

ControlPlane::ControlPlane(std::unique_ptr<Store> store, ControlPlaneOptions options)
    : store_(std::move(store)),
      options_(std::move(options)),
      clock_(*options_.clock),
      events_(*store_, clock_, store_errors_),
      agent_events_(*store_, events_, clock_, options_.agent_events, store_errors_),
      nodes_({.stale_after = options_.stale_after, .dead_after = options_.dead_after},
             options_.heartbeat_interval, options_.status_interval, options_.idle_shutdown_minutes),
      commands_(*store_, clock_, options_.command_grace, store_errors_),
      batcher_(*store_, clock_, options_.batch_delay, options_.batch_max, store_errors_),
      enrollment_(*store_, nodes_, events_, clock_, store_errors_, options_.enrollment_public_key,
                  options_.mesh_identity) {}

Result<std::unique_ptr<ControlPlane>> ControlPlane::Create(std::unique_ptr<Store> store,
                                                           ControlPlaneOptions options) {
  std::unique_ptr<ControlPlane> cp(new ControlPlane(std::move(store), std::move(options)));
  CARRIERARR_RETURN_IF_ERROR(cp->Load());
  if (cp->options_.background_threads) {
    cp->batcher_.Start();
    cp->agent_events_.Start();
    cp->sweep_thread_ = std::thread([p = cp.get()] { p->SweepLoop(); });
  }
  return cp;
}

ControlPlane::~ControlPlane() {
  {
    MutexLock lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.NotifyAll();
  if (sweep_thread_.joinable()) sweep_thread_.join();
  // batcher_'s destructor stops its thread and flushes.
}

Status ControlPlane::Load() {
  CARRIERARR_ASSIGN_OR_RETURN(std::vector<NodeRecord> nodes, store_->ListNodes());
  const int64_t now = clock_.NowMs();
  for (const NodeRecord& r : nodes) {
    CARRIERARR_RETURN_IF_ERROR(nodes_.Load(r, now));
    CARRIERARR_ASSIGN_OR_RETURN(std::vector<CommandRecord> commands,
                                store_->ListCommands(r.node_id, /*unfinished_only=*/true));
    for (const CommandRecord& c : commands) CARRIERARR_RETURN_IF_ERROR(commands_.Load(c));
  }
  CARRIERARR_RETURN_IF_ERROR(enrollment_.Load());
  events_.Append("", "started",
                 "control plane started with " + std::to_string(nodes_.size()) + " nodes and " +
                     std::to_string(commands_.size()) + " unfinished commands (" +
                     store_->Describe() + ")");
  return Status::Ok();
}

// --- authentication ---

Status ControlPlane::SetAdminToken(const std::string& secret) {
  return enrollment_.SetAdminToken(secret);
}

bool ControlPlane::IsAdmin(const std::string& secret) const { return enrollment_.IsAdmin(secret); }

Result<std::string> ControlPlane::AuthenticateNode(const Caller& caller) const {
  return enrollment_.AuthenticateNode(caller);
}

// --- the agent service ---

Result<ec2agent::v1::RegisterResponse> ControlPlane::Register(
    const Caller& caller, const ec2agent::v1::RegisterRequest& request) {
  return enrollment_.Register(caller, request);
}

void ControlPlane::AttachStream(const std::string& node_id,
                                const std::shared_ptr<StreamSink>& sink) {
  // The stream is attached before the pending commands are read, and SendCommand queues before
  // it looks for the stream: a command sent meanwhile is delivered by one or both (the agent
  // skips repeats), never by neither.
  auto attached = nodes_.Attach(node_id, sink, clock_.NowMs());
  if (!attached) return;
  const std::vector<Command> pending = commands_.PendingFor(node_id);
  if (attached->replaced)
    attached->replaced->Close(Status::Aborted("replaced by a newer connection of this node"));
  ControlMessage config;
  *config.mutable_config() = nodes_.Config();
  sink->Send(config);
  for (const Command& command : pending) DeliverCommand(*sink, command);
  if (attached->was != kConnected)
    events_.Append(node_id, "connected", "stream open (was " + attached->was + ")");
}

void ControlPlane::DeliverCommand(StreamSink& sink, const Command& command) {
  if (!commands_.Deliverable(command.command_id())) return;  // cancelled meanwhile
  ControlMessage m;
  *m.mutable_command() = command;
  if (!sink.Send(m)) return;
  commands_sent_.Add();
  commands_.MarkSent(command.command_id());
}

void ControlPlane::DetachStream(const std::string& node_id, const StreamSink* sink) {
  if (nodes_.Detach(node_id, sink)) events_.Append(node_id, "disconnected", "stream closed");
}

Status ControlPlane::OnAgentMessage(const std::string& node_id, const AgentMessage& message) {
  switch (message.payload_case()) {
    case AgentMessage::kStatus:
      return OnStatus(node_id, message.status());
    case AgentMessage::kCommandResult:
      OnResult(node_id, message.command_result());
      return Status::Ok();
    case AgentMessage::kLog:
      OnLog(node_id, message.log());
      return Status::Ok();
    case AgentMessage::PAYLOAD_NOT_SET:
      break;
  }
  invalid_messages_.Add();
  return Status::InvalidArgument("empty AgentMessage (no payload set)");
}

void ControlPlane::OnLog(const std::string& node_id, const ec2agent::v1::LogEntry& log) {
  // WARN and ERROR become events, as many as the node's rate limit lets through; written in
  // batches by agent_events_, never here on the stream's callback thread.
  if (log.level() >= ec2agent::v1::LOG_LEVEL_WARN)
    agent_events_.Submit(node_id, "log",
                         ec2agent::v1::LogLevel_Name(log.level()) + " " +
                             TruncateUtf8(log.source(), kMaxLogSource) + ": " +
                             TruncateUtf8(log.message(), kMaxLogMessage));
  OnHeartbeat(node_id);
}

Status ControlPlane::OnStatus(const std::string& node_id, const NodeStatus& status) {
  if (Status bad = CheckStatus(status); !bad.ok()) {
    invalid_messages_.Add();
    agent_events_.Submit(node_id, "invalid", bad.message() + "; the stream was closed");
    return bad;
  }
  const int64_t now = clock_.NowMs();
  NodeStatus copy = status;
  copy.set_node_id(node_id);  // from the credential, never from the message
  if (const int cut = BoundStatus(copy); cut > 0)
    agent_events_.Submit(node_id, "invalid",
                         "status had " + std::to_string(cut) + " strings longer than " +
                             std::to_string(kMaxFieldLength) + " bytes; they were cut");
  std::optional<std::string> was = nodes_.RecordStatus(node_id, copy, now);
  if (!was) return Status::NotFound("node " + node_id + " was deleted");
  statuses_.Add();
  const int64_t sent_us =
      status.has_timestamp()
          ? google::protobuf::util::TimeUtil::TimestampToMicroseconds(status.timestamp())
          : std::chrono::duration_cast<std::chrono::microseconds>(
                clock_.SystemNow().time_since_epoch())
                .count();
  batcher_.Add({node_id, now, copy.SerializeAsString()}, sent_us);
  if (*was != kConnected) events_.Append(node_id, kConnected, "status received (was " + *was + ")");
  return Status::Ok();
}

void ControlPlane::OnResult(const std::string& node_id, const CommandResult& result) {
  results_.Add();
  std::optional<std::shared_ptr<StreamSink>> sink = nodes_.NoteSeen(node_id, clock_.NowMs());
  if (commands_.Finish(node_id, result))
    events_.Append(
        node_id, "command",
        result.command_id() + (result.success() ? " succeeded" : " failed") +
            (result.error().empty() ? "" : ": " + TruncateUtf8(result.error(), kMaxResultError)));
  // Acknowledge even a duplicate (a resend after reconnect) so the agent can forget it.
  if (sink && *sink) {
    ControlMessage ack;
    ack.mutable_ack()->set_message_id(result.command_id());
    ack.mutable_ack()->set_received(true);
    (*sink)->Send(ack);
  }
}

void ControlPlane::OnHeartbeat(const std::string& node_id) {
  heartbeats_.Add();
  const int64_t now = clock_.NowMs();
  std::optional<std::string> was = nodes_.Touch(node_id, now);
  if (!was) return;
  batcher_.Add({node_id, now, ""}, /*sent_us=*/-1);
  if (*was != kConnected)
    events_.Append(node_id, kConnected, "heartbeat received (was " + *was + ")");
}

ec2agent::v1::FleetStatusResponse ControlPlane::FleetStatus(
    const ec2agent::v1::FleetStatusRequest& request, std::string_view only) {
  return nodes_.FleetStatus(request, only);
}

// --- the admin service ---

Result<carrierarr::v1::CreateTokenResponse> ControlPlane::CreateToken(
    const carrierarr::v1::CreateTokenRequest& request) {
  return enrollment_.CreateToken(request);
}

Result<std::vector<carrierarr::v1::Token>> ControlPlane::ListTokens() {
  return enrollment_.ListTokens();
}

Status ControlPlane::RevokeToken(const std::string& id) { return enrollment_.RevokeToken(id); }

std::vector<carrierarr::v1::Node> ControlPlane::ListNodes() { return nodes_.List(); }

Result<carrierarr::v1::Node> ControlPlane::GetNode(const std::string& node_id) {
  return nodes_.Get(node_id);
}

Status ControlPlane::DeleteNode(const std::string& node_id) {
  CARRIERARR_RETURN_IF_ERROR(store_->DeleteNode(node_id));
  std::optional<std::shared_ptr<StreamSink>> stream = nodes_.Remove(node_id);
  commands_.DropNode(node_id);
  agent_events_.ForgetNode(node_id);
  if (stream && *stream)
    (*stream)->Close(
        Status::Unauthenticated("node deleted by the operator; enroll again with a new token"));
  events_.Append(node_id, "deleted", "node deleted");
  return Status::Ok();
}

Result<carrierarr::v1::CommandRecord> ControlPlane::SendCommand(
    const carrierarr::v1::SendCommandRequest& request) {
  CARRIERARR_RETURN_IF_ERROR(CheckCommand(request, options_.allow_exec));
  Command command;
  command.set_type(request.type());
  command.mutable_args()->insert(request.args().begin(), request.args().end());
  command.mutable_argv()->CopyFrom(request.argv());
  command.set_timeout_seconds(request.timeout_seconds());
  if (request.type() == ec2agent::v1::COMMAND_TYPE_EXEC && request.args().count("cmd") == 0)
    if (std::optional<std::string> line = CmdLineOf(request.argv()))
      (*command.mutable_args())["cmd"] = *line;
  // The size the agent will receive (the id is as long as any NewId("cmd_")); the copy of the
  // command line for old agents goes only where it fits.
  command.set_command_id(NewId("cmd_"));
  ControlMessage wire;
  *wire.mutable_command() = command;
  size_t size = wire.ByteSizeLong();
  if (size > options_.agent_max_message_bytes && command.args().count("cmd") != 0 &&
      request.args().count("cmd") == 0) {
    command.mutable_args()->erase("cmd");
    wire.mutable_command()->mutable_args()->erase("cmd");
    size = wire.ByteSizeLong();
  }
  if (size > options_.agent_max_message_bytes)
    return Status::InvalidArgument(
        "command too large: " + std::to_string(size) + " bytes serialized, over the agents' " +
        std::to_string(options_.agent_max_message_bytes) +
        "-byte receive limit (it could never be delivered); send a smaller command, e.g. copy "
        "large input to the node another way");
  CARRIERARR_ASSIGN_OR_RETURN(command, QueueCommand(request.node_id(), std::move(command)));
  return GetCommand(command.command_id());
}

Result<Command> ControlPlane::QueueCommand(const std::string& node_id, Command command) {
  const Status no_node = Status::NotFound("no node " + node_id + " (see 'carrierarr nodes')");
  if (!nodes_.StreamOf(node_id)) return no_node;
  const int type = command.type();
  CARRIERARR_ASSIGN_OR_RETURN(command, commands_.Add(node_id, std::move(command)));
  // Looked up after queueing (see AttachStream); a node deleted meanwhile takes it along.
  std::optional<std::shared_ptr<StreamSink>> sink = nodes_.StreamOf(node_id);
  if (!sink) {
    commands_.Remove(command.command_id());
    return no_node;
  }
  events_.Append(node_id, "command",
                 command.command_id() + " " + CommandTypeName(type) + " queued");
  if (*sink) DeliverCommand(**sink, command);
  return command;
}

Result<carrierarr::v1::CommandRecord> ControlPlane::CancelCommand(const std::string& command_id) {
  CARRIERARR_ASSIGN_OR_RETURN(CommandQueue::CancelOutcome out, commands_.Cancel(command_id));
  const CommandRecord& r = out.record;
  if (!out.send_cancel) {
    if (r.state == "cancelled")
      events_.Append(r.node_id, "command", command_id + " cancelled before it was sent");
    return ToCommandProto(r);
  }
  Command cancel;
  cancel.set_type(ec2agent::v1::COMMAND_TYPE_CANCEL);
  (*cancel.mutable_args())["command_id"] = command_id;
  cancel.set_timeout_seconds(kCancelTimeoutSeconds);
  CARRIERARR_ASSIGN_OR_RETURN(cancel, QueueCommand(r.node_id, std::move(cancel)));
  events_.Append(r.node_id, "command",
                 command_id + " cancel requested (" + cancel.command_id() + ")");
  return ToCommandProto(r);
}

Result<carrierarr::v1::CommandRecord> ControlPlane::GetCommand(const std::string& command_id) {
  return commands_.Get(command_id);
}

Result<carrierarr::v1::CommandRecord> ControlPlane::WaitCommand(const std::string& command_id,
                                                                std::chrono::milliseconds timeout) {
  return commands_.Wait(command_id, timeout);
}

// --- events ---

Result<std::vector<carrierarr::v1::Event>> ControlPlane::Events(int64_t after_seq, int limit,
                                                                std::chrono::milliseconds wait) {
  return events_.List(after_seq, limit, wait);
}

uint64_t ControlPlane::WatchCommand(const std::string& command_id, std::function<void()> on_done) {
  return commands_.Watch(command_id, std::move(on_done));
}

void ControlPlane::UnwatchCommand(uint64_t watch_id) { commands_.Unwatch(watch_id); }

uint64_t ControlPlane::WatchEvents(int64_t after_seq, std::function<void()> on_appended) {
  return events_.Watch(after_seq, std::move(on_appended));
}

void ControlPlane::UnwatchEvents(uint64_t watch_id) { events_.Unwatch(watch_id); }

// --- lifecycle, intervals, streams ---

void ControlPlane::CloseStreams(const std::string& why) {
  for (auto& s : nodes_.Streams()) s->Close(Status::Unavailable(why));
}

void ControlPlane::UpdateIntervals(std::chrono::seconds heartbeat, std::chrono::seconds status) {
  std::vector<std::shared_ptr<StreamSink>> sinks = nodes_.SetIntervals(heartbeat, status);
  ControlMessage m;
  *m.mutable_config() = nodes_.Config();
  for (auto& s : sinks) s->Send(m);
  events_.Append("", "config",
                 "heartbeat " + std::to_string(heartbeat.count()) + "s, status " +
                     std::to_string(status.count()) + "s");
}

void ControlPlane::PruneEvents(int64_t now_ms) {
  const int64_t last = last_prune_ms_.load();
  if (last >= 0 && now_ms - last < kPruneIntervalMs) return;
  last_prune_ms_ = now_ms;
  const int64_t age_ms = options_.event_retention_age.count() * 1000;
  if (options_.event_retention_count <= 0 && age_ms <= 0) return;
  if (!store_->PruneEvents(options_.event_retention_count, age_ms > 0 ? now_ms - age_ms : 0).ok())
    store_errors_.Add();
}

void ControlPlane::Sweep() {
  const int64_t now = clock_.NowMs();
  PruneEvents(now);
  NodeRegistry::SweepResult swept = nodes_.Sweep(now);
  for (const auto& t : swept.transitions) {
    if (!store_->SetLifecycle(t.node_id, t.lifecycle).ok()) store_errors_.Add();
    events_.Append(t.node_id, t.lifecycle,
                   "no word for " + std::to_string((now - t.last_seen_ms) / 1000) + " s");
  }
  for (const CommandRecord& r : commands_.TimeOut(now))
    events_.Append(r.node_id, "command", r.command_id + " timed out");
  for (const auto& [id, seconds] : swept.idle) {
    events_.Append(id, "idle",
                   "idle for " + std::to_string(seconds / 60) + " min: shutting it down");
    carrierarr::v1::SendCommandRequest shutdown;
    shutdown.set_node_id(id);
    shutdown.set_type(ec2agent::v1::COMMAND_TYPE_SHUTDOWN);
    shutdown.set_timeout_seconds(300);
    if (auto r = SendCommand(shutdown); !r.ok()) store_errors_.Add();
  }
}

void ControlPlane::Flush() {
  batcher_.Flush();
  agent_events_.Flush();
}

void ControlPlane::SweepLoop() {
  for (;;) {
    {
      // Real time paces the loop; the sweep itself reads the TimeSource.
      MutexLock lock(stop_mu_);
      if (!stopping_) stop_cv_.WaitFor(stop_mu_, kSweepInterval);
      if (stopping_) return;
    }
    Sweep();
  }
}

// --- observability ---

FleetMetrics ControlPlane::Metrics() const {
  const NodeRegistry::Census census = nodes_.TakeCensus();
  return {.nodes_by_lifecycle = census.by_lifecycle,
          .streams_open = census.streams,
          .commands_unfinished = commands_.size(),
          .registrations = enrollment_.registrations(),
          .registrations_refused = enrollment_.refused_registrations(),
          .statuses = statuses_.value(),
          .heartbeats = heartbeats_.value(),
          .command_results = results_.value(),
          .commands_sent = commands_sent_.value(),
          .invalid_messages = invalid_messages_.value(),
          .models_loaded = census.models_loaded,
          .models_listed = census.models_listed,
          .events_dropped = agent_events_.dropped(),
          .store_backend = store_->Describe(),
          .store_batches = batcher_.batches(),
          .store_rows = batcher_.rows(),
          .store_errors = store_errors_.value(),
          .store_latency = &batcher_.store_latency(),
          .batch_write_ms = &batcher_.batch_write_ms()};
}

std::string ControlPlane::StatsJson() { return RenderStatsJson(Metrics()); }

std::string ControlPlane::PrometheusText() {
  std::string text = RenderPrometheus(Metrics());
  if (burst_ != nullptr) text += burst_->PrometheusText();
  for (const auto& source : metrics_sources_) text += source();
  return text;
}

}  // namespace carrierarr::control_plane
