// Exponential backoff with full jitter (each delay is uniform in [0, min(max, initial * 2^n)]),
// so that a fleet whose control plane comes back does not reconnect in lock step.
//
// Thread-compatible: one owner calls Next/Reset. The random source is injected so that tests
// get exact delays.
#ifndef CARRIERARR_AGENT_BACKOFF_H_
#define CARRIERARR_AGENT_BACKOFF_H_

#include <algorithm>
#include <chrono>
#include <functional>
#include <random>
#include <utility>

namespace carrierarr::agent {

class Backoff {
 public:
  // Returns a number in [0, 1). Out-of-range values are clamped.
  using Uniform01 = std::function<double()>;

  // initial > 0 and max >= initial are expected (ParseAgentOptions checks them); other values
  // are corrected rather than trusted. An empty `uniform` uses a seeded Mersenne twister.
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, Uniform01 uniform = {})
      : initial_(std::max(initial, std::chrono::milliseconds(1))),
        max_(std::max(max, initial_)),
        uniform_(std::move(uniform)) {
    if (!uniform_) {
      uniform_ = [rng = std::mt19937_64(std::random_device{}())]() mutable {
        return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
      };
    }
  }

  // The delay before the next attempt; each call doubles the ceiling until it reaches max.
  std::chrono::milliseconds Next() {
    std::chrono::milliseconds ceiling = Ceiling();
    if (ceiling < max_) ++attempt_;
    double u = std::clamp(uniform_(), 0.0, 1.0);
    return std::chrono::milliseconds(
        static_cast<int64_t>(u * static_cast<double>(ceiling.count())));
  }

  // The ceiling the next call of Next() draws under.
  std::chrono::milliseconds Ceiling() const {
    // Doubling stops at max, so the shift never overflows.
    std::chrono::milliseconds c = initial_;
    for (int i = 0; i < attempt_ && c < max_; ++i) c *= 2;
    return std::min(c, max_);
  }

  // After a connection that stayed up long enough: start again from `initial`.
  void Reset() { attempt_ = 0; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  Uniform01 uniform_;
  int attempt_ = 0;
};

}  // namespace carrierarr::agent

#endif  // CARRIERARR_AGENT_BACKOFF_H_
