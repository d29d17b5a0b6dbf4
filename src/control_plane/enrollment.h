// Enrollment and credentials: the admin token, enrollment tokens (create, list, revoke), an
// agent's registration and the authentication of a node. Only hashes of secrets are kept
// (auth.h). Who may register as node N:
//   - the holder of N's credential (re-registration);
//   - an enrollment token bound to N (`tokens create --node N`, or signed by the fleet's
//     enrollment key for N) or to N's pool (`--pool P` covers "P-*"), but only while N is not
//     registered, unless the token says --replace or the operator deleted N first;
//   - with mesh identity (mesh_identity.h), a connection from a mesh address that N's
//     certificate carries, with or without a token; a connection from the mesh may register as
//     no other node, whatever it holds.
//
// Thread safety: every method may be called from any thread. mu_ guards admin_hash_; it is a
// leaf lock. Register talks to the store and the registry without holding it. Callers: the gRPC
// reactors (register, authenticate), the admin and HTTP threads (tokens, IsAdmin), serve
// (SetAdminToken).
#ifndef CARRIERARR_CONTROL_PLANE_ENROLLMENT_H_
#define CARRIERARR_CONTROL_PLANE_ENROLLMENT_H_

#include <optional>
#include <string>
#include <vector>

#include "carrierarr/v1/fleet.pb.h"
#include "control_plane/auth.h"
#include "control_plane/event_log.h"
#include "control_plane/mesh_identity.h"
#include "control_plane/metrics.h"
#include "control_plane/node_registry.h"
#include "control_plane/store.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "core/time_source.h"
#include "ec2agent/v1/agent.pb.h"

namespace carrierarr::control_plane {

class Enrollment {
 public:
  // `signing_key`: the 32-byte Ed25519 public key of fleet-signed tokens; empty refuses them.
  // `mesh`: the mesh identity, or null when it is off; it must outlive this.
  Enrollment(Store& store, NodeRegistry& nodes, EventLog& events, const TimeSource& clock,
             Counter& store_errors, std::string signing_key = {}, MeshIdentity* mesh = nullptr)
      : store_(store),
        nodes_(nodes),
        events_(events),
        clock_(clock),
        store_errors_(store_errors),
        signing_key_(std::move(signing_key)),
        mesh_(mesh) {}

  // Reads the admin token's hash from the store (at start-up).
  Status Load() EXCLUDES(mu_);
  // The admin token: the one whose hash is in the "admin_token_sha256" setting.
  Status SetAdminToken(const std::string& secret) EXCLUDES(mu_);
  bool IsAdmin(const std::string& secret) const EXCLUDES(mu_);
  // The node this caller is: the owner of its node credential or, with mesh identity and no
  // credential, the registered node of its mesh address. Unauthenticated when neither;
  // PermissionDenied for a credential used from another node's mesh address.
  Result<std::string> AuthenticateNode(const Caller& caller) const;

  // An agent's registration (see the top of this file); a token or the mesh buys a new
  // credential, returned in the response. Errors: Unauthenticated, PermissionDenied,
  // InvalidArgument, Unavailable.
  Result<ec2agent::v1::RegisterResponse> Register(const Caller& caller,
                                                  const ec2agent::v1::RegisterRequest& request);

  Result<carrierarr::v1::CreateTokenResponse> CreateToken(
      const carrierarr::v1::CreateTokenRequest& request);
  Result<std::vector<carrierarr::v1::Token>> ListTokens();
  Status RevokeToken(const std::string& id);

  uint64_t registrations() const { return registrations_.value(); }
  uint64_t refused_registrations() const { return refused_.value(); }

 private:
  // Who is registering: the node id, its credential's hash, whether that credential is new
  // (then `credential` is its secret) and when the node first registered.
  struct Identity {
    std::string node_id;
    std::string credential;  // a new one, only when enrolling with a token
    std::string credential_hash;
    int64_t registered_ms = 0;
  };
  // What the caller's mesh address proves: nullopt when the call does not come from the mesh
  // (or mesh identity is off), else the node whose certificate carries the address, or the
  // error that no certificate does.
  std::optional<Result<std::string>> MeshNode(const Caller& caller) const;
  // `wanted`: the node id asked for (the mesh's node when the call comes from the mesh; may be
  // empty). `proven`: the mesh vouches for `wanted`, which may then replace a registration.
  Result<Identity> Identify(const std::string& secret, const std::string& wanted, bool proven,
                            int64_t now_ms);
  // The node id a new registration gets for an enrollment token with hash `hash`: one of the
  // store's (its use counted) or a fleet-signed one (recorded as used).
  Result<std::string> ConsumeStoredToken(const std::string& hash, const std::string& wanted,
                                         bool proven, int64_t now_ms);
  Result<std::string> ConsumeSignedToken(const std::string& secret, const std::string& hash,
                                         const std::string& wanted, bool proven, int64_t now_ms);
  // PermissionDenied when a token would take over registered node `node_id` without the
  // right to (a --replace token, or the mesh's word).
  Status CheckNotTakenOver(const std::string& node_id, bool may_replace) const;
  Result<ec2agent::v1::RegisterResponse> Admit(const Identity& who,
                                               const ec2agent::v1::RegisterRequest& request,
                                               int64_t now_ms);

  Store& store_;
  NodeRegistry& nodes_;
  EventLog& events_;
  const TimeSource& clock_;
  Counter& store_errors_;
  const std::string signing_key_;
  MeshIdentity* const mesh_;
  Counter registrations_, refused_;

  mutable Mutex mu_;
  std::string admin_hash_ GUARDED_BY(mu_);
};

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_ENROLLMENT_H_
