#include "control_plane/metrics.h"

#include <algorithm>
#include <cstdio>

namespace carrierarr::control_plane {

void LatencyHistogram::Observe(double ms) {
  if (ms < 0) ms = 0;
  size_t i = std::lower_bound(kBoundsMs.begin(), kBoundsMs.end(), ms) - kBoundsMs.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<uint64_t>(ms * 1000), std::memory_order_relaxed);
}

uint64_t LatencyHistogram::cumulative(size_t i) const {
  uint64_t total = 0;
  for (size_t b = 0; b <= i && b < buckets_.size(); ++b)
    total += buckets_[b].load(std::memory_order_relaxed);
  return total;
}

double LatencyHistogram::Quantile(double q) const {
  uint64_t n = count();
  if (n == 0) return 0;
  double rank = q * static_cast<double>(n);
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    uint64_t in_bucket = buckets_[i].load(std::memory_order_relaxed);
    if (in_bucket > 0 && static_cast<double>(seen + in_bucket) >= rank) {
      double lo = i == 0 ? 0 : kBoundsMs[i - 1];
      double hi = i < kBoundsMs.size() ? kBoundsMs[i] : kBoundsMs.back();
      return lo + (hi - lo) * (rank - static_cast<double>(seen)) / static_cast<double>(in_bucket);
    }
    seen += in_bucket;
  }
  return kBoundsMs.back();
}

void LatencyHistogram::Render(const std::string& name, const std::string& help,
                              std::string* out) const {
  *out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  char line[160];
  uint64_t cumulative_count = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    cumulative_count += buckets_[i].load(std::memory_order_relaxed);
    if (i < kBoundsMs.size()) {
      std::snprintf(line, sizeof line, "%s_bucket{le=\"%g\"} %llu\n", name.c_str(),
                    kBoundsMs[i] / 1000.0, static_cast<unsigned long long>(cumulative_count));
    } else {
      std::snprintf(line, sizeof line, "%s_bucket{le=\"+Inf\"} %llu\n", name.c_str(),
                    static_cast<unsigned long long>(cumulative_count));
    }
    *out += line;
  }
  std::snprintf(line, sizeof line, "%s_sum %.6f\n%s_count %llu\n", name.c_str(), sum_ms() / 1000.0,
                name.c_str(), static_cast<unsigned long long>(count()));
  *out += line;
}

void RenderMetric(const std::string& name, const std::string& type, const std::string& help,
                  double value, std::string* out) {
  char line[64];
  std::snprintf(line, sizeof line, "%.17g", value);
  *out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
          line + "\n";
}

}  // namespace carrierarr::control_plane
