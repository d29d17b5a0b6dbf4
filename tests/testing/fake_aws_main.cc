// carrierarr-fake-aws: FakeAws (fake_aws.h) as a program, for the acceptance suite, the
// round-trip benchmark and trying `carrierarr up` against AWS without an account. Loopback only.
//
//   carrierarr-fake-aws [--listen 127.0.0.1:PORT] [--latency 20ms] [--quota CODE=VALUE]...
//                       [--pending-describes N] [--stats-file PATH]
// Prints "endpoint http://127.0.0.1:PORT" once ready; runs until SIGINT or SIGTERM, then writes
// the calls by action as JSON to --stats-file.
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "testing/fake_aws.h"

namespace {

int Usage(const std::string& problem) {
  std::cerr << "carrierarr-fake-aws: " << problem
            << "\nusage: carrierarr-fake-aws [--listen 127.0.0.1:PORT] [--latency MSms] "
               "[--quota CODE=VALUE]... [--pending-describes N] [--stats-file PATH]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  carrierarr::testing::FakeAws::Options options;
  std::string stats_file;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag.rfind("--", 0) != 0 || i + 1 >= argc) return Usage("bad argument " + flag);
    std::string value = argv[++i];
    if (flag == "--listen") {
      if (value.rfind("127.0.0.1:", 0) != 0)
        return Usage("--listen must be 127.0.0.1:PORT (loopback only)");
      options.port = static_cast<uint16_t>(std::atoi(value.c_str() + 10));
    } else if (flag == "--latency") {
      options.latency = std::chrono::milliseconds(std::atoi(value.c_str()));
    } else if (flag == "--quota") {
      size_t eq = value.find('=');
      if (eq == std::string::npos) return Usage("--quota takes CODE=VALUE");
      options.quotas[value.substr(0, eq)] = std::atof(value.c_str() + eq + 1);
    } else if (flag == "--pending-describes") {
      options.pending_describes = std::atoi(value.c_str());
    } else if (flag == "--stats-file") {
      stats_file = value;
    } else {
      return Usage("unknown flag " + flag);
    }
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // the server's threads inherit the mask
  auto fake = carrierarr::testing::FakeAws::Start(options);
  if (!fake.ok()) {
    std::cerr << "carrierarr-fake-aws: " << fake.status().ToString() << "\n";
    return 1;
  }
  std::cout << "endpoint " << (*fake)->endpoint() << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  (*fake)->Stop();
  if (!stats_file.empty()) {
    nlohmann::json j{{"calls", (*fake)->calls()},
                     {"calls_by_action", (*fake)->CallsByAction()},
                     {"max_in_flight", (*fake)->max_in_flight()}};
    std::ofstream(stats_file) << j.dump(2) << "\n";
  }
  return 0;
}
