// The PostgreSQL Store, for control planes that share one database. libpqxx 6.4 over one
// connection; protobuf blobs are BYTEA, passed and read as binary (never as escaped text).
#include <libpq-fe.h>

#include <concepts>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "control_plane/store.h"
#include "core/strings.h"

namespace carrierarr::control_plane {
namespace {

// 2: tokens gained node_id, pool and replace_node (the ALTERs below add them to a version 1
// database).
constexpr int kSchemaVersion = 2;
// Serializes schema creation between control planes starting at once (CREATE TABLE IF NOT
// EXISTS alone races on the catalog). Any constant unlikely to clash: "carrierr" in ASCII.
constexpr int64_t kSchemaLockKey = 0x6361727269657272;
constexpr char kDefaultConnectTimeoutS[] = "10";

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  secret_hash TEXT NOT NULL UNIQUE,
  max_uses INTEGER NOT NULL,
  uses INTEGER NOT NULL,
  expires_ms BIGINT NOT NULL,
  revoked BOOLEAN NOT NULL,
  created_ms BIGINT NOT NULL
);
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS node_id TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS pool TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS replace_node BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE IF NOT EXISTS nodes (
  node_id TEXT PRIMARY KEY,
  registration BYTEA NOT NULL,
  credential_hash TEXT NOT NULL,
  registered_ms BIGINT NOT NULL,
  last_seen_ms BIGINT NOT NULL,
  lifecycle TEXT NOT NULL,
  last_status BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
  ord BIGSERIAL NOT NULL,
  command_id TEXT PRIMARY KEY,
  node_id TEXT NOT NULL,
  command BYTEA NOT NULL,
  state TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  finished_ms BIGINT NOT NULL,
  result BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS commands_by_node ON commands (node_id, created_ms, ord);
CREATE TABLE IF NOT EXISTS events (
  seq BIGSERIAL PRIMARY KEY,
  unix_ms BIGINT NOT NULL,
  node_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS power_actions (
  id BIGSERIAL PRIMARY KEY,
  pool TEXT NOT NULL,
  node_id TEXT NOT NULL,
  action TEXT NOT NULL,
  state TEXT NOT NULL,
  reason TEXT NOT NULL,
  decided_ms BIGINT NOT NULL,
  done_ms BIGINT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS power_actions_by_time ON power_actions (decided_ms);
CREATE TABLE IF NOT EXISTS pool_leases (
  pool TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  expires_ms BIGINT NOT NULL
);
)sql";

// Prepared on every (re)connection: name -> SQL.
const std::map<std::string, std::string>& Statements() {
  static const auto* statements = new std::map<std::string, std::string>{
      {"get_setting", "SELECT value FROM settings WHERE key = $1"},
      {"put_setting",
       "INSERT INTO settings (key, value) VALUES ($1, $2) "
       "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"},
      {"put_token",
       "INSERT INTO tokens (id, name, secret_hash, max_uses, uses, expires_ms, revoked, "
       "created_ms, node_id, pool, replace_node) "
       "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"},
      {"list_tokens",
       "SELECT id, name, secret_hash, max_uses, uses, expires_ms, revoked, created_ms, node_id, "
       "pool, replace_node FROM tokens ORDER BY created_ms, id"},
      // FOR UPDATE: concurrent callers queue on the row lock and each checks the row as the
      // one before it left it.
      {"lock_token",
       "SELECT id, name, secret_hash, max_uses, uses, expires_ms, revoked, created_ms, node_id, "
       "pool, replace_node FROM tokens WHERE secret_hash = $1 FOR UPDATE"},
      {"use_token", "UPDATE tokens SET uses = uses + 1 WHERE id = $1"},
      {"revoke_token", "UPDATE tokens SET revoked = TRUE WHERE id = $1"},
      {"upsert_node",
       "INSERT INTO nodes (node_id, registration, credential_hash, registered_ms, last_seen_ms, "
       "lifecycle, last_status) VALUES ($1, $2, $3, $4, $5, $6, $7) "
       "ON CONFLICT (node_id) DO UPDATE SET registration = EXCLUDED.registration, "
       "credential_hash = EXCLUDED.credential_hash, registered_ms = EXCLUDED.registered_ms, "
       "last_seen_ms = EXCLUDED.last_seen_ms, lifecycle = EXCLUDED.lifecycle, "
       "last_status = CASE WHEN octet_length(EXCLUDED.last_status) = 0 THEN nodes.last_status "
       "ELSE EXCLUDED.last_status END"},
      {"list_nodes",
       "SELECT node_id, registration, credential_hash, registered_ms, last_seen_ms, lifecycle, "
       "last_status FROM nodes ORDER BY node_id"},
      {"get_node",
       "SELECT node_id, registration, credential_hash, registered_ms, last_seen_ms, lifecycle, "
       "last_status FROM nodes WHERE node_id = $1"},
      {"delete_node_commands", "DELETE FROM commands WHERE node_id = $1"},
      {"delete_node", "DELETE FROM nodes WHERE node_id = $1"},
      {"set_lifecycle", "UPDATE nodes SET lifecycle = $2 WHERE node_id = $1"},
      // The whole batch in one statement (one round trip); statuses travel hex-encoded in a
      // text array, '' meaning a heartbeat that keeps the last status.
      {"write_statuses",
       "UPDATE nodes AS n SET last_seen_ms = w.seen_ms, last_status = CASE "
       "WHEN w.status_hex = '' THEN n.last_status ELSE decode(w.status_hex, 'hex') END "
       "FROM unnest($1::text[], $2::bigint[], $3::text[]) AS w(node_id, seen_ms, status_hex) "
       "WHERE n.node_id = w.node_id"},
      {"put_command",
       "INSERT INTO commands (command_id, node_id, command, state, created_ms, finished_ms, "
       "result) VALUES ($1, $2, $3, $4, $5, $6, $7) "
       "ON CONFLICT (command_id) DO UPDATE SET node_id = EXCLUDED.node_id, "
       "command = EXCLUDED.command, state = EXCLUDED.state, created_ms = EXCLUDED.created_ms, "
       "finished_ms = EXCLUDED.finished_ms, result = EXCLUDED.result"},
      {"get_command",
       "SELECT command_id, node_id, command, state, created_ms, finished_ms, result "
       "FROM commands WHERE command_id = $1"},
      // ord (insertion order, kept by the upsert) breaks ties within a millisecond.
      {"list_commands",
       "SELECT command_id, node_id, command, state, created_ms, finished_ms, result "
       "FROM commands WHERE node_id = $1 ORDER BY created_ms, ord"},
      {"list_unfinished_commands",
       "SELECT command_id, node_id, command, state, created_ms, finished_ms, result "
       "FROM commands WHERE node_id = $1 AND state IN ('queued', 'sent', 'cancelling') "
       "ORDER BY created_ms, ord"},
      {"add_power_action",
       "INSERT INTO power_actions (pool, node_id, action, state, reason, decided_ms, done_ms, "
       "detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"},
      {"finish_power_action",
       "UPDATE power_actions SET state = $2, done_ms = $3, detail = $4 "
       "WHERE id = $1 AND state = 'decided'"},
      {"power_action_exists", "SELECT count(*) FROM power_actions WHERE id = $1"},
      // CASE: the cast to jsonb only where the detail is an object (PostgreSQL may evaluate
      // the other conditions in any order).
      {"add_power_action_phase",
       "UPDATE power_actions SET detail = (detail::jsonb || jsonb_build_object($2::text, "
       "$3::bigint))::text WHERE id = $1 AND action = 'start' AND state = 'done' AND "
       "CASE WHEN detail LIKE '{%}' THEN NOT (detail::jsonb ? $2::text) ELSE false END"},
      {"list_power_actions",
       "SELECT id, pool, node_id, action, state, reason, decided_ms, done_ms, detail "
       "FROM power_actions WHERE decided_ms >= $1 ORDER BY id"},
      {"list_unfinished_power_actions",
       "SELECT id, pool, node_id, action, state, reason, decided_ms, done_ms, detail "
       "FROM power_actions WHERE state = 'decided' ORDER BY id"},
      // Takes the lease when it is free, expired or already the owner's; changes no row else.
      {"claim_pool",
       "INSERT INTO pool_leases (pool, owner, expires_ms) VALUES ($1, $2, $3::bigint + $4::bigint) "
       "ON CONFLICT (pool) DO UPDATE SET owner = EXCLUDED.owner, "
       "expires_ms = EXCLUDED.expires_ms "
       "WHERE pool_leases.owner = EXCLUDED.owner OR pool_leases.expires_ms <= $3::bigint"},
      {"append_event",
       "INSERT INTO events (unix_ms, node_id, kind, message) VALUES ($1, $2, $3, $4) "
       "RETURNING seq"},
      // As SQLite's: a non-positive limit does not apply.
      {"prune_events",
       "DELETE FROM events WHERE ($1 > 0 AND seq <= (SELECT seq FROM events ORDER BY seq DESC "
       "LIMIT 1 OFFSET GREATEST($1, 0))) OR ($2 > 0 AND unix_ms < $2)"},
      {"list_events",
       "SELECT seq, unix_ms, node_id, kind, message FROM events WHERE seq > $1 "
       "ORDER BY seq LIMIT $2"},
  };
  return *statements;
}

// Elements of a PostgreSQL array literal, each double-quoted so that any text survives.
void AppendArrayElement(std::string& out, std::string_view v) {
  if (out.size() > 1) out += ',';
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

pqxx::binarystring Bytes(const std::string& s) { return pqxx::binarystring(s.data(), s.size()); }
std::string TextOf(const pqxx::field& f) { return std::string(f.c_str(), f.size()); }

// A BYTEA column to read (a plain string reads TEXT).
struct Bytea {
  std::string& out;
};

template <std::integral T>
void ReadField(const pqxx::field& f, T& v) {
  v = f.as<T>();
}
void ReadField(const pqxx::field& f, std::string& v) { v = TextOf(f); }
void ReadField(const pqxx::field& f, Bytea v) { v.out = pqxx::binarystring(f).str(); }

// Reads the row's fields, in order, into the arguments.
template <typename... Outs>
void ReadRow(const pqxx::row& r, Outs&&... out) {
  pqxx::row::size_type i = 0;
  (ReadField(r[i++], out), ...);
}

TokenRecord ReadToken(const pqxx::row& r) {
  TokenRecord t;
  ReadRow(r, t.id, t.name, t.secret_hash, t.max_uses, t.uses, t.expires_ms, t.revoked, t.created_ms,
          t.node_id, t.pool, t.replace);
  return t;
}

NodeRecord ReadNode(const pqxx::row& r) {
  NodeRecord n;
  ReadRow(r, n.node_id, Bytea{n.registration}, n.credential_hash, n.registered_ms, n.last_seen_ms,
          n.lifecycle, Bytea{n.last_status});
  return n;
}

PowerActionRecord ReadPowerAction(const pqxx::row& r) {
  PowerActionRecord a;
  ReadRow(r, a.id, a.pool, a.node_id, a.action, a.state, a.reason, a.decided_ms, a.done_ms,
          a.detail);
  return a;
}

EventRecord ReadEvent(const pqxx::row& r) {
  EventRecord e;
  ReadRow(r, e.seq, e.unix_ms, e.node_id, e.kind, e.message);
  return e;
}

CommandRecord ReadCommand(const pqxx::row& r) {
  CommandRecord c;
  ReadRow(r, c.command_id, c.node_id, Bytea{c.command}, c.state, c.created_ms, c.finished_ms,
          Bytea{c.result});
  return c;
}

// The parts of a connection string worth logging; never the password.
struct ConnParts {
  std::string host, hostaddr, port, user, dbname;
  bool has_connect_timeout = false;
};

Result<ConnParts> ParseConninfo(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &err);
  if (options == nullptr) {
    std::string why = err != nullptr ? std::string(TrimSpace(err)) : "out of memory";
    PQfreemem(err);
    return Status::InvalidArgument("invalid PostgreSQL connection URL: " + why +
                                   "; expected postgres://USER@HOST:PORT/DATABASE");
  }
  ConnParts parts;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    std::string_view key = o->keyword;
    if (key == "host") parts.host = o->val;
    if (key == "hostaddr") parts.hostaddr = o->val;
    if (key == "port") parts.port = o->val;
    if (key == "user") parts.user = o->val;
    if (key == "dbname") parts.dbname = o->val;
    if (key == "connect_timeout") parts.has_connect_timeout = true;
  }
  PQconninfoFree(options);
  return parts;
}

std::string DescribeParts(const ConnParts& p) {
  std::string host = p.host.empty() ? p.hostaddr : p.host;
  if (host.empty() || host[0] == '/') {
    // A unix socket directory (or libpq's default one): the query form names it.
    std::string out = "postgres:///" + p.dbname;
    char sep = '?';
    auto add = [&](const char* key, const std::string& value) {
      if (value.empty()) return;
      out += sep;
      out += key;
      out += '=';
      out += value;
      sep = '&';
    };
    add("host", host);
    add("port", p.port);
    add("user", p.user);
    return out;
  }
  if (host.find(':') != std::string::npos && host.find(',') == std::string::npos) {
    host = "[" + host + "]";  // IPv6
  }
  return "postgres://" + (p.user.empty() ? "" : p.user + "@") + host +
         (p.port.empty() ? "" : ":" + p.port) + "/" + p.dbname;
}

// Thread-safe: one connection, every method holds mu_ for its whole duration. A broken
// connection is reopened once per call; a call that still cannot reach the server returns
// Unavailable, and the next call tries again.
class PostgresStore final : public Store {
 public:
  PostgresStore(std::string conninfo, std::string description)
      : conninfo_(std::move(conninfo)), description_(std::move(description)) {}

  // Connects and creates the schema; called once before the store is shared.
  Status Init() {
    return Call<Status>("create the schema", [&](pqxx::connection& c) -> Status {
      pqxx::work tx(c);
      tx.exec("SET LOCAL client_min_messages TO WARNING");  // no "already exists" notices
      tx.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kSchemaLockKey) + ")");
      tx.exec(kSchema);
      pqxx::result version = tx.exec_prepared("get_setting", std::string("schema_version"));
      // A new database, or one of version 1 (the ALTERs above migrated it), gets this version.
      if (version.empty() || TextOf(version[0][0]) == "1") {
        tx.exec_prepared("put_setting", std::string("schema_version"),
                         std::to_string(kSchemaVersion));
      } else if (TextOf(version[0][0]) != std::to_string(kSchemaVersion)) {
        return Status::FailedPrecondition(
            "PostgreSQL database " + description_ + " has schema version " + TextOf(version[0][0]) +
            ", this carrierarr knows version " + std::to_string(kSchemaVersion) +
            ": use the carrierarr release that wrote it, or a newer one");
      }
      tx.commit();
      return Status::Ok();
    });
  }

  std::string Describe() const override { return description_; }

  Status PutToken(const TokenRecord& token) override {
    return Call<Status>("store token " + token.id, [&](pqxx::connection& c) -> Status {
      pqxx::work tx(c);
      try {
        tx.exec_prepared("put_token", token.id, token.name, token.secret_hash, token.max_uses,
                         token.uses, token.expires_ms, token.revoked, token.created_ms,
                         token.node_id, token.pool, token.replace);
      } catch (const pqxx::unique_violation& e) {
        bool id_taken = std::string_view(e.what()).find("tokens_pkey") != std::string::npos;
        return Status::AlreadyExists(id_taken ? "token " + token.id + " already exists"
                                              : "a token with the same secret already exists");
      }
      tx.commit();
      return Status::Ok();
    });
  }

  Result<std::vector<TokenRecord>> ListTokens() override {
    return QueryAll("list tokens", "list_tokens", ReadToken);
  }

  Result<TokenRecord> ConsumeToken(std::string_view secret_hash, int64_t now_ms,
                                   const TokenAdmission& admit) override {
    const std::string hash(secret_hash);
    return Call<Result<TokenRecord>>(
        "use an enrollment token", [&](pqxx::connection& c) -> Result<TokenRecord> {
          pqxx::work tx(c);
          pqxx::result found = tx.exec_prepared("lock_token", hash);
          if (found.empty()) return Status::NotFound("no enrollment token matches this secret");
          TokenRecord token = ReadToken(found[0]);
          CARRIERARR_RETURN_IF_ERROR(CheckTokenUsable(token, now_ms));
          if (admit) CARRIERARR_RETURN_IF_ERROR(admit(token));
          tx.exec_prepared("use_token", token.id);
          tx.commit();
          ++token.uses;
          return token;
        });
  }

  Status RevokeToken(std::string_view id) override {
    const std::string key(id);
    CARRIERARR_ASSIGN_OR_RETURN(auto changed, Change("revoke token " + key, "revoke_token", key));
    if (changed == 0) return Status::NotFound("no token with id " + key);
    return Status::Ok();
  }

  Status UpsertNode(const NodeRecord& node) override {
    return Change("store node " + node.node_id, "upsert_node", node.node_id,
                  Bytes(node.registration), node.credential_hash, node.registered_ms,
                  node.last_seen_ms, node.lifecycle, Bytes(node.last_status))
        .status();
  }

  Result<std::vector<NodeRecord>> ListNodes() override {
    return QueryAll("list nodes", "list_nodes", ReadNode);
  }

  Result<NodeRecord> GetNode(std::string_view node_id) override {
    const std::string key(node_id);
    return FoundOr(QueryOne("read node " + key, "get_node", ReadNode, key), "no node " + key);
  }

  Status DeleteNode(std::string_view node_id) override {
    const std::string key(node_id);
    return Call<Status>("delete node " + key, [&](pqxx::connection& c) -> Status {
      pqxx::work tx(c);
      tx.exec_prepared("delete_node_commands", key);
      pqxx::result r = tx.exec_prepared("delete_node", key);
      if (r.affected_rows() == 0) return Status::NotFound("no node " + key);  // rolls back
      tx.commit();
      return Status::Ok();
    });
  }

  Status SetLifecycle(std::string_view node_id, std::string_view lifecycle) override {
    const std::string key(node_id);
    CARRIERARR_ASSIGN_OR_RETURN(auto changed, Change("set the lifecycle of node " + key,
                                                     "set_lifecycle", key, std::string(lifecycle)));
    if (changed == 0) return Status::NotFound("no node " + key);
    return Status::Ok();
  }

  Status WriteStatuses(std::span<const StatusWrite> writes) override {
    if (writes.empty()) return Status::Ok();
    // One row per node, as if the writes were applied in order: UPDATE ... FROM would apply
    // only one of several rows for the same node, and not necessarily the last.
    std::map<std::string_view, std::pair<int64_t, std::string_view>> merged;
    for (const StatusWrite& w : writes) {
      auto& [seen_ms, status] = merged[w.node_id];
      seen_ms = w.seen_ms;
      if (!w.status.empty()) status = w.status;
    }
    std::string ids = "{", seen = "{", statuses = "{";
    for (const auto& [id, value] : merged) {
      AppendArrayElement(ids, id);
      if (seen.size() > 1) seen += ',';
      seen += std::to_string(value.first);
      AppendArrayElement(statuses, HexEncode(value.second));
    }
    ids += '}';
    seen += '}';
    statuses += '}';
    return Change("record " + std::to_string(writes.size()) + " statuses", "write_statuses", ids,
                  seen, statuses)
        .status();
  }

  Status PutCommand(const CommandRecord& command) override {
    return Change("store command " + command.command_id, "put_command", command.command_id,
                  command.node_id, Bytes(command.command), command.state, command.created_ms,
                  command.finished_ms, Bytes(command.result))
        .status();
  }

  Result<CommandRecord> GetCommand(std::string_view command_id) override {
    const std::string key(command_id);
    return FoundOr(QueryOne("read command " + key, "get_command", ReadCommand, key),
                   "no command " + key);
  }

  Result<std::vector<CommandRecord>> ListCommands(std::string_view node_id,
                                                  bool unfinished_only) override {
    const std::string key(node_id);
    return QueryAll("list the commands of node " + key,
                    unfinished_only ? "list_unfinished_commands" : "list_commands", ReadCommand,
                    key);
  }

  Result<int64_t> AppendEvent(const EventRecord& event) override {
    return Call<Result<int64_t>>("append an event", [&](pqxx::connection& c) -> Result<int64_t> {
      pqxx::work tx(c);
      pqxx::result r =
          tx.exec_prepared("append_event", event.unix_ms, event.node_id, event.kind, event.message);
      int64_t seq = r.at(0).at(0).as<int64_t>();
      tx.commit();
      return seq;
    });
  }

  Result<std::vector<EventRecord>> ListEvents(int64_t after_seq, int limit) override {
    if (limit <= 0) return std::vector<EventRecord>();
    return QueryAll("list events", "list_events", ReadEvent, after_seq, limit);
  }

  Result<int64_t> AppendEvents(std::span<const EventRecord> events) override {
    if (events.empty()) return 0;
    return Call<Result<int64_t>>("append " + std::to_string(events.size()) + " events",
                                 [&](pqxx::connection& c) -> Result<int64_t> {
                                   pqxx::work tx(c);
                                   int64_t seq = 0;
                                   for (const EventRecord& e : events)
                                     seq = tx.exec_prepared("append_event", e.unix_ms, e.node_id,
                                                            e.kind, e.message)
                                               .at(0)
                                               .at(0)
                                               .as<int64_t>();
                                   tx.commit();
                                   return seq;
                                 });
  }

  Result<int64_t> PruneEvents(int64_t keep_newest, int64_t older_than_ms) override {
    auto changed = Change("prune events", "prune_events", keep_newest, older_than_ms);
    if (!changed.ok()) return changed.status();
    return static_cast<int64_t>(*changed);
  }

  Result<int64_t> AddPowerAction(const PowerActionRecord& a) override {
    return Call<Result<int64_t>>(
        "record a power action", [&](pqxx::connection& c) -> Result<int64_t> {
          pqxx::work tx(c);
          pqxx::result r = tx.exec_prepared("add_power_action", a.pool, a.node_id, a.action,
                                            a.state, a.reason, a.decided_ms, a.done_ms, a.detail);
          int64_t id = r.at(0).at(0).as<int64_t>();
          tx.commit();
          return id;
        });
  }

  Status FinishPowerAction(int64_t id, std::string_view state, int64_t done_ms,
                           std::string_view detail) override {
    const std::string what = "finish power action " + std::to_string(id);
    CARRIERARR_ASSIGN_OR_RETURN(
        auto changed,
        Change(what, "finish_power_action", id, std::string(state), done_ms, std::string(detail)));
    if (changed == 1) return Status::Ok();
    CARRIERARR_ASSIGN_OR_RETURN(auto count,
                                QueryOne(
                                    what, "power_action_exists",
                                    [](const pqxx::row& r) { return r[0].as<int64_t>(); }, id));
    return PowerActionNotFinished(id, count.value_or(0) > 0);
  }

  Result<bool> AddPowerActionPhase(int64_t id, std::string_view phase, int64_t at_ms) override {
    CARRIERARR_RETURN_IF_ERROR(CheckPhaseName(phase));
    CARRIERARR_ASSIGN_OR_RETURN(
        auto changed,
        Change("add phase " + std::string(phase) + " to power action " + std::to_string(id),
               "add_power_action_phase", id, std::string(phase), at_ms));
    return changed == 1;
  }

  Result<std::vector<PowerActionRecord>> ListPowerActions(int64_t since_ms,
                                                          bool unfinished_only) override {
    if (unfinished_only)
      return QueryAll("list power actions", "list_unfinished_power_actions", ReadPowerAction);
    return QueryAll("list power actions", "list_power_actions", ReadPowerAction, since_ms);
  }

  Result<bool> ClaimPool(std::string_view pool, std::string_view owner, int64_t now_ms,
                         int64_t lease_ms) override {
    CARRIERARR_ASSIGN_OR_RETURN(
        auto changed, Change("claim pool " + std::string(pool), "claim_pool", std::string(pool),
                             std::string(owner), now_ms, lease_ms));
    return changed == 1;
  }

  Status PutSetting(std::string_view key, std::string_view value) override {
    const std::string k(key);
    return Change("store setting " + k, "put_setting", k, std::string(value)).status();
  }

  Result<std::optional<std::string>> GetSetting(std::string_view key) override {
    const std::string k(key);
    return QueryOne(
        "read setting " + k, "get_setting", [](const pqxx::row& r) { return TextOf(r[0]); }, k);
  }

 private:
  // Runs prepared statement `name` with `params` in a transaction of its own; the number of
  // rows it changed.
  template <typename... Params>
  Result<pqxx::result::size_type> Change(const std::string& what, const char* name,
                                         const Params&... params) {
    return Call<Result<pqxx::result::size_type>>(
        what, [&](pqxx::connection& c) -> Result<pqxx::result::size_type> {
          pqxx::work tx(c);
          pqxx::result r = tx.exec_prepared(name, params...);
          tx.commit();
          return r.affected_rows();
        });
  }

  // Every row of prepared statement `name`'s result, as `read` makes them.
  template <typename Read, typename... Params>
  auto QueryAll(const std::string& what, const char* name, Read read, const Params&... params)
      -> Result<std::vector<decltype(read(std::declval<const pqxx::row&>()))>> {
    using Rows = std::vector<decltype(read(std::declval<const pqxx::row&>()))>;
    return Call<Result<Rows>>(what, [&](pqxx::connection& c) -> Result<Rows> {
      pqxx::read_transaction tx(c);
      Rows out;
      for (const pqxx::row& r : tx.exec_prepared(name, params...)) out.push_back(read(r));
      return out;
    });
  }

  // The row of a query by key (it has one at most), as `read` makes it; nullopt when none.
  template <typename Read, typename... Params>
  auto QueryOne(const std::string& what, const char* name, Read read, const Params&... params)
      -> Result<std::optional<decltype(read(std::declval<const pqxx::row&>()))>> {
    CARRIERARR_ASSIGN_OR_RETURN(auto rows, QueryAll(what, name, read, params...));
    using Row = std::optional<typename decltype(rows)::value_type>;
    return rows.empty() ? Row() : Row(std::move(rows.front()));
  }

  Status ConnectLocked() {
    try {
      auto conn = std::make_unique<pqxx::connection>(conninfo_);
      for (const auto& [name, sql] : Statements()) conn->prepare(name, sql);
      conn_ = std::move(conn);
      return Status::Ok();
    } catch (const std::exception& e) {
      return Status::Unavailable("cannot connect to PostgreSQL at " + description_ + ": " +
                                 std::string(TrimSpace(e.what())) +
                                 "; check that the server is running and the --db URL");
    }
  }

  // Runs fn(connection) under the lock and turns libpqxx's exceptions into Status codes. A
  // broken connection gets one fresh connection and one more try: a transaction that broke
  // before its commit was rolled back by the server, so running it again is safe.
  template <typename R, typename Fn>
  R Call(const std::string& what, Fn&& fn) {
    std::lock_guard lock(mu_);
    for (int attempt = 0;; ++attempt) {
      if (conn_ == nullptr) CARRIERARR_RETURN_IF_ERROR(ConnectLocked());
      try {
        return fn(*conn_);
      } catch (const pqxx::in_doubt_error& e) {
        conn_.reset();
        return Status::Unavailable(
            "PostgreSQL at " + description_ + ": the connection broke while committing (" + what +
            "); the change may or may not have been stored: " + std::string(TrimSpace(e.what())));
      } catch (const pqxx::broken_connection& e) {
        conn_.reset();
        if (attempt == 0) continue;
        return Status::Unavailable("lost the connection to PostgreSQL at " + description_ + " (" +
                                   what + "): " + std::string(TrimSpace(e.what())) +
                                   "; check that the server is running");
      } catch (const pqxx::sql_error& e) {
        return SqlError(e, what);
      } catch (const std::exception& e) {
        return Status::Internal("PostgreSQL at " + description_ + ": cannot " + what + ": " +
                                std::string(TrimSpace(e.what())));
      }
    }
  }

  Status SqlError(const pqxx::sql_error& e, const std::string& what) const {
    const std::string& state = e.sqlstate();
    std::string msg = "PostgreSQL at " + description_ + ": cannot " + what + ": " +
                      std::string(TrimSpace(e.what()));
    std::string_view cls = std::string_view{state}.substr(0, 2);
    if (state == "23505") return Status::AlreadyExists(msg);
    if (cls == "23" || cls == "22") return Status::InvalidArgument(msg);
    if (state == "42501") {
      return Status::PermissionDenied(msg + "; grant the --db user rights on its tables");
    }
    if (cls == "08" || cls == "40" || cls == "53" || cls == "57") {
      return Status::Unavailable(msg);  // connection, conflict, resources, shutdown: retry
    }
    return Status::Internal(msg);
  }

  const std::string conninfo_;
  const std::string description_;
  std::mutex mu_;
  std::unique_ptr<pqxx::connection> conn_;  // null after a break, until the next call
};

}  // namespace

Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& conninfo) {
  auto parts = ParseConninfo(conninfo);
  if (!parts.ok()) return parts.status();
  std::string effective = conninfo;
  if (!parts->has_connect_timeout) {
    // libpq waits forever for an unreachable host by default.
    bool uri = conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://");
    if (uri) {
      effective += conninfo.find('?') == std::string::npos ? '?' : '&';
      effective += std::string("connect_timeout=") + kDefaultConnectTimeoutS;
    } else {
      effective += std::string(" connect_timeout=") + kDefaultConnectTimeoutS;
    }
  }
  auto store = std::make_unique<PostgresStore>(effective, DescribeParts(*parts));
  CARRIERARR_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace carrierarr::control_plane
