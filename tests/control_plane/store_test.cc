// One conformance suite for both Store backends: every test runs on a fresh SQLite file and on a
// fresh database of a real PostgreSQL server that the test binary starts itself.
#include "control_plane/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <latch>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "core/file_util.h"
#include "testing/postgres_server.h"
#include "testing/tools.h"

namespace carrierarr::control_plane {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

enum class Backend { kSqlite, kPostgres };

// Every byte value, NUL first: protobuf blobs are arbitrary bytes.
std::string AllBytes() {
  std::string s;
  for (int i = 0; i < 256; ++i) s += static_cast<char>(i);
  return s + std::string("\0tail\0", 6);
}

TokenRecord Token(const std::string& id, const std::string& hash, int32_t max_uses = 1,
                  int64_t expires_ms = 0) {
  TokenRecord t;
  t.id = id;
  t.name = "label for " + id;
  t.secret_hash = hash;
  t.max_uses = max_uses;
  t.expires_ms = expires_ms;
  t.created_ms = 1700000000000;
  return t;
}

NodeRecord Node(const std::string& id, const std::string& last_status = "") {
  NodeRecord n;
  n.node_id = id;
  n.registration = "reg:" + id;
  n.credential_hash = "cred-" + id;
  n.registered_ms = 1000;
  n.last_seen_ms = 2000;
  n.lifecycle = "connected";
  n.last_status = last_status;
  return n;
}

CommandRecord Command(const std::string& id, const std::string& node, int64_t created_ms,
                      const std::string& state = "queued") {
  CommandRecord c;
  c.command_id = id;
  c.node_id = node;
  c.command = "cmd:" + id;
  c.state = state;
  c.created_ms = created_ms;
  return c;
}

std::vector<std::string> CommandIds(const std::vector<CommandRecord>& commands) {
  std::vector<std::string> ids;
  for (const auto& c : commands) ids.push_back(c.command_id);
  return ids;
}

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kSqlite) {
      url_ = dir_ / "fleet.db";
    } else {
      static std::atomic<int> n{0};
      url_ = testing::SharedPostgresServer().CreateDatabase("store_" + std::to_string(getpid()) +
                                                            "_" + std::to_string(++n));
    }
    ASSERT_NO_FATAL_FAILURE(Open());
  }

  void Open() {
    auto store = OpenStore(url_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }

  // Closes the store (as a control plane restart would) and opens the same database again.
  void Reopen() {
    store_.reset();
    ASSERT_NO_FATAL_FAILURE(Open());
  }

  // A second, independent store on the same database: another control plane process.
  std::unique_ptr<Store> OpenAnother() {
    auto store = OpenStore(url_);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }

  testing::ScratchDir dir_;
  std::string url_;
  std::unique_ptr<Store> store_;
};

// --- tokens ---

TEST_P(StoreTest, PutAndListTokens) {
  auto listed = store_->ListTokens();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_TRUE(listed->empty());

  TokenRecord a = Token("tok_aaaaaaaaaaaa", "hash-a", 1, 5000);
  TokenRecord b = Token("tok_bbbbbbbbbbbb", "hash-b", 0);
  b.created_ms = a.created_ms + 1;
  b.uses = 3;
  b.revoked = true;
  a.node_id = "gpu-1";
  a.replace = true;
  b.pool = "gpu";
  ASSERT_TRUE(store_->PutToken(a).ok());
  ASSERT_TRUE(store_->PutToken(b).ok());
  listed = store_->ListTokens();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0], a);
  EXPECT_EQ((*listed)[1], b);
}

TEST_P(StoreTest, PutTokenRefusesDuplicateIdOrHash) {
  ASSERT_TRUE(store_->PutToken(Token("tok_1", "hash-1")).ok());
  Status same_id = store_->PutToken(Token("tok_1", "hash-2"));
  EXPECT_EQ(same_id.code(), StatusCode::kAlreadyExists) << same_id.ToString();
  EXPECT_THAT(same_id.message(), HasSubstr("tok_1"));
  Status same_hash = store_->PutToken(Token("tok_2", "hash-1"));
  EXPECT_EQ(same_hash.code(), StatusCode::kAlreadyExists) << same_hash.ToString();
  auto listed = store_->ListTokens();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].secret_hash, "hash-1");
  // The store still works after the failed inserts (no transaction left open).
  EXPECT_TRUE(store_->PutToken(Token("tok_3", "hash-3")).ok());
}

TEST_P(StoreTest, RefusedAdmissionLeavesTheTokenUnused) {
  TokenRecord token = Token("tok_1", "hash-1");
  token.node_id = "gpu-1";
  ASSERT_TRUE(store_->PutToken(token).ok());
  TokenRecord seen;
  auto refused = store_->ConsumeToken("hash-1", 10, [&](const TokenRecord& t) {
    seen = t;
    return Status::PermissionDenied("not this node");
  });
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(refused.status().message(), "not this node");
  EXPECT_EQ(seen.node_id, "gpu-1");  // the admission saw the binding
  auto admitted =
      store_->ConsumeToken("hash-1", 11, [](const TokenRecord&) { return Status::Ok(); });
  ASSERT_TRUE(admitted.ok()) << admitted.status().ToString();
  EXPECT_EQ(admitted->uses, 1);
}

TEST_P(StoreTest, SingleUseTokenWorksOnce) {
  ASSERT_TRUE(store_->PutToken(Token("tok_1", "hash-1")).ok());
  auto first = store_->ConsumeToken("hash-1", 10, {});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->id, "tok_1");
  EXPECT_EQ(first->name, "label for tok_1");
  EXPECT_EQ(first->uses, 1);
  EXPECT_EQ(first->max_uses, 1);
  auto second = store_->ConsumeToken("hash-1", 11, {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(second.status().message(), HasSubstr("already used"));
  auto listed = store_->ListTokens();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ((*listed)[0].uses, 1);
}

TEST_P(StoreTest, TokenWithMaxUsesAllowsExactlyThatMany) {
  ASSERT_TRUE(store_->PutToken(Token("tok_3", "hash-3", 3)).ok());
  for (int i = 1; i <= 3; ++i) {
    auto used = store_->ConsumeToken("hash-3", 10, {});
    ASSERT_TRUE(used.ok()) << used.status().ToString();
    EXPECT_EQ(used->uses, i);
  }
  auto extra = store_->ConsumeToken("hash-3", 10, {});
  EXPECT_EQ(extra.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(extra.status().message(), HasSubstr("already used"));
}

TEST_P(StoreTest, ReusableTokenWorksUntilItExpires) {
  ASSERT_TRUE(store_->PutToken(Token("tok_r", "hash-r", 0, 1000)).ok());
  for (int i = 1; i <= 50; ++i) {
    auto used = store_->ConsumeToken("hash-r", 999, {});
    ASSERT_TRUE(used.ok()) << used.status().ToString();
    EXPECT_EQ(used->uses, i);
  }
  auto expired = store_->ConsumeToken("hash-r", 1000, {});
  EXPECT_EQ(expired.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(expired.status().message(), HasSubstr("expired"));
  auto listed = store_->ListTokens();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ((*listed)[0].uses, 50);  // the refused attempt counted nothing
}

TEST_P(StoreTest, ExpiredTokenIsRefused) {
  ASSERT_TRUE(store_->PutToken(Token("tok_e", "hash-e", 1, 5000)).ok());
  auto late = store_->ConsumeToken("hash-e", 6000, {});
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(late.status().message(), HasSubstr("expired"));
  // A token that never expires (expires_ms 0) works at any time.
  ASSERT_TRUE(store_->PutToken(Token("tok_n", "hash-n", 1, 0)).ok());
  EXPECT_TRUE(store_->ConsumeToken("hash-n", INT64_MAX / 2, {}).ok());
}

TEST_P(StoreTest, RevokedTokenIsRefused) {
  ASSERT_TRUE(store_->PutToken(Token("tok_v", "hash-v", 0)).ok());
  ASSERT_TRUE(store_->ConsumeToken("hash-v", 10, {}).ok());
  ASSERT_TRUE(store_->RevokeToken("tok_v").ok());
  auto refused = store_->ConsumeToken("hash-v", 10, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(refused.status().message(), HasSubstr("revoked"));
  auto listed = store_->ListTokens();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE((*listed)[0].revoked);
  EXPECT_EQ((*listed)[0].uses, 1);
}

TEST_P(StoreTest, UnknownTokenIsNotFound) {
  ASSERT_TRUE(store_->PutToken(Token("tok_1", "hash-1")).ok());
  auto unknown = store_->ConsumeToken("hash-unknown", 10, {});
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound) << unknown.status().ToString();
  Status revoke = store_->RevokeToken("tok_unknown");
  EXPECT_EQ(revoke.code(), StatusCode::kNotFound) << revoke.ToString();
  EXPECT_THAT(revoke.message(), HasSubstr("tok_unknown"));
}

// Eight callers race for a single-use token, through two stores (two control planes) on the
// same database so that the database itself must keep the use atomic, not just our mutex.
TEST_P(StoreTest, ConcurrentConsumeOfSingleUseTokenSucceedsOnce) {
  std::unique_ptr<Store> other = OpenAnother();
  ASSERT_NE(other, nullptr);
  constexpr int kThreads = 8;
  constexpr int kRounds = 10;
  for (int round = 0; round < kRounds; ++round) {
    const std::string hash = "hash-race-" + std::to_string(round);
    ASSERT_TRUE(store_->PutToken(Token("tok_race" + std::to_string(round), hash)).ok());
    std::atomic<int> successes{0}, already_used{0}, other_errors{0};
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      Store* store = i % 2 == 0 ? store_.get() : other.get();
      threads.emplace_back([&, store] {
        start.arrive_and_wait();
        auto used = store->ConsumeToken(hash, 10, {});
        if (used.ok()) {
          ++successes;
        } else if (used.status().code() == StatusCode::kPermissionDenied &&
                   used.status().message().find("already used") != std::string::npos) {
          ++already_used;
        } else {
          ADD_FAILURE() << used.status().ToString();
          ++other_errors;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(successes.load(), 1) << "round " << round;
    EXPECT_EQ(already_used.load(), kThreads - 1) << "round " << round;
    EXPECT_EQ(other_errors.load(), 0);
  }
  auto listed = store_->ListTokens();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), static_cast<size_t>(kRounds));
  for (const auto& t : *listed) EXPECT_EQ(t.uses, 1) << t.id;
}

// --- nodes ---

TEST_P(StoreTest, UpsertGetAndListNodes) {
  NodeRecord b = Node("node-b", "status-b");
  NodeRecord a = Node("node-a");
  ASSERT_TRUE(store_->UpsertNode(b).ok());
  ASSERT_TRUE(store_->UpsertNode(a).ok());
  auto got = store_->GetNode("node-b");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, b);
  auto listed = store_->ListNodes();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0], a);
  EXPECT_EQ((*listed)[1], b);
  auto missing = store_->GetNode("node-c");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().ToString();
}

TEST_P(StoreTest, UpsertReplacesTheNodeButKeepsItsLastStatusWhenGivenNone) {
  ASSERT_TRUE(store_->UpsertNode(Node("n1", "first status")).ok());
  NodeRecord again = Node("n1");  // re-registration: no status yet
  again.registration = "new registration";
  again.credential_hash = "new-cred";
  again.registered_ms = 5000;
  again.last_seen_ms = 6000;
  again.lifecycle = "stale";
  ASSERT_TRUE(store_->UpsertNode(again).ok());
  auto got = store_->GetNode("n1");
  ASSERT_TRUE(got.ok());
  NodeRecord want = again;
  want.last_status = "first status";
  EXPECT_EQ(*got, want);

  again.last_status = "second status";
  ASSERT_TRUE(store_->UpsertNode(again).ok());
  got = store_->GetNode("n1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->last_status, "second status");
}

TEST_P(StoreTest, SetLifecycle) {
  ASSERT_TRUE(store_->UpsertNode(Node("n1")).ok());
  ASSERT_TRUE(store_->SetLifecycle("n1", "dead").ok());
  auto got = store_->GetNode("n1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->lifecycle, "dead");
  EXPECT_EQ(got->registration, "reg:n1");  // nothing else changed
  Status missing = store_->SetLifecycle("nobody", "stale");
  EXPECT_EQ(missing.code(), StatusCode::kNotFound) << missing.ToString();
}

TEST_P(StoreTest, DeleteNodeRemovesItsCommandsOnly) {
  ASSERT_TRUE(store_->UpsertNode(Node("n1")).ok());
  ASSERT_TRUE(store_->UpsertNode(Node("n2")).ok());
  ASSERT_TRUE(store_->PutCommand(Command("c1", "n1", 1)).ok());
  ASSERT_TRUE(store_->PutCommand(Command("c2", "n1", 2, "succeeded")).ok());
  ASSERT_TRUE(store_->PutCommand(Command("c3", "n2", 3)).ok());

  ASSERT_TRUE(store_->DeleteNode("n1").ok());
  EXPECT_EQ(store_->GetNode("n1").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetCommand("c1").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetCommand("c2").status().code(), StatusCode::kNotFound);
  auto left = store_->ListCommands("n1", false);
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty());
  EXPECT_TRUE(store_->GetNode("n2").ok());
  EXPECT_TRUE(store_->GetCommand("c3").ok());

  Status again = store_->DeleteNode("n1");
  EXPECT_EQ(again.code(), StatusCode::kNotFound) << again.ToString();
  // A failed delete leaves the store usable (its transaction was rolled back).
  EXPECT_TRUE(store_->UpsertNode(Node("n1")).ok());
}

TEST_P(StoreTest, WriteStatusesRecordsAThousandWritesInOneCall) {
  constexpr int kNodes = 100;
  constexpr int kWritesPerNode = 10;
  for (int i = 0; i < kNodes; ++i) {
    ASSERT_TRUE(store_->UpsertNode(Node("node-" + std::to_string(i), "initial")).ok());
  }
  std::vector<StatusWrite> writes;
  // Interleaved across nodes, as a batcher collects them; every third write is a heartbeat.
  for (int round = 0; round < kWritesPerNode; ++round) {
    for (int i = 0; i < kNodes; ++i) {
      StatusWrite w;
      w.node_id = "node-" + std::to_string(i);
      w.seen_ms = 10000 + round * 100 + i;
      if (round % 3 != 2) w.status = "status " + std::to_string(i) + "/" + std::to_string(round);
      writes.push_back(w);
    }
  }
  ASSERT_EQ(writes.size(), 1000u);
  writes.push_back({"deleted-meanwhile", 99999, "ignored"});
  Status st = store_->WriteStatuses(writes);
  ASSERT_TRUE(st.ok()) << st.ToString();

  auto nodes = store_->ListNodes();
  ASSERT_TRUE(nodes.ok());
  ASSERT_EQ(nodes->size(), static_cast<size_t>(kNodes));  // no node appeared for the unknown id
  for (int i = 0; i < kNodes; ++i) {
    auto got = store_->GetNode("node-" + std::to_string(i));
    ASSERT_TRUE(got.ok());
    // The last write was a status (round 9); the heartbeat of round 8 moved last_seen only.
    EXPECT_EQ(got->last_seen_ms, 10000 + 9 * 100 + i);
    EXPECT_EQ(got->last_status, "status " + std::to_string(i) + "/9");
    EXPECT_EQ(got->registration, "reg:node-" + std::to_string(i));
  }
  EXPECT_TRUE(store_->WriteStatuses({}).ok());
}

TEST_P(StoreTest, HeartbeatMovesLastSeenAndKeepsTheStatus) {
  ASSERT_TRUE(store_->UpsertNode(Node("n1", "kept")).ok());
  std::vector<StatusWrite> writes = {{"n1", 7000, ""}};
  ASSERT_TRUE(store_->WriteStatuses(writes).ok());
  auto got = store_->GetNode("n1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->last_seen_ms, 7000);
  EXPECT_EQ(got->last_status, "kept");
  // A status followed by a heartbeat in the same batch: the status stays, last_seen moves on.
  writes = {{"n1", 8000, "newer"}, {"n1", 9000, ""}};
  ASSERT_TRUE(store_->WriteStatuses(writes).ok());
  got = store_->GetNode("n1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->last_seen_ms, 9000);
  EXPECT_EQ(got->last_status, "newer");
}

// Node ids reach SQL as parameters (PostgreSQL: inside an array literal), never as SQL text.
TEST_P(StoreTest, WriteStatusesHandlesUnusualNodeIds) {
  const std::vector<std::string> ids = {"we\"ird", "back\\slash", "com,ma", "{braces}",
                                        "sp ace",  "NULL",        "'quote", "\xc3\xa9t\xc3\xa9"};
  std::vector<StatusWrite> writes;
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_TRUE(store_->UpsertNode(Node(ids[i])).ok()) << ids[i];
    writes.push_back({ids[i], static_cast<int64_t>(100 + i), "status of " + ids[i]});
  }
  Status st = store_->WriteStatuses(writes);
  ASSERT_TRUE(st.ok()) << st.ToString();
  for (size_t i = 0; i < ids.size(); ++i) {
    auto got = store_->GetNode(ids[i]);
    ASSERT_TRUE(got.ok()) << ids[i];
    EXPECT_EQ(got->last_seen_ms, static_cast<int64_t>(100 + i)) << ids[i];
    EXPECT_EQ(got->last_status, "status of " + ids[i]);
  }
}

TEST_P(StoreTest, BinaryBlobsRoundTripExactly) {
  const std::string bytes = AllBytes();
  ASSERT_EQ(bytes[0], '\0');
  NodeRecord node = Node("n1", bytes);
  node.registration = std::string("\0\1\2", 3) + bytes;
  ASSERT_TRUE(store_->UpsertNode(node).ok());
  auto got = store_->GetNode("n1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->registration, node.registration);
  EXPECT_EQ(got->last_status, bytes);

  const std::string status = std::string("\0\0\xff\x80", 4) + bytes + std::string(1, '\0');
  std::vector<StatusWrite> writes = {{"n1", 3000, status}};
  ASSERT_TRUE(store_->WriteStatuses(writes).ok());
  got = store_->GetNode("n1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->last_status, status);
  EXPECT_EQ(got->last_status.size(), status.size());

  CommandRecord c = Command("c1", "n1", 5);
  c.command = std::string("\0", 1);
  c.result = bytes;
  c.state = "failed";
  c.finished_ms = 6;
  ASSERT_TRUE(store_->PutCommand(c).ok());
  auto cmd = store_->GetCommand("c1");
  ASSERT_TRUE(cmd.ok());
  EXPECT_EQ(*cmd, c);

  ASSERT_NO_FATAL_FAILURE(Reopen());
  got = store_->GetNode("n1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->last_status, status);
  cmd = store_->GetCommand("c1");
  ASSERT_TRUE(cmd.ok());
  EXPECT_EQ(*cmd, c);
}

// --- commands ---

TEST_P(StoreTest, PutGetAndReplaceCommands) {
  ASSERT_TRUE(store_->UpsertNode(Node("n1")).ok());
  CommandRecord c = Command("c1", "n1", 100);
  ASSERT_TRUE(store_->PutCommand(c).ok());
  auto got = store_->GetCommand("c1");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, c);

  c.state = "succeeded";
  c.finished_ms = 200;
  c.result = "result bytes";
  ASSERT_TRUE(store_->PutCommand(c).ok());
  got = store_->GetCommand("c1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, c);
  EXPECT_EQ(store_->GetCommand("c-unknown").status().code(), StatusCode::kNotFound);
}

TEST_P(StoreTest, ListCommandsInCreatedOrderAndOnlyUnfinished) {
  ASSERT_TRUE(store_->UpsertNode(Node("n1")).ok());
  ASSERT_TRUE(store_->UpsertNode(Node("n2")).ok());
  // Put out of created order; c2a and c2b share a millisecond and keep insertion order.
  ASSERT_TRUE(store_->PutCommand(Command("c3", "n1", 300, "sent")).ok());
  ASSERT_TRUE(store_->PutCommand(Command("c1", "n1", 100, "succeeded")).ok());
  ASSERT_TRUE(store_->PutCommand(Command("c2b", "n1", 200, "queued")).ok());
  ASSERT_TRUE(store_->PutCommand(Command("c2a", "n1", 200, "failed")).ok());
  ASSERT_TRUE(store_->PutCommand(Command("c4", "n1", 400, "timed_out")).ok());
  ASSERT_TRUE(store_->PutCommand(Command("x1", "n2", 50, "queued")).ok());

  auto all = store_->ListCommands("n1", false);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_THAT(CommandIds(*all), ::testing::ElementsAre("c1", "c2b", "c2a", "c3", "c4"));
  auto unfinished = store_->ListCommands("n1", true);
  ASSERT_TRUE(unfinished.ok());
  EXPECT_THAT(CommandIds(*unfinished), ::testing::ElementsAre("c2b", "c3"));

  // Finishing a command (a replace) keeps its place and drops it from the unfinished list.
  CommandRecord done = Command("c2b", "n1", 200, "succeeded");
  done.finished_ms = 500;
  ASSERT_TRUE(store_->PutCommand(done).ok());
  all = store_->ListCommands("n1", false);
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(CommandIds(*all), ::testing::ElementsAre("c1", "c2b", "c2a", "c3", "c4"));
  unfinished = store_->ListCommands("n1", true);
  ASSERT_TRUE(unfinished.ok());
  EXPECT_THAT(CommandIds(*unfinished), ::testing::ElementsAre("c3"));

  auto none = store_->ListCommands("n-unknown", false);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_P(StoreTest, ACommandBeingCancelledIsUnfinishedAndACancelledOneIsNot) {
  ASSERT_TRUE(store_->UpsertNode(Node("n1")).ok());
  ASSERT_TRUE(store_->PutCommand(Command("c1", "n1", 100, "cancelling")).ok());
  ASSERT_TRUE(store_->PutCommand(Command("c2", "n1", 200, "cancelled")).ok());
  auto unfinished = store_->ListCommands("n1", true);
  ASSERT_TRUE(unfinished.ok()) << unfinished.status().ToString();
  EXPECT_THAT(CommandIds(*unfinished), ::testing::ElementsAre("c1"));  // loaded at a restart
}

// --- events ---

TEST_P(StoreTest, AppendAndListEvents) {
  std::vector<int64_t> seqs;
  for (int i = 0; i < 5; ++i) {
    EventRecord e;
    e.seq = 12345;  // ignored
    e.unix_ms = 1000 + i;
    e.node_id = i == 0 ? "" : "node-" + std::to_string(i);
    e.kind = "kind" + std::to_string(i);
    e.message = "message " + std::to_string(i);
    auto seq = store_->AppendEvent(e);
    ASSERT_TRUE(seq.ok()) << seq.status().ToString();
    if (!seqs.empty()) {
      EXPECT_GT(*seq, seqs.back());
    }
    seqs.push_back(*seq);
  }
  auto all = store_->ListEvents(0, 100);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ((*all)[i].seq, seqs[i]);
    EXPECT_EQ((*all)[i].unix_ms, 1000 + i);
    EXPECT_EQ((*all)[i].node_id, i == 0 ? "" : "node-" + std::to_string(i));
    EXPECT_EQ((*all)[i].kind, "kind" + std::to_string(i));
    EXPECT_EQ((*all)[i].message, "message " + std::to_string(i));
  }
  auto page = store_->ListEvents(seqs[1], 2);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].seq, seqs[2]);
  EXPECT_EQ((*page)[1].seq, seqs[3]);
  auto tail = store_->ListEvents(seqs[4], 10);
  ASSERT_TRUE(tail.ok());
  EXPECT_TRUE(tail->empty());
  auto zero = store_->ListEvents(0, 0);
  ASSERT_TRUE(zero.ok());
  EXPECT_TRUE(zero->empty());
}

TEST_P(StoreTest, AppendEventsStoresABatchInOrder) {
  auto none = store_->AppendEvents({});
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(*none, 0);
  std::vector<EventRecord> batch;
  for (int i = 0; i < 3; ++i)
    batch.push_back(
        {.unix_ms = 10 + i, .node_id = "n1", .kind = "log", .message = "m" + std::to_string(i)});
  auto last = store_->AppendEvents(batch);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  auto all = store_->ListEvents(0, 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[2].seq, *last);
  for (int i = 0; i < 3; ++i) EXPECT_EQ((*all)[i].message, "m" + std::to_string(i));
  EXPECT_LT((*all)[0].seq, (*all)[1].seq);
}

TEST_P(StoreTest, PruneEventsKeepsTheNewestAndDropsTheOld) {
  std::vector<EventRecord> batch;
  for (int i = 0; i < 10; ++i) batch.push_back({.unix_ms = 1000 * (i + 1), .kind = "k"});
  ASSERT_TRUE(store_->AppendEvents(batch).ok());
  auto times_left = [&] {
    std::vector<int64_t> times;
    auto all = store_->ListEvents(0, 100);
    EXPECT_TRUE(all.ok());
    for (const auto& e : *all) times.push_back(e.unix_ms);
    return times;
  };
  auto pruned = store_->PruneEvents(0, 0);  // no limits: nothing goes
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(*pruned, 0);
  pruned = store_->PruneEvents(20, 0);  // fewer than that many: nothing goes
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 0);
  pruned = store_->PruneEvents(7, 0);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(*pruned, 3);
  EXPECT_THAT(times_left(), ::testing::ElementsAre(4000, 5000, 6000, 7000, 8000, 9000, 10000));
  pruned = store_->PruneEvents(0, 6000);  // older than 6 s
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 2);
  EXPECT_THAT(times_left(), ::testing::ElementsAre(6000, 7000, 8000, 9000, 10000));
  pruned = store_->PruneEvents(4, 9000);  // both: the stricter wins
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 3);
  EXPECT_THAT(times_left(), ::testing::ElementsAre(9000, 10000));
  // Sequence numbers go on after a prune.
  auto next = store_->AppendEvent({.unix_ms = 11000, .kind = "k"});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(store_->ListEvents(0, 100)->back().seq, *next);
}

// --- settings ---

TEST_P(StoreTest, Settings) {
  auto missing = store_->GetSetting("admin_token_hash");
  ASSERT_TRUE(missing.ok()) << missing.status().ToString();
  EXPECT_FALSE(missing->has_value());
  ASSERT_TRUE(store_->PutSetting("admin_token_hash", "abc").ok());
  ASSERT_TRUE(store_->PutSetting("other", "").ok());
  auto got = store_->GetSetting("admin_token_hash");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->value_or("<none>"), "abc");
  ASSERT_TRUE(store_->PutSetting("admin_token_hash", "def").ok());
  got = store_->GetSetting("admin_token_hash");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->value_or("<none>"), "def");
  got = store_->GetSetting("other");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->value_or("<none>"), "");
}

// --- burst controller ---

PowerActionRecord Decided(const std::string& node, const std::string& action, int64_t ms) {
  return {.pool = "gpu",
          .node_id = node,
          .action = action,
          .state = "decided",
          .reason = "carrierarr wake",
          .decided_ms = ms};
}

TEST_P(StoreTest, PowerActionsAreRecordedFinishedAndListed) {
  auto a = store_->AddPowerAction(Decided("gpu-1", "start", 1000));
  auto b = store_->AddPowerAction(Decided("gpu-2", "start", 2000));
  auto c = store_->AddPowerAction(Decided("gpu-1", "stop", 3000));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok()) << a.status().ToString();
  EXPECT_LT(*a, *b);
  EXPECT_LT(*b, *c);
  ASSERT_TRUE(store_->FinishPowerAction(*a, "done", 1500, R"({"running_ms":500})").ok());
  ASSERT_TRUE(store_->FinishPowerAction(*c, "failed", 3100, "it would not stop").ok());

  auto all = store_->ListPowerActions(0, false);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0], (PowerActionRecord{.id = *a,
                                          .pool = "gpu",
                                          .node_id = "gpu-1",
                                          .action = "start",
                                          .state = "done",
                                          .reason = "carrierarr wake",
                                          .decided_ms = 1000,
                                          .done_ms = 1500,
                                          .detail = R"({"running_ms":500})"}));
  EXPECT_EQ((*all)[2].state, "failed");
  EXPECT_EQ((*all)[2].detail, "it would not stop");

  auto since = store_->ListPowerActions(2000, false);
  ASSERT_TRUE(since.ok());
  ASSERT_EQ(since->size(), 2u);
  EXPECT_EQ((*since)[0].id, *b);

  auto unfinished = store_->ListPowerActions(0, true);
  ASSERT_TRUE(unfinished.ok());
  ASSERT_EQ(unfinished->size(), 1u);
  EXPECT_EQ((*unfinished)[0].id, *b);
  EXPECT_EQ((*unfinished)[0].state, "decided");

  // Survives a restart: what a restarted control plane resumes.
  ASSERT_NO_FATAL_FAILURE(Reopen());
  unfinished = store_->ListPowerActions(0, true);
  ASSERT_TRUE(unfinished.ok());
  ASSERT_EQ(unfinished->size(), 1u);
  EXPECT_EQ((*unfinished)[0].node_id, "gpu-2");
}

// The gateway's phases (model loaded, first byte) come after the start is done: added to its
// timings once, the first sighting counting; never to a stop, a failed or an unfinished start.
TEST_P(StoreTest, APhaseIsAddedOnceToADoneStartsTimings) {
  auto start = store_->AddPowerAction(Decided("gpu-1", "start", 1000));
  auto stop = store_->AddPowerAction(Decided("gpu-2", "stop", 1000));
  auto failed = store_->AddPowerAction(Decided("gpu-3", "start", 1000));
  auto open = store_->AddPowerAction(Decided("gpu-4", "start", 1000));
  ASSERT_TRUE(start.ok() && stop.ok() && failed.ok() && open.ok());
  ASSERT_TRUE(
      store_->FinishPowerAction(*start, "done", 1500, R"({"decided_ms":1000,"agent_ms":1400})")
          .ok());
  ASSERT_TRUE(store_->FinishPowerAction(*stop, "done", 1500, R"({"decided_ms":1000})").ok());
  ASSERT_TRUE(store_->FinishPowerAction(*failed, "failed", 1500, "it would not start").ok());

  auto added = store_->AddPowerActionPhase(*start, "model_loaded_ms", 2500);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_TRUE(*added);
  auto again = store_->AddPowerActionPhase(*start, "model_loaded_ms", 9000);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again) << "the first sighting counts";
  ASSERT_TRUE(store_->AddPowerActionPhase(*start, "first_byte_ms", 2600).ok());
  for (int64_t id : {*stop, *failed, *open, *open + 100}) {
    auto none = store_->AddPowerActionPhase(id, "first_byte_ms", 2600);
    ASSERT_TRUE(none.ok()) << none.status().ToString();
    EXPECT_FALSE(*none) << id;
  }
  auto bad = store_->AddPowerActionPhase(*start, "x'); DROP TABLE power_actions; --", 1);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);

  ASSERT_NO_FATAL_FAILURE(Reopen());
  auto all = store_->ListPowerActions(0, false);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  const auto timings = nlohmann::json::parse((*all)[0].detail);
  EXPECT_EQ(timings, nlohmann::json::parse(R"({"decided_ms":1000,"agent_ms":1400,
                                               "model_loaded_ms":2500,"first_byte_ms":2600})"));
  EXPECT_EQ((*all)[1].detail, R"({"decided_ms":1000})");
  EXPECT_EQ((*all)[2].detail, "it would not start");
  EXPECT_EQ((*all)[3].state, "decided");
}

TEST_P(StoreTest, APowerActionIsFinishedOnceOnly) {
  auto a = store_->AddPowerAction(Decided("gpu-1", "start", 1000));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(store_->FinishPowerAction(*a, "done", 1100, "").ok());
  Status again = store_->FinishPowerAction(*a, "failed", 1200, "late");
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition) << again.ToString();
  Status unknown = store_->FinishPowerAction(*a + 100, "done", 1200, "");
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound) << unknown.ToString();
  auto all = store_->ListPowerActions(0, false);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].state, "done");
  EXPECT_EQ((*all)[0].done_ms, 1100);
}

TEST_P(StoreTest, APoolHasOneOwnerUntilItsLeaseRunsOut) {
  auto other = OpenAnother();
  ASSERT_NE(other, nullptr);
  auto first = store_->ClaimPool("gpu", "cp-a", 1000, 500);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(*first);
  // Another control plane cannot take it while the lease runs (until 1500).
  auto taken = other->ClaimPool("gpu", "cp-b", 1400, 500);
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  EXPECT_FALSE(*taken);
  // Other pools are free.
  auto cpu = other->ClaimPool("cpu", "cp-b", 1400, 500);
  ASSERT_TRUE(cpu.ok());
  EXPECT_TRUE(*cpu);
  // The owner renews (to 1900).
  auto renewed = store_->ClaimPool("gpu", "cp-a", 1400, 500);
  ASSERT_TRUE(renewed.ok());
  EXPECT_TRUE(*renewed);
  taken = other->ClaimPool("gpu", "cp-b", 1800, 500);
  ASSERT_TRUE(taken.ok());
  EXPECT_FALSE(*taken);
  // Expired: the other takes it, and the first owner has lost it.
  taken = other->ClaimPool("gpu", "cp-b", 1900, 500);
  ASSERT_TRUE(taken.ok());
  EXPECT_TRUE(*taken);
  auto lost = store_->ClaimPool("gpu", "cp-a", 2000, 500);
  ASSERT_TRUE(lost.ok());
  EXPECT_FALSE(*lost);
}

TEST_P(StoreTest, ConcurrentClaimsOfAFreePoolHaveOneWinner) {
  constexpr int kClaimers = 8;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kClaimers; ++i) {
    stores.push_back(OpenAnother());
    ASSERT_NE(stores.back(), nullptr);
  }
  std::atomic<int> winners{0}, errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClaimers; ++i) {
    threads.emplace_back([&, i] {
      auto won = stores[i]->ClaimPool("gpu", "cp-" + std::to_string(i), 1000, 60000);
      if (!won.ok()) ++errors;
      if (won.ok() && *won) ++winners;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(winners.load(), 1);
}

// --- persistence ---

TEST_P(StoreTest, EverythingSurvivesClosingAndReopening) {
  TokenRecord token = Token("tok_p", "hash-p", 2);
  ASSERT_TRUE(store_->PutToken(token).ok());
  ASSERT_TRUE(store_->ConsumeToken("hash-p", 10, {}).ok());
  ASSERT_TRUE(store_->PutToken(Token("tok_q", "hash-q")).ok());
  ASSERT_TRUE(store_->RevokeToken("tok_q").ok());
  NodeRecord node = Node("n1", "status");
  ASSERT_TRUE(store_->UpsertNode(node).ok());
  std::vector<StatusWrite> writes = {{"n1", 4242, "newest status"}};
  ASSERT_TRUE(store_->WriteStatuses(writes).ok());
  ASSERT_TRUE(store_->SetLifecycle("n1", "stale").ok());
  CommandRecord command = Command("c1", "n1", 10, "sent");
  ASSERT_TRUE(store_->PutCommand(command).ok());
  EventRecord event{.unix_ms = 77, .node_id = "n1", .kind = "registered", .message = "hello"};
  auto seq = store_->AppendEvent(event);
  ASSERT_TRUE(seq.ok());
  ASSERT_TRUE(store_->PutSetting("k", "v").ok());

  ASSERT_NO_FATAL_FAILURE(Reopen());

  auto tokens = store_->ListTokens();
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->size(), 2u);
  token.uses = 1;
  EXPECT_EQ((*tokens)[0], token);
  EXPECT_TRUE((*tokens)[1].revoked);
  // The use count survived: one use left, then none.
  EXPECT_TRUE(store_->ConsumeToken("hash-p", 10, {}).ok());
  EXPECT_THAT(store_->ConsumeToken("hash-p", 10, {}).status().message(), HasSubstr("already used"));

  auto got = store_->GetNode("n1");
  ASSERT_TRUE(got.ok());
  node.last_seen_ms = 4242;
  node.last_status = "newest status";
  node.lifecycle = "stale";
  EXPECT_EQ(*got, node);
  auto cmd = store_->GetCommand("c1");
  ASSERT_TRUE(cmd.ok());
  EXPECT_EQ(*cmd, command);
  auto events = store_->ListEvents(0, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].seq, *seq);
  EXPECT_EQ((*events)[0].message, "hello");
  auto setting = store_->GetSetting("k");
  ASSERT_TRUE(setting.ok());
  EXPECT_EQ(setting->value_or("<none>"), "v");

  // Sequence numbers keep increasing across a restart.
  auto next = store_->AppendEvent(event);
  ASSERT_TRUE(next.ok());
  EXPECT_GT(*next, *seq);
}

// Many threads on one store: every call is serialized, none is lost.
TEST_P(StoreTest, ConcurrentCallsFromManyThreads) {
  constexpr int kThreads = 6;
  constexpr int kPerThread = 20;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string id = "n" + std::to_string(t) + "-" + std::to_string(i);
        EXPECT_TRUE(store_->UpsertNode(Node(id)).ok());
        std::vector<StatusWrite> writes = {{id, 5000 + i, "s"}};
        EXPECT_TRUE(store_->WriteStatuses(writes).ok());
        EXPECT_TRUE(store_->AppendEvent({.unix_ms = i, .node_id = id, .kind = "k"}).ok());
        EXPECT_TRUE(store_->ListNodes().ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  auto nodes = store_->ListNodes();
  ASSERT_TRUE(nodes.ok());
  EXPECT_EQ(nodes->size(), static_cast<size_t>(kThreads * kPerThread));
  for (const auto& n : *nodes) EXPECT_EQ(n.last_status, "s") << n.node_id;
  auto events = store_->ListEvents(0, 1000);
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->size(), static_cast<size_t>(kThreads * kPerThread));
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& param) {
                           return param.param == Backend::kSqlite ? "Sqlite" : "Postgres";
                         });

// --- SQLite only ---

TEST(SqliteStoreTest, CreatesTheFileWithMode0600WhateverTheUmask) {
  testing::ScratchDir dir;
  mode_t old = ::umask(0);  // the most permissive umask: 0600 must not come from it
  auto store = OpenStore(dir / "fleet.db");
  ::umask(old);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ(testing::ModeOf(dir / "fleet.db"), 0600u);
  ASSERT_TRUE((*store)->PutSetting("k", "v").ok());
  // SQLite gives the WAL the database file's mode.
  ASSERT_TRUE(PathExists(dir / "fleet.db-wal"));
  EXPECT_EQ(testing::ModeOf(dir / "fleet.db-wal"), 0600u);
  EXPECT_EQ((*store)->Describe(), "sqlite:" + (dir / "fleet.db"));
}

TEST(SqliteStoreTest, UsesWalModeAndFullSync) {
  testing::ScratchDir dir;
  auto store = OpenStore("sqlite:" + (dir / "fleet.db"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->Describe(), "sqlite:" + (dir / "fleet.db"));
  // journal_mode=WAL is a property of the file: a fresh connection sees it.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2((dir / "fleet.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  // The schema version is recorded.
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT value FROM settings WHERE key = 'schema_version'", -1,
                               &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "2");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST(SqliteStoreTest, MissingDirectoryIsAClearError) {
  auto store = OpenStore("/nonexistent-carrierarr-dir/sub/fleet.db");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kNotFound) << store.status().ToString();
  EXPECT_THAT(store.status().message(), HasSubstr("/nonexistent-carrierarr-dir/sub/fleet.db"));
  EXPECT_THAT(store.status().message(), HasSubstr("no such file or directory"));
  EXPECT_THAT(store.status().message(), HasSubstr("--db"));
}

TEST(SqliteStoreTest, DirectoryInsteadOfFileIsAClearError) {
  testing::ScratchDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument) << store.status().ToString();
  EXPECT_THAT(store.status().message(), HasSubstr(dir.path()));
  EXPECT_THAT(store.status().message(), HasSubstr("--db"));
}

TEST(SqliteStoreTest, FileThatIsNotADatabaseIsDataLoss) {
  testing::ScratchDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir / "fleet.db", std::string(4096, 'x'), 0600).ok());
  auto store = OpenStore(dir / "fleet.db");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kDataLoss) << store.status().ToString();
  EXPECT_THAT(store.status().message(), HasSubstr(dir / "fleet.db"));
  // The file was left as it was.
  EXPECT_EQ(testing::Slurp(dir / "fleet.db"), std::string(4096, 'x'));
}

TEST(SqliteStoreTest, NewerSchemaVersionIsRefused) {
  testing::ScratchDir dir;
  {
    auto store = OpenStore(dir / "fleet.db");
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->PutSetting("schema_version", "99").ok());
  }
  auto store = OpenStore(dir / "fleet.db");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition) << store.status().ToString();
  EXPECT_THAT(store.status().message(), HasSubstr("99"));
}

// A file of schema version 1 (tokens without bindings) is migrated in place: its tokens are
// kept, bound to nothing (so they enrol nothing), and the version becomes 2.
TEST(SqliteStoreTest, MigratesSchemaVersion1) {
  testing::ScratchDir dir;
  const std::string path = dir / "fleet.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const char* v1 =
      "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "INSERT INTO settings VALUES ('schema_version', '1');"
      "CREATE TABLE tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, secret_hash TEXT NOT NULL "
      "UNIQUE, max_uses INTEGER NOT NULL, uses INTEGER NOT NULL, expires_ms INTEGER NOT NULL, "
      "revoked INTEGER NOT NULL, created_ms INTEGER NOT NULL);"
      "INSERT INTO tokens VALUES ('tok_old', 'old', 'hash-old', 1, 0, 0, 0, 5);";
  ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);

  auto store = OpenStore(path);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto tokens = (*store)->ListTokens();
  ASSERT_TRUE(tokens.ok()) << tokens.status().ToString();
  ASSERT_EQ(tokens->size(), 1u);
  EXPECT_EQ((*tokens)[0].id, "tok_old");
  EXPECT_EQ((*tokens)[0].node_id, "");
  EXPECT_EQ((*tokens)[0].pool, "");
  EXPECT_FALSE((*tokens)[0].replace);
  auto version = (*store)->GetSetting("schema_version");
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version->value_or(""), "2");
  TokenRecord bound = Token("tok_new", "hash-new");
  bound.pool = "gpu";
  ASSERT_TRUE((*store)->PutToken(bound).ok());
}

TEST(OpenStoreTest, RefusesUnknownSchemes) {
  auto store = OpenStore("mysql://user:secret@db.example/fleet");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(store.status().message(), HasSubstr("mysql://"));
  EXPECT_THAT(store.status().message(), HasSubstr("postgres://"));
  EXPECT_THAT(store.status().message(), HasSubstr("sqlite:PATH"));
  EXPECT_THAT(store.status().message(), Not(HasSubstr("secret")));
  EXPECT_EQ(OpenStore("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStore("sqlite:").status().code(), StatusCode::kInvalidArgument);
}

// --- PostgreSQL only ---

TEST(PostgresStoreTest, UnreachableServerIsUnavailable) {
  auto store = OpenStore("postgresql:///fleet?host=/nonexistent-carrierarr-dir&port=5432");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable) << store.status().ToString();
  EXPECT_THAT(store.status().message(), HasSubstr("cannot connect to PostgreSQL"));
  EXPECT_THAT(store.status().message(), HasSubstr("/nonexistent-carrierarr-dir"));
  EXPECT_THAT(store.status().message(), HasSubstr("--db"));

  // Nothing listens on TCP port 1: refused at once, and the password is not repeated.
  store = OpenStore("postgres://fleet:hunter2@127.0.0.1:1/fleet");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable) << store.status().ToString();
  EXPECT_THAT(store.status().message(), HasSubstr("postgres://fleet@127.0.0.1:1/fleet"));
  EXPECT_THAT(store.status().message(), Not(HasSubstr("hunter2")));
}

TEST(PostgresStoreTest, MalformedUrlIsInvalidArgument) {
  auto store = OpenStore("postgresql://localhost/fleet?no_such_option=1");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument) << store.status().ToString();
  EXPECT_THAT(store.status().message(), HasSubstr("no_such_option"));
}

TEST(PostgresStoreTest, DescribeHidesThePassword) {
  testing::PostgresServer& server = testing::SharedPostgresServer();
  server.CreateDatabase("describe_" + std::to_string(getpid()));
  // Trust authentication ignores the password, so the store opens.
  const std::string url = "postgresql://postgres:s3cret@/describe_" + std::to_string(getpid()) +
                          "?host=" + server.socket_dir() + "&port=5432&password=s3cret2";
  auto store = OpenStore(url);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::string described = (*store)->Describe();
  EXPECT_THAT(described, Not(HasSubstr("s3cret")));
  EXPECT_EQ(described, "postgres:///describe_" + std::to_string(getpid()) +
                           "?host=" + server.socket_dir() + "&port=5432&user=postgres");

  // The key=value form too.
  auto kv = OpenPostgresStore("host=" + server.socket_dir() + " port=5432 user=postgres " +
                              "password=s3cret dbname=describe_" + std::to_string(getpid()));
  ASSERT_TRUE(kv.ok()) << kv.status().ToString();
  EXPECT_THAT((*kv)->Describe(), Not(HasSubstr("s3cret")));
}

// A connection the server drops (restart, failover, idle timeout) is replaced on the next call.
TEST(PostgresStoreTest, ReconnectsAfterTheServerDropsTheConnection) {
  const std::string url =
      testing::SharedPostgresServer().CreateDatabase("reconnect_" + std::to_string(getpid()));
  auto store = OpenStore(url);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->UpsertNode(Node("n1")).ok());
  {
    pqxx::connection admin(url);
    pqxx::nontransaction tx(admin);
    pqxx::result killed = tx.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    ASSERT_EQ(killed.size(), 1u);
  }
  auto nodes = (*store)->ListNodes();
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_TRUE((*store)->SetLifecycle("n1", "dead").ok());
}

}  // namespace
}  // namespace carrierarr::control_plane
