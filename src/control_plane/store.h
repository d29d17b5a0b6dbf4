// The control plane's persistent state behind one interface: enrollment tokens, registered
// nodes, their latest status, commands with results, events and settings. Two
// implementations: SQLite (default, WAL, a file beside the fleet) and PostgreSQL (several
// control planes may share one). Protobuf payloads are stored as serialized bytes so the
// store does not depend on the wire schema.
//
// Thread safety: every method may be called from any thread; implementations serialize
// internally. Times are Unix milliseconds unless the name says otherwise.
#ifndef CARRIERARR_CONTROL_PLANE_STORE_H_
#define CARRIERARR_CONTROL_PLANE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace carrierarr::control_plane {

struct TokenRecord {
  std::string id;           // public id ("tok_" + 12 hex); shown in lists, used to revoke
  std::string name;         // operator's label, e.g. the node it is meant for
  std::string secret_hash;  // lowercase hex SHA-256 of the secret; the secret is never stored
  int32_t max_uses = 1;     // 0 = unlimited until it expires
  int32_t uses = 0;
  int64_t expires_ms = 0;  // 0 = never
  bool revoked = false;
  int64_t created_ms = 0;
  // What it may enrol: node_id (that node only) or pool (nodes named "<pool>-*"). Tokens made
  // before tokens were bound have neither and enrol nothing.
  std::string node_id;
  std::string pool;
  bool replace = false;  // may re-enrol node_id although that node is registered

  bool operator==(const TokenRecord&) const = default;
};

// Decides, inside ConsumeToken's transaction, whether a usable token may be spent on this
// registration; an error refuses it and leaves the token unused.
using TokenAdmission = std::function<Status(const TokenRecord&)>;

// Whether `token` may enroll a node at now_ms: OK, or PermissionDenied saying why ("revoked",
// "expired", "already used"). Both stores' ConsumeToken apply it, under their row lock.
Status CheckTokenUsable(const TokenRecord& token, int64_t now_ms);

// For the stores' Get methods: the row a query found, or NotFound(`missing`) when it found none.
template <typename T>
Result<T> FoundOr(Result<std::optional<T>> row, const std::string& missing) {
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound(missing);
  return std::move(**row);
}

struct NodeRecord {
  std::string node_id;
  std::string registration;     // serialized ec2agent.v1.RegisterRequest
  std::string credential_hash;  // lowercase hex SHA-256 of the node's own credential
  int64_t registered_ms = 0;
  int64_t last_seen_ms = 0;
  std::string lifecycle;    // "connected", "stale" or "dead"
  std::string last_status;  // serialized ec2agent.v1.NodeStatus; empty until the first one

  bool operator==(const NodeRecord&) const = default;
};

// One status (or heartbeat, when status is empty: only last_seen moves) to record.
struct StatusWrite {
  std::string node_id;
  int64_t seen_ms = 0;
  std::string status;  // serialized ec2agent.v1.NodeStatus, or empty
};

struct CommandRecord {
  std::string command_id;
  std::string node_id;
  std::string command;  // serialized ec2agent.v1.Command
  // Unfinished: "queued", "sent" or "cancelling" (sent, and a cancel was requested).
  // Finished: "succeeded", "failed", "timed_out" or "cancelled".
  std::string state;
  int64_t created_ms = 0;
  int64_t finished_ms = 0;  // 0 while queued or sent
  std::string result;       // serialized ec2agent.v1.CommandResult; empty until finished

  bool operator==(const CommandRecord&) const = default;
};

struct EventRecord {
  int64_t seq = 0;  // assigned by AppendEvent, increasing
  int64_t unix_ms = 0;
  std::string node_id;  // empty for fleet-wide events
  std::string kind;     // "registered", "connected", "disconnected", "stale", "dead", ...
  std::string message;

  bool operator==(const EventRecord&) const = default;
};

// One decision of the burst controller (src/burst/controller.h) about one node of a scaled
// pool, recorded before it acts so that a restarted control plane finishes it, and kept as the
// node's start/stop history that spend is accounted from.
struct PowerActionRecord {
  int64_t id = 0;  // assigned by AddPowerAction, increasing
  std::string pool;
  std::string node_id;
  std::string action;  // "start" or "stop"
  std::string state;   // "decided" (not yet done: resumed after a restart), "done" or "failed"
  std::string reason;  // why: "carrierarr wake", "idle for 15m0s", "pool 'gpu''s budget ..."
  int64_t decided_ms = 0;
  int64_t done_ms = 0;  // 0 while decided
  std::string detail;   // the error of a failed action; the phase timings (JSON) of a start

  bool operator==(const PowerActionRecord&) const = default;
};

// FinishPowerAction's error for an action it did not change: NotFound, or FailedPrecondition
// when it exists but is already finished.
Status PowerActionNotFinished(int64_t id, bool exists);
// AddPowerActionPhase's check of a phase's name: 1-32 of [a-z_] ("first_byte_ms").
Status CheckPhaseName(std::string_view phase);

class Store {
 public:
  virtual ~Store() = default;

  // A short description for logs: "sqlite:/path/fleet.db" or "postgres://host/db" (never a
  // password).
  virtual std::string Describe() const = 0;

  // --- tokens ---
  // Inserts a new token. AlreadyExists if the id or the hash is taken.
  virtual Status PutToken(const TokenRecord& token) = 0;
  virtual Result<std::vector<TokenRecord>> ListTokens() = 0;
  // Atomically finds the token with this secret hash and, if it is usable at now_ms (not
  // revoked, not expired, uses < max_uses or max_uses == 0) and `admit` (when set) accepts it,
  // counts one use and returns the record as it is after the use. Errors: NotFound (unknown),
  // PermissionDenied with "revoked", "expired" or "already used" in the message, or admit's.
  virtual Result<TokenRecord> ConsumeToken(std::string_view secret_hash, int64_t now_ms,
                                           const TokenAdmission& admit) = 0;
  // NotFound when no token has this id.
  virtual Status RevokeToken(std::string_view id) = 0;

  // --- nodes ---
  // Inserts or replaces the node's registration, credential hash, registered_ms, last_seen_ms
  // and lifecycle. Keeps last_status when the node already exists and node.last_status is
  // empty.
  virtual Status UpsertNode(const NodeRecord& node) = 0;
  virtual Result<std::vector<NodeRecord>> ListNodes() = 0;
  virtual Result<NodeRecord> GetNode(std::string_view node_id) = 0;  // NotFound
  // Removes the node and its commands. NotFound when absent.
  virtual Status DeleteNode(std::string_view node_id) = 0;
  // NotFound when absent.
  virtual Status SetLifecycle(std::string_view node_id, std::string_view lifecycle) = 0;
  // Records many statuses in one transaction (the batcher's flush). Writes for unknown nodes
  // are ignored (the node may have been deleted meanwhile).
  virtual Status WriteStatuses(std::span<const StatusWrite> writes) = 0;

  // --- commands ---
  // Inserts or replaces by command_id.
  virtual Status PutCommand(const CommandRecord& command) = 0;
  virtual Result<CommandRecord> GetCommand(std::string_view command_id) = 0;  // NotFound
  // The node's commands in created order; only the unfinished ones (queued, sent, cancelling)
  // if unfinished_only.
  virtual Result<std::vector<CommandRecord>> ListCommands(std::string_view node_id,
                                                          bool unfinished_only) = 0;

  // --- events ---
  // Stores the event (event.seq is ignored) and returns its sequence number.
  virtual Result<int64_t> AppendEvent(const EventRecord& event) = 0;
  // Up to limit events with seq > after_seq, oldest first (none when limit <= 0).
  virtual Result<std::vector<EventRecord>> ListEvents(int64_t after_seq, int limit) = 0;
  // Stores the events in one transaction, in order; returns the sequence number of the last (0
  // when there are none).
  virtual Result<int64_t> AppendEvents(std::span<const EventRecord> events) = 0;
  // Deletes every event but the newest `keep_newest` (none kept by count when <= 0), and every
  // event older than `older_than_ms` (none by age when <= 0). Returns how many it deleted.
  virtual Result<int64_t> PruneEvents(int64_t keep_newest, int64_t older_than_ms) = 0;

  // --- burst controller ---
  // Stores a decision (action.id is ignored) and returns its id.
  virtual Result<int64_t> AddPowerAction(const PowerActionRecord& action) = 0;
  // Moves a decided action to `state` ("done" or "failed"). NotFound when no action has this id;
  // FailedPrecondition when it is no longer "decided" (finished by another owner).
  virtual Status FinishPowerAction(int64_t id, std::string_view state, int64_t done_ms,
                                   std::string_view detail) = 0;
  // Adds `phase` (e.g. "first_byte_ms") = at_ms to the timings of a start that is done (its
  // detail, a JSON object), unless they have it: the phases seen after the controller finished
  // the start, the first sighting counting. True when added; false when the action is not a
  // done start or has the phase already. InvalidArgument for a phase name outside [a-z_].
  virtual Result<bool> AddPowerActionPhase(int64_t id, std::string_view phase, int64_t at_ms) = 0;
  // Actions decided at or after since_ms, oldest first; every unfinished one (any age) instead
  // when unfinished_only.
  virtual Result<std::vector<PowerActionRecord>> ListPowerActions(int64_t since_ms,
                                                                  bool unfinished_only) = 0;
  // Takes or renews the lease on `pool` for `owner` until now_ms + lease_ms: true when owner
  // holds it after the call (it was free, expired or already owner's), false when another
  // owner's lease still runs. One owner per pool is what keeps two control planes on one
  // PostgreSQL from deciding for the same pool.
  virtual Result<bool> ClaimPool(std::string_view pool, std::string_view owner, int64_t now_ms,
                                 int64_t lease_ms) = 0;

  // --- settings (small key/value pairs, e.g. the admin token's hash) ---
  virtual Status PutSetting(std::string_view key, std::string_view value) = 0;
  virtual Result<std::optional<std::string>> GetSetting(std::string_view key) = 0;
};

// Opens (creating the schema if needed) the store named by url:
//   "postgres://..." or "postgresql://..."  PostgreSQL (libpq connection URI)
//   "sqlite:PATH" or a plain PATH             SQLite file, created 0600, WAL mode
// InvalidArgument for a url it cannot parse, Unavailable when the server cannot be reached.
Result<std::unique_ptr<Store>> OpenStore(std::string_view url);

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);
Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& conninfo);

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_STORE_H_
