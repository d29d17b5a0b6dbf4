#include "control_plane/grpc_services.h"

#include <google/protobuf/util/time_util.h>

#include <deque>
#include <mutex>

#include "control_plane/auth.h"

namespace carrierarr::control_plane {
namespace {

using ec2agent::v1::AgentMessage;
using ec2agent::v1::ControlMessage;

// A slow agent must not make the control plane buffer without bound.
constexpr size_t kMaxQueuedWrites = 1024;

std::string Secret(const grpc::ServerContextBase& context) {
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return {};
  return std::string(BearerSecret(std::string_view(it->second.data(), it->second.size())));
}

Caller CallerOf(const grpc::ServerContextBase& context) {
  return {.secret = Secret(context), .peer = context.peer()};
}

class ConnectReactor;

// The control plane's handle on one Connect stream. It outlives the reactor (the control plane
// may hold it a moment longer); `reactor` is cleared under `mu` when the reactor is done, so a
// late Send finds nothing instead of a freed reactor. The mutex is recursive because gRPC may
// run a reaction inline from StartWrite/Finish on the calling thread.
class StreamHandle final : public StreamSink {
 public:
  explicit StreamHandle(ConnectReactor* reactor) : reactor_(reactor) {}
  bool Send(const ControlMessage& message) override;
  void Close(const Status& why) override;
  void Detach() {
    std::lock_guard lock(mu_);
    reactor_ = nullptr;
  }
  std::recursive_mutex& mu() { return mu_; }

 private:
  std::recursive_mutex mu_;
  ConnectReactor* reactor_;
};

// One agent's Connect stream. Reads run back to back (one outstanding StartRead); writes are
// queued and sent one at a time. Owned by gRPC until OnDone, where it deletes itself.
class ConnectReactor final : public grpc::ServerBidiReactor<AgentMessage, ControlMessage> {
 public:
  ConnectReactor(ControlPlane* cp, grpc::CallbackServerContext* context) : cp_(cp) {
    auto who = cp_->AuthenticateNode(CallerOf(*context));
    if (!who.ok()) {
      finished_ = true;
      Finish(ToGrpc(who.status()));
      return;
    }
    node_id_ = std::move(who).value();
    handle_ = std::make_shared<StreamHandle>(this);
    StartRead(&in_);
    cp_->AttachStream(node_id_, handle_);
  }

  // Both need handle_->mu() held.
  bool EnqueueLocked(const ControlMessage& message) {
    if (finished_) return false;
    if (queue_.size() >= kMaxQueuedWrites) {
      FinishLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                "agent does not read its stream; closing it"));
      return false;
    }
    queue_.push_back(message);
    if (queue_.size() == 1) StartWrite(&queue_.front());
    return true;
  }
  void FinishLocked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    if (queue_.empty()) {
      Finish(status);
    } else {
      pending_finish_ = status;  // after the write in flight
      queue_.resize(1);
    }
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the agent closed its side, or the call was cancelled
      std::lock_guard lock(handle_->mu());
      FinishLocked(grpc::Status::OK);
      return;
    }
    if (Status refused = cp_->OnAgentMessage(node_id_, in_); !refused.ok()) {
      std::lock_guard lock(handle_->mu());
      FinishLocked(ToGrpc(refused));
      return;
    }
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(handle_->mu());
    if (!queue_.empty()) queue_.pop_front();
    if (!ok) {
      queue_.clear();
      if (!finished_) {
        finished_ = true;
        Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      } else if (pending_finish_) {
        Finish(*pending_finish_);
        pending_finish_.reset();
      }
      return;
    }
    if (!queue_.empty()) {
      StartWrite(&queue_.front());
    } else if (pending_finish_) {
      Finish(*pending_finish_);
      pending_finish_.reset();
    }
  }

  void OnDone() override {
    if (handle_) {
      handle_->Detach();
      cp_->DetachStream(node_id_, handle_.get());
    }
    delete this;
  }

 private:
  ControlPlane* cp_;
  std::string node_id_;
  std::shared_ptr<StreamHandle> handle_;
  AgentMessage in_;
  std::deque<ControlMessage> queue_;  // front() is the write in flight
  bool finished_ = false;
  std::optional<grpc::Status> pending_finish_;
};

bool StreamHandle::Send(const ControlMessage& message) {
  std::lock_guard lock(mu_);
  return reactor_ != nullptr && reactor_->EnqueueLocked(message);
}

void StreamHandle::Close(const Status& why) {
  std::lock_guard lock(mu_);
  if (reactor_ != nullptr) reactor_->FinishLocked(ToGrpc(why));
}

}  // namespace

grpc::Status ToGrpc(const Status& status) {
  using C = grpc::StatusCode;
  C code = C::UNKNOWN;
  switch (status.code()) {
    case StatusCode::kOk:
      return grpc::Status::OK;
    case StatusCode::kInvalidArgument:
      code = C::INVALID_ARGUMENT;
      break;
    case StatusCode::kNotFound:
      code = C::NOT_FOUND;
      break;
    case StatusCode::kAlreadyExists:
      code = C::ALREADY_EXISTS;
      break;
    case StatusCode::kPermissionDenied:
      code = C::PERMISSION_DENIED;
      break;
    case StatusCode::kFailedPrecondition:
      code = C::FAILED_PRECONDITION;
      break;
    case StatusCode::kDataLoss:
      code = C::DATA_LOSS;
      break;
    case StatusCode::kUnavailable:
      code = C::UNAVAILABLE;
      break;
    case StatusCode::kDeadlineExceeded:
      code = C::DEADLINE_EXCEEDED;
      break;
    case StatusCode::kInternal:
      code = C::INTERNAL;
      break;
    case StatusCode::kUnauthenticated:
      code = C::UNAUTHENTICATED;
      break;
    case StatusCode::kResourceExhausted:
      code = C::RESOURCE_EXHAUSTED;
      break;
    case StatusCode::kAborted:
      code = C::ABORTED;
      break;
  }
  return {code, status.message()};
}

// --- AgentControl ---

grpc::ServerBidiReactor<AgentMessage, ControlMessage>* AgentService::Connect(
    grpc::CallbackServerContext* context) {
  return new ConnectReactor(cp_, context);
}

grpc::ServerUnaryReactor* AgentService::Register(grpc::CallbackServerContext* context,
                                                 const ec2agent::v1::RegisterRequest* request,
                                                 ec2agent::v1::RegisterResponse* response) {
  auto* reactor = context->DefaultReactor();
  auto result = cp_->Register(CallerOf(*context), *request);
  if (!result.ok()) {
    reactor->Finish(ToGrpc(result.status()));
    return reactor;
  }
  *response = std::move(result).value();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AgentService::Heartbeat(grpc::CallbackServerContext* context,
                                                  const ec2agent::v1::HeartbeatRequest*,
                                                  ec2agent::v1::HeartbeatResponse* response) {
  auto* reactor = context->DefaultReactor();
  auto who = cp_->AuthenticateNode(CallerOf(*context));
  if (!who.ok()) {
    reactor->Finish(ToGrpc(who.status()));
    return reactor;
  }
  cp_->OnHeartbeat(*who);
  response->set_ok(true);
  // (protobuf 3.21's TimeUtil::GetCurrentTime() has whole seconds only.)
  *response->mutable_server_time() = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::microseconds>(
          cp_->options().clock->SystemNow().time_since_epoch())
          .count());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AgentService::GetFleetStatus(
    grpc::CallbackServerContext* context, const ec2agent::v1::FleetStatusRequest* request,
    ec2agent::v1::FleetStatusResponse* response) {
  auto* reactor = context->DefaultReactor();
  // The admin sees the fleet; a node sees itself only (a node must not learn its peers).
  Caller caller = CallerOf(*context);
  std::string only;
  if (!cp_->IsAdmin(caller.secret)) {
    auto who = cp_->AuthenticateNode(caller);
    if (!who.ok()) {
      reactor->Finish(ToGrpc(who.status()));
      return reactor;
    }
    only = std::move(*who);
  }
  *response = cp_->FleetStatus(*request, only);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

// --- carrierarr.v1.Fleet ---

#define CARRIERARR_REQUIRE_ADMIN(context)                                               \
  do {                                                                                  \
    if (!cp_->IsAdmin(Secret(*(context))))                                              \
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,                            \
                          "admin token missing or wrong: use the token in the control " \
                          "plane's admin.token file (carrierarr --admin-token-file)");  \
  } while (0)

namespace {

// The end of an RPC that answers with what the core returned: its error, or the value moved
// into *response.
template <typename T, typename Response>
grpc::Status Answer(Result<T> result, Response* response) {
  if (!result.ok()) return ToGrpc(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status AdminService::CreateToken(grpc::ServerContext* context,
                                       const carrierarr::v1::CreateTokenRequest* request,
                                       carrierarr::v1::CreateTokenResponse* response) {
  CARRIERARR_REQUIRE_ADMIN(context);
  return Answer(cp_->CreateToken(*request), response);
}

grpc::Status AdminService::ListTokens(grpc::ServerContext* context,
                                      const carrierarr::v1::ListTokensRequest*,
                                      carrierarr::v1::ListTokensResponse* response) {
  CARRIERARR_REQUIRE_ADMIN(context);
  auto r = cp_->ListTokens();
  if (!r.ok()) return ToGrpc(r.status());
  for (auto& t : *r) *response->add_tokens() = std::move(t);
  return grpc::Status::OK;
}

grpc::Status AdminService::RevokeToken(grpc::ServerContext* context,
                                       const carrierarr::v1::RevokeTokenRequest* request,
                                       carrierarr::v1::RevokeTokenResponse*) {
  CARRIERARR_REQUIRE_ADMIN(context);
  return ToGrpc(cp_->RevokeToken(request->id()));
}

grpc::Status AdminService::ListNodes(grpc::ServerContext* context,
                                     const carrierarr::v1::ListNodesRequest*,
                                     carrierarr::v1::ListNodesResponse* response) {
  CARRIERARR_REQUIRE_ADMIN(context);
  for (auto& n : cp_->ListNodes()) *response->add_nodes() = std::move(n);
  return grpc::Status::OK;
}

grpc::Status AdminService::GetNode(grpc::ServerContext* context,
                                   const carrierarr::v1::GetNodeRequest* request,
                                   carrierarr::v1::Node* response) {
  CARRIERARR_REQUIRE_ADMIN(context);
  return Answer(cp_->GetNode(request->node_id()), response);
}

grpc::Status AdminService::DeleteNode(grpc::ServerContext* context,
                                      const carrierarr::v1::DeleteNodeRequest* request,
                                      carrierarr::v1::DeleteNodeResponse*) {
  CARRIERARR_REQUIRE_ADMIN(context);
  return ToGrpc(cp_->DeleteNode(request->node_id()));
}

grpc::Status AdminService::SendCommand(grpc::ServerContext* context,
                                       const carrierarr::v1::SendCommandRequest* request,
                                       carrierarr::v1::CommandRecord* response) {
  CARRIERARR_REQUIRE_ADMIN(context);
  auto r = cp_->SendCommand(*request);
  if (!r.ok()) return ToGrpc(r.status());
  // A result already in (the node answered at once) is not waited for again: a held output
  // (FETCH_KUBECONFIG) went to this caller in that first read, and a second would not have it.
  if (request->wait() && !CommandFinished(r->state())) {
    // Until the result, the command's own timeout (plus grace), or the caller's deadline.
    const std::chrono::milliseconds limit =
        std::chrono::seconds(request->timeout_seconds() > 0 ? request->timeout_seconds() : 3600) +
        cp_->options().command_grace;
    const auto until_deadline = std::chrono::duration_cast<std::chrono::milliseconds>(
        context->deadline() - cp_->options().clock->SystemNow());
    r = cp_->WaitCommand(r->command_id(), std::min(limit, until_deadline));
  }
  return Answer(std::move(r), response);
}

grpc::Status AdminService::GetCommand(grpc::ServerContext* context,
                                      const carrierarr::v1::GetCommandRequest* request,
                                      carrierarr::v1::CommandRecord* response) {
  CARRIERARR_REQUIRE_ADMIN(context);
  return Answer(cp_->GetCommand(request->command_id()), response);
}

grpc::Status AdminService::CancelCommand(grpc::ServerContext* context,
                                         const carrierarr::v1::CancelCommandRequest* request,
                                         carrierarr::v1::CommandRecord* response) {
  CARRIERARR_REQUIRE_ADMIN(context);
  return Answer(cp_->CancelCommand(request->command_id()), response);
}

grpc::Status AdminService::WatchEvents(grpc::ServerContext* context,
                                       const carrierarr::v1::WatchEventsRequest* request,
                                       grpc::ServerWriter<carrierarr::v1::Event>* writer) {
  CARRIERARR_REQUIRE_ADMIN(context);
  int64_t after = request->after_seq();
  while (!context->IsCancelled() && !stopping_) {
    auto events = cp_->Events(after, 256, std::chrono::milliseconds(500));
    if (!events.ok()) return ToGrpc(events.status());
    for (const auto& e : *events) {
      if (!writer->Write(e)) return grpc::Status::OK;  // the client went away
      after = e.seq();
    }
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::WakePool(grpc::ServerContext* context,
                                    const carrierarr::v1::PoolRequest* request,
                                    carrierarr::v1::PoolResponse* response) {
  CARRIERARR_REQUIRE_ADMIN(context);
  return Answer(cp_->WakePool(*request), response);
}

grpc::Status AdminService::SleepPool(grpc::ServerContext* context,
                                     const carrierarr::v1::PoolRequest* request,
                                     carrierarr::v1::PoolResponse* response) {
  CARRIERARR_REQUIRE_ADMIN(context);
  return Answer(cp_->SleepPool(*request), response);
}

grpc::Status AdminService::ListPools(grpc::ServerContext* context,
                                     const carrierarr::v1::ListPoolsRequest*,
                                     carrierarr::v1::ListPoolsResponse* response) {
  CARRIERARR_REQUIRE_ADMIN(context);
  return Answer(cp_->ListPools(), response);
}

}  // namespace carrierarr::control_plane
