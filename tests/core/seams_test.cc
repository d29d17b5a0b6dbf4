// The seams of core: the simulated clock tests lean on, the environment snapshot, and the Status
// macros every fallible call uses.
#include "core/seams.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <memory>
#include <string>

#include "core/environment.h"
#include "core/status.h"
#include "core/time_source.h"

namespace carrierarr {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(SimulatedTimeSourceTest, MovesOnlyWhenToldAndSleepingAdvancesAtOnce) {
  SimulatedTimeSource time(1'700'000'000'000);
  EXPECT_EQ(time.NowMs(), 1'700'000'000'000);
  EXPECT_EQ(time.NowUnix(), 1'700'000'000);
  const auto mono = time.MonotonicNow();
  EXPECT_EQ(time.MonotonicNow(), mono);

  time.Advance(hours(24));
  EXPECT_EQ(time.NowMs(), 1'700'000'000'000 + 86'400'000);
  EXPECT_EQ(time.MonotonicNow() - mono, hours(24));
  EXPECT_EQ(time.slept(), seconds(0));  // Advance is not sleeping

  const auto real_start = std::chrono::steady_clock::now();
  time.SleepFor(seconds(300));
  time.SleepFor(milliseconds(-5));  // a negative wait is no wait
  EXPECT_LT(std::chrono::steady_clock::now() - real_start, seconds(1));
  EXPECT_EQ(time.slept(), seconds(300));
  EXPECT_EQ(time.MonotonicNow() - mono, hours(24) + seconds(300));
}

TEST(RealTimeSourceTest, IsTheMachinesClock) {
  RealTimeSource* time = RealTimeSource::Get();
  EXPECT_EQ(time, RealTimeSource::Get());
  const auto before = std::chrono::system_clock::now();
  const auto now = time->SystemNow();
  EXPECT_LE(before, now);
  EXPECT_LT(now - before, seconds(5));
  const auto m1 = time->MonotonicNow();
  time->SleepFor(milliseconds(2));
  EXPECT_GE(time->MonotonicNow() - m1, milliseconds(2));
}

TEST(EnvironmentTest, FromProcessSnapshotsTheVariablesAndHome) {
  ASSERT_EQ(::setenv("CARRIERARR_SEAMS_TEST", "a=b c", 1), 0);
  Environment env = Environment::FromProcess();
  ASSERT_EQ(::unsetenv("CARRIERARR_SEAMS_TEST"), 0);
  EXPECT_EQ(env.Get("CARRIERARR_SEAMS_TEST"), "a=b c");  // split at the first '=' only
  EXPECT_TRUE(env.Has("CARRIERARR_SEAMS_TEST"));
  EXPECT_EQ(env.Get("CARRIERARR_SEAMS_TEST_UNSET"), "");
  EXPECT_FALSE(env.Has("CARRIERARR_SEAMS_TEST_UNSET"));
  EXPECT_FALSE(env.home.empty());
  // A snapshot: later changes to the process do not reach it.
  EXPECT_EQ(Environment::FromProcess().Get("CARRIERARR_SEAMS_TEST"), "");

  Seams seams = Seams::FromProcess();
  EXPECT_EQ(seams.time, RealTimeSource::Get());
  EXPECT_EQ(seams.processes, RealProcessRunner::Get());
  EXPECT_EQ(seams.environment.home, env.home);
}

Result<std::unique_ptr<int>> Make(bool ok) {
  if (!ok) return Status::NotFound("no int");
  return std::make_unique<int>(7);
}

Result<int> Twice(bool ok) {
  CARRIERARR_ASSIGN_OR_RETURN(auto value, Make(ok));  // a move-only value
  int sum = *value;
  CARRIERARR_ASSIGN_OR_RETURN(value, Make(ok));  // an existing variable, same scope
  return sum + *value;
}

TEST(StatusTest, AssignOrReturnMovesTheValueOrReturnsTheError) {
  auto good = Twice(true);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 14);
  auto bad = Twice(false);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(bad.status().ToString(), "not found: no int");
}

TEST(StatusTest, NewCodesHaveNames) {
  EXPECT_EQ(Status::Unauthenticated("x").ToString(), "unauthenticated: x");
  EXPECT_EQ(Status::ResourceExhausted("x").ToString(), "resource exhausted: x");
}

}  // namespace
}  // namespace carrierarr
