// Small, careful file helpers. Every file carrierarr writes goes through WriteFileAtomic so that a
// crash never leaves a half-written key, certificate or state file behind.
#ifndef CARRIERARR_CORE_FILE_UTIL_H_
#define CARRIERARR_CORE_FILE_UTIL_H_

#include <sys/types.h>

#include <string>
#include <string_view>

#include "core/status.h"

namespace carrierarr {

// Reads the whole file. Errors read like Go's: "open PATH: no such file or directory".
Result<std::string> ReadFile(const std::string& path);

enum class Overwrite { kNo, kYes };

// Writes `data` to `path` atomically: a temporary file in the same directory is written, fsynced,
// given `mode` (before any byte lands in it) and then renamed over `path` (Overwrite::kYes) or
// hard-linked to it (Overwrite::kNo, which fails with kAlreadyExists if `path` exists, without a
// check-then-act race). The directory is fsynced afterwards. The umask does not apply.
Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode,
                       Overwrite overwrite = Overwrite::kYes);

bool PathExists(const std::string& path);

// "no such file or directory" for ENOENT: strerror, lowercased like Go's syscall errors.
std::string ErrnoString(int err);

}  // namespace carrierarr

#endif  // CARRIERARR_CORE_FILE_UTIL_H_
