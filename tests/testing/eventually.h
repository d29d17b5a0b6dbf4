// Waiting in tests for a condition that nobody signals (another thread's progress, a server
// coming up): polls, bounded in time, so a test that would hang fails instead.
#ifndef CARRIERARR_TESTS_TESTING_EVENTUALLY_H_
#define CARRIERARR_TESTS_TESTING_EVENTUALLY_H_

#include <chrono>
#include <thread>

namespace carrierarr::testing {

// True as soon as pred() holds; false once `timeout` passed without it. Checks every `every`.
template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(5),
                std::chrono::milliseconds every = std::chrono::milliseconds(10)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(every);
  }
  return true;
}

}  // namespace carrierarr::testing

#endif  // CARRIERARR_TESTS_TESTING_EVENTUALLY_H_
