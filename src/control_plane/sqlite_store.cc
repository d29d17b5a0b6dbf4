// The SQLite Store: one file beside the control plane, WAL mode with synchronous=FULL so that a
// commit survives a crash or power cut before the call returns.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <concepts>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "control_plane/store.h"
#include "core/file_util.h"

namespace carrierarr::control_plane {
namespace {

// 2: tokens gained node_id, pool and replace_node (Migrate adds them to a version 1 file).
// The burst tables came later without a version: CREATE TABLE IF NOT EXISTS adds them.
constexpr int kSchemaVersion = 2;
constexpr int kBusyTimeoutMs = 5000;

// Every statement the store runs; cached by text once prepared.
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
  expires_ms INTEGER NOT NULL,
  revoked INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  node_id TEXT NOT NULL DEFAULT '',
  pool TEXT NOT NULL DEFAULT '',
  replace_node INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS nodes (
  node_id TEXT PRIMARY KEY,
  registration BLOB NOT NULL,
  credential_hash TEXT NOT NULL,
  registered_ms INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL,
  lifecycle TEXT NOT NULL,
  last_status BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
  command_id TEXT PRIMARY KEY,
  node_id TEXT NOT NULL,
  command BLOB NOT NULL,
  state TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  finished_ms INTEGER NOT NULL,
  result BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS commands_by_node ON commands (node_id, created_ms);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  unix_ms INTEGER NOT NULL,
  node_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS power_actions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  pool TEXT NOT NULL,
  node_id TEXT NOT NULL,
  action TEXT NOT NULL,
  state TEXT NOT NULL,
  reason TEXT NOT NULL,
  decided_ms INTEGER NOT NULL,
  done_ms INTEGER NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS power_actions_by_time ON power_actions (decided_ms);
CREATE TABLE IF NOT EXISTS pool_leases (
  pool TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  expires_ms INTEGER NOT NULL
);
)sql";

constexpr char kBegin[] = "BEGIN IMMEDIATE";
constexpr char kCommit[] = "COMMIT";
constexpr char kRollback[] = "ROLLBACK";

constexpr char kGetSetting[] = "SELECT value FROM settings WHERE key = ?1";
constexpr char kPutSetting[] =
    "INSERT INTO settings (key, value) VALUES (?1, ?2) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value";

constexpr char kMigrateTokensFrom1[] =
    "ALTER TABLE tokens ADD COLUMN node_id TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE tokens ADD COLUMN pool TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE tokens ADD COLUMN replace_node INTEGER NOT NULL DEFAULT 0;";

constexpr char kPutToken[] =
    "INSERT INTO tokens (id, name, secret_hash, max_uses, uses, expires_ms, revoked, created_ms, "
    "node_id, pool, replace_node) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
constexpr char kListTokens[] =
    "SELECT id, name, secret_hash, max_uses, uses, expires_ms, revoked, created_ms, node_id, pool, "
    "replace_node FROM tokens ORDER BY created_ms, id";
constexpr char kFindToken[] =
    "SELECT id, name, secret_hash, max_uses, uses, expires_ms, revoked, created_ms, node_id, pool, "
    "replace_node FROM tokens WHERE secret_hash = ?1";
constexpr char kUseToken[] = "UPDATE tokens SET uses = uses + 1 WHERE id = ?1";
constexpr char kRevokeToken[] = "UPDATE tokens SET revoked = 1 WHERE id = ?1";

constexpr char kUpsertNode[] =
    "INSERT INTO nodes (node_id, registration, credential_hash, registered_ms, last_seen_ms, "
    "lifecycle, last_status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
    "ON CONFLICT (node_id) DO UPDATE SET registration = excluded.registration, "
    "credential_hash = excluded.credential_hash, registered_ms = excluded.registered_ms, "
    "last_seen_ms = excluded.last_seen_ms, lifecycle = excluded.lifecycle, "
    "last_status = CASE WHEN length(excluded.last_status) = 0 THEN nodes.last_status "
    "ELSE excluded.last_status END";
constexpr char kListNodes[] =
    "SELECT node_id, registration, credential_hash, registered_ms, last_seen_ms, lifecycle, "
    "last_status FROM nodes ORDER BY node_id";
constexpr char kGetNode[] =
    "SELECT node_id, registration, credential_hash, registered_ms, last_seen_ms, lifecycle, "
    "last_status FROM nodes WHERE node_id = ?1";
constexpr char kDeleteNodeCommands[] = "DELETE FROM commands WHERE node_id = ?1";
constexpr char kDeleteNode[] = "DELETE FROM nodes WHERE node_id = ?1";
constexpr char kSetLifecycle[] = "UPDATE nodes SET lifecycle = ?2 WHERE node_id = ?1";
constexpr char kWriteStatus[] =
    "UPDATE nodes SET last_seen_ms = ?2, "
    "last_status = CASE WHEN length(?3) = 0 THEN last_status ELSE ?3 END WHERE node_id = ?1";

constexpr char kPutCommand[] =
    "INSERT INTO commands (command_id, node_id, command, state, created_ms, finished_ms, result) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
    "ON CONFLICT (command_id) DO UPDATE SET node_id = excluded.node_id, "
    "command = excluded.command, state = excluded.state, created_ms = excluded.created_ms, "
    "finished_ms = excluded.finished_ms, result = excluded.result";
constexpr char kGetCommand[] =
    "SELECT command_id, node_id, command, state, created_ms, finished_ms, result "
    "FROM commands WHERE command_id = ?1";
// rowid breaks ties within a millisecond: the upsert above keeps a command's rowid.
constexpr char kListCommands[] =
    "SELECT command_id, node_id, command, state, created_ms, finished_ms, result "
    "FROM commands WHERE node_id = ?1 ORDER BY created_ms, rowid";
constexpr char kListUnfinishedCommands[] =
    "SELECT command_id, node_id, command, state, created_ms, finished_ms, result "
    "FROM commands WHERE node_id = ?1 AND state IN ('queued', 'sent', 'cancelling') "
    "ORDER BY created_ms, rowid";

constexpr char kAppendEvent[] =
    "INSERT INTO events (unix_ms, node_id, kind, message) VALUES (?1, ?2, ?3, ?4)";
// Everything at or below the (keep + 1)-th newest (NULL, so nothing, when there are fewer), and
// everything older than the cut-off; a non-positive limit does not apply.
constexpr char kPruneEvents[] =
    "DELETE FROM events WHERE (?1 > 0 AND seq <= (SELECT seq FROM events ORDER BY seq DESC "
    "LIMIT 1 OFFSET ?1)) OR (?2 > 0 AND unix_ms < ?2)";
constexpr char kListEvents[] =
    "SELECT seq, unix_ms, node_id, kind, message FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2";

constexpr char kAddPowerAction[] =
    "INSERT INTO power_actions (pool, node_id, action, state, reason, decided_ms, done_ms, "
    "detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
constexpr char kFinishPowerAction[] =
    "UPDATE power_actions SET state = ?2, done_ms = ?3, detail = ?4 "
    "WHERE id = ?1 AND state = 'decided'";
// The phase goes in by its name (checked: [a-z_]) as a JSON path.
constexpr char kAddPowerActionPhase[] =
    "UPDATE power_actions SET detail = json_set(detail, '$.' || ?2, ?3) "
    "WHERE id = ?1 AND action = 'start' AND state = 'done' AND json_valid(detail) "
    "AND json_type(detail) = 'object' AND json_type(detail, '$.' || ?2) IS NULL";
constexpr char kPowerActionExists[] = "SELECT count(*) FROM power_actions WHERE id = ?1";
constexpr char kListPowerActions[] =
    "SELECT id, pool, node_id, action, state, reason, decided_ms, done_ms, detail "
    "FROM power_actions WHERE decided_ms >= ?1 ORDER BY id";
constexpr char kListUnfinishedPowerActions[] =
    "SELECT id, pool, node_id, action, state, reason, decided_ms, done_ms, detail "
    "FROM power_actions WHERE state = 'decided' ORDER BY id";
// Takes the lease when it is free, expired or already the owner's; changes no row otherwise.
constexpr char kClaimPool[] =
    "INSERT INTO pool_leases (pool, owner, expires_ms) VALUES (?1, ?2, ?3 + ?4) "
    "ON CONFLICT (pool) DO UPDATE SET owner = excluded.owner, expires_ms = excluded.expires_ms "
    "WHERE pool_leases.owner = excluded.owner OR pool_leases.expires_ms <= ?3";

// A statement parameter to bind as BLOB (a string binds as TEXT).
struct Blob {
  std::string_view bytes;
};

// A cached statement in use: binds parameters, steps, reads columns, and resets itself (keeping
// the compiled statement for the next call) when it goes out of scope.
class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Stmt() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  // Binds the arguments to ?1, ?2, ...: integers and bools as INTEGER, strings as TEXT, Blob as
  // BLOB.
  template <typename... Args>
  void Bind(const Args&... args) {
    int i = 0;
    (BindOne(++i, args), ...);
  }
  // SQLITE_ROW, SQLITE_DONE or an error code; a failed bind is reported here.
  int Step() { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(stmt_); }

  // Reads columns 0, 1, ... of the current row into the arguments: integers and bools from
  // INTEGER, strings from TEXT or BLOB.
  template <typename... Outs>
  void Columns(Outs&... out) const {
    int i = 0;
    (ColumnInto(i++, out), ...);
  }
  std::string ColText(int i) const {
    const void* p = sqlite3_column_blob(stmt_, i);
    int n = sqlite3_column_bytes(stmt_, i);
    return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), n);
  }

 private:
  template <std::integral T>
  void ColumnInto(int i, T& v) const {
    v = static_cast<T>(sqlite3_column_int64(stmt_, i));
  }
  void ColumnInto(int i, std::string& v) const { v = ColText(i); }
  void BindOne(int i, int64_t v) { Check(sqlite3_bind_int64(stmt_, i, v)); }
  void BindOne(int i, std::string_view v) {
    // SQLITE_TRANSIENT copies: the bound views need not outlive the call.
    Check(sqlite3_bind_text64(stmt_, i, v.empty() ? "" : v.data(), v.size(), SQLITE_TRANSIENT,
                              SQLITE_UTF8));
  }
  void BindOne(int i, Blob v) {
    // A null data pointer would bind NULL, not an empty blob.
    Check(v.bytes.empty()
              ? sqlite3_bind_zeroblob(stmt_, i, 0)
              : sqlite3_bind_blob64(stmt_, i, v.bytes.data(), v.bytes.size(), SQLITE_TRANSIENT));
  }
  void Check(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

TokenRecord ReadToken(const Stmt& s) {
  TokenRecord t;
  s.Columns(t.id, t.name, t.secret_hash, t.max_uses, t.uses, t.expires_ms, t.revoked, t.created_ms,
            t.node_id, t.pool, t.replace);
  return t;
}

NodeRecord ReadNode(const Stmt& s) {
  NodeRecord n;
  s.Columns(n.node_id, n.registration, n.credential_hash, n.registered_ms, n.last_seen_ms,
            n.lifecycle, n.last_status);
  return n;
}

EventRecord ReadEvent(const Stmt& s) {
  EventRecord e;
  s.Columns(e.seq, e.unix_ms, e.node_id, e.kind, e.message);
  return e;
}

PowerActionRecord ReadPowerAction(const Stmt& s) {
  PowerActionRecord a;
  s.Columns(a.id, a.pool, a.node_id, a.action, a.state, a.reason, a.decided_ms, a.done_ms,
            a.detail);
  return a;
}

CommandRecord ReadCommand(const Stmt& s) {
  CommandRecord c;
  s.Columns(c.command_id, c.node_id, c.command, c.state, c.created_ms, c.finished_ms, c.result);
  return c;
}

// Thread-safe: one connection, every method holds mu_ for its whole duration (SQLite has one
// writer at a time anyway). Other processes may open the same file; BEGIN IMMEDIATE and the busy
// timeout make them take turns.
class SqliteStore final : public Store {
 public:
  SqliteStore(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  ~SqliteStore() override {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    // The last connection to close checkpoints the WAL into the database file.
    sqlite3_close_v2(db_);
  }

  // Pragmas and schema; called once before the store is shared.
  Status Init() {
    std::lock_guard lock(mu_);
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    {
      // The first read of the file: a file that is not a database fails here.
      auto mode = Prepare("PRAGMA journal_mode = WAL");
      if (!mode.ok()) return mode.status();
      Stmt s(*mode);
      int rc = s.Step();
      if (rc != SQLITE_ROW) return Error(rc, "enable WAL mode");
      std::string got = s.ColText(0);
      if (got != "wal" && path_ != ":memory:") {
        return Status::FailedPrecondition("SQLite database " + path_ +
                                          " cannot use WAL mode (journal_mode is " + got +
                                          "); put it on a local filesystem");
      }
    }
    CARRIERARR_RETURN_IF_ERROR(
        ExecScript("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;", "set pragmas"));
    CARRIERARR_RETURN_IF_ERROR(Exec(kBegin, "begin the schema transaction"));
    Status st = CreateSchema();
    if (!st.ok()) {
      RollbackQuietly();
      return st;
    }
    return Commit("commit the schema");
  }

  std::string Describe() const override { return "sqlite:" + path_; }

  Status PutToken(const TokenRecord& token) override {
    std::lock_guard lock(mu_);
    Status st = Exec(kPutToken, "store token " + token.id, token.id, token.name, token.secret_hash,
                     token.max_uses, token.uses, token.expires_ms, token.revoked, token.created_ms,
                     token.node_id, token.pool, token.replace);
    if (st.code() != StatusCode::kAlreadyExists) return st;
    const bool id_taken = st.message().find("tokens.id") != std::string::npos;
    return Status::AlreadyExists(id_taken ? "token " + token.id + " already exists"
                                          : "a token with the same secret already exists");
  }

  Result<std::vector<TokenRecord>> ListTokens() override {
    std::lock_guard lock(mu_);
    return QueryAll(kListTokens, "list tokens", ReadToken);
  }

  Result<TokenRecord> ConsumeToken(std::string_view secret_hash, int64_t now_ms,
                                   const TokenAdmission& admit) override {
    std::lock_guard lock(mu_);
    // IMMEDIATE takes the write lock up front: another process cannot use the token between
    // our check and our increment.
    CARRIERARR_RETURN_IF_ERROR(Exec(kBegin, "begin a transaction"));
    auto consumed = ConsumeTokenLocked(secret_hash, now_ms, admit);
    if (!consumed.ok()) {
      RollbackQuietly();
      return consumed;
    }
    CARRIERARR_RETURN_IF_ERROR(Commit("commit the token use"));
    return consumed;
  }

  Status RevokeToken(std::string_view id) override {
    std::lock_guard lock(mu_);
    CARRIERARR_RETURN_IF_ERROR(Exec(kRevokeToken, "revoke token " + std::string(id), id));
    if (sqlite3_changes(db_) == 0) return Status::NotFound("no token with id " + std::string(id));
    return Status::Ok();
  }

  Status UpsertNode(const NodeRecord& node) override {
    std::lock_guard lock(mu_);
    return Exec(kUpsertNode, "store node " + node.node_id, node.node_id, Blob{node.registration},
                node.credential_hash, node.registered_ms, node.last_seen_ms, node.lifecycle,
                Blob{node.last_status});
  }

  Result<std::vector<NodeRecord>> ListNodes() override {
    std::lock_guard lock(mu_);
    return QueryAll(kListNodes, "list nodes", ReadNode);
  }

  Result<NodeRecord> GetNode(std::string_view node_id) override {
    std::lock_guard lock(mu_);
    const std::string id(node_id);
    return FoundOr(QueryOne(kGetNode, "read node " + id, ReadNode, id), "no node " + id);
  }

  Status DeleteNode(std::string_view node_id) override {
    std::lock_guard lock(mu_);
    return InTransaction("commit the node's removal", [&] { return DeleteNodeLocked(node_id); });
  }

  Status SetLifecycle(std::string_view node_id, std::string_view lifecycle) override {
    std::lock_guard lock(mu_);
    CARRIERARR_RETURN_IF_ERROR(Exec(
        kSetLifecycle, "set the lifecycle of node " + std::string(node_id), node_id, lifecycle));
    if (sqlite3_changes(db_) == 0) return Status::NotFound("no node " + std::string(node_id));
    return Status::Ok();
  }

  Status WriteStatuses(std::span<const StatusWrite> writes) override {
    if (writes.empty()) return Status::Ok();
    std::lock_guard lock(mu_);
    return InTransaction("commit " + std::to_string(writes.size()) + " statuses", [&] {
      for (const StatusWrite& w : writes) {
        CARRIERARR_RETURN_IF_ERROR(Exec(kWriteStatus, "record the status of node " + w.node_id,
                                        w.node_id, w.seen_ms, Blob{w.status}));
      }
      return Status::Ok();
    });
  }

  Status PutCommand(const CommandRecord& command) override {
    std::lock_guard lock(mu_);
    return Exec(kPutCommand, "store command " + command.command_id, command.command_id,
                command.node_id, Blob{command.command}, command.state, command.created_ms,
                command.finished_ms, Blob{command.result});
  }

  Result<CommandRecord> GetCommand(std::string_view command_id) override {
    std::lock_guard lock(mu_);
    const std::string id(command_id);
    return FoundOr(QueryOne(kGetCommand, "read command " + id, ReadCommand, id),
                   "no command " + id);
  }

  Result<std::vector<CommandRecord>> ListCommands(std::string_view node_id,
                                                  bool unfinished_only) override {
    std::lock_guard lock(mu_);
    return QueryAll(unfinished_only ? kListUnfinishedCommands : kListCommands,
                    "list the commands of node " + std::string(node_id), ReadCommand, node_id);
  }

  Result<int64_t> AppendEvent(const EventRecord& event) override {
    std::lock_guard lock(mu_);
    CARRIERARR_RETURN_IF_ERROR(Exec(kAppendEvent, "append an event", event.unix_ms, event.node_id,
                                    event.kind, event.message));
    return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
  }

  Result<std::vector<EventRecord>> ListEvents(int64_t after_seq, int limit) override {
    if (limit <= 0) return std::vector<EventRecord>();
    std::lock_guard lock(mu_);
    return QueryAll(kListEvents, "list events", ReadEvent, after_seq, limit);
  }

  Result<int64_t> AppendEvents(std::span<const EventRecord> events) override {
    if (events.empty()) return 0;
    std::lock_guard lock(mu_);
    Status st = InTransaction("commit " + std::to_string(events.size()) + " events", [&] {
      for (const EventRecord& e : events)
        CARRIERARR_RETURN_IF_ERROR(
            Exec(kAppendEvent, "append an event", e.unix_ms, e.node_id, e.kind, e.message));
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
  }

  Result<int64_t> PruneEvents(int64_t keep_newest, int64_t older_than_ms) override {
    std::lock_guard lock(mu_);
    CARRIERARR_RETURN_IF_ERROR(Exec(kPruneEvents, "prune events", keep_newest, older_than_ms));
    return static_cast<int64_t>(sqlite3_changes(db_));
  }

  Result<int64_t> AddPowerAction(const PowerActionRecord& a) override {
    std::lock_guard lock(mu_);
    CARRIERARR_RETURN_IF_ERROR(Exec(kAddPowerAction, "record a power action", a.pool, a.node_id,
                                    a.action, a.state, a.reason, a.decided_ms, a.done_ms,
                                    a.detail));
    return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
  }

  Status FinishPowerAction(int64_t id, std::string_view state, int64_t done_ms,
                           std::string_view detail) override {
    std::lock_guard lock(mu_);
    const std::string what = "finish power action " + std::to_string(id);
    CARRIERARR_RETURN_IF_ERROR(Exec(kFinishPowerAction, what, id, state, done_ms, detail));
    if (sqlite3_changes(db_) == 1) return Status::Ok();
    CARRIERARR_ASSIGN_OR_RETURN(auto count, QueryOne(
                                                kPowerActionExists, what,
                                                [](const Stmt& s) {
                                                  int64_t n = 0;
                                                  s.Columns(n);
                                                  return n;
                                                },
                                                id));
    return PowerActionNotFinished(id, count.value_or(0) > 0);
  }

  Result<bool> AddPowerActionPhase(int64_t id, std::string_view phase, int64_t at_ms) override {
    CARRIERARR_RETURN_IF_ERROR(CheckPhaseName(phase));
    std::lock_guard lock(mu_);
    CARRIERARR_RETURN_IF_ERROR(
        Exec(kAddPowerActionPhase,
             "add phase " + std::string(phase) + " to power action " + std::to_string(id), id,
             phase, at_ms));
    return sqlite3_changes(db_) == 1;
  }

  Result<std::vector<PowerActionRecord>> ListPowerActions(int64_t since_ms,
                                                          bool unfinished_only) override {
    std::lock_guard lock(mu_);
    if (unfinished_only)
      return QueryAll(kListUnfinishedPowerActions, "list power actions", ReadPowerAction);
    return QueryAll(kListPowerActions, "list power actions", ReadPowerAction, since_ms);
  }

  Result<bool> ClaimPool(std::string_view pool, std::string_view owner, int64_t now_ms,
                         int64_t lease_ms) override {
    std::lock_guard lock(mu_);
    CARRIERARR_RETURN_IF_ERROR(
        Exec(kClaimPool, "claim pool " + std::string(pool), pool, owner, now_ms, lease_ms));
    return sqlite3_changes(db_) == 1;
  }

  Status PutSetting(std::string_view key, std::string_view value) override {
    std::lock_guard lock(mu_);
    return PutSettingLocked(key, value);
  }

  Result<std::optional<std::string>> GetSetting(std::string_view key) override {
    std::lock_guard lock(mu_);
    return GetSettingLocked(key);
  }

 private:
  // The compiled statement for `sql`, prepared on first use and kept until the store closes.
  Result<sqlite3_stmt*> Prepare(const char* sql) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return Error(rc, "prepare \"" + std::string(sql) + "\"");
    cache_.emplace(sql, stmt);
    return stmt;
  }

  // Runs a statement for its effect with `params` bound (see Stmt::Bind). `what` says what
  // failed.
  template <typename... Params>
  Status Exec(const char* sql, const std::string& what, const Params&... params) {
    CARRIERARR_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Prepare(sql));
    Stmt s(stmt);
    s.Bind(params...);
    int rc = s.Step();
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return Error(rc, what);
    return Status::Ok();
  }

  // The first row `read` makes of the statement's result; nullopt when there is none.
  template <typename Read, typename... Params>
  auto QueryOne(const char* sql, const std::string& what, Read read, const Params&... params)
      -> Result<std::optional<decltype(read(std::declval<const Stmt&>()))>> {
    using T = decltype(read(std::declval<const Stmt&>()));
    CARRIERARR_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Prepare(sql));
    Stmt s(stmt);
    s.Bind(params...);
    int rc = s.Step();
    if (rc == SQLITE_ROW) return std::optional<T>(read(s));
    if (rc == SQLITE_DONE) return std::optional<T>();
    return Error(rc, what);
  }

  // Every row of the statement's result, as `read` makes them.
  template <typename Read, typename... Params>
  auto QueryAll(const char* sql, const std::string& what, Read read, const Params&... params)
      -> Result<std::vector<decltype(read(std::declval<const Stmt&>()))>> {
    CARRIERARR_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Prepare(sql));
    Stmt s(stmt);
    s.Bind(params...);
    std::vector<decltype(read(std::declval<const Stmt&>()))> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) out.push_back(read(s));
    if (rc != SQLITE_DONE) return Error(rc, what);
    return out;
  }

  // Runs `body` (returning Status) in a BEGIN IMMEDIATE transaction: committed when it succeeds,
  // rolled back when it does not.
  template <typename Body>
  Status InTransaction(const std::string& what, const Body& body) {
    CARRIERARR_RETURN_IF_ERROR(Exec(kBegin, "begin a transaction"));
    Status st = body();
    if (!st.ok()) {
      RollbackQuietly();
      return st;
    }
    return Commit(what);
  }

  // For statements run once (schema, pragmas): not worth caching.
  Status ExecScript(const char* sql, const std::string& what) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
    sqlite3_free(err);
    if (rc != SQLITE_OK) return Error(rc, what);
    return Status::Ok();
  }

  // A COMMIT that fails (e.g. SQLITE_BUSY) leaves the transaction open: close it.
  Status Commit(const std::string& what) {
    Status st = Exec(kCommit, what);
    if (!st.ok()) RollbackQuietly();
    return st;
  }

  void RollbackQuietly() {
    // Fails only when no transaction is open (SQLite may have rolled back already).
    if (sqlite3_get_autocommit(db_) == 0) (void)Exec(kRollback, "roll back");
  }

  Status CreateSchema() {
    CARRIERARR_RETURN_IF_ERROR(ExecScript(kSchema, "create the schema"));
    auto version = GetSettingLocked("schema_version");
    if (!version.ok()) return version.status();
    if (!version->has_value()) {
      return PutSettingLocked("schema_version", std::to_string(kSchemaVersion));
    }
    if (**version == "1") {  // inside the schema transaction: all or nothing
      CARRIERARR_RETURN_IF_ERROR(ExecScript(kMigrateTokensFrom1, "add the token bindings"));
      return PutSettingLocked("schema_version", std::to_string(kSchemaVersion));
    }
    if (**version != std::to_string(kSchemaVersion)) {
      return Status::FailedPrecondition(
          "SQLite database " + path_ + " has schema version " + **version +
          ", this carrierarr knows version " + std::to_string(kSchemaVersion) +
          ": use the carrierarr release that wrote it, or a newer one");
    }
    return Status::Ok();
  }

  Result<TokenRecord> ConsumeTokenLocked(std::string_view secret_hash, int64_t now_ms,
                                         const TokenAdmission& admit) {
    CARRIERARR_ASSIGN_OR_RETURN(
        std::optional<TokenRecord> token,
        QueryOne(kFindToken, "look up the enrollment token", ReadToken, secret_hash));
    if (!token) return Status::NotFound("no enrollment token matches this secret");
    CARRIERARR_RETURN_IF_ERROR(CheckTokenUsable(*token, now_ms));
    if (admit) CARRIERARR_RETURN_IF_ERROR(admit(*token));
    CARRIERARR_RETURN_IF_ERROR(Exec(kUseToken, "count a use of token " + token->id, token->id));
    ++token->uses;
    return std::move(*token);
  }

  Status DeleteNodeLocked(std::string_view node_id) {
    CARRIERARR_RETURN_IF_ERROR(
        Exec(kDeleteNodeCommands, "delete the commands of node " + std::string(node_id), node_id));
    CARRIERARR_RETURN_IF_ERROR(Exec(kDeleteNode, "delete node " + std::string(node_id), node_id));
    if (sqlite3_changes(db_) == 0) return Status::NotFound("no node " + std::string(node_id));
    return Status::Ok();
  }

  Status PutSettingLocked(std::string_view key, std::string_view value) {
    return Exec(kPutSetting, "store setting " + std::string(key), key, value);
  }

  Result<std::optional<std::string>> GetSettingLocked(std::string_view key) {
    return QueryOne(
        kGetSetting, "read setting " + std::string(key), [](const Stmt& s) { return s.ColText(0); },
        key);
  }

  bool IsUniqueViolation(int rc) const {
    return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY;
  }

  // Maps a SQLite result code to a Status that says what failed and what to do about it.
  Status Error(int rc, const std::string& what) const {
    std::string msg =
        "SQLite database " + path_ + ": cannot " + what + ": " +
        (db_ != nullptr && sqlite3_errcode(db_) == rc ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    switch (rc & 0xff) {
      case SQLITE_CONSTRAINT:
        if (IsUniqueViolation(rc)) return Status::AlreadyExists(msg);
        return Status::InvalidArgument(msg);
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
        return Status::Unavailable(msg + " (another process held the database for " +
                                   std::to_string(kBusyTimeoutMs / 1000) +
                                   " s; is a second control plane using the same file?)");
      case SQLITE_READONLY:
      case SQLITE_PERM:
      case SQLITE_AUTH:
        return Status::PermissionDenied(msg +
                                        "; check the permissions of the file, its -wal and "
                                        "-shm files and their directory");
      case SQLITE_CORRUPT:
      case SQLITE_NOTADB:
        return Status::DataLoss(msg + "; check the --db path, or restore the file from a backup");
      case SQLITE_FULL:
        return Status::Unavailable(msg + "; free some disk space");
      case SQLITE_IOERR:
      case SQLITE_CANTOPEN:
      case SQLITE_PROTOCOL:
        return Status::Unavailable(msg);
      case SQLITE_TOOBIG:
      case SQLITE_RANGE:
        return Status::InvalidArgument(msg);
      default:
        return Status::Internal(msg);
    }
  }

  const std::string path_;
  std::mutex mu_;
  sqlite3* const db_;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;  // keyed by the k* constants above
};

// Creates the file with mode 0600 before SQLite sees it (SQLite would create it 0644 less the
// umask), and turns open(2)'s errors into messages about the --db path.
Status CreateDatabaseFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    // The umask may have taken bits away from 0600; fix the mode exactly.
    int rc = ::fchmod(fd, 0600);
    int err = errno;
    ::close(fd);
    if (rc != 0) {
      return Status::Internal("cannot set the mode of SQLite database " + path + ": " +
                              ErrnoString(err));
    }
    return Status::Ok();
  }
  if (errno == EEXIST) {
    // Existing file: check now that we can open it for writing, for a clearer error than
    // SQLite's "unable to open database file".
    fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);
      return Status::Ok();
    }
  }
  int err = errno;
  std::string msg = "cannot open SQLite database " + path + ": " + ErrnoString(err);
  switch (err) {
    case ENOENT:
      return Status::NotFound(msg + "; create its directory or check the --db path");
    case EACCES:
    case EPERM:
    case EROFS:
      return Status::PermissionDenied(msg + "; check the --db path and its permissions");
    case EISDIR:
      return Status::InvalidArgument(msg + "; the --db path must name a file");
    case ENOTDIR:
      return Status::InvalidArgument(msg + "; check the --db path");
    default:
      return Status::Unavailable(msg + "; check the --db path");
  }
}

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("empty SQLite database path; check --db");
  const bool memory = path == ":memory:";
  if (!memory) CARRIERARR_RETURN_IF_ERROR(CreateDatabaseFile(path));
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  if (memory) flags |= SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "cannot open SQLite database " + path + ": " +
                      (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)) +
                      "; check the --db path";
    sqlite3_close_v2(db);
    return Status::Unavailable(msg);
  }
  auto store = std::make_unique<SqliteStore>(path, db);
  CARRIERARR_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace carrierarr::control_plane
