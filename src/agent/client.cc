#include "agent/client.h"

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <system_error>
#include <thread>
#include <unordered_set>

#include "agent/backoff.h"
#include "agent/options.h"
#include "core/enum_table.h"
#include "core/file_util.h"
#include "core/strings.h"
#include "ec2agent/v1/agent.grpc.pb.h"

namespace carrierarr::agent {

namespace v1 = ::ec2agent::v1;
using MonotonicTime = std::chrono::steady_clock::time_point;
using std::chrono::milliseconds;
using Stream = grpc::ClientReaderWriter<v1::AgentMessage, v1::ControlMessage>;

namespace {

// gRPC's codes as gRPC spells them: grpc++ offers no name for a code.
constexpr EnumName<grpc::StatusCode> kGrpcCodeNames[] = {
    {grpc::OK, "OK"},
    {grpc::CANCELLED, "CANCELLED"},
    {grpc::UNKNOWN, "UNKNOWN"},
    {grpc::INVALID_ARGUMENT, "INVALID_ARGUMENT"},
    {grpc::DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"},
    {grpc::NOT_FOUND, "NOT_FOUND"},
    {grpc::ALREADY_EXISTS, "ALREADY_EXISTS"},
    {grpc::PERMISSION_DENIED, "PERMISSION_DENIED"},
    {grpc::RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED"},
    {grpc::FAILED_PRECONDITION, "FAILED_PRECONDITION"},
    {grpc::ABORTED, "ABORTED"},
    {grpc::OUT_OF_RANGE, "OUT_OF_RANGE"},
    {grpc::UNIMPLEMENTED, "UNIMPLEMENTED"},
    {grpc::INTERNAL, "INTERNAL"},
    {grpc::UNAVAILABLE, "UNAVAILABLE"},
    {grpc::DATA_LOSS, "DATA_LOSS"},
    {grpc::UNAUTHENTICATED, "UNAUTHENTICATED"},
};
static_assert(IsEnumTable(kGrpcCodeNames, grpc::UNAUTHENTICATED));

std::string GrpcCodeName(grpc::StatusCode code) {
  const auto* row = EnumRow(kGrpcCodeNames, code);
  return row != nullptr ? std::string(row->name) : "code " + std::to_string(static_cast<int>(code));
}

std::string Describe(const grpc::Status& s) {
  return GrpcCodeName(s.error_code()) + ": " + s.error_message();
}

// "pull_model": the generated name without its prefix, in lower case.
std::string CommandTypeName(v1::CommandType type) {
  if (type == v1::COMMAND_TYPE_UNSPECIFIED || !v1::CommandType_IsValid(type)) return "unknown";
  std::string name = v1::CommandType_Name(type).substr(std::string_view("COMMAND_TYPE_").size());
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

Status RefusedRegistration(const v1::RegisterResponse& response) {
  return Status::PermissionDenied("the control plane refused the registration: " +
                                  response.message());
}

bool IsPowerCommand(v1::CommandType type) {
  return type == v1::COMMAND_TYPE_SHUTDOWN || type == v1::COMMAND_TYPE_REBOOT ||
         type == v1::COMMAND_TYPE_DRAIN;
}

// The bounds on what the control plane may set: an interval as UPDATE_CONFIG takes it (1 s to
// a day), the idle shutdown up to a week.
constexpr int kMaxIntervalSec = 86400;
constexpr int kMaxIdleShutdownMinutes = 7 * 24 * 60;

std::string Seconds(milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3gs", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

}  // namespace

void LogToStderr(const std::string& line) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::fprintf(stderr, "%s carrierarr-agent: %s\n", stamp, line.c_str());
}

// Everything the threads share. The connection thread and the reader thread are joined by
// Stop(); command worker threads hold a shared_ptr and may outlive the AgentClient.
struct AgentClient::State : std::enable_shared_from_this<State> {
  State(ClientOptions o, std::shared_ptr<AgentMetrics> m);

  // --- the connection thread ---
  void ConnectionLoop();
  // Registers with the stored credential, else (or once it was refused) the token.
  Status Register();
  v1::RegisterRequest MakeRegisterRequest(bool* credential_was_rejected);
  grpc::Status CallRegister(const std::string& secret, const v1::RegisterRequest& request,
                            v1::RegisterResponse* response);
  // nullopt: the control plane no longer knows the credential; enrol with the token.
  std::optional<Status> RegisterWithCredential(const v1::RegisterRequest& request,
                                               const std::string& stored_credential,
                                               bool have_token);
  Status RegisterWithToken(const v1::RegisterRequest& request, const std::string& token,
                           bool credential_refused);
  Status AcceptRegistration(const v1::RegisterRequest& request,
                            const v1::RegisterResponse& response, const std::string& used_secret,
                            const char* how);
  // Opens one stream and serves it until it ends or Stop(); returns how it ended.
  grpc::Status RunStream(bool* was_connected, MonotonicTime* connected_at);
  // The status and heartbeat timers of an open stream, until it ends or Stop(); mu held.
  void ServeStream(std::unique_lock<std::mutex>& lock, bool* was_connected,
                   MonotonicTime* connected_at);
  void ReaderLoop(Stream* stream, grpc::Status* final_status);
  // The stream is up (the first status went out, or the control plane spoke first); once per
  // stream.
  void MarkConnected();
  // Intervals (seconds) and the idle shutdown (minutes; nullopt: not sent) that the control
  // plane sent in a ConfigUpdate or RegisterResponse, bounded: out-of-range values are clamped
  // or ignored, with a log line.
  void ApplyControlPlaneConfig(int heartbeat_sec, int status_sec,
                               std::optional<int> idle_shutdown_minutes);
  bool SendStatus();
  void SendHeartbeat();
  void ResendUnacked();

  // --- commands (reader and worker threads) ---
  void OnCommand(const v1::Command& command);
  void RunCommand(const v1::Command& command);
  void FinishCommand(const v1::Command& command, const v1::CommandResult& result);
  void OnAck(const std::string& id);
  void RememberId(const std::string& id);  // needs mu

  // --- helpers ---
  bool Send(const v1::AgentMessage& message);  // false when no stream or the write failed
  bool SendResult(const v1::CommandResult& result);
  // Runs `call` with a context that Stop() can cancel; CANCELLED once stopping.
  grpc::Status UnaryCall(const std::string& secret,
                         const std::function<grpc::Status(grpc::ClientContext*)>& call);
  std::string ReadCredential() const;
  Result<std::string> ReadToken() const;
  Status StoreCredential(const std::string& credential);
  v1::NodeCapabilities Capabilities();
  // Logs `line` unless the last line logged had the same key: one line per state change.
  void Log(const std::string& key, const std::string& line);
  void SetDisconnected(const std::string& reason);
  bool SleepFor(milliseconds d);  // false when Stop() interrupted it
  // Waits (mu held by `lock`) until done() or `d` of opt.time passed; returns done().
  bool WaitFor(std::unique_lock<std::mutex>& lock, std::chrono::nanoseconds d,
               const std::function<bool()>& done);
  void ApplyIntervals(int heartbeat_sec, int status_sec);

  ClientOptions opt;
  std::shared_ptr<AgentMetrics> metrics;
  std::unique_ptr<CommandRunner> runner;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::AgentControl::Stub> stub;
  std::thread connection_thread;

  std::mutex collector_mu;  // StatusCollector is thread-compatible
  std::unique_ptr<StatusCollector> collector;
  std::optional<v1::NodeCapabilities> capabilities;  // guarded by collector_mu

  // Serializes Writes on the stream (gRPC allows one at a time); `writer` is null while no
  // stream is open. Never held together with `mu`.
  std::mutex write_mu;
  Stream* writer = nullptr;

  mutable std::mutex mu;
  mutable std::condition_variable cv;  // every wait of every thread; notified on any change
  // Everything below is guarded by mu.
  bool stopping = false;
  bool connected = false;
  bool just_connected = false;     // set by the reader on the first message of a stream
  bool stream_done = false;        // set by the reader when its stream ended
  bool intervals_changed = false;  // the connection thread re-arms its timers
  bool registered = false;
  // The control plane returned no credential (an original-style one): register again before
  // every stream, as the original agent does.
  bool register_each_stream = false;
  bool ever_connected = false;
  bool credential_rejected = false;  // the stored credential was refused: use the token
  std::string credential;            // what Connect and Heartbeat present
  std::string node_id;
  milliseconds status_interval, heartbeat_interval;
  int idle_shutdown_minutes = 0;
  std::string last_error = "not connected yet";
  std::string last_log_key;
  std::set<grpc::ClientContext*> active_calls;
  std::deque<std::string> recent_order;
  std::unordered_set<std::string> recent_ids;
  struct Unacked {
    v1::CommandResult result;
    uint64_t seq;
    size_t bytes;
  };
  std::map<std::string, Unacked> unacked;
  size_t unacked_bytes = 0;
  uint64_t next_seq = 0;
  size_t running = 0;
};

AgentClient::State::State(ClientOptions o, std::shared_ptr<AgentMetrics> m)
    : opt(std::move(o)), metrics(std::move(m)) {
  if (!opt.log) opt.log = LogToStderr;
  if (!opt.collector.log) opt.collector.log = opt.log;
  opt.collector.time = opt.runner.time = opt.time;
  opt.collector.processes = opt.runner.processes = opt.processes;
  node_id = opt.identity.node_id();
  status_interval = opt.status_interval;
  heartbeat_interval = opt.heartbeat_interval;
  collector = std::make_unique<StatusCollector>(opt.collector);
  // The hooks run on command worker threads; State outlives its runner, so `this` is safe.
  CommandRunner::Hooks hooks = opt.hooks;
  hooks.update_config = [this, user = opt.hooks.update_config](int hb, int st) {
    ApplyIntervals(hb, st);
    if (user) user(hb, st);
  };
  hooks.model_activity = [this, user = opt.hooks.model_activity] {
    {
      std::lock_guard<std::mutex> lock(collector_mu);
      collector->NoteActivity();
    }
    if (user) user();
  };
  runner = std::make_unique<CommandRunner>(opt.runner, std::move(hooks));
}

void AgentClient::State::Log(const std::string& key, const std::string& line) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (key == last_log_key) return;
    last_log_key = key;
  }
  opt.log(line);
}

void AgentClient::State::SetDisconnected(const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mu);
    connected = false;
    last_error = reason;
  }
  metrics->SetConnected(false, reason);
  cv.notify_all();
}

bool AgentClient::State::SleepFor(milliseconds d) {
  std::unique_lock<std::mutex> lock(mu);
  return !WaitFor(lock, d, [&] { return stopping; });
}

bool AgentClient::State::WaitFor(std::unique_lock<std::mutex>& lock, std::chrono::nanoseconds d,
                                 const std::function<bool()>& done) {
  // The machine's clock: on the condition variable, so that Stop() and the reader wake it.
  if (opt.time == RealTimeSource::Get()) return cv.wait_for(lock, d, done);
  // A test's clock decides how the time passes (a simulated one at once).
  if (done()) return true;
  lock.unlock();
  opt.time->SleepFor(d);
  lock.lock();
  return done();
}

void AgentClient::State::ApplyIntervals(int heartbeat_sec, int status_sec) {
  std::string line;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto hb = heartbeat_sec > 0 ? milliseconds(heartbeat_sec * 1000LL) : heartbeat_interval;
    auto st = status_sec > 0 ? milliseconds(status_sec * 1000LL) : status_interval;
    if (hb == heartbeat_interval && st == status_interval) return;
    heartbeat_interval = hb;
    status_interval = st;
    intervals_changed = true;
    line = "intervals: status every " + Seconds(st) + ", heartbeat every " + Seconds(hb);
  }
  cv.notify_all();
  opt.log(line);
}

std::string AgentClient::State::ReadCredential() const {
  auto data = ReadFile(opt.state_dir + "/credential");
  return data.ok() ? std::string(TrimSpace(*data)) : "";
}

Result<std::string> AgentClient::State::ReadToken() const {
  if (!opt.token_file.empty()) {
    auto data = ReadFile(opt.token_file);
    // The error names the file, never its contents.
    if (!data.ok()) return data.status().WithPrefix("reading the token file");
    std::string token(TrimSpace(*data));
    if (token.empty()) return Status::InvalidArgument("token file " + opt.token_file + " is empty");
    return token;
  }
  return std::string(TrimSpace(opt.token));
}

Status AgentClient::State::StoreCredential(const std::string& value) {
  std::error_code ec;
  std::filesystem::path dir(opt.state_dir);
  if (!std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return Status::PermissionDenied("cannot create state directory " + opt.state_dir + ": " +
                                      ec.message());
    }
    ::chmod(opt.state_dir.c_str(), 0700);  // it holds a secret
  }
  return WriteFileAtomic(opt.state_dir + "/credential", value + "\n", 0600);
}

v1::NodeCapabilities AgentClient::State::Capabilities() {
  std::lock_guard<std::mutex> lock(collector_mu);
  // nvidia-smi is not cheap: ask once per process.
  if (!capabilities) capabilities = collector->Capabilities();
  return *capabilities;
}

grpc::Status AgentClient::State::UnaryCall(
    const std::string& secret, const std::function<grpc::Status(grpc::ClientContext*)>& call) {
  grpc::ClientContext ctx;
  // gRPC measures deadlines on the machine's clock, whatever opt.time is.
  ctx.set_deadline(std::chrono::system_clock::now() + opt.rpc_deadline);
  if (!secret.empty()) ctx.AddMetadata("authorization", "Bearer " + secret);
  {
    std::lock_guard<std::mutex> lock(mu);
    if (stopping) return grpc::Status(grpc::CANCELLED, "agent stopping");
    active_calls.insert(&ctx);
  }
  grpc::Status status = call(&ctx);
  std::lock_guard<std::mutex> lock(mu);
  active_calls.erase(&ctx);
  return status;
}

v1::RegisterRequest AgentClient::State::MakeRegisterRequest(bool* credential_was_rejected) {
  v1::RegisterRequest request = opt.identity;
  v1::NodeCapabilities caps = Capabilities();
  *request.mutable_capabilities() = caps;
  if (request.node_type() == v1::NODE_TYPE_UNSPECIFIED) {
    request.set_node_type(caps.has_gpu() ? v1::NODE_TYPE_GPU_WORKER : v1::NODE_TYPE_CPU_WORKER);
  }
  request.set_agent_version(opt.version);
  std::lock_guard<std::mutex> lock(mu);
  request.set_node_id(node_id);
  *credential_was_rejected = credential_rejected;
  return request;
}

grpc::Status AgentClient::State::CallRegister(const std::string& secret,
                                              const v1::RegisterRequest& request,
                                              v1::RegisterResponse* response) {
  return UnaryCall(
      secret, [&](grpc::ClientContext* ctx) { return stub->Register(ctx, request, response); });
}

Status AgentClient::State::AcceptRegistration(const v1::RegisterRequest& request,
                                              const v1::RegisterResponse& response,
                                              const std::string& used_secret, const char* how) {
  const bool by_credential = std::string_view(how) == "credential";
  std::string stored;
  std::string cred = used_secret;
  if (!response.node_credential().empty()) {
    cred = response.node_credential();
    Status s = StoreCredential(cred);
    // Without the file the node works until the agent restarts; say so, but carry on.
    stored = s.ok() ? ", credential stored in " + opt.state_dir + "/credential"
                    : ", but the credential could not be stored (" + s.ToString() +
                          "): the next start needs a token again";
  }
  std::string id = response.assigned_id().empty() ? request.node_id() : response.assigned_id();
  {
    std::lock_guard<std::mutex> lock(mu);
    credential = cred;
    node_id = id;
    registered = true;
    register_each_stream = response.node_credential().empty() && !by_credential;
    if (!response.node_credential().empty()) credential_rejected = false;
  }
  ApplyControlPlaneConfig(response.heartbeat_interval_sec(), response.status_interval_sec(),
                          response.idle_shutdown_minutes() > 0
                              ? std::optional<int>(response.idle_shutdown_minutes())
                              : std::nullopt);
  Log("registered", "registered with " + opt.control_plane + " as " + id + " (" +
                        NodeTypeName(request.node_type()) + ", " + how + stored + ")");
  return Status::Ok();
}

std::optional<Status> AgentClient::State::RegisterWithCredential(
    const v1::RegisterRequest& request, const std::string& stored_credential, bool have_token) {
  v1::RegisterResponse response;
  grpc::Status s = CallRegister(stored_credential, request, &response);
  if (s.ok() && response.accepted()) {
    return AcceptRegistration(request, response, stored_credential, "credential");
  }
  if (s.ok()) return RefusedRegistration(response);
  if (s.error_code() != grpc::UNAUTHENTICATED) {
    return Status::Unavailable("register: " + Describe(s));
  }
  // The node was deleted, or the control plane's store was reset: enrol again.
  {
    std::lock_guard<std::mutex> lock(mu);
    credential_rejected = true;
  }
  Log("credential-refused", "the control plane refused the stored credential (" +
                                s.error_message() + ")" +
                                (have_token ? "; enrolling again with the token" : ""));
  return std::nullopt;
}

Status AgentClient::State::RegisterWithToken(const v1::RegisterRequest& request,
                                             const std::string& token, bool credential_refused) {
  v1::RegisterResponse response;
  if (token.empty()) {
    // Without a secret: a control plane that knows the node by other means (mesh identity),
    // or an original-style one, which asks for none, may still take it.
    grpc::Status s = CallRegister("", request, &response);
    if (s.ok() && response.accepted()) {
      return AcceptRegistration(request, response, "", "without a token");
    }
    if (!s.ok() && s.error_code() != grpc::UNAUTHENTICATED &&
        s.error_code() != grpc::PERMISSION_DENIED) {
      return Status::Unavailable("register: " + Describe(s));
    }
    return Status::FailedPrecondition(
        std::string(credential_refused ? "the stored node credential was refused"
                                       : "no node credential in " + opt.state_dir) +
        " and no enrollment token was given (the control plane said: " +
        (s.ok() ? response.message() : s.error_message()) +
        "): create one with 'carrierarr tokens create' and pass it with -token-file (or "
        "CARRIERARR_TOKEN_FILE)");
  }
  grpc::Status s = CallRegister(token, request, &response);
  if (s.ok() && response.accepted()) {
    return AcceptRegistration(request, response, token, "enrollment token");
  }
  if (s.ok()) return RefusedRegistration(response);
  if (s.error_code() == grpc::UNAUTHENTICATED || s.error_code() == grpc::PERMISSION_DENIED) {
    return Status::PermissionDenied(
        "the control plane refused the enrollment token: " + s.error_message() +
        " (create a new one with 'carrierarr tokens create'" +
        (opt.token_file.empty() ? std::string(")")
                                : " and write it to " + opt.token_file + "; it is re-read)"));
  }
  return Status::Unavailable("register: " + Describe(s));
}

Status AgentClient::State::Register() {
  bool rejected = false;
  const v1::RegisterRequest request = MakeRegisterRequest(&rejected);
  // The token is read first (and re-read every attempt: the operator may replace the file).
  Result<std::string> token = ReadToken();
  const bool have_token = token.ok() && !token->empty();

  // 1. The node's own credential; once the control plane refused it, only while no token is
  // at hand (the refusal may have been a control plane whose store was being restored).
  bool refused = false;
  if (std::string stored = rejected && have_token ? "" : ReadCredential(); !stored.empty()) {
    if (std::optional<Status> done = RegisterWithCredential(request, stored, have_token)) {
      return *done;
    }
    refused = true;
  }
  // 2. The enrollment token.
  if (!token.ok()) return token.status();
  return RegisterWithToken(request, *token, refused);
}

bool AgentClient::State::Send(const v1::AgentMessage& message) {
  std::lock_guard<std::mutex> lock(write_mu);
  if (writer == nullptr) return false;
  return writer->Write(message);
}

bool AgentClient::State::SendResult(const v1::CommandResult& result) {
  v1::AgentMessage message;
  *message.mutable_command_result() = result;
  return Send(message);
}

bool AgentClient::State::SendStatus() {
  std::string id;
  {
    std::lock_guard<std::mutex> lock(mu);
    id = node_id;
  }
  v1::AgentMessage message;
  {
    std::lock_guard<std::mutex> lock(collector_mu);
    *message.mutable_status() = collector->Collect(id);
  }
  if (!Send(message)) return false;
  metrics->CountStatusSent();
  return true;
}

void AgentClient::State::SendHeartbeat() {
  std::string secret, id;
  {
    std::lock_guard<std::mutex> lock(mu);
    secret = credential;
    id = node_id;
  }
  v1::HeartbeatRequest request;
  request.set_node_id(id);
  SetTimestamp(opt.time->SystemNow(), request.mutable_timestamp());
  v1::HeartbeatResponse response;
  grpc::Status s = UnaryCall(
      secret, [&](grpc::ClientContext* ctx) { return stub->Heartbeat(ctx, request, &response); });
  // Only a backup to the stream: a failure is worth one line, the stream decides the state.
  if (!s.ok() && s.error_code() != grpc::CANCELLED) {
    Log("heartbeat:" + GrpcCodeName(s.error_code()), "heartbeat failed: " + Describe(s));
  }
}

void AgentClient::State::ResendUnacked() {
  std::vector<std::pair<uint64_t, v1::CommandResult>> pending;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [id, u] : unacked) pending.emplace_back(u.seq, u.result);
  }
  std::sort(pending.begin(), pending.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [seq, result] : pending) {
    if (!SendResult(result)) return;
  }
  if (!pending.empty()) {
    opt.log("sent " + std::to_string(pending.size()) + " unacknowledged command result(s) again");
  }
}

void AgentClient::State::RememberId(const std::string& id) {
  recent_ids.insert(id);
  recent_order.push_back(id);
  while (recent_order.size() > opt.max_recent_ids) {
    // A result still waiting for its ack stays recognisable through `unacked`.
    recent_ids.erase(recent_order.front());
    recent_order.pop_front();
  }
}

void AgentClient::State::OnCommand(const v1::Command& command) {
  const std::string& id = command.command_id();
  const std::string type = CommandTypeName(command.type());
  std::optional<v1::CommandResult> resend;
  bool busy = false;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (id.empty()) return;  // nothing to answer to
    auto it = unacked.find(id);
    if (it != unacked.end()) {
      resend = it->second.result;  // done, but the control plane has not seen the result
    } else if (recent_ids.count(id) == 0) {
      RememberId(id);
      // A CANCEL must get through most when the agent is busiest.
      busy = command.type() != v1::COMMAND_TYPE_CANCEL && running >= opt.max_running_commands;
      if (!busy) ++running;
    } else {
      metrics->CountCommand(type, "duplicate");
      return;  // running, or done and acknowledged
    }
  }
  if (resend) {
    metrics->CountCommand(type, "duplicate");
    SendResult(*resend);
    return;
  }
  if (busy) {
    v1::CommandResult result;
    result.set_command_id(id);
    result.set_exit_code(-1);
    result.set_error("the agent is running " + std::to_string(opt.max_running_commands) +
                     " commands already; try again later");
    metrics->CountCommand(type, "rejected");
    FinishCommand(command, result);
    return;
  }
  opt.log("command " + id + " (" + type + ") started");
  try {
    std::thread([self = shared_from_this(), command] { self->RunCommand(command); }).detach();
  } catch (const std::system_error& e) {
    v1::CommandResult result;
    result.set_command_id(id);
    result.set_exit_code(-1);
    result.set_error(std::string("the agent could not start a thread for the command: ") +
                     e.what());
    {
      std::lock_guard<std::mutex> lock(mu);
      --running;
    }
    metrics->CountCommand(type, "failure");
    FinishCommand(command, result);
  }
}

void AgentClient::State::RunCommand(const v1::Command& command) {
  v1::CommandResult result = runner->Run(command);
  result.set_command_id(command.command_id());
  const std::string type = CommandTypeName(command.type());
  metrics->CountCommand(type, result.success() ? "success" : "failure");
  opt.log("command " + command.command_id() + " (" + type + ") " +
          (result.success() ? "succeeded" : "failed: " + result.error()) + " in " +
          std::to_string(result.duration_ms()) + " ms");
  FinishCommand(command, result);

  const std::string& id = command.command_id();
  bool power = result.success() && IsPowerCommand(command.type());
  bool stopped;
  {
    std::unique_lock<std::mutex> lock(mu);
    if (power) {
      // The control plane should hear of the result before the node goes away. Real time, as
      // WaitConnected: a bound on another thread's progress, not a timer of the agent's.
      cv.wait_for(lock, opt.power_ack_wait, [&] { return stopping || unacked.count(id) == 0; });
    }
    stopped = stopping;
  }
  // A stopping agent powers nothing off: the operator asked it to stop, not the fleet.
  if (!(power && stopped)) runner->AfterResultSent(command, result);
  {
    std::lock_guard<std::mutex> lock(mu);
    --running;
  }
  cv.notify_all();
}

void AgentClient::State::FinishCommand(const v1::Command& command,
                                       const v1::CommandResult& result) {
  std::vector<std::string> dropped;
  {
    std::lock_guard<std::mutex> lock(mu);
    size_t bytes = result.ByteSizeLong();
    auto& slot = unacked[command.command_id()];
    unacked_bytes -= slot.bytes;
    slot = {result, next_seq++, bytes};
    unacked_bytes += bytes;
    // Bounded: a control plane that is gone for long loses the oldest results, not our memory.
    while (unacked.size() > 1 &&
           (unacked.size() > opt.max_unacked_results || unacked_bytes > opt.max_unacked_bytes)) {
      auto oldest = std::min_element(
          unacked.begin(), unacked.end(),
          [](const auto& a, const auto& b) { return a.second.seq < b.second.seq; });
      dropped.push_back(oldest->first);
      unacked_bytes -= oldest->second.bytes;
      unacked.erase(oldest);
    }
  }
  for (const auto& id : dropped) {
    opt.log("dropped the unacknowledged result of command " + id + " (too many kept)");
  }
  SendResult(result);  // when no stream is open, it goes out after the next connect
}

void AgentClient::State::OnAck(const std::string& id) {
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = unacked.find(id);
    if (it == unacked.end()) return;
    unacked_bytes -= it->second.bytes;
    unacked.erase(it);
  }
  cv.notify_all();
}

void AgentClient::State::MarkConnected() {
  bool reconnect;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (connected) return;  // RunStream clears it when the stream ends
    reconnect = ever_connected;
    ever_connected = true;
    connected = true;
    just_connected = true;
    last_error.clear();
  }
  if (reconnect) metrics->CountReconnect();
  metrics->SetConnected(true, "");
  Log("connected", "connected to " + opt.control_plane);
  cv.notify_all();
}

void AgentClient::State::ApplyControlPlaneConfig(int heartbeat_sec, int status_sec,
                                                 std::optional<int> idle_minutes) {
  // 0 is "unchanged" (proto3's unset); anything else outside 1..kMaxIntervalSec is no sane
  // interval: too large is clamped, negative ignored.
  auto bound = [this](int value, const char* name) {
    if (value > kMaxIntervalSec) {
      opt.log(std::string("the control plane's ") + name + " " + std::to_string(value) +
              " is over " + std::to_string(kMaxIntervalSec) + ": using " +
              std::to_string(kMaxIntervalSec));
      return kMaxIntervalSec;
    }
    if (value < 0) {
      opt.log(std::string("ignoring the control plane's ") + name + " " + std::to_string(value) +
              " (not a number of seconds)");
      return 0;
    }
    return value;
  };
  const int heartbeat = bound(heartbeat_sec, "heartbeat_interval_sec");
  const int status = bound(status_sec, "status_interval_sec");
  if (idle_minutes && (*idle_minutes < 0 || *idle_minutes > kMaxIdleShutdownMinutes)) {
    opt.log("ignoring the control plane's idle_shutdown_minutes " + std::to_string(*idle_minutes) +
            " (0.." + std::to_string(kMaxIdleShutdownMinutes) + ")");
    idle_minutes.reset();
  }
  if (idle_minutes) {
    std::lock_guard<std::mutex> lock(mu);
    idle_shutdown_minutes = *idle_minutes;
  }
  ApplyIntervals(heartbeat, status);
}

void AgentClient::State::ReaderLoop(Stream* stream, grpc::Status* final_status) {
  v1::ControlMessage message;
  while (stream->Read(&message)) {
    MarkConnected();
    switch (message.payload_case()) {
      case v1::ControlMessage::kConfig: {
        const auto& c = message.config();
        ApplyControlPlaneConfig(c.heartbeat_interval_sec(), c.status_interval_sec(),
                                c.idle_shutdown_minutes());
        break;
      }
      case v1::ControlMessage::kAck:
        OnAck(message.ack().message_id());
        break;
      case v1::ControlMessage::kCommand:
        OnCommand(message.command());
        break;
      default:
        break;  // a newer control plane's message: ignore
    }
  }
  // No write may run concurrently with Finish.
  {
    std::lock_guard<std::mutex> lock(write_mu);
    writer = nullptr;
  }
  *final_status = stream->Finish();
}

void AgentClient::State::ServeStream(std::unique_lock<std::mutex>& lock, bool* was_connected,
                                     MonotonicTime* connected_at) {
  TimeSource& time = *opt.time;
  MonotonicTime next_status = MonotonicTime::max(), next_heartbeat = next_status;
  MonotonicTime last_status{}, last_heartbeat{};
  // Sends without holding the lock; returns when the send finished.
  auto send_unlocked = [&](auto send) {
    lock.unlock();
    (this->*send)();
    lock.lock();
    return time.MonotonicNow();
  };
  // The first status goes out at once: an original-style control plane sends nothing on the
  // stream before it, and learns from it which node the stream belongs to.
  lock.unlock();
  const bool first_status_sent = SendStatus();
  if (first_status_sent) MarkConnected();
  lock.lock();
  while (!stopping && !stream_done) {
    if (just_connected) {
      just_connected = false;
      intervals_changed = false;
      *was_connected = true;
      *connected_at = time.MonotonicNow();
      lock.unlock();
      // The control plane spoke before our first status could go out: send it now.
      if (!first_status_sent) SendStatus();
      ResendUnacked();
      lock.lock();
      last_status = last_heartbeat = time.MonotonicNow();
      next_status = last_status + status_interval;
      next_heartbeat = last_heartbeat + heartbeat_interval;
      continue;
    }
    if (intervals_changed && *was_connected) {
      intervals_changed = false;
      next_status = last_status + status_interval;
      next_heartbeat = last_heartbeat + heartbeat_interval;
    }
    const MonotonicTime now = time.MonotonicNow();
    if (now >= next_status) {
      last_status = send_unlocked(&State::SendStatus);
      next_status = last_status + status_interval;
      continue;
    }
    if (now >= next_heartbeat) {
      last_heartbeat = send_unlocked(&State::SendHeartbeat);
      next_heartbeat = last_heartbeat + heartbeat_interval;
      continue;
    }
    const MonotonicTime deadline = std::min(next_status, next_heartbeat);
    if (deadline == MonotonicTime::max()) {
      cv.wait(lock);  // not connected yet: nothing is timed, the reader wakes us
    } else {
      WaitFor(lock, deadline - now,
              [&] { return stopping || stream_done || just_connected || intervals_changed; });
    }
  }
}

grpc::Status AgentClient::State::RunStream(bool* was_connected, MonotonicTime* connected_at) {
  *was_connected = false;
  grpc::ClientContext ctx;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (stopping) return grpc::Status(grpc::CANCELLED, "agent stopping");
    if (!credential.empty()) ctx.AddMetadata("authorization", "Bearer " + credential);
    active_calls.insert(&ctx);
    stream_done = false;
    just_connected = false;
  }
  std::unique_ptr<Stream> stream = stub->Connect(&ctx);
  {
    std::lock_guard<std::mutex> lock(write_mu);
    writer = stream.get();
  }
  grpc::Status final_status;
  std::thread reader([&] {
    ReaderLoop(stream.get(), &final_status);
    {
      std::lock_guard<std::mutex> lock(mu);
      stream_done = true;
    }
    cv.notify_all();
  });

  std::unique_lock<std::mutex> lock(mu);
  ServeStream(lock, was_connected, connected_at);
  // Ends the stream when we stopped; harmless when it ended by itself.
  ctx.TryCancel();
  lock.unlock();
  reader.join();
  lock.lock();
  active_calls.erase(&ctx);
  connected = false;
  return final_status;
}

void AgentClient::State::ConnectionLoop() {
  Backoff backoff(opt.backoff_initial, opt.backoff_max, opt.backoff_random);
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stopping) return;
    }
    bool need_register;
    {
      std::lock_guard<std::mutex> lock(mu);
      need_register = !registered;
    }
    std::string reason;
    if (need_register) {
      Status s = Register();
      if (!s.ok()) {
        reason = s.message();
        milliseconds delay = backoff.Next();
        SetDisconnected(reason);
        if (s.code() == StatusCode::kUnavailable) {
          Log("unreachable", "control plane " + opt.control_plane + " unreachable (" + reason +
                                 "); retrying with backoff up to " + Seconds(opt.backoff_max));
        } else {
          Log("register:" + reason,
              reason + "; retrying with backoff up to " + Seconds(opt.backoff_max));
        }
        if (!SleepFor(delay)) return;
        continue;
      }
    }

    bool was_connected = false;
    MonotonicTime connected_at{};
    grpc::Status s = RunStream(&was_connected, &connected_at);
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stopping) return;
    }
    if (was_connected && opt.time->MonotonicNow() - connected_at >= opt.stable_after) {
      backoff.Reset();
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      // The credential is no longer good (node deleted, store reset), or the control plane
      // gave none and expects a Register per stream: register again.
      if (s.error_code() == grpc::UNAUTHENTICATED || register_each_stream) registered = false;
    }
    reason = "stream to the control plane ended: " + Describe(s);
    milliseconds delay = backoff.Next();
    SetDisconnected(reason);
    if (was_connected) {
      Log("disconnected", reason + "; reconnecting in " + Seconds(delay));
    } else if (s.error_code() == grpc::UNAVAILABLE) {
      Log("unreachable", "control plane " + opt.control_plane + " unreachable (" + Describe(s) +
                             "); retrying with backoff up to " + Seconds(opt.backoff_max));
    } else {
      Log("stream:" + GrpcCodeName(s.error_code()), reason + "; retrying with backoff");
    }
    if (!SleepFor(delay)) return;
  }
}

AgentClient::AgentClient(ClientOptions options, std::shared_ptr<AgentMetrics> metrics)
    : metrics_(metrics ? std::move(metrics) : std::make_shared<AgentMetrics>()),
      state_(std::make_shared<State>(std::move(options), metrics_)) {}

AgentClient::~AgentClient() { Stop(); }

Status AgentClient::Start() {
  State& s = *state_;
  if (s.stub) return Status::FailedPrecondition("agent client already started");
  grpc::ChannelArguments args;
  // Keepalive finds a dead peer (a NAT or the mesh dropped the connection) within ~40 s; the
  // control plane permits pings this often.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetMaxReceiveMessageSize(1 << 20);
  // Our own backoff decides when to try again; gRPC's reconnect backoff must not add minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(std::max<int64_t>(1000, s.opt.backoff_max.count())));
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (!s.opt.tls_ca.empty()) {
    auto ca = ReadFile(s.opt.tls_ca);
    if (!ca.ok()) return ca.status().WithPrefix("-tls-ca");
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *ca;
    creds = grpc::SslCredentials(ssl);
    if (!s.opt.tls_server_name.empty()) args.SetSslTargetNameOverride(s.opt.tls_server_name);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  s.channel = grpc::CreateCustomChannel(s.opt.control_plane, creds, args);
  s.stub = v1::AgentControl::NewStub(s.channel);
  s.metrics->SetConnected(false, "not connected yet");
  s.connection_thread = std::thread([st = state_.get()] { st->ConnectionLoop(); });
  return Status::Ok();
}

void AgentClient::Stop() {
  State& s = *state_;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.stopping = true;
    for (grpc::ClientContext* ctx : s.active_calls) ctx->TryCancel();
  }
  s.cv.notify_all();
  if (s.connection_thread.joinable()) {
    s.connection_thread.join();
    s.metrics->SetConnected(false, "agent stopped");
  }
}

bool AgentClient::connected() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->connected;
}

bool AgentClient::WaitConnected(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->cv.wait_for(lock, timeout, [&] { return state_->connected || state_->stopping; });
  return state_->connected;
}

std::string AgentClient::node_id() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->node_id;
}

std::chrono::milliseconds AgentClient::status_interval() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->status_interval;
}

std::chrono::milliseconds AgentClient::heartbeat_interval() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->heartbeat_interval;
}

int AgentClient::idle_shutdown_minutes() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->idle_shutdown_minutes;
}

size_t AgentClient::unacked_results() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->unacked.size();
}

size_t AgentClient::commands_in_flight() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->running;
}

std::string AgentClient::last_error() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->last_error;
}

void AgentClient::ApplyIntervals(int heartbeat_sec, int status_sec) {
  state_->ApplyIntervals(heartbeat_sec, status_sec);
}

}  // namespace carrierarr::agent
