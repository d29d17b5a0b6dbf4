#include "core/process_runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string_view>
#include <thread>

#include "core/fd_closer.h"
#include "core/file_util.h"
#include "core/strings.h"

extern char** environ;

namespace carrierarr {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// After SIGKILL a process normally vanishes at once; only one stuck in the kernel (state D) stays.
constexpr milliseconds kKillWait = std::chrono::seconds(5);
// How long StartDaemon waits for a wrapper (`ip netns exec`) to hand over to the program.
constexpr milliseconds kHandoffWait = std::chrono::seconds(3);
constexpr milliseconds kPollStep = milliseconds(2);
constexpr char kRootHint[] =
    "run as root (e.g. with sudo): network namespaces, veth links and bridges need "
    "CAP_NET_ADMIN and CAP_SYS_ADMIN";

// Multi-line output folded into one line for an error message.
std::string OneLine(std::string_view s) {
  std::string out(TrimSpace(s));
  for (size_t pos; (pos = out.find('\n')) != std::string::npos;) out.replace(pos, 1, "; ");
  return out;
}

// The state letter from /proc/PID/stat ('R', 'S', 'D', 'Z', ...), or 0 when there is no process.
char ProcessState(pid_t pid) {
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return 0;
  // "PID (comm) S ...": comm may hold spaces and parentheses, so look after the last ')'.
  size_t paren = stat->rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat->size()) return 0;
  return (*stat)[paren + 2];
}

// Gone: no such process, or a zombie (dead, only waiting for its parent to reap it).
bool ProcessGone(pid_t pid) {
  char state = ProcessState(pid);
  return state == 0 || state == 'Z' || state == 'X';
}

// A pidfd pins one process: signals sent through it can never reach a later process that reused
// the pid. -1 when the kernel has no pidfds (before 5.3) or the process is gone.
int OpenPidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

// Sends `sig` through the pidfd when we have one; 0 on success, else an errno value.
int SendSignal(pid_t pid, int pidfd, int sig) {
#ifdef SYS_pidfd_send_signal
  if (pidfd >= 0) {
    return ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0 ? 0 : errno;
  }
#endif
  (void)pidfd;
  return ::kill(pid, sig) == 0 ? 0 : errno;
}

// Waits until the process is gone or `limit` passes; true when gone. A pidfd turns readable when
// its process exits; without one we poll /proc.
bool WaitGone(pid_t pid, int pidfd, milliseconds limit) {
  const auto deadline = steady_clock::now() + limit;
  for (;;) {
    if (ProcessGone(pid)) return true;
    // Rounded up: poll() takes whole milliseconds, and rounding down would return before `limit`.
    auto left = std::chrono::ceil<milliseconds>(deadline - steady_clock::now());
    if (left.count() <= 0) return false;
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 50)));
      if (n > 0) return true;
    } else {
      std::this_thread::sleep_for(std::min(left, milliseconds(10)));
    }
  }
}

// A descriptor numbered 3 or above. The daemon dup2()s its log and /dev/null onto 0-2; if ours
// already were 0-2 (a caller that closed its standard streams) that dup2 would be a no-op that
// keeps close-on-exec, or would overwrite another of them.
int AboveStdio(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  int err = errno;
  ::close(fd);
  errno = err;
  return high;
}

std::string JoinCmdline(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    out += a;
    out.push_back('\0');
  }
  return out;
}

// The last `max` bytes written to a log after `offset`, folded into one line. Reads only those
// bytes: a daemon's log may be large.
std::string LogTail(const std::string& path, off_t offset, size_t max = 400) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  FdCloser closer(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0 || st.st_size <= offset) return "";
  off_t from = std::max<off_t>(offset, st.st_size - static_cast<off_t>(max));
  std::string buf(static_cast<size_t>(st.st_size - from), '\0');
  ssize_t n = ::pread(fd, buf.data(), buf.size(), from);
  if (n <= 0) return "";
  buf.resize(static_cast<size_t>(n));
  return OneLine(buf);
}

// In the grandchild, after fork: only async-signal-safe calls until execve. Reports a failure as
// errno through `report_fd` (close-on-exec, so a successful exec closes it instead).
[[noreturn]] void ExecDaemon(const char* path, char* const* args, int null_fd, int log_fd,
                             int report_fd) {
  // Ignored signals survive exec and our process ignores SIGPIPE: give the daemon defaults.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  int err = 0;
  if (::dup2(null_fd, 0) < 0 || ::dup2(log_fd, 1) < 0 || ::dup2(log_fd, 2) < 0) err = errno;
  if (err == 0) {
    // Every other descriptor closes on exec (report_fd already does, so a failure can be told).
#if defined(SYS_close_range)
    if (::syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) != 0)
#endif
    {
      for (int fd = 3; fd < 65536; ++fd) {
        if (fd != report_fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      }
    }
    ::execve(path, args, environ);
    err = errno;
  }
  ssize_t ignored = ::write(report_fd, &err, sizeof(err));
  (void)ignored;
  ::_exit(127);
}

// Reads exactly `size` bytes unless EOF comes first or `deadline` passes; the bytes read.
size_t ReadFull(int fd, void* buf, size_t size, steady_clock::time_point deadline) {
  size_t got = 0;
  while (got < size) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    ssize_t r = ::read(fd, static_cast<char*>(buf) + got, size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

// The descriptors a daemon is started with, each numbered 3 or above.
struct DaemonFds {
  int log = -1;              // the log, opened for appending
  int null = -1;             // /dev/null, the daemon's stdin
  int report[2] = {-1, -1};  // the intermediate child and the daemon report through it
  off_t log_start = 0;       // the log's size before the start: where the daemon's output begins
};

// Opens what the daemon gets. On failure, closes what it opened.
Status OpenDaemonFds(const std::string& log_path, DaemonFds& fds) {
  fds.log = AboveStdio(::open(log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (fds.log < 0) {
    int err = errno;
    return Status(
        err == EACCES || err == EPERM ? StatusCode::kPermissionDenied : StatusCode::kNotFound,
        "opening log " + log_path + ": " + ErrnoString(err));
  }
  struct stat log_stat;
  fds.log_start = ::fstat(fds.log, &log_stat) == 0 ? log_stat.st_size : 0;
  fds.null = AboveStdio(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (fds.null < 0) {
    Status s = Status::Internal("opening /dev/null: " + ErrnoString(errno));
    ::close(fds.log);
    return s;
  }
  int report[2];
  if (::pipe2(report, O_CLOEXEC) == 0) {
    fds.report[0] = AboveStdio(report[0]);
    fds.report[1] = AboveStdio(report[1]);
    if (fds.report[0] >= 0 && fds.report[1] >= 0) return Status::Ok();
  }
  Status s = Status::Internal("pipe: " + ErrnoString(errno));
  for (int fd : {fds.log, fds.null, fds.report[0], fds.report[1]}) {
    if (fd >= 0) ::close(fd);
  }
  return s;
}

// Double fork: the intermediate child starts a new session, forks the daemon and exits at once,
// so the daemon is reparented to init and never lingers as our zombie. Returns the daemon's pid
// once it has exec'd `path`. Closes the write end of the report pipe.
Result<pid_t> ForkDaemon(const std::string& path, std::vector<std::string> argv,
                         const DaemonFds& fds, steady_clock::time_point deadline) {
  // Everything the children need is prepared before fork: after it, a multi-threaded parent's
  // child may only make async-signal-safe calls.
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t middle = ::fork();
  if (middle < 0) {
    int err = errno;
    ::close(fds.report[1]);
    return Status::Internal("fork: " + ErrnoString(err));
  }
  if (middle == 0) {
    ::setsid();
    pid_t daemon = ::fork();
    if (daemon == 0) ExecDaemon(path.c_str(), args.data(), fds.null, fds.log, fds.report[1]);
    ssize_t ignored = ::write(fds.report[1], &daemon, sizeof(daemon));
    (void)ignored;
    ::_exit(daemon < 0 ? 1 : 0);
  }
  ::close(fds.report[1]);
  int wstatus = 0;
  while (::waitpid(middle, &wstatus, 0) < 0 && errno == EINTR) {
  }
  pid_t pid = -1;
  if (ReadFull(fds.report[0], &pid, sizeof(pid), deadline) != sizeof(pid) || pid <= 0) {
    return Status::Internal("fork of the daemon failed");
  }
  int exec_err = 0;
  size_t got = ReadFull(fds.report[0], &exec_err, sizeof(exec_err), deadline);
  if (got == sizeof(exec_err))
    return Status::Internal("exec " + path + ": " + ErrnoString(exec_err));
  if (got != 0) return Status::Internal("lost track of the daemon");
  return pid;
}

// The program missing from PATH, as an error that says how to fix it.
Status ProgramMissing(const std::string& name) {
  return Status::NotFound(name +
                          " not found in PATH or not executable; install it or give its full path");
}

}  // namespace

Result<RunResult> RealProcessRunner::Run(const std::vector<std::string>& argv,
                                         const RunOptions& options) {
  return carrierarr::Run(argv, options);
}

Result<pid_t> RealProcessRunner::StartDaemon(const std::vector<std::string>& argv,
                                             const DaemonOptions& options) {
  if (argv.size() <= options.wrapper_args || argv[options.wrapper_args].empty()) {
    return Status::InvalidArgument("starting a daemon: empty command");
  }
  // Checked here because once a wrapper runs, its failures only reach the log.
  const std::string& program = argv[options.wrapper_args];
  if (!FindProgram(program)) return ProgramMissing(program);
  auto path = FindProgram(argv[0]);
  if (!path) return ProgramMissing(argv[0]);

  DaemonFds fds;
  CARRIERARR_RETURN_IF_ERROR(OpenDaemonFds(options.log_path, fds));
  FdCloser log_closer(fds.log), null_closer(fds.null), report_closer(fds.report[0]);
  const auto deadline = steady_clock::now() + kHandoffWait;
  auto pid = ForkDaemon(*path, argv, fds, deadline);
  if (!pid.ok()) return pid;

  // The report pipe closes in the middle of execve, before the kernel has set up the new
  // program's arguments: until then /proc/PID/cmdline reads empty, and a caller looking for its
  // marker would take the daemon for gone. So wait for a non-empty command line; through a
  // wrapper (`ip netns exec`) also for its exec of the program under the same pid, so that the
  // pid is the program's (inside the namespace) when we return.
  const std::string wrapper_cmdline = options.wrapper_args == 0 ? "" : JoinCmdline(argv);
  const std::string proc_cmdline = "/proc/" + std::to_string(*pid) + "/cmdline";
  while (steady_clock::now() < deadline) {
    if (ProcessGone(*pid)) {
      std::string message = "it exited at once";
      std::string tail = LogTail(options.log_path, fds.log_start);
      if (!tail.empty()) message += " (" + tail + ")";
      message += "; see " + options.log_path;
      return Status::FailedPrecondition(message);
    }
    auto cmdline = ReadFile(proc_cmdline);
    if (cmdline.ok() && !cmdline->empty() && *cmdline != wrapper_cmdline) return pid;
    std::this_thread::sleep_for(kPollStep);
  }
  return pid;  // slow to hand over but alive: the pid stays the program's.
}

std::vector<pid_t> RealProcessRunner::ProcessesWithArgs(const std::vector<std::string>& args) {
  std::string needle(1, '\0');
  for (const auto& a : args) needle += a + '\0';
  std::vector<pid_t> out;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return out;
  while (const dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    int64_t pid = std::strtoll(e->d_name, &end, 10);
    if (pid <= 0 || end == e->d_name || *end != '\0' || pid == ::getpid()) continue;
    auto cmdline = ReadFile("/proc/" + std::string(e->d_name) + "/cmdline");
    if (cmdline.ok() && cmdline->find(needle) != std::string::npos)
      out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(dir);
  return out;
}

bool RealProcessRunner::ProcessMatches(pid_t pid, const std::string& marker) {
  if (pid <= 0 || marker.empty() || ProcessGone(pid)) return false;
  auto cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  return cmdline.ok() && CommandLineHasArgs(*cmdline, marker);
}

bool CommandLineHasArgs(std::string_view cmdline, std::string_view marker) {
  if (marker.empty()) return false;
  if (cmdline.ends_with('\0')) cmdline.remove_suffix(1);
  std::string joined(cmdline);
  std::replace(joined.begin(), joined.end(), '\0', ' ');
  for (size_t at = joined.find(marker); at != std::string::npos; at = joined.find(marker, at + 1)) {
    const size_t end = at + marker.size();
    if ((at == 0 || cmdline[at - 1] == '\0') && (end == cmdline.size() || cmdline[end] == '\0'))
      return true;
  }
  return false;
}

Status RealProcessRunner::StopProcess(pid_t pid, const std::string& marker, milliseconds grace) {
  if (marker.empty()) {
    return Status::InvalidArgument("stopping process " + std::to_string(pid) +
                                   ": an empty marker would match any process");
  }
  if (pid <= 0) return Status::Ok();
  const std::string what = "stopping process " + std::to_string(pid) + " (" + marker + ")";
  // Pin the process first, then check it is ours: a pid reused after the check cannot be hit.
  int pidfd = OpenPidfd(pid);
  if (pidfd < 0 && errno == ESRCH) return Status::Ok();
  FdCloser pidfd_closer(pidfd);
  if (!ProcessMatches(pid, marker)) return Status::Ok();  // gone, or the pid is someone else's now
  int err = SendSignal(pid, pidfd, SIGTERM);
  if (err == ESRCH) return Status::Ok();
  if (err != 0) {
    return Status(err == EPERM ? StatusCode::kPermissionDenied : StatusCode::kInternal,
                  what + ": SIGTERM: " + ErrnoString(err) +
                      (err == EPERM ? std::string("; ") + kRootHint : ""));
  }
  if (WaitGone(pid, pidfd, grace)) return Status::Ok();
  err = SendSignal(pid, pidfd, SIGKILL);
  if (err != 0 && err != ESRCH) return Status::Internal(what + ": SIGKILL: " + ErrnoString(err));
  if (WaitGone(pid, pidfd, kKillWait)) return Status::Ok();
  return Status::DeadlineExceeded(what + ": still there " +
                                  std::to_string(kKillWait.count() / 1000) +
                                  " s after SIGKILL; it is probably stuck in the kernel (state D, "
                                  "see `ps -o pid,stat,wchan -p " +
                                  std::to_string(pid) + "`)");
}

std::vector<pid_t> RealProcessRunner::StopAll(const std::vector<pid_t>& pids, milliseconds grace) {
  // pidfds pin the processes so that a pid reused meanwhile is never signalled.
  struct Victim {
    pid_t pid;
    int pidfd;
  };
  std::vector<Victim> victims;
  for (pid_t pid : pids) {
    if (pid == ::getpid()) continue;
    int fd = OpenPidfd(pid);
    if (fd < 0 && errno == ESRCH) continue;
    victims.push_back({pid, fd});
  }
  for (const auto& v : victims) SendSignal(v.pid, v.pidfd, SIGTERM);
  const auto term_deadline = steady_clock::now() + grace;
  for (const auto& v : victims) {
    auto left = std::chrono::ceil<milliseconds>(term_deadline - steady_clock::now());
    if (!WaitGone(v.pid, v.pidfd, std::max(left, milliseconds(0)))) {
      SendSignal(v.pid, v.pidfd, SIGKILL);
    }
  }
  std::vector<pid_t> stuck;
  const auto kill_deadline = steady_clock::now() + kKillWait;
  for (const auto& v : victims) {
    auto left = std::chrono::ceil<milliseconds>(kill_deadline - steady_clock::now());
    if (!WaitGone(v.pid, v.pidfd, std::max(left, milliseconds(0)))) stuck.push_back(v.pid);
    if (v.pidfd >= 0) ::close(v.pidfd);
  }
  return stuck;
}

RealProcessRunner* RealProcessRunner::Get() {
  static auto* runner = new RealProcessRunner();  // never destroyed: used by detached threads
  return runner;
}

}  // namespace carrierarr
