// Durations written the way Go's time.ParseDuration reads them ("8760h", "1h30m", "90s", "1.5h"),
// so every `-duration` the seeds pass to nebula-cert means the same thing to carrierarr.
#ifndef CARRIERARR_CORE_DURATION_H_
#define CARRIERARR_CORE_DURATION_H_

#include <chrono>
#include <string>
#include <string_view>

#include "core/status.h"

namespace carrierarr {

// Units: ns, us (or µs), ms, s, m, h; a sign is allowed; "0" alone is zero. Overflow is an error.
Result<std::chrono::nanoseconds> ParseGoDuration(std::string_view s);

// Go's Duration.String(): "8760h0m0s", "1.5s", "0s".
std::string FormatGoDuration(std::chrono::nanoseconds d);

}  // namespace carrierarr

#endif  // CARRIERARR_CORE_DURATION_H_
