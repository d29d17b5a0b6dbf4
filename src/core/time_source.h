// Time as a seam (envoy's TimeSource): code that reads the wall clock (certificate expiry,
// signing), measures elapsed time (lifecycle, timeouts, polls) or waits asks a TimeSource, so
// tests drive a SimulatedTimeSource instead of sleeping. Both implementations are thread-safe.
#ifndef CARRIERARR_CORE_TIME_SOURCE_H_
#define CARRIERARR_CORE_TIME_SOURCE_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace carrierarr {

class TimeSource {
 public:
  virtual ~TimeSource() = default;
  // Wall time: what certificates, signatures and stored timestamps carry.
  virtual std::chrono::system_clock::time_point SystemNow() const = 0;
  // Monotonic time: what deadlines and intervals are measured with.
  virtual std::chrono::steady_clock::time_point MonotonicNow() const = 0;
  // Blocks the calling thread for `d` of this source's time.
  virtual void SleepFor(std::chrono::nanoseconds d) = 0;

  // Unix milliseconds of SystemNow().
  int64_t NowMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(SystemNow().time_since_epoch())
        .count();
  }
  // Unix seconds of SystemNow().
  int64_t NowUnix() const {
    return std::chrono::duration_cast<std::chrono::seconds>(SystemNow().time_since_epoch()).count();
  }
};

// The machine's clocks. One process-wide instance; never destroyed.
class RealTimeSource final : public TimeSource {
 public:
  std::chrono::system_clock::time_point SystemNow() const override;
  std::chrono::steady_clock::time_point MonotonicNow() const override;
  void SleepFor(std::chrono::nanoseconds d) override;
  static RealTimeSource* Get();
};

// Time that moves only when told: Advance() moves both clocks; SleepFor() advances by the time
// slept and returns at once, so a retry loop with backoff runs in microseconds of real time and
// the test reads back how long it "waited" (slept()).
class SimulatedTimeSource final : public TimeSource {
 public:
  explicit SimulatedTimeSource(int64_t start_unix_ms = 1'700'000'000'000)
      : now_ns_(start_unix_ms * 1'000'000) {}
  std::chrono::system_clock::time_point SystemNow() const override {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(now_ns_.load())));
  }
  std::chrono::steady_clock::time_point MonotonicNow() const override {
    return std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::nanoseconds(now_ns_.load())));
  }
  void SleepFor(std::chrono::nanoseconds d) override {
    if (d.count() <= 0) return;
    slept_ns_ += d.count();
    now_ns_ += d.count();
  }
  void Advance(std::chrono::nanoseconds d) { now_ns_ += d.count(); }
  // Total time callers spent in SleepFor.
  std::chrono::nanoseconds slept() const { return std::chrono::nanoseconds(slept_ns_.load()); }

 private:
  std::atomic<int64_t> now_ns_;
  std::atomic<int64_t> slept_ns_{0};
};

}  // namespace carrierarr

#endif  // CARRIERARR_CORE_TIME_SOURCE_H_
