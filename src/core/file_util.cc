#include "core/file_util.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "core/fd_closer.h"

namespace carrierarr {
namespace {

Status ErrnoStatus(int err, const std::string& what) {
  StatusCode code = StatusCode::kInternal;
  if (err == ENOENT) code = StatusCode::kNotFound;
  if (err == EEXIST) code = StatusCode::kAlreadyExists;
  if (err == EACCES || err == EPERM) code = StatusCode::kPermissionDenied;
  return {code, what + ": " + ErrnoString(err)};
}

std::string DirName(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

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

Status MakeDirectory(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) == 0 || errno == EEXIST) return Status::Ok();
  const int err = errno;
  return Status(
      err == EACCES || err == EPERM ? StatusCode::kPermissionDenied : StatusCode::kInternal,
      "cannot create " + path + ": " + ErrnoString(err));
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
  return WriteFilesAtomic({{path, data, mode}}, overwrite);
}

Status WriteFilesAtomic(const std::vector<FileToWrite>& files, Overwrite overwrite, size_t* failed,
                        SyncDirectory sync) {
  std::vector<std::string> temps;
  std::vector<int> fds;  // open temporary files, closed by `close_all`
  auto close_all = [&] {
    for (int fd : fds) ::close(fd);
    fds.clear();
  };
  auto fail = [&](Status s) {
    close_all();
    for (const auto& t : temps) ::unlink(t.c_str());
    return s;
  };
  for (const auto& f : files) {
    if (failed != nullptr) *failed = temps.size();
    if (overwrite == Overwrite::kNo && PathExists(f.path)) {
      return fail(Status::AlreadyExists("open " + f.path + ": file exists"));
    }
    std::string tmp = f.path + ".tmp-XXXXXX";
    int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0) return fail(ErrnoStatus(errno, "create temporary file in " + DirName(f.path)));
    temps.push_back(tmp);
    fds.push_back(fd);
    // mkostemp creates the file 0600; set the final mode before writing any byte.
    if (::fchmod(fd, f.mode) != 0) return fail(ErrnoStatus(errno, "chmod " + tmp));
    if (Status s = WriteAll(fd, f.data, tmp); !s.ok()) return fail(s);
    // Start writing the data back now, so the files' writebacks overlap and the fsyncs below
    // mostly share one journal commit instead of paying for one each.
    ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  }
  for (size_t i = 0; i < fds.size(); ++i) {
    if (failed != nullptr) *failed = i;
    if (::fsync(fds[i]) != 0) return fail(ErrnoStatus(errno, "fsync " + temps[i]));
  }
  close_all();
  std::vector<std::string> placed;
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string& path = files[i].path;
    if (failed != nullptr) *failed = i;
    int rc = overwrite == Overwrite::kYes
                 ? ::rename(temps[i].c_str(), path.c_str())
                 // link(2) refuses an existing target atomically, unlike stat() then rename().
                 : ::link(temps[i].c_str(), path.c_str());
    if (rc != 0) {
      Status s = ErrnoStatus(errno, (overwrite == Overwrite::kYes ? "rename " : "open ") + path);
      for (const auto& p : placed) ::unlink(p.c_str());
      return fail(s);
    }
    placed.push_back(path);
  }
  if (overwrite == Overwrite::kNo) {
    for (const auto& t : temps) ::unlink(t.c_str());
  }
  std::vector<std::string> dirs;
  for (const auto& f : files) {
    if (sync == SyncDirectory::kNo) break;
    std::string dir = DirName(f.path);
    if (std::find(dirs.begin(), dirs.end(), dir) != dirs.end()) continue;
    dirs.push_back(dir);
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);  // best effort: some filesystems refuse fsync on directories
      ::close(dfd);
    }
  }
  return Status::Ok();
}

bool UnixSocketAccepts(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  FdCloser closer(fd);
  return ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

}  // namespace carrierarr
