// A scaled pool's `schedule`: the windows of the week (UTC) in which it is held awake.
#ifndef CARRIERARR_BURST_SCHEDULE_H_
#define CARRIERARR_BURST_SCHEDULE_H_

#include <chrono>
#include <vector>

#include "spec/fleet.h"

namespace carrierarr::burst {

// Whether `t` falls in one of `windows`.
bool InSchedule(const std::vector<spec::ScheduleWindow>& windows,
                std::chrono::system_clock::time_point t);

}  // namespace carrierarr::burst

#endif  // CARRIERARR_BURST_SCHEDULE_H_
