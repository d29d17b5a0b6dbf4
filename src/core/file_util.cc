#include "core/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace carrierarr {
namespace {

Status ErrnoStatus(int err, const std::string& what) {
  std::string message = what + ": " + ErrnoString(err);
  switch (err) {
    case ENOENT:
      return Status::NotFound(message);
    case EEXIST:
      return Status::AlreadyExists(message);
    case EACCES:
    case EPERM:
      return Status::PermissionDenied(message);
    default:
      return Status::Internal(message);
  }
}

std::string DirName(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Closes the descriptor on scope exit; the owner of an open fd in this file.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write " + path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

}  // namespace

std::string ErrnoString(int err) {
  std::string s = std::strerror(err);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

Result<std::string> ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open " + path);
  FdCloser closer(fd);
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read " + path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode,
                       Overwrite overwrite) {
  if (overwrite == Overwrite::kNo && PathExists(path)) {
    return Status::AlreadyExists("open " + path + ": file exists");
  }
  std::string dir = DirName(path);
  std::string tmp = path + ".tmp-XXXXXX";
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "create temporary file in " + dir);
  FdCloser closer(fd);
  auto fail = [&](Status s) {
    ::unlink(tmp.c_str());
    return s;
  };
  // mkostemp creates the file 0600; set the final mode before writing any byte.
  if (::fchmod(fd, mode) != 0) return fail(ErrnoStatus(errno, "chmod " + tmp));
  if (Status s = WriteAll(fd, data, tmp); !s.ok()) return fail(s);
  if (::fsync(fd) != 0) return fail(ErrnoStatus(errno, "fsync " + tmp));
  if (::close(closer.Release()) != 0) return fail(ErrnoStatus(errno, "close " + tmp));

  if (overwrite == Overwrite::kYes) {
    if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(ErrnoStatus(errno, "rename " + path));
  } else {
    // link(2) refuses an existing target atomically, unlike a stat() check before rename().
    if (::link(tmp.c_str(), path.c_str()) != 0) return fail(ErrnoStatus(errno, "open " + path));
    ::unlink(tmp.c_str());
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // best effort: some filesystems refuse fsync on directories
    ::close(dfd);
  }
  return Status::Ok();
}

}  // namespace carrierarr
