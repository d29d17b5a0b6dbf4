#include "core/time_source.h"

#include <thread>

namespace carrierarr {

std::chrono::system_clock::time_point RealTimeSource::SystemNow() const {
  return std::chrono::system_clock::now();
}

std::chrono::steady_clock::time_point RealTimeSource::MonotonicNow() const {
  return std::chrono::steady_clock::now();
}

void RealTimeSource::SleepFor(std::chrono::nanoseconds d) {
  if (d.count() > 0) std::this_thread::sleep_for(d);
}

RealTimeSource* RealTimeSource::Get() {
  static auto* source = new RealTimeSource();  // never destroyed: used by detached threads too
  return source;
}

}  // namespace carrierarr
