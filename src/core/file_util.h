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

// Whether WriteFilesAtomic also fsyncs the directories, making the new names durable at once.
// Without it the content is still durable before a name appears (never a half-written file);
// the name follows with the filesystem's next journal commit, so a power cut in that window
// loses the new file whole.
// True when something accepts connections on the unix socket at `path` (a live server; a
// socket file left by a dead one refuses).
bool UnixSocketAccepts(const std::string& path);

enum class SyncDirectory { kYes, kNo };

// Writes several files as one: every temporary file is written and fsynced first (their
// writebacks overlap, so the fsyncs mostly share one journal commit), then all are put in place,
// then each directory is fsynced once. With Overwrite::kNo it is all or nothing: when one file
// cannot be placed, the ones this call placed are removed again and the error names the failing
// path; its index in `files` goes to `*failed` when given.
Status WriteFilesAtomic(const std::vector<FileToWrite>& files, Overwrite overwrite,
                        size_t* failed = nullptr, SyncDirectory sync = SyncDirectory::kYes);

bool PathExists(const std::string& path);

// mkdir with `mode` (0700 for directories holding secrets); a directory already there is kept as
// it is. The error names the path.
Status MakeDirectory(const std::string& path, mode_t mode);

// "no such file or directory" for ENOENT: strerror, lowercased like Go's syscall errors.
std::string ErrnoString(int err);

}  // namespace carrierarr

#endif  // CARRIERARR_CORE_FILE_UTIL_H_
