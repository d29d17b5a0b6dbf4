// Enrollment and credentials: the admin token, enrollment tokens (create, list, revoke), an
// agent's registration (a token, from the store or signed with the fleet's enrollment key, buys
// a node credential; a credential re-registers its node) and the authentication of a node's
// credential. Only hashes of secrets are kept (auth.h).
//
// Thread safety: every method may be called from any thread. mu_ guards admin_hash_; it is a
// leaf lock. Register talks to the store and the registry without holding it. Callers: the gRPC
// reactors (register, authenticate), the admin and HTTP threads (tokens, IsAdmin), serve
// (SetAdminToken).
#ifndef CARRIERARR_CONTROL_PLANE_ENROLLMENT_H_
#define CARRIERARR_CONTROL_PLANE_ENROLLMENT_H_

#include <string>
#include <vector>

#include "carrierarr/v1/fleet.pb.h"
#include "control_plane/event_log.h"
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
  Enrollment(Store& store, NodeRegistry& nodes, EventLog& events, const TimeSource& clock,
             Counter& store_errors, std::string signing_key = {})
      : store_(store),
        nodes_(nodes),
        events_(events),
        clock_(clock),
        store_errors_(store_errors),
        signing_key_(std::move(signing_key)) {}

  // Reads the admin token's hash from the store (at start-up).
  Status Load() EXCLUDES(mu_);
  // The admin token: the one whose hash is in the "admin_token_sha256" setting.
  Status SetAdminToken(const std::string& secret) EXCLUDES(mu_);
  bool IsAdmin(const std::string& secret) const EXCLUDES(mu_);
  // The node id that this node credential belongs to; Unauthenticated when none.
  Result<std::string> AuthenticateNode(const std::string& secret) const;

  // An agent's registration with an enrollment token (a new credential in the response) or its
  // node credential. Errors: Unauthenticated, PermissionDenied, InvalidArgument, Unavailable.
  Result<ec2agent::v1::RegisterResponse> Register(const std::string& secret,
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
  Result<Identity> Identify(const std::string& secret, const ec2agent::v1::RegisterRequest& request,
                            int64_t now_ms);
  // The node id a new registration gets for an enrollment token with hash `hash`: one of the
  // store's (its use counted) or a fleet-signed one (recorded as used).
  Result<std::string> ConsumeStoredToken(const std::string& hash,
                                         const ec2agent::v1::RegisterRequest& request,
                                         int64_t now_ms);
  Result<std::string> ConsumeSignedToken(const std::string& secret, const std::string& hash,
                                         const ec2agent::v1::RegisterRequest& request,
                                         int64_t now_ms);
  Result<ec2agent::v1::RegisterResponse> Admit(const Identity& who,
                                               const ec2agent::v1::RegisterRequest& request,
                                               int64_t now_ms);

  Store& store_;
  NodeRegistry& nodes_;
  EventLog& events_;
  const TimeSource& clock_;
  Counter& store_errors_;
  const std::string signing_key_;
  Counter registrations_, refused_;

  mutable Mutex mu_;
  std::string admin_hash_ GUARDED_BY(mu_);
};

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_ENROLLMENT_H_
