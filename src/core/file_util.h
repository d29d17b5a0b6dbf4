// Small, careful file helpers. Every file carrierarr writes goes through WriteFileAtomic so that a
// crash never leaves a half-written key, certificate or state file behind.
#ifndef CARRIERARR_CORE_FILE_UTIL_H_
#define CARRIERARR_CORE_FILE_UTIL_H_

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

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

struct FileToWrite {
  std::string path;
  std::string_view data;
  mode_t mode = 0600;
};

// Writes several files as one: every temporary file is written and fsynced first, then all are
// put in place, then each directory is fsynced once (so a key and its certificate cost three
// fsyncs, not four). With Overwrite::kNo it is all or nothing: when one file cannot be placed,
// the ones this call placed are removed again and the error names the failing path; its index in
// `files` goes to `*failed` when given.
Status WriteFilesAtomic(const std::vector<FileToWrite>& files, Overwrite overwrite,
                        size_t* failed = nullptr);

bool PathExists(const std::string& path);

// "no such file or directory" for ENOENT: strerror, lowercased like Go's syscall errors.
std::string ErrnoString(int err);

}  // namespace carrierarr

#endif  // CARRIERARR_CORE_FILE_UTIL_H_
