// The control plane's parts on their own, on a SQLite store and a simulated clock: the waits,
// delays and token lifetimes are measured by the TimeSource (time moves only when the test moves
// it), and a notification ends a wait before its timeout.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "control_plane/agent_events.h"
#include "control_plane/command_queue.h"
#include "control_plane/enrollment.h"
#include "control_plane/event_log.h"
#include "control_plane/node_registry.h"
#include "control_plane/status_batcher.h"
#include "control_plane/store.h"
#include "core/strings.h"
#include "core/time_source.h"
#include "core/utf8.h"
#include "pki/crypto.h"
#include "pki/enrollment_token.h"
#include "testing/tools.h"

namespace carrierarr::control_plane {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class PartsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenSqliteStore(dir_ / "fleet.db");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    ASSERT_TRUE(
        store_->UpsertNode({.node_id = "n1", .registration = "r", .lifecycle = "connected"}).ok());
  }

  // Moves the simulated clock by `step` every millisecond of real time until the returned
  // object goes away: a wait on the clock then ends after about timeout / step ms.
  class Ticker {
   public:
    Ticker(SimulatedTimeSource& clock, std::chrono::nanoseconds step)
        : thread_([this, &clock, step] {
            while (!stop_) {
              clock.Advance(step);
              std::this_thread::sleep_for(milliseconds(1));
            }
          }) {}
    ~Ticker() {
      stop_ = true;
      thread_.join();
    }

   private:
    std::atomic<bool> stop_{false};
    std::thread thread_;
  };

  // Polls for up to 5 s of real time.
  template <typename Pred>
  static bool Eventually(Pred pred) {
    for (int i = 0; i < 500; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return pred();
  }

  testing::ScratchDir dir_;
  std::unique_ptr<Store> store_;
  SimulatedTimeSource clock_;
  Counter store_errors_;
};

TEST_F(PartsTest, BatcherWaitsOutItsDelayOnTheTimeSource) {
  StatusBatcher batcher(*store_, clock_, seconds(3600), 100, store_errors_);
  batcher.Start();
  batcher.Add({.node_id = "n1", .seen_ms = 42}, -1);
  std::this_thread::sleep_for(milliseconds(200));  // real time: the simulated hour has not passed
  EXPECT_EQ(batcher.batches(), 0u);
  EXPECT_EQ(store_->GetNode("n1")->last_seen_ms, 0);
  clock_.Advance(seconds(3600));
  ASSERT_TRUE(Eventually([&] { return batcher.batches() == 1; }));
  EXPECT_EQ(store_->GetNode("n1")->last_seen_ms, 42);
  EXPECT_EQ(store_errors_.value(), 0u);
}

TEST_F(PartsTest, BatcherWritesAFullBatchAtOnce) {
  StatusBatcher batcher(*store_, clock_, seconds(3600), 2, store_errors_);
  batcher.Start();
  batcher.Add({.node_id = "n1", .seen_ms = 1}, -1);
  batcher.Add({.node_id = "n1", .seen_ms = 2}, -1);
  ASSERT_TRUE(Eventually([&] { return batcher.batches() == 1; }));
  EXPECT_EQ(batcher.rows(), 2u);
  EXPECT_EQ(store_->GetNode("n1")->last_seen_ms, 2);
}

TEST_F(PartsTest, BatcherFlushesWhatIsPendingWhenDestroyed) {
  {
    StatusBatcher batcher(*store_, clock_, seconds(3600), 100, store_errors_);
    batcher.Start();
    batcher.Add({.node_id = "n1", .seen_ms = 7}, -1);
  }
  EXPECT_EQ(store_->GetNode("n1")->last_seen_ms, 7);
}

TEST_F(PartsTest, CommandWaitEndsAtTheTimeoutOfTheTimeSource) {
  CommandQueue queue(*store_, clock_, seconds(30), store_errors_);
  ec2agent::v1::Command command;
  command.set_type(ec2agent::v1::COMMAND_TYPE_REBOOT);
  auto added = queue.Add("n1", command);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  const auto start = clock_.MonotonicNow();
  Ticker ticker(clock_, milliseconds(500));
  auto waited = queue.Wait(added->command_id(), seconds(60));
  ASSERT_TRUE(waited.ok());
  EXPECT_EQ(waited->state(), "queued");
  EXPECT_GE(clock_.MonotonicNow() - start, seconds(60));
}

TEST_F(PartsTest, CommandWaitEndsWithTheResult) {
  CommandQueue queue(*store_, clock_, seconds(30), store_errors_);
  ec2agent::v1::Command command;
  command.set_type(ec2agent::v1::COMMAND_TYPE_REBOOT);
  auto added = queue.Add("n1", command);
  ASSERT_TRUE(added.ok());
  ec2agent::v1::CommandResult result;
  result.set_command_id(added->command_id());
  result.set_success(true);
  EXPECT_FALSE(queue.Finish("another-node", result));  // only the command's own node may finish it
  std::thread finisher([&] {
    std::this_thread::sleep_for(milliseconds(50));
    EXPECT_TRUE(queue.Finish("n1", result));
  });
  auto waited = queue.Wait(added->command_id(), seconds(3600));  // the clock never moves
  finisher.join();
  ASSERT_TRUE(waited.ok());
  EXPECT_EQ(waited->state(), "succeeded");
  EXPECT_EQ(queue.size(), 0u);
  EXPECT_EQ(store_->GetCommand(added->command_id())->state, "succeeded");
}

TEST_F(PartsTest, AFetchedKubeconfigIsHeldInMemoryOnceAndForALimitedTime) {
  CommandQueue queue(*store_, clock_, seconds(30), store_errors_);
  ec2agent::v1::Command fetch;
  fetch.set_type(ec2agent::v1::COMMAND_TYPE_FETCH_KUBECONFIG);
  auto finish = [&](const std::string& stdout_text, bool success = true) {
    auto added = queue.Add("n1", fetch);
    EXPECT_TRUE(added.ok());
    ec2agent::v1::CommandResult result;
    result.set_command_id(added->command_id());
    result.set_success(success);
    result.set_stdout(stdout_text);
    EXPECT_TRUE(queue.Finish("n1", result));
    return added->command_id();
  };
  auto stored_stdout = [&](const std::string& id) {
    ec2agent::v1::CommandResult r;
    r.ParseFromString(store_->GetCommand(id)->result);
    return r.stdout();
  };

  // Handed out by the first Get (or Wait) of the finished command, then only the placeholder.
  const std::string first = finish("apiVersion: v1\n");
  EXPECT_EQ(stored_stdout(first), "[kubeconfig: 15 bytes, kept in memory only]");
  EXPECT_EQ(queue.Wait(first, seconds(1))->result().stdout(), "apiVersion: v1\n");
  EXPECT_EQ(queue.Get(first)->result().stdout(), "[kubeconfig: 15 bytes, kept in memory only]");

  // Not asked for within kHeldOutputFor: forgotten by the sweep (TimeOut).
  const std::string late = finish("apiVersion: v1\n");
  queue.TimeOut(clock_.NowMs() + std::chrono::milliseconds(kHeldOutputFor).count() + 1);
  EXPECT_EQ(queue.Get(late)->result().stdout(), "[kubeconfig: 15 bytes, kept in memory only]");

  // Over 64 KiB: dropped, and the command failed (saying why, quoting nothing).
  const std::string big = finish(std::string(kMaxHeldOutputBytes + 1, 'k'));
  auto got = queue.Get(big);
  EXPECT_EQ(got->state(), "failed");
  EXPECT_THAT(got->result().error(), ::testing::HasSubstr("over the 65536-byte limit"));
  EXPECT_EQ(got->result().stdout().find("kkkk"), std::string::npos);

  // At most kMaxHeldOutputs at once: the oldest goes first.
  std::vector<std::string> ids;
  for (size_t i = 0; i <= kMaxHeldOutputs; ++i) {
    clock_.Advance(seconds(1));
    ids.push_back(finish("config " + std::to_string(i)));
  }
  EXPECT_EQ(queue.Get(ids[0])->result().stdout(), "[kubeconfig: 8 bytes, kept in memory only]");
  for (size_t i = 1; i < ids.size(); ++i)
    EXPECT_EQ(queue.Get(ids[i])->result().stdout(), "config " + std::to_string(i));

  // Other commands keep their output in the store as ever.
  ec2agent::v1::Command exec;
  exec.set_type(ec2agent::v1::COMMAND_TYPE_EXEC);
  auto added = queue.Add("n1", exec);
  ec2agent::v1::CommandResult result;
  result.set_command_id(added->command_id());
  result.set_stdout("hello");
  EXPECT_TRUE(queue.Finish("n1", result));
  EXPECT_EQ(stored_stdout(added->command_id()), "hello");
}

TEST_F(PartsTest, CommandsTimeOutAfterTheirTimeoutAndGrace) {
  CommandQueue queue(*store_, clock_, seconds(30), store_errors_);
  ec2agent::v1::Command command;
  command.set_type(ec2agent::v1::COMMAND_TYPE_REBOOT);
  command.set_timeout_seconds(10);
  auto added = queue.Add("n1", command);
  ASSERT_TRUE(added.ok());
  command.set_timeout_seconds(0);  // none: waits for its node however long it takes
  ASSERT_TRUE(queue.Add("n1", command).ok());
  EXPECT_TRUE(queue.TimeOut(clock_.NowMs() + 40'000).empty());
  auto timed_out = queue.TimeOut(clock_.NowMs() + 40'001);
  ASSERT_EQ(timed_out.size(), 1u);
  EXPECT_EQ(timed_out[0].command_id, added->command_id());
  EXPECT_EQ(store_->GetCommand(added->command_id())->state, "timed_out");
  EXPECT_EQ(queue.size(), 1u);
}

TEST_F(PartsTest, EventWaitEndsAtTheTimeoutOfTheTimeSource) {
  EventLog events(*store_, clock_, store_errors_);
  const auto start = clock_.MonotonicNow();
  Ticker ticker(clock_, milliseconds(100));
  auto listed = events.List(0, 10, seconds(5));
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
  EXPECT_GE(clock_.MonotonicNow() - start, seconds(5));
}

TEST_F(PartsTest, EventWaitEndsWithTheNextEvent) {
  EventLog events(*store_, clock_, store_errors_);
  std::thread appender([&] {
    std::this_thread::sleep_for(milliseconds(50));
    events.Append("n1", "test", "hello");
  });
  auto listed = events.List(0, 10, seconds(3600));  // the clock never moves
  appender.join();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].message(), "hello");
  EXPECT_EQ((*listed)[0].unix_ms(), clock_.NowMs());
}

TEST_F(PartsTest, EnrollmentTokensExpireOnTheTimeSource) {
  NodeRegistry nodes({}, seconds(10), seconds(30), 0);
  EventLog events(*store_, clock_, store_errors_);
  Enrollment enrollment(*store_, nodes, events, clock_, store_errors_);
  carrierarr::v1::CreateTokenRequest request;
  request.set_max_uses(0);
  request.set_ttl_seconds(60);
  request.set_pool("w");
  auto token = enrollment.CreateToken(request);
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  ec2agent::v1::RegisterRequest registration;
  registration.set_node_id("w-early");
  clock_.Advance(seconds(59));
  auto early = enrollment.Register({token->secret()}, registration);
  ASSERT_TRUE(early.ok()) << early.status().ToString();
  EXPECT_FALSE(early->node_credential().empty());
  clock_.Advance(seconds(1));
  registration.set_node_id("w-late");
  auto late = enrollment.Register({token->secret()}, registration);
  EXPECT_EQ(late.status().code(), StatusCode::kPermissionDenied) << late.status().ToString();
  EXPECT_NE(late.status().message().find("expired"), std::string::npos);
  EXPECT_EQ(enrollment.registrations(), 1u);
  EXPECT_EQ(enrollment.refused_registrations(), 1u);
  // The node's own credential does not expire with the token.
  auto again = enrollment.Register({early->node_credential()}, {});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->assigned_id(), "w-early");
}

TEST_F(PartsTest, FleetSignedTokensEnrollTheirOwnNodeOnceBeforeTheyExpire) {
  auto keys = pki::GenerateEd25519();
  ASSERT_TRUE(keys.ok());
  auto signer = pki::Ed25519Signer::Create(keys->private_key);
  ASSERT_TRUE(signer.ok());
  NodeRegistry nodes({}, seconds(10), seconds(30), 0);
  EventLog events(*store_, clock_, store_errors_);
  Enrollment enrollment(*store_, nodes, events, clock_, store_errors_, keys->public_key);
  auto sign = [&](const std::string& node, int64_t lifetime_s) {
    auto token = pki::SignEnrollmentToken(*signer, node, clock_.NowUnix() + lifetime_s);
    EXPECT_TRUE(token.ok());
    return token.ok() ? *token : "";
  };
  ec2agent::v1::RegisterRequest as_w1;
  as_w1.set_node_id("w-1");
  ec2agent::v1::RegisterRequest as_w2;
  as_w2.set_node_id("w-2");

  const std::string token = sign("w-1", 60);
  auto other_node = enrollment.Register({token}, as_w2);
  EXPECT_EQ(other_node.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(other_node.status().message().find("made for node w-1, not w-2"), std::string::npos);

  auto first = enrollment.Register({token}, as_w1);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->assigned_id(), "w-1");
  EXPECT_FALSE(first->node_credential().empty());
  // Again: w-1 is registered now, and a token may not take it over.
  auto again = enrollment.Register({token}, {});
  EXPECT_EQ(again.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(again.status().message().find("already registered"), std::string::npos);
  // Once the operator deleted it, the token is still spent.
  ASSERT_TRUE(nodes.Remove("w-1").has_value());
  again = enrollment.Register({token}, {});
  EXPECT_EQ(again.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(again.status().message().find("already used"), std::string::npos);
  // The use is on record, under the node's name.
  auto listed = enrollment.ListTokens();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name(), "w-1");
  EXPECT_EQ((*listed)[0].uses(), 1);

  // No node id in the request: the token's. Then expiry on the simulated clock.
  auto unnamed = enrollment.Register({sign("w-3", 60)}, {});
  ASSERT_TRUE(unnamed.ok()) << unnamed.status().ToString();
  EXPECT_EQ(unnamed->assigned_id(), "w-3");
  const std::string short_lived = sign("w-4", 30);
  clock_.Advance(seconds(30));
  auto late = enrollment.Register({short_lived}, {});
  EXPECT_EQ(late.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(late.status().message().find("expired"), std::string::npos);

  // Another key's token, and a control plane that trusts no key.
  auto stranger = pki::GenerateEd25519();
  ASSERT_TRUE(stranger.ok());
  auto stranger_signer = pki::Ed25519Signer::Create(stranger->private_key);
  ASSERT_TRUE(stranger_signer.ok());
  auto forged = pki::SignEnrollmentToken(*stranger_signer, "w-5", clock_.NowUnix() + 60);
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(enrollment.Register({*forged}, {}).status().code(), StatusCode::kUnauthenticated);
  Enrollment untrusting(*store_, nodes, events, clock_, store_errors_);
  auto refused = untrusting.Register({sign("w-6", 60)}, {});
  EXPECT_EQ(refused.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(refused.status().message().find("--enrollment-key"), std::string::npos);
  EXPECT_EQ(enrollment.registrations(), 2u);
}

TEST_F(PartsTest, ACommandNotYetSentIsCancelledAtOnce) {
  CommandQueue queue(*store_, clock_, seconds(30), store_errors_);
  ec2agent::v1::Command command;
  command.set_type(ec2agent::v1::COMMAND_TYPE_REBOOT);
  auto added = queue.Add("n1", command);
  ASSERT_TRUE(added.ok());
  auto cancelled = queue.Cancel(added->command_id());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().ToString();
  EXPECT_FALSE(cancelled->send_cancel);  // nothing to tell the node: it never got it
  EXPECT_EQ(cancelled->record.state, "cancelled");
  EXPECT_EQ(queue.size(), 0u);
  EXPECT_TRUE(queue.PendingFor("n1").empty());  // never delivered now
  EXPECT_FALSE(queue.Deliverable(added->command_id()));
  EXPECT_EQ(store_->GetCommand(added->command_id())->state, "cancelled");
  // Finished: a second cancel says so.
  auto again = queue.Cancel(added->command_id());
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("already finished (cancelled)"), std::string::npos);
  EXPECT_EQ(queue.Cancel("cmd_unknown").status().code(), StatusCode::kNotFound);
}

TEST_F(PartsTest, ASentCommandIsCancellingUntilTheNodeSaysItStopped) {
  CommandQueue queue(*store_, clock_, seconds(30), store_errors_);
  ec2agent::v1::Command command;
  command.set_type(ec2agent::v1::COMMAND_TYPE_REBOOT);
  auto added = queue.Add("n1", command);
  ASSERT_TRUE(added.ok());
  queue.MarkSent(added->command_id());
  auto cancelled = queue.Cancel(added->command_id());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().ToString();
  EXPECT_TRUE(cancelled->send_cancel);
  EXPECT_EQ(cancelled->record.state, "cancelling");
  EXPECT_EQ(store_->GetCommand(added->command_id())->state, "cancelling");
  EXPECT_FALSE(CommandFinished("cancelling"));
  EXPECT_TRUE(queue.PendingFor("n1").empty());  // not sent again on a reconnect
  // Asked twice, the node is told once.
  auto again = queue.Cancel(added->command_id());
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->send_cancel);
  ec2agent::v1::CommandResult result;
  result.set_command_id(added->command_id());
  result.set_error("cancelled");
  ASSERT_TRUE(queue.Finish("n1", result));
  EXPECT_EQ(store_->GetCommand(added->command_id())->state, "cancelled");
  auto late = queue.Cancel(added->command_id());
  EXPECT_EQ(late.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(PartsTest, AgentEventsAreRateLimitedPerNodeAndTheDropsSummarized) {
  EventLog log(*store_, clock_, store_errors_);
  AgentEvents events(*store_, log, clock_, {}, store_errors_);  // 10/s, burst 50
  int accepted = 0;
  for (int i = 0; i < 100; ++i)
    accepted += events.Submit("n1", "log", "flood " + std::to_string(i));
  EXPECT_EQ(accepted, 50);
  EXPECT_TRUE(events.Submit("n2", "log", "another node has its own bucket"));
  EXPECT_TRUE(store_->ListEvents(0, 1000)->empty());  // written later, by the batch, not here
  events.Flush();
  auto stored = store_->ListEvents(0, 1000);
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 52u);  // 50 + 1 + the summary
  EXPECT_EQ(stored->back().kind, "dropped");
  EXPECT_NE(stored->back().message.find("50 events from node n1 dropped"), std::string::npos);
  EXPECT_EQ(events.dropped(), 50u);

  // The bucket refills on the TimeSource: 10 a second.
  clock_.Advance(seconds(1));
  accepted = 0;
  for (int i = 0; i < 20; ++i) accepted += events.Submit("n1", "log", "more");
  EXPECT_EQ(accepted, 10);
  events.Flush();  // the next summary waits out the summary interval
  EXPECT_EQ(store_->ListEvents(0, 1000)->size(), 62u);
  clock_.Advance(seconds(10));
  events.Flush();
  stored = store_->ListEvents(0, 1000);
  ASSERT_EQ(stored->size(), 63u);
  EXPECT_NE(stored->back().message.find("10 events from node n1 dropped"), std::string::npos);
  EXPECT_EQ(store_errors_.value(), 0u);
}

TEST_F(PartsTest, AgentEventsAreWrittenByTheirOwnThreadAndWakeReaders) {
  EventLog log(*store_, clock_, store_errors_);
  AgentEvents events(*store_, log, clock_, {.batch_delay = milliseconds(10)}, store_errors_);
  events.Start();
  std::thread submitter([&] {
    std::this_thread::sleep_for(milliseconds(50));
    events.Submit("n1", "log", "WARN disk: almost full");
  });
  auto listed = log.List(0, 10, seconds(3600));  // the clock never moves: woken by the batch
  submitter.join();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].message(), "WARN disk: almost full");
}

TEST_F(PartsTest, EventTextIsValidUtf8WhateverWasStored) {
  // Written by an older version, cut in the middle of a character.
  ASSERT_TRUE(store_->AppendEvent({.node_id = "n1", .kind = "log", .message = "caf\xC3"}).ok());
  EventLog log(*store_, clock_, store_errors_);
  log.Append("n1", "log", std::string("bad \xFF byte"));
  auto listed = log.List(0, 10, milliseconds(0));
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].message(), "caf\xEF\xBF\xBD");
  EXPECT_EQ((*listed)[1].message(), "bad \xEF\xBF\xBD byte");
  // What ended WatchEvents: an Event with invalid UTF-8 does not parse on the client's side.
  carrierarr::v1::Event raw, parsed;
  raw.set_message("caf\xC3");
  EXPECT_FALSE(parsed.ParseFromString(raw.SerializeAsString()));
  EXPECT_TRUE(parsed.ParseFromString((*listed)[0].SerializeAsString()));
}

TEST(Utf8Test, TruncateNeverSplitsACharacter) {
  const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // a, e-acute, euro, emoji
  EXPECT_EQ(TruncateUtf8(text, 100), text);
  EXPECT_EQ(TruncateUtf8(text, 0), "");
  EXPECT_EQ(TruncateUtf8(text, 1), "a");
  EXPECT_EQ(TruncateUtf8(text, 2), "a");
  EXPECT_EQ(TruncateUtf8(text, 3), "a\xC3\xA9");
  EXPECT_EQ(TruncateUtf8(text, 5), "a\xC3\xA9");
  EXPECT_EQ(TruncateUtf8(text, 6), "a\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(TruncateUtf8(text, 9), "a\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(TruncateUtf8(text, 10), text);
  for (size_t n = 0; n <= text.size(); ++n) EXPECT_TRUE(IsValidUtf8(TruncateUtf8(text, n))) << n;
  // Not UTF-8 to begin with: cut at the byte count, never longer.
  EXPECT_EQ(TruncateUtf8(std::string(10, '\x80'), 4).size(), 4u);
}

TEST(Utf8Test, SanitizeReplacesWhatIsNotUtf8) {
  EXPECT_EQ(SanitizeUtf8("plain"), "plain");
  EXPECT_EQ(SanitizeUtf8("\xE2\x82\xAC ok"), "\xE2\x82\xAC ok");
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(SanitizeUtf8("x\xE2\x82"), "x\xEF\xBF\xBD\xEF\xBF\xBD");                // cut short
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
}

}  // namespace
}  // namespace carrierarr::control_plane
