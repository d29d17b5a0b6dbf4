// Time as a seam: code that decides by elapsed time (lifecycle, timeouts) asks a Clock, so tests
// move a SimulatedClock instead of sleeping. Both are thread-safe.
#ifndef CARRIERARR_CORE_CLOCK_H_
#define CARRIERARR_CORE_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace carrierarr {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMs() const = 0;  // Unix milliseconds
};

class SystemClock final : public Clock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  static SystemClock* Get() {
    static SystemClock clock;
    return &clock;
  }
};

class SimulatedClock final : public Clock {
 public:
  explicit SimulatedClock(int64_t start_ms = 1'700'000'000'000) : now_ms_(start_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  void Advance(std::chrono::milliseconds d) { now_ms_ += d.count(); }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace carrierarr

#endif  // CARRIERARR_CORE_CLOCK_H_
