#include "core/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "core/fd_closer.h"
#include "core/file_util.h"

extern char** environ;

namespace carrierarr {
namespace {

struct Pipe {
  int read_fd = -1;
  int write_fd = -1;
  Status Open() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return Status::Internal("pipe: " + ErrnoString(errno));
    read_fd = fds[0];
    write_fd = fds[1];
    return Status::Ok();
  }
  void CloseRead() {
    if (read_fd >= 0) ::close(read_fd);
    read_fd = -1;
  }
  void CloseWrite() {
    if (write_fd >= 0) ::close(write_fd);
    write_fd = -1;
  }
  ~Pipe() {
    CloseRead();
    CloseWrite();
  }
};

// Our environment with options.extra_env added; extra_env replaces inherited entries of the same
// name: getenv() (and Go) take the first. The pointers live as long as environ and `options`.
std::vector<char*> ChildEnvironment(const RunOptions& options) {
  auto overridden = [&options](std::string_view entry) {
    std::string_view name = entry.substr(0, entry.find('='));
    for (const auto& e : options.extra_env) {
      if (e.size() > name.size() && e[name.size()] == '=' && e.compare(0, name.size(), name) == 0) {
        return true;
      }
    }
    return false;
  };
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!overridden(*e)) env.push_back(*e);
  }
  for (const auto& e : options.extra_env) env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);
  return env;
}

// Starts argv with the pipes as its standard streams; its pid.
Result<pid_t> Spawn(const std::vector<std::string>& argv, const RunOptions& options, const Pipe& in,
                    const Pipe& out, const Pipe& err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.read_fd, 0);
  posix_spawn_file_actions_adddup2(&actions, out.write_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err.write_fd, 2);
  if (!options.working_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(&actions, options.working_dir.c_str());
  }

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env = ChildEnvironment(options);

  // A child that exits early must not kill us with SIGPIPE while we feed its stdin: we ignore the
  // signal process-wide (EPIPE is handled) and give the child the default disposition back.
  static const bool sigpipe_ignored = [] { return ::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
  (void)sigpipe_ignored;
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  // Daemons block SIGTERM/SIGINT in every thread to sigwait for them; the child must not
  // inherit that mask, or it could not be stopped.
  sigset_t unblocked;
  sigemptyset(&unblocked);
  posix_spawnattr_setsigmask(&attr, &unblocked);
  int16_t flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
  if (options.new_process_group) {
    posix_spawnattr_setpgroup(&attr, 0);  // a group of its own, led by the child
    flags |= POSIX_SPAWN_SETPGROUP;
  }
  posix_spawnattr_setflags(&attr, flags);

  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argv[0].c_str(), &actions, &attr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status::NotFound("cannot run " + argv[0] + ": " + ErrnoString(rc));
  return pid;
}

using Clock = std::chrono::steady_clock;

// How long output still in the pipes is read after the child exited: what it wrote is there
// already; a background process that keeps writing is not waited for.
constexpr std::chrono::milliseconds kDrainAfterExit(100);
// Where the kernel offers no pidfd (or no eventfd for a CancelSignal): how often to look.
constexpr std::chrono::milliseconds kPollTick(50);

// The child's exit as a descriptor poll() can wait on (Linux 5.3+); -1 where there is none.
int OpenPidFd(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// True once `pid` has exited; it stays unreaped (Run's waitpid collects it).
bool HasExited(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

// Waits up to `d` for `pid` to exit; true when it did.
bool WaitExited(pid_t pid, int pidfd, std::chrono::milliseconds d) {
  const auto deadline = Clock::now() + d;
  while (!HasExited(pid)) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{.fd = pidfd, .events = POLLIN, .revents = 0};
    ::poll(&p, pidfd >= 0 ? 1 : 0, static_cast<int>(std::min(left, kPollTick).count()));
  }
  return true;
}

// Timeout or cancel: SIGTERM and a grace period (when one is set), then SIGKILL; to the whole
// process group when the child leads one (the leader is not reaped yet, so the group id is
// still ours to signal).
void KillChild(pid_t pid, int pidfd, const RunOptions& options) {
  const pid_t target = options.new_process_group ? -pid : pid;
  if (options.kill_grace.count() > 0) {
    ::kill(target, SIGTERM);
    WaitExited(pid, pidfd, options.kill_grace);
  }
  ::kill(target, SIGKILL);
}

// Appends what fits under `max` to `sink` and counts the rest in `dropped`.
void Keep(std::string& sink, size_t& dropped, size_t max, const char* data, size_t n) {
  const size_t room = sink.size() < max ? max - sink.size() : 0;
  const size_t take = std::min(room, n);
  sink.append(data, take);
  dropped += n - take;
}

// Feeds `stdin_data` to the child and collects its output until it exited (and what it wrote
// is read) or the timeout passes or the cancel signal fires (then the child is killed and
// result.timed_out or result.cancelled set).
void Exchange(pid_t pid, const RunOptions& options, Pipe& in, Pipe& out, Pipe& err,
              RunResult& result) {
  std::string_view to_write = options.stdin_data;
  if (to_write.empty()) in.CloseWrite();
  if (in.write_fd >= 0) ::fcntl(in.write_fd, F_SETFL, O_NONBLOCK);
  const int pidfd = OpenPidFd(pid);
  FdCloser pidfd_closer(pidfd);
  const int cancel_fd = options.cancel != nullptr ? options.cancel->fd() : -1;
  const bool tick = pidfd < 0 || (options.cancel != nullptr && cancel_fd < 0);

  const auto deadline = Clock::now() + options.timeout;
  bool exited = false;
  Clock::time_point drain_until = Clock::time_point::max();
  char buf[16384];
  for (;;) {
    if (options.cancel != nullptr && options.cancel->cancelled()) {
      result.cancelled = true;
      KillChild(pid, pidfd, options);
      break;
    }
    const auto now = Clock::now();
    if (now >= deadline) {
      result.timed_out = true;
      KillChild(pid, pidfd, options);
      break;
    }
    const bool pipes_open = out.read_fd >= 0 || err.read_fd >= 0;
    if (exited && (!pipes_open || now >= drain_until)) break;
    pollfd fds[5];
    nfds_t n = 0;
    auto add = [&](int fd, int16_t events) {
      if (fd < 0) return -1;
      fds[n] = {fd, events, 0};
      return static_cast<int>(n++);
    };
    const int out_i = add(out.read_fd, POLLIN);
    const int err_i = add(err.read_fd, POLLIN);
    const int in_i = add(in.write_fd, POLLOUT);
    const int pid_i = add(exited ? -1 : pidfd, POLLIN);
    add(cancel_fd, POLLIN);
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
    if (tick) left = std::min(left, kPollTick);
    if (exited) left = std::chrono::milliseconds(0);  // only what is there already
    int ready = ::poll(fds, n, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) break;
    if (!exited && ((pid_i >= 0 && fds[pid_i].revents != 0) || (pidfd < 0 && HasExited(pid)))) {
      exited = true;
      drain_until = Clock::now() + kDrainAfterExit;
      in.CloseWrite();
    }
    if (ready <= 0) {
      if (exited) break;  // nothing more in the pipes
      continue;
    }
    auto drain = [&](int i, Pipe& p, std::string& sink, size_t& dropped) {
      if (i < 0 || fds[i].revents == 0) return;
      ssize_t got = ::read(p.read_fd, buf, sizeof(buf));
      if (got > 0) {
        Keep(sink, dropped, options.max_output_bytes, buf, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        p.CloseRead();
      }
    };
    drain(out_i, out, result.out, result.out_dropped);
    drain(err_i, err, result.err, result.err_dropped);
    if (in_i >= 0 && in.write_fd >= 0 && fds[in_i].revents != 0) {
      ssize_t put = ::write(in.write_fd, to_write.data(), to_write.size());
      if (put > 0) to_write.remove_prefix(static_cast<size_t>(put));
      if (put < 0 && errno != EAGAIN && errno != EINTR) to_write = {};
      if (to_write.empty()) in.CloseWrite();
    }
  }
  in.CloseWrite();
}

}  // namespace

CancelSignal::CancelSignal() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

CancelSignal::~CancelSignal() {
  if (fd_ >= 0) ::close(fd_);
}

void CancelSignal::Cancel() {
  cancelled_.store(true);
  if (fd_ < 0) return;
  const uint64_t one = 1;
  // An eventfd write of 1 cannot block or fail short of overflow; retry only interruptions.
  while (::write(fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

bool CancelSignal::cancelled() const { return cancelled_.load(); }

Result<RunResult> Run(const std::vector<std::string>& argv, const RunOptions& options) {
  if (argv.empty()) return Status::InvalidArgument("Run: empty argv");
  Pipe in, out, err;
  CARRIERARR_RETURN_IF_ERROR(in.Open());
  CARRIERARR_RETURN_IF_ERROR(out.Open());
  CARRIERARR_RETURN_IF_ERROR(err.Open());
  auto pid = Spawn(argv, options, in, out, err);
  if (!pid.ok()) return pid.status();
  in.CloseRead();
  out.CloseWrite();
  err.CloseWrite();

  RunResult result;
  Exchange(*pid, options, in, out, err, result);
  int wstatus = 0;
  while (::waitpid(*pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(wstatus)) {
    result.exit_code = WEXITSTATUS(wstatus);
  } else if (WIFSIGNALED(wstatus)) {
    result.signaled = true;
    result.signal = WTERMSIG(wstatus);
  }
  return result;
}

std::optional<std::string> FindProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) == 0) return name;
    return std::nullopt;
  }
  const char* path = ::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    size_t colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    if (colon == std::string_view::npos) return std::nullopt;
    dirs.remove_prefix(colon + 1);
  }
}

std::optional<std::string> FindOwnProgram(const std::string& name) {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string path(self, static_cast<size_t>(n));
    path = path.substr(0, path.rfind('/') + 1) + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return FindProgram(name);
}

}  // namespace carrierarr
