// A few lock-free metric types and their Prometheus text rendering (exposition format 0.0.4).
// Thread-safe: all updates are relaxed atomics; rendering reads a consistent-enough snapshot.
#ifndef CARRIERARR_CONTROL_PLANE_METRICS_H_
#define CARRIERARR_CONTROL_PLANE_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace carrierarr::control_plane {

class Counter {
 public:
  void Add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// Latencies in milliseconds, bucketed with upper bounds fine enough around the 50 ms target to
// read a p99 from two snapshots' difference.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 24> kBoundsMs = {1,   2,   3,   4,   5,    7.5,  10,   15,
                                                       20,  25,  30,  40,  50,   60,   75,   100,
                                                       150, 200, 300, 500, 1000, 2500, 5000, 10000};
  void Observe(double ms);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  // Cumulative count of observations <= kBoundsMs[i]; i == kBoundsMs.size() is +Inf.
  uint64_t cumulative(size_t i) const;
  double sum_ms() const { return sum_us_.load(std::memory_order_relaxed) / 1000.0; }
  // Estimated quantile (0..1) in ms by linear interpolation within the bucket; 0 when empty.
  double Quantile(double q) const;
  // Appends name_bucket{le=...}, name_sum and name_count lines (in seconds, as Prometheus
  // expects) with HELP and TYPE.
  void Render(const std::string& name, const std::string& help, std::string* out) const;

 private:
  std::array<std::atomic<uint64_t>, kBoundsMs.size() + 1> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_us_{0};
};

// Appends "# HELP", "# TYPE" and one sample line.
void RenderMetric(const std::string& name, const std::string& type, const std::string& help,
                  double value, std::string* out);

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_METRICS_H_
