#include "burst/schedule.h"

namespace carrierarr::burst {
namespace {

using std::chrono::days;
using std::chrono::minutes;
using std::chrono::system_clock;

// Monday = 0, as ScheduleWindow's bits.
int DayOfWeek(system_clock::time_point t) {
  const std::chrono::weekday wd{std::chrono::floor<days>(t)};
  return static_cast<int>(wd.iso_encoding()) - 1;
}

bool Opens(const spec::ScheduleWindow& w, int day) { return (w.days >> day) & 1; }

}  // namespace

bool InSchedule(const std::vector<spec::ScheduleWindow>& windows, system_clock::time_point t) {
  const int day = DayOfWeek(t);
  const auto minute = std::chrono::floor<minutes>(t - std::chrono::floor<days>(t)).count();
  for (const auto& w : windows) {
    if (Opens(w, day) && minute >= w.start_minute && minute < w.end_minute) return true;
  }
  return false;
}

}  // namespace carrierarr::burst
