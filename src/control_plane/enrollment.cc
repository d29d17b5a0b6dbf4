#include "control_plane/enrollment.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>

#include "control_plane/auth.h"
#include "pki/crypto.h"
#include "pki/enrollment_token.h"

namespace carrierarr::control_plane {
namespace {

using ec2agent::v1::RegisterRequest;
using ec2agent::v1::RegisterResponse;

constexpr char kAdminSetting[] = "admin_token_sha256";

// Limits on what an agent may send: generous for any real node, small enough that one node
// cannot make the control plane hold megabytes per registration.
constexpr size_t kMaxIdLength = 63;
constexpr size_t kMaxFieldLength = 256;
constexpr int kMaxLabels = 64;

bool ValidNodeId(const std::string& id) {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

Status CheckRegistration(const RegisterRequest& r) {
  if (!r.node_id().empty() && !ValidNodeId(r.node_id()))
    return Status::InvalidArgument(
        "node_id must be 1-63 characters of letters, digits, '-', '_' or '.'");
  for (const std::string* f :
       {&r.instance_id(), &r.nebula_ip(), &r.public_ip(), &r.region(), &r.availability_zone(),
        &r.capabilities().gpu_model(), &r.agent_version()}) {
    if (f->size() > kMaxFieldLength)
      return Status::InvalidArgument("invalid registration: a field is longer than 256 bytes");
  }
  if (r.labels_size() > kMaxLabels)
    return Status::InvalidArgument("invalid registration: more than 64 labels");
  for (const auto& [k, v] : r.labels())
    if (k.size() > kMaxFieldLength || v.size() > kMaxFieldLength)
      return Status::InvalidArgument("invalid registration: a label is too long");
  return Status::Ok();
}

carrierarr::v1::Token ToTokenProto(const TokenRecord& t) {
  carrierarr::v1::Token p;
  p.set_id(t.id);
  p.set_name(t.name);
  p.set_max_uses(t.max_uses);
  p.set_uses(t.uses);
  p.set_expires_unix(t.expires_ms / 1000);
  p.set_revoked(t.revoked);
  p.set_created_unix(t.created_ms / 1000);
  p.set_node_id(t.node_id);
  p.set_pool(t.pool);
  p.set_replace(t.replace);
  return p;
}

// A pool name leaves room for "-" and a suffix inside a node id.
constexpr size_t kMaxPoolLength = 40;

// What a new token may enrol: exactly one node, or one pool.
Status CheckBinding(const carrierarr::v1::CreateTokenRequest& r) {
  if (r.node_id().empty() == r.pool().empty())
    return Status::InvalidArgument(
        "a token enrols one node or one pool: give --node NAME (that node) or --pool NAME "
        "(nodes named NAME-*), not " +
        std::string(r.node_id().empty() ? "neither" : "both"));
  if (!r.node_id().empty() && !ValidNodeId(r.node_id()))
    return Status::InvalidArgument(
        "--node: a node id is 1-63 characters of letters, digits, '-', '_' or '.'");
  if (!r.pool().empty() && (r.pool().size() > kMaxPoolLength || !ValidNodeId(r.pool())))
    return Status::InvalidArgument(
        "--pool: a pool name is 1-40 characters of letters, digits, '-', '_' or '.'");
  if (r.replace() && r.node_id().empty())
    return Status::InvalidArgument("--replace needs --node: it lets the token replace that node");
  return Status::Ok();
}

}  // namespace

Status Enrollment::Load() {
  CARRIERARR_ASSIGN_OR_RETURN(std::optional<std::string> admin, store_.GetSetting(kAdminSetting));
  MutexLock lock(mu_);
  if (admin) admin_hash_ = *admin;
  return Status::Ok();
}

Status Enrollment::SetAdminToken(const std::string& secret) {
  std::string hash = pki::Sha256Hex(secret);
  CARRIERARR_RETURN_IF_ERROR(store_.PutSetting(kAdminSetting, hash));
  MutexLock lock(mu_);
  admin_hash_ = hash;
  return Status::Ok();
}

bool Enrollment::IsAdmin(const std::string& secret) const {
  if (secret.empty()) return false;
  std::string hash = pki::Sha256Hex(secret);
  MutexLock lock(mu_);
  return !admin_hash_.empty() && hash == admin_hash_;
}

Result<std::string> Enrollment::AuthenticateNode(const Caller& caller) const {
  std::optional<Result<std::string>> mesh = MeshNode(caller);
  if (caller.secret.empty()) {
    if (mesh && mesh->ok() && nodes_.RegisteredMs(**mesh)) return **mesh;
    return Status::Unauthenticated(
        "no credentials: send 'authorization: Bearer <node credential>' metadata" +
        std::string(mesh ? " (or register this node first: its mesh address identifies it)" : ""));
  }
  auto node = nodes_.NodeOfCredential(pki::Sha256Hex(caller.secret));
  if (!node)
    return Status::Unauthenticated(
        "node credential not recognised (the node may have been deleted): register again with an "
        "enrollment token");
  if (mesh && (!mesh->ok() || **mesh != *node))
    return Status::PermissionDenied("the credential of node " + *node +
                                    " was sent from another node's mesh address: refused");
  return *node;
}

std::optional<Result<std::string>> Enrollment::MeshNode(const Caller& caller) const {
  if (mesh_ == nullptr) return std::nullopt;
  std::optional<uint32_t> ip = PeerIpv4(caller.peer);
  if (!ip || !mesh_->InMesh(*ip)) return std::nullopt;
  return mesh_->NodeOf(*ip);
}

Status Enrollment::CheckNotTakenOver(const std::string& node_id, bool may_replace) const {
  if (may_replace || !nodes_.RegisteredMs(node_id)) return Status::Ok();
  return Status::PermissionDenied(
      "node " + node_id +
      " is already registered, and this enrollment token may not replace it (its agent "
      "re-registers with its node credential). If that node is gone: 'carrierarr nodes delete " +
      node_id + "' first, or create a token with 'carrierarr tokens create --node " + node_id +
      " --replace'");
}

Result<Enrollment::Identity> Enrollment::Identify(const std::string& secret,
                                                  const std::string& wanted, bool proven,
                                                  int64_t now_ms) {
  Identity who{.credential_hash = pki::Sha256Hex(secret), .registered_ms = now_ms};
  if (auto known = nodes_.NodeOfCredential(who.credential_hash); known && !secret.empty()) {
    if (!wanted.empty() && wanted != *known)
      return Status::PermissionDenied("this credential belongs to node " + *known + ", not " +
                                      wanted);
    who.node_id = *known;
    who.registered_ms = nodes_.RegisteredMs(*known).value_or(now_ms);
    return who;
  }
  Result<std::string> node_id = wanted;  // tokenless, from the mesh
  if (!secret.empty())
    node_id = pki::IsSignedEnrollmentToken(secret)
                  ? ConsumeSignedToken(secret, who.credential_hash, wanted, proven, now_ms)
                  : ConsumeStoredToken(who.credential_hash, wanted, proven, now_ms);
  if (!node_id.ok()) return node_id.status();
  who.node_id = std::move(*node_id);
  who.registered_ms = nodes_.RegisteredMs(who.node_id).value_or(now_ms);
  who.credential = NewSecret("cnc_");
  who.credential_hash = pki::Sha256Hex(who.credential);
  return who;
}

namespace {

// The node a stored token enrols when `wanted` (maybe empty) is asked for, or why it may not.
Result<std::string> CoveredNode(const TokenRecord& t, const std::string& wanted) {
  if (!t.node_id.empty()) {
    if (wanted.empty() || wanted == t.node_id) return t.node_id;
    return Status::PermissionDenied(
        "enrollment token " + t.id + " was made for node " + t.node_id + ", not " + wanted +
        ": create one with 'carrierarr tokens create --node " + wanted + "'");
  }
  if (!t.pool.empty()) {
    const std::string prefix = t.pool + "-";
    if (wanted.empty()) return NewId(prefix);
    if (wanted.size() > prefix.size() && wanted.starts_with(prefix)) return wanted;
    return Status::PermissionDenied("enrollment token " + t.id + " enrols nodes named " + prefix +
                                    "*, not " + wanted + ": start the agent with --node-id " +
                                    prefix + "<n>, or use a token of " + wanted + "'s pool");
  }
  return Status::PermissionDenied(
      "enrollment token " + t.id +
      " is bound to no node (an older carrierarr made it): revoke it ('carrierarr tokens revoke " +
      t.id + "') and create one with --node NAME or --pool NAME");
}

}  // namespace

Result<std::string> Enrollment::ConsumeStoredToken(const std::string& hash,
                                                   const std::string& wanted, bool proven,
                                                   int64_t now_ms) {
  std::string node_id;
  Status refusal;  // the admission's, passed on as it is
  // Decided under the store's lock, before the use is counted: a refusal spends nothing.
  auto token = store_.ConsumeToken(hash, now_ms, [&](const TokenRecord& t) -> Status {
    auto covered = CoveredNode(t, wanted);
    refusal = covered.ok() ? CheckNotTakenOver(*covered, proven || t.replace) : covered.status();
    if (covered.ok()) node_id = std::move(*covered);
    return refusal;
  });
  if (!token.ok()) {
    const Status& s = token.status();
    if (!refusal.ok()) return refusal;
    if (s.code() == StatusCode::kNotFound)
      return Status::Unauthenticated(
          "enrollment token not recognised: create one with 'carrierarr tokens create'");
    if (s.code() == StatusCode::kPermissionDenied)
      return Status::PermissionDenied("enrollment token refused (" + s.message() +
                                      "): create a new one with 'carrierarr tokens create'");
    store_errors_.Add();
    return Status::Unavailable("store unavailable: " + s.message());
  }
  return node_id;
}

Result<std::string> Enrollment::ConsumeSignedToken(const std::string& secret,
                                                   const std::string& hash,
                                                   const std::string& wanted, bool proven,
                                                   int64_t now_ms) {
  if (signing_key_.empty())
    return Status::Unauthenticated(
        "fleet-signed enrollment token, but this control plane trusts no enrollment key: start "
        "serve with --enrollment-key (carrierarr up passes <state>/control/enrollment.pub), or "
        "create a token with 'carrierarr tokens create'");
  auto signed_for = pki::VerifyEnrollmentToken(signing_key_, secret, now_ms / 1000);
  if (!signed_for.ok()) {
    const Status& s = signed_for.status();
    if (s.code() == StatusCode::kPermissionDenied)
      return Status::PermissionDenied(s.message() + ": 'carrierarr up' makes a new one");
    return Status::Unauthenticated(s.message());
  }
  const std::string& node_id = signed_for->node_id;
  if (!ValidNodeId(node_id))
    return Status::InvalidArgument("signed enrollment token names an invalid node id");
  if (!wanted.empty() && wanted != node_id)
    return Status::PermissionDenied("this enrollment token was made for node " + node_id +
                                    ", not " + wanted);
  CARRIERARR_RETURN_IF_ERROR(CheckNotTakenOver(node_id, proven));
  // Single use: the first registration records the token's hash; the store refuses a second
  // record of the same hash atomically, so two racing registrations cannot both pass.
  Status recorded = store_.PutToken({.id = NewId("tok_"),
                                     .name = node_id,
                                     .secret_hash = hash,
                                     .max_uses = 1,
                                     .uses = 1,
                                     .expires_ms = signed_for->expires_unix * 1000,
                                     .revoked = false,
                                     .created_ms = now_ms,
                                     .node_id = node_id});
  if (recorded.code() == StatusCode::kAlreadyExists)
    return Status::PermissionDenied(
        "enrollment token refused (already used): 'carrierarr up' makes a new one");
  if (!recorded.ok()) {
    store_errors_.Add();
    return Status::Unavailable("store unavailable: " + recorded.message());
  }
  return node_id;
}

Result<RegisterResponse> Enrollment::Admit(const Identity& who, const RegisterRequest& request,
                                           int64_t now_ms) {
  RegisterRequest stored = request;
  stored.set_node_id(who.node_id);
  NodeRecord record{.node_id = who.node_id,
                    .registration = stored.SerializeAsString(),
                    .credential_hash = who.credential_hash,
                    .registered_ms = who.registered_ms,
                    .last_seen_ms = now_ms,
                    .lifecycle = kConnected};
  if (Status s = store_.UpsertNode(record); !s.ok()) {
    store_errors_.Add();
    return Status::Unavailable("store unavailable: " + s.message());
  }
  const bool new_credential = !who.credential.empty();
  std::shared_ptr<StreamSink> replaced = nodes_.Enroll(who.node_id, stored, who.credential_hash,
                                                       new_credential, who.registered_ms, now_ms);
  if (replaced)
    replaced->Close(Status::Unauthenticated(
        "node re-enrolled with a new token; this credential is no longer valid"));
  registrations_.Add();
  events_.Append(who.node_id, new_credential ? "registered" : "reregistered",
                 std::string(ec2agent::v1::NodeType_Name(request.node_type())) + " " +
                     request.nebula_ip() +
                     (request.instance_id().empty() ? "" : " " + request.instance_id()));

  RegisterResponse response;
  response.set_accepted(true);
  response.set_message(new_credential ? "registered" : "welcome back");
  response.set_assigned_id(who.node_id);
  const ec2agent::v1::ConfigUpdate config = nodes_.Config();
  response.set_heartbeat_interval_sec(config.heartbeat_interval_sec());
  response.set_status_interval_sec(config.status_interval_sec());
  response.set_idle_shutdown_minutes(config.idle_shutdown_minutes());
  response.set_node_credential(who.credential);
  return response;
}

Result<RegisterResponse> Enrollment::Register(const Caller& caller,
                                              const RegisterRequest& request) {
  const int64_t now = clock_.NowMs();
  auto admitted = [&]() -> Result<RegisterResponse> {
    CARRIERARR_RETURN_IF_ERROR(CheckRegistration(request));
    std::optional<Result<std::string>> mesh = MeshNode(caller);
    if (mesh && !mesh->ok())
      return Status::PermissionDenied(mesh->status().message() +
                                      ": a connection from the mesh registers as the node of its "
                                      "address; make its certificate with 'carrierarr up'");
    // A certificate's name becomes the node id: it obeys the same rule as one an agent sends.
    if (mesh && !ValidNodeId(**mesh))
      return Status::InvalidArgument("the certificate of this mesh address is named \"" + **mesh +
                                     "\", which is not a node id (1-63 letters, digits, '-', '_' "
                                     "or '.'): sign it again under a valid name");
    if (mesh && !request.node_id().empty() && request.node_id() != **mesh)
      return Status::PermissionDenied("this connection comes from the mesh address of node " +
                                      **mesh +
                                      " (its certificate carries it): it may register only as " +
                                      **mesh + ", not " + request.node_id());
    if (caller.secret.empty() && !mesh)
      return Status::Unauthenticated(
          "no enrollment token: send 'authorization: Bearer <token>' metadata "
          "(carrierarr-agent --token-file); create one with 'carrierarr tokens create --node "
          "NAME'");
    const std::string wanted = mesh ? **mesh : request.node_id();
    CARRIERARR_ASSIGN_OR_RETURN(Identity who,
                                Identify(caller.secret, wanted, mesh.has_value(), now));
    return Admit(who, request, now);
  }();
  if (!admitted.ok()) refused_.Add();
  return admitted;
}

Result<carrierarr::v1::CreateTokenResponse> Enrollment::CreateToken(
    const carrierarr::v1::CreateTokenRequest& request) {
  if (request.max_uses() < 0)
    return Status::InvalidArgument("max_uses must be 0 (unlimited) or more");
  if (request.ttl_seconds() < 0) return Status::InvalidArgument("ttl must be 0 (never) or more");
  if (request.max_uses() == 0 && request.ttl_seconds() == 0)
    return Status::InvalidArgument(
        "a reusable token must expire: give a ttl (e.g. --ttl 24h) or a number of uses");
  if (request.name().size() > kMaxFieldLength) return Status::InvalidArgument("name too long");
  CARRIERARR_RETURN_IF_ERROR(CheckBinding(request));
  const int64_t now = clock_.NowMs();
  std::string secret = NewSecret("cet_");
  TokenRecord t{.id = NewId("tok_"),
                .name = request.name(),
                .secret_hash = pki::Sha256Hex(secret),
                .max_uses = request.max_uses(),
                .uses = 0,
                .expires_ms = request.ttl_seconds() > 0 ? now + request.ttl_seconds() * 1000 : 0,
                .revoked = false,
                .created_ms = now,
                .node_id = request.node_id(),
                .pool = request.pool(),
                .replace = request.replace()};
  CARRIERARR_RETURN_IF_ERROR(store_.PutToken(t));
  events_.Append("", "token",
                 "created " + t.id + " for " +
                     (t.node_id.empty() ? "pool " + t.pool + "-*" : "node " + t.node_id) +
                     (t.replace ? " (may replace it)" : "") +
                     (t.name.empty() ? "" : " (" + t.name + ")"));
  carrierarr::v1::CreateTokenResponse response;
  *response.mutable_token() = ToTokenProto(t);
  response.set_secret(secret);
  return response;
}

Result<std::vector<carrierarr::v1::Token>> Enrollment::ListTokens() {
  CARRIERARR_ASSIGN_OR_RETURN(std::vector<TokenRecord> tokens, store_.ListTokens());
  std::vector<carrierarr::v1::Token> out;
  out.reserve(tokens.size());
  for (const TokenRecord& t : tokens) out.push_back(ToTokenProto(t));
  return out;
}

Status Enrollment::RevokeToken(const std::string& id) {
  CARRIERARR_RETURN_IF_ERROR(store_.RevokeToken(id));
  events_.Append("", "token", "revoked " + id);
  return Status::Ok();
}

}  // namespace carrierarr::control_plane
