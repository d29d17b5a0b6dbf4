// A scaled pool's schedule windows, in UTC.
#include "burst/schedule.h"

#include <gtest/gtest.h>

namespace carrierarr::burst {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

// 2026-12-07 is a Monday.
std::chrono::system_clock::time_point At(int day_of_december, int hour, int minute) {
  return std::chrono::sys_days(std::chrono::year{2026} / 12 / day_of_december) + hours(hour) +
         minutes(minute);
}

TEST(ScheduleTest, WeekdaysNineToSix) {
  const std::vector<spec::ScheduleWindow> office = {{0x1f, 9 * 60, 18 * 60}};  // mon-fri
  EXPECT_FALSE(InSchedule(office, At(7, 8, 59)));
  EXPECT_TRUE(InSchedule(office, At(7, 9, 0)));
  EXPECT_TRUE(InSchedule(office, At(11, 17, 59)));  // Friday
  EXPECT_FALSE(InSchedule(office, At(11, 18, 0)));  // the end is exclusive
  EXPECT_FALSE(InSchedule(office, At(12, 12, 0)));  // Saturday
  EXPECT_FALSE(InSchedule({}, At(7, 12, 0)));
}

TEST(ScheduleTest, AnyWindowCountsAndAWindowMayEndAtMidnight) {
  const std::vector<spec::ScheduleWindow> windows = {{0x60, 20 * 60, 24 * 60},  // sat,sun
                                                     {0x01, 0, 60}};            // mon
  EXPECT_TRUE(InSchedule(windows, At(13, 23, 59)));                             // Sunday
  EXPECT_TRUE(InSchedule(windows, At(14, 0, 30)));                              // Monday
  EXPECT_FALSE(InSchedule(windows, At(14, 1, 0)));
  EXPECT_FALSE(InSchedule(windows, At(12, 19, 59)));
}

}  // namespace
}  // namespace carrierarr::burst
