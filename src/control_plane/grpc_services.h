// The gRPC face of the control plane: ec2agent.v1.AgentControl (callback API: one reactor per
// Connect stream, no thread per agent, so ten thousand streams cost memory, not threads) and
// carrierarr.v1.Fleet (the operator's admin API; synchronous, few callers). Both only
// authenticate, translate and delegate to ControlPlane.
#ifndef CARRIERARR_CONTROL_PLANE_GRPC_SERVICES_H_
#define CARRIERARR_CONTROL_PLANE_GRPC_SERVICES_H_

#include <atomic>

#include "carrierarr/v1/fleet.grpc.pb.h"
#include "control_plane/control_plane.h"
#include "ec2agent/v1/agent.grpc.pb.h"

namespace carrierarr::control_plane {

// Thread-safe; `cp` must outlive the service and the server it is registered with.
class AgentService final : public ec2agent::v1::AgentControl::CallbackService {
 public:
  explicit AgentService(ControlPlane* cp) : cp_(cp) {}

  grpc::ServerBidiReactor<ec2agent::v1::AgentMessage, ec2agent::v1::ControlMessage>* Connect(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* Register(grpc::CallbackServerContext* context,
                                     const ec2agent::v1::RegisterRequest* request,
                                     ec2agent::v1::RegisterResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context,
                                      const ec2agent::v1::HeartbeatRequest* request,
                                      ec2agent::v1::HeartbeatResponse* response) override;
  grpc::ServerUnaryReactor* GetFleetStatus(grpc::CallbackServerContext* context,
                                           const ec2agent::v1::FleetStatusRequest* request,
                                           ec2agent::v1::FleetStatusResponse* response) override;

 private:
  ControlPlane* cp_;
};

// Thread-safe; `cp` must outlive the service. Every call needs the admin token.
class AdminService final : public carrierarr::v1::Fleet::Service {
 public:
  explicit AdminService(ControlPlane* cp) : cp_(cp) {}
  // Ends WatchEvents streams (they poll this flag) so that server shutdown does not wait.
  void Stop() { stopping_ = true; }

  grpc::Status CreateToken(grpc::ServerContext* context,
                           const carrierarr::v1::CreateTokenRequest* request,
                           carrierarr::v1::CreateTokenResponse* response) override;
  grpc::Status ListTokens(grpc::ServerContext* context,
                          const carrierarr::v1::ListTokensRequest* request,
                          carrierarr::v1::ListTokensResponse* response) override;
  grpc::Status RevokeToken(grpc::ServerContext* context,
                           const carrierarr::v1::RevokeTokenRequest* request,
                           carrierarr::v1::RevokeTokenResponse* response) override;
  grpc::Status ListNodes(grpc::ServerContext* context,
                         const carrierarr::v1::ListNodesRequest* request,
                         carrierarr::v1::ListNodesResponse* response) override;
  grpc::Status GetNode(grpc::ServerContext* context, const carrierarr::v1::GetNodeRequest* request,
                       carrierarr::v1::Node* response) override;
  grpc::Status DeleteNode(grpc::ServerContext* context,
                          const carrierarr::v1::DeleteNodeRequest* request,
                          carrierarr::v1::DeleteNodeResponse* response) override;
  grpc::Status SendCommand(grpc::ServerContext* context,
                           const carrierarr::v1::SendCommandRequest* request,
                           carrierarr::v1::CommandRecord* response) override;
  grpc::Status GetCommand(grpc::ServerContext* context,
                          const carrierarr::v1::GetCommandRequest* request,
                          carrierarr::v1::CommandRecord* response) override;
  grpc::Status CancelCommand(grpc::ServerContext* context,
                             const carrierarr::v1::CancelCommandRequest* request,
                             carrierarr::v1::CommandRecord* response) override;
  grpc::Status WatchEvents(grpc::ServerContext* context,
                           const carrierarr::v1::WatchEventsRequest* request,
                           grpc::ServerWriter<carrierarr::v1::Event>* writer) override;
  grpc::Status WakePool(grpc::ServerContext* context, const carrierarr::v1::PoolRequest* request,
                        carrierarr::v1::PoolResponse* response) override;
  grpc::Status SleepPool(grpc::ServerContext* context, const carrierarr::v1::PoolRequest* request,
                         carrierarr::v1::PoolResponse* response) override;
  grpc::Status ListPools(grpc::ServerContext* context,
                         const carrierarr::v1::ListPoolsRequest* request,
                         carrierarr::v1::ListPoolsResponse* response) override;

 private:
  ControlPlane* cp_;
  std::atomic<bool> stopping_{false};
};

// carrierarr::Status -> grpc::Status with the same meaning.
grpc::Status ToGrpc(const Status& status);

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_GRPC_SERVICES_H_
