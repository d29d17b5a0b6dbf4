#include "testing/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "core/file_util.h"

extern char** environ;

namespace carrierarr::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Reads what is there without blocking; closes and forgets `fd` at EOF.
void Drain(int& fd, std::string& into) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      into.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    ::close(fd);  // EOF, or an error we cannot do better with
    fd = -1;
    return;
  }
}

}  // namespace

std::string DescribeWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return "exit " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return "signal " + std::to_string(WTERMSIG(wait_status));
  return "wait status " + std::to_string(wait_status);
}

StreamingProcess::~StreamingProcess() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    // SIGKILL ends it at once unless it is stuck in the kernel; bounded all the same.
    const auto deadline = steady_clock::now() + std::chrono::seconds(10);
    while (steady_clock::now() < deadline) {
      pid_t r = ::waitpid(pid_, &wait_status_, WNOHANG);
      if (r == pid_ || (r < 0 && errno != EINTR)) break;
      std::this_thread::sleep_for(milliseconds(5));
    }
  }
  if (out_fd_ >= 0) ::close(out_fd_);
  if (err_fd_ >= 0) ::close(err_fd_);
}

Status StreamingProcess::Start(const std::vector<std::string>& argv, const std::string& dir) {
  if (pid_ > 0) return Status::FailedPrecondition("already started");
  if (argv.empty()) return Status::InvalidArgument("empty argv");
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return Status::Internal("pipe: " + ErrnoString(errno));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    int err = errno;
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return Status::Internal("pipe: " + ErrnoString(err));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  if (!dir.empty()) posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  // The child gets default signal handling and an empty mask, whatever the test runner set.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> args;
  std::vector<std::string> copy = argv;
  for (auto& a : copy) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, copy[0].c_str(), &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return Status::Internal("posix_spawn " + argv[0] + ": " + ErrnoString(rc));
  }
  pid_ = pid;
  out_fd_ = out_pipe[0];
  err_fd_ = err_pipe[0];
  ::fcntl(out_fd_, F_SETFL, ::fcntl(out_fd_, F_GETFL) | O_NONBLOCK);
  ::fcntl(err_fd_, F_SETFL, ::fcntl(err_fd_, F_GETFL) | O_NONBLOCK);
  return Status::Ok();
}

void StreamingProcess::Pump(milliseconds timeout) {
  pollfd fds[2];
  int n = 0;
  if (out_fd_ >= 0) fds[n++] = {out_fd_, POLLIN, 0};
  if (err_fd_ >= 0) fds[n++] = {err_fd_, POLLIN, 0};
  if (n == 0) return;
  int ready = ::poll(fds, static_cast<nfds_t>(n), static_cast<int>(timeout.count()));
  if (ready <= 0) return;
  for (int i = 0; i < n; ++i) {
    if (fds[i].revents == 0) continue;
    if (fds[i].fd == out_fd_) {
      Drain(out_fd_, out_);
    } else {
      Drain(err_fd_, err_);
    }
  }
}

std::optional<std::string> StreamingProcess::ReadLine(milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  for (;;) {
    size_t nl = out_.find('\n');
    if (nl != std::string::npos) {
      std::string line = out_.substr(0, nl);
      out_.erase(0, nl + 1);
      return line;
    }
    if (out_fd_ < 0) return std::nullopt;  // EOF: a last line without '\n' stays in out_
    auto left = std::chrono::ceil<milliseconds>(deadline - steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    Pump(std::min(left, milliseconds(100)));
  }
}

bool StreamingProcess::Signal(int sig) {
  if (pid_ <= 0 || reaped_) return false;
  return ::kill(pid_, sig) == 0;
}

std::optional<int> StreamingProcess::Wait(milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  const auto deadline = steady_clock::now() + timeout;
  while (!reaped_) {
    // Keep the pipes drained, or a chatty child blocks on a full pipe and never exits.
    Pump(milliseconds(0));
    pid_t r = ::waitpid(pid_, &wait_status_, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      break;
    }
    if (r < 0 && errno != EINTR) return std::nullopt;
    if (steady_clock::now() >= deadline) return std::nullopt;
    Pump(milliseconds(5));
    if (out_fd_ < 0 && err_fd_ < 0) std::this_thread::sleep_for(milliseconds(2));
  }
  // The child is gone; what it wrote is still in the pipes. A grandchild may hold them open, so
  // this is bounded too.
  const auto drained = std::min(deadline, steady_clock::now() + std::chrono::seconds(2));
  while ((out_fd_ >= 0 || err_fd_ >= 0) && steady_clock::now() < drained) {
    Pump(milliseconds(20));
  }
  return wait_status_;
}

}  // namespace carrierarr::testing
