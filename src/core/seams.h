// The outside world as one value: time, processes, the environment (and the command line's
// overrides of provider settings, which must reach every provider a command makes). Made once at a
// program's edge (main: Seams::FromProcess()) and handed down, so nothing below the CLI reads a
// clock, starts a program or calls getenv() on its own; tests hand in a SimulatedTimeSource, a
// FakeProcessRunner and an Environment they wrote. The pointers are not owned: they outlive
// every holder of the Seams.
#ifndef CARRIERARR_CORE_SEAMS_H_
#define CARRIERARR_CORE_SEAMS_H_

#include <map>
#include <string>

#include "core/environment.h"
#include "core/process_runner.h"
#include "core/time_source.h"

namespace carrierarr {

struct Seams {
  TimeSource* time = RealTimeSource::Get();
  ProcessRunner* processes = RealProcessRunner::Get();
  Environment environment;  // a snapshot; empty unless made by FromProcess or a test
  // Command-line choices that beat a provider's settings in fleet.yaml and in the recorded
  // state, by "<provider>.<setting>" (the AWS provider names its keys); set by the CLI.
  std::map<std::string, std::string> overrides;

  // The real clocks and processes, and this process's environment as it is now.
  static Seams FromProcess() { return Seams{.environment = Environment::FromProcess()}; }
};

}  // namespace carrierarr

#endif  // CARRIERARR_CORE_SEAMS_H_
