#include "interop/original_control_plane.h"

#include <thread>
#include <utility>

namespace carrierarr::interop {

OriginalControlPlane::~OriginalControlPlane() { Stop(); }

bool OriginalControlPlane::Start() {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(this);
  server_ = builder.BuildAndStart();
  return server_ != nullptr && port_ > 0;
}

void OriginalControlPlane::Stop() {
  if (!server_) return;
  EndStream();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server_.reset();
}

void OriginalControlPlane::Send(const original::Command& command) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    *outbox_.emplace_back().mutable_command() = command;
  }
  cv_.notify_all();
}

void OriginalControlPlane::EndStream() {
  std::lock_guard<std::mutex> lock(mu_);
  if (open_stream_ != nullptr) open_stream_->TryCancel();
  cv_.notify_all();
}

bool OriginalControlPlane::WaitFor(const std::function<bool(const Seen&)>& pred,
                                   std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return pred(seen_); });
}

OriginalControlPlane::Seen OriginalControlPlane::seen() {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_;
}

grpc::Status OriginalControlPlane::Register(grpc::ServerContext* ctx,
                                            const original::RegisterRequest* request,
                                            original::RegisterResponse* response) {
  std::lock_guard<std::mutex> lock(mu_);
  ++seen_.registers;
  if (ctx->client_metadata().count("authorization") > 0) ++seen_.registers_with_authorization;
  seen_.last_register = *request;
  cv_.notify_all();
  // Anyone is welcome, with the original's intervals.
  response->set_accepted(true);
  response->set_message("registered");
  response->set_assigned_id(request->node_id());
  response->set_heartbeat_interval_sec(10);
  response->set_status_interval_sec(30);
  return grpc::Status::OK;
}

grpc::Status OriginalControlPlane::Heartbeat(grpc::ServerContext*,
                                             const original::HeartbeatRequest*,
                                             original::HeartbeatResponse* response) {
  response->set_ok(true);
  return grpc::Status::OK;
}

grpc::Status OriginalControlPlane::Connect(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<original::ControlMessage, original::AgentMessage>* stream) {
  // Nothing is sent before the first message, which must be a status: it names the node.
  original::AgentMessage in;
  const bool got = stream->Read(&in);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++seen_.streams;
    if (!got || !in.has_status()) {
      seen_.every_stream_began_with_a_status = false;
      cv_.notify_all();
      return grpc::Status(grpc::INVALID_ARGUMENT, "the first message must be a NodeStatus");
    }
    ++seen_.statuses;
    seen_.last_status = in.status();
    open_stream_ = ctx;
  }
  cv_.notify_all();

  // One writer (gRPC allows one Write at a time): commands queued by the test, and acks.
  bool reading = true;
  std::thread writer([&] {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return !outbox_.empty() || !reading || ctx->IsCancelled(); });
      if (!reading || ctx->IsCancelled()) return;
      original::ControlMessage m = std::move(outbox_.front());
      outbox_.pop_front();
      lock.unlock();
      const bool ok = stream->Write(m);
      lock.lock();
      if (!ok) return;
    }
  });
  while (stream->Read(&in)) {
    std::lock_guard<std::mutex> lock(mu_);
    if (in.has_status()) {
      ++seen_.statuses;
      seen_.last_status = in.status();
    } else if (in.has_command_result()) {
      const original::CommandResult& r = in.command_result();
      seen_.results[r.command_id()] = r;
      original::ControlMessage ack;
      ack.mutable_ack()->set_message_id(r.command_id());
      ack.mutable_ack()->set_received(true);
      outbox_.push_back(std::move(ack));
    }
    cv_.notify_all();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    reading = false;
    if (open_stream_ == ctx) open_stream_ = nullptr;
  }
  cv_.notify_all();
  writer.join();
  return ctx->IsCancelled() ? grpc::Status(grpc::UNAVAILABLE, "control plane restarting")
                            : grpc::Status::OK;
}

}  // namespace carrierarr::interop
