#include "agent/backoff.h"

#include <gtest/gtest.h>

#include <vector>

namespace carrierarr::agent {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, CeilingDoublesUpToTheMaximum) {
  Backoff b(milliseconds(1000), milliseconds(60000), [] { return 0.999999; });
  std::vector<int64_t> ceilings;
  for (int i = 0; i < 9; ++i) {
    ceilings.push_back(b.Ceiling().count());
    b.Next();
  }
  EXPECT_EQ(ceilings,
            (std::vector<int64_t>{1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000}));
}

TEST(BackoffTest, FullJitterScalesTheCeiling) {
  std::vector<double> draws = {0.0, 0.5, 0.25, 1.0};
  size_t i = 0;
  Backoff b(milliseconds(1000), milliseconds(60000), [&] { return draws[i++]; });
  EXPECT_EQ(b.Next(), milliseconds(0));     // 0 x 1s
  EXPECT_EQ(b.Next(), milliseconds(1000));  // 0.5 x 2s
  EXPECT_EQ(b.Next(), milliseconds(1000));  // 0.25 x 4s
  EXPECT_EQ(b.Next(), milliseconds(8000));  // 1.0 x 8s
}

TEST(BackoffTest, NeverExceedsTheMaximumEvenWithBadRandomValues) {
  Backoff b(milliseconds(500), milliseconds(3000), [] { return 7.0; });
  for (int i = 0; i < 100; ++i) EXPECT_LE(b.Next(), milliseconds(3000));
  Backoff neg(milliseconds(500), milliseconds(3000), [] { return -1.0; });
  EXPECT_EQ(neg.Next(), milliseconds(0));
}

TEST(BackoffTest, ResetStartsAgainFromTheInitialDelay) {
  Backoff b(milliseconds(1000), milliseconds(60000), [] { return 1.0; });
  for (int i = 0; i < 5; ++i) b.Next();
  EXPECT_EQ(b.Ceiling(), milliseconds(32000));
  b.Reset();
  EXPECT_EQ(b.Ceiling(), milliseconds(1000));
  EXPECT_EQ(b.Next(), milliseconds(1000));
}

TEST(BackoffTest, ManyAttemptsDoNotOverflow) {
  Backoff b(milliseconds(1), milliseconds(60000), [] { return 1.0; });
  for (int i = 0; i < 10000; ++i) b.Next();
  EXPECT_EQ(b.Next(), milliseconds(60000));
}

TEST(BackoffTest, DefaultRandomSourceStaysInRangeAndVaries) {
  Backoff b(milliseconds(10000), milliseconds(10000));
  int64_t min = 10000, max = 0;
  for (int i = 0; i < 200; ++i) {
    int64_t d = b.Next().count();
    ASSERT_GE(d, 0);
    ASSERT_LE(d, 10000);
    min = std::min(min, d);
    max = std::max(max, d);
  }
  EXPECT_LT(min, max) << "full jitter must spread the delays";
}

TEST(BackoffTest, CorrectsNonsenseBounds) {
  Backoff b(milliseconds(0), milliseconds(0), [] { return 1.0; });
  EXPECT_EQ(b.Ceiling(), milliseconds(1));
  EXPECT_EQ(b.Next(), milliseconds(1));
}

}  // namespace
}  // namespace carrierarr::agent
