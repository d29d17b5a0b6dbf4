// OriginalControlPlane: an AgentControl server that behaves on the wire as the original Go
// control plane does (/work/shared/spec/agent-protocol.md, "How the original peers behave"):
// Register is accepted without any authorization and answers no credential (it has no such
// field), Connect sends nothing until the agent's first NodeStatus, no ConfigUpdate is ever
// sent; then it sends the commands the test queues and acks every result. Speaks the original
// protocol only (tests/interop/original/agent.proto). On 127.0.0.1, a port of its own.
//
// Thread-safe: gRPC's threads serve the RPCs while the test queues commands and waits.
#ifndef CARRIERARR_TESTS_INTEROP_ORIGINAL_CONTROL_PLANE_H_
#define CARRIERARR_TESTS_INTEROP_ORIGINAL_CONTROL_PLANE_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "original/agent.grpc.pb.h"

namespace carrierarr::interop {

namespace original = ::ec2agent::v1;

class OriginalControlPlane final : public original::AgentControl::Service {
 public:
  // What the agents did, as this control plane saw it.
  struct Seen {
    int registers = 0;
    int registers_with_authorization = 0;  // the original never sends any; ours may
    original::RegisterRequest last_register;
    int streams = 0;
    int statuses = 0;
    bool every_stream_began_with_a_status = true;
    original::NodeStatus last_status;
    std::map<std::string, original::CommandResult> results;  // by command id
  };

  OriginalControlPlane() = default;
  ~OriginalControlPlane() override;  // Stop()

  // Listens on 127.0.0.1:0; false when gRPC could not start.
  bool Start();
  void Stop();
  int port() const { return port_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }

  // Sends `command` on the open stream (after its first status), or on the next one.
  void Send(const original::Command& command);
  // Ends the open stream with UNAVAILABLE, as a restart of the control plane would.
  void EndStream();

  // Waits up to `timeout` until pred(seen) holds; true when it did.
  bool WaitFor(const std::function<bool(const Seen&)>& pred,
               std::chrono::milliseconds timeout = std::chrono::seconds(30));
  Seen seen();

  grpc::Status Register(grpc::ServerContext* ctx, const original::RegisterRequest* request,
                        original::RegisterResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* ctx, const original::HeartbeatRequest* request,
                         original::HeartbeatResponse* response) override;
  grpc::Status Connect(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<original::ControlMessage, original::AgentMessage>* stream) override;

 private:
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;                   // any change of what follows
  Seen seen_;                                    // guarded by mu_
  std::deque<original::ControlMessage> outbox_;  // guarded by mu_; to the open stream
  grpc::ServerContext* open_stream_ = nullptr;   // guarded by mu_
};

}  // namespace carrierarr::interop

#endif  // CARRIERARR_TESTS_INTEROP_ORIGINAL_CONTROL_PLANE_H_
