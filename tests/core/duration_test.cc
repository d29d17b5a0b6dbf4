#include "core/duration.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

namespace carrierarr {
namespace {

using std::chrono::nanoseconds;

constexpr int64_t kUs = 1000;
constexpr int64_t kMs = 1000 * kUs;
constexpr int64_t kSec = 1000 * kMs;
constexpr int64_t kMin = 60 * kSec;
constexpr int64_t kHour = 60 * kMin;

struct ParseCase {
  std::string input;
  int64_t want_ns;
};

// Values as Go's time.ParseDuration returns them.
TEST(ParseGoDurationTest, ReadsWhatGoReads) {
  const ParseCase cases[] = {
      {"8760h", 8760 * kHour},
      {"1h30m", kHour + 30 * kMin},
      {"1.5h", kHour + 30 * kMin},
      {"90s", 90 * kSec},
      {"300ms", 300 * kMs},
      {"-1s", -kSec},
      {"+5m", 5 * kMin},
      {"0", 0},
      {"+0", 0},
      {"-0", 0},
      {"0s", 0},
      {"1ns", 1},
      {"1us", kUs},
      {"1\xc2\xb5s", kUs},  // U+00B5 MICRO SIGN
      {"1\xce\xbcs", kUs},  // U+03BC GREEK SMALL LETTER MU
      {"2h45m30.5s", 2 * kHour + 45 * kMin + 30 * kSec + 500 * kMs},
      {".5s", 500 * kMs},
      {"1.s", kSec},
      {"1.000000001s", kSec + 1},
      {"0.1ns", 0},         // a fraction of the smallest unit truncates
      {"1h1h", 2 * kHour},  // Go sums repeated units
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    auto got = ParseGoDuration(c.input);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->count(), c.want_ns);
  }
}

TEST(ParseGoDurationTest, ReachesTheInt64Limits) {
  auto max = ParseGoDuration("9223372036854775807ns");
  ASSERT_TRUE(max.ok()) << max.status().ToString();
  EXPECT_EQ(max->count(), std::numeric_limits<int64_t>::max());
  // Since Go 1.15 the most negative duration parses too.
  auto min = ParseGoDuration("-9223372036854775808ns");
  ASSERT_TRUE(min.ok()) << min.status().ToString();
  EXPECT_EQ(min->count(), std::numeric_limits<int64_t>::min());
  auto hours = ParseGoDuration("2562047h");
  ASSERT_TRUE(hours.ok());
  EXPECT_EQ(hours->count(), 2562047 * kHour);
}

struct ErrorCase {
  std::string input;
  std::string want_message;
};

TEST(ParseGoDurationTest, RejectsWithGosWording) {
  const ErrorCase cases[] = {
      {"", "time: invalid duration \"\""},
      {"-", "time: invalid duration \"-\""},
      {"h", "time: invalid duration \"h\""},
      {".", "time: invalid duration \".\""},
      {".s", "time: invalid duration \".s\""},
      // Go's unit is everything up to the next digit or '.', so the '-' joins the unit.
      {"1h-2m", "time: unknown unit \"h-\" in duration \"1h-2m\""},
      {"1h+2m", "time: unknown unit \"h+\" in duration \"1h+2m\""},
      {"1h 2m", "time: unknown unit \"h \" in duration \"1h 2m\""},
      {"--1s", "time: invalid duration \"--1s\""},
      {"1", "time: missing unit in duration \"1\""},
      {"1h30", "time: missing unit in duration \"1h30\""},
      {"1x", "time: unknown unit \"x\" in duration \"1x\""},
      {"1d", "time: unknown unit \"d\" in duration \"1d\""},
      {"1S", "time: unknown unit \"S\" in duration \"1S\""},
      {"9999999999999h", "time: invalid duration \"9999999999999h\""},
      {"9223372036854775808ns", "time: invalid duration \"9223372036854775808ns\""},
      {"-9223372036854775809ns", "time: invalid duration \"-9223372036854775809ns\""},
      {"99999999999999999999s", "time: invalid duration \"99999999999999999999s\""},
      {"2562048h", "time: invalid duration \"2562048h\""},
      {"2562047h48m", "time: invalid duration \"2562047h48m\""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    auto got = ParseGoDuration(c.input);
    ASSERT_FALSE(got.ok()) << "parsed as " << got->count() << "ns";
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(got.status().message(), c.want_message);
  }
}

struct FormatCase {
  int64_t ns;
  std::string want;
};

// Strings as Go's Duration.String() writes them.
TEST(FormatGoDurationTest, MatchesGoDurationString) {
  const FormatCase cases[] = {
      {0, "0s"},
      {1, "1ns"},
      {999, "999ns"},
      {kUs, "1\xc2\xb5s"},
      {1100, "1.1\xc2\xb5s"},
      {kMs + kMs / 2, "1.5ms"},
      {kMs + 1, "1.000001ms"},
      {kSec + kSec / 2, "1.5s"},
      {kSec + 1, "1.000000001s"},
      {90 * kSec, "1m30s"},
      {kHour + 30 * kMin, "1h30m0s"},
      {8760 * kHour, "8760h0m0s"},
      {kHour + kSec, "1h0m1s"},
      {-kMin, "-1m0s"},
      {-1, "-1ns"},
      {-kMs, "-1ms"},
      {std::numeric_limits<int64_t>::max(), "2562047h47m16.854775807s"},
      {std::numeric_limits<int64_t>::min(), "-2562047h47m16.854775808s"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(FormatGoDuration(nanoseconds(c.ns)), c.want) << c.ns << "ns";
  }
}

// Whatever we print, we read back to the same value (flag defaults are printed this way).
TEST(FormatGoDurationTest, RoundTripsThroughParse) {
  const int64_t values[] = {0,
                            1,
                            999,
                            kUs + 7,
                            kMs * 3 / 2,
                            kSec - 1,
                            90 * kSec,
                            8760 * kHour,
                            -kMin - 1,
                            25 * kHour + 1,
                            std::numeric_limits<int64_t>::max(),
                            std::numeric_limits<int64_t>::min()};
  for (int64_t v : values) {
    const std::string text = FormatGoDuration(nanoseconds(v));
    auto back = ParseGoDuration(text);
    ASSERT_TRUE(back.ok()) << text << ": " << back.status().ToString();
    EXPECT_EQ(back->count(), v) << text;
  }
}

}  // namespace
}  // namespace carrierarr
