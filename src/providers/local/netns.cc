#include "providers/local/netns.h"

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
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <thread>

#include "core/fd_closer.h"
#include "core/file_util.h"
#include "core/strings.h"
#include "core/subprocess.h"

extern char** environ;

namespace carrierarr::local {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr char kNetnsDir[] = "/run/netns";
// `ip` talks to the kernel over netlink and finishes in milliseconds; a hung one is a bug.
constexpr milliseconds kIpTimeout = std::chrono::seconds(10);
// After SIGKILL a process normally vanishes at once; only one stuck in the kernel (state D) stays.
constexpr milliseconds kKillWait = std::chrono::seconds(5);
// How long StartInNamespace waits for `ip netns exec` to hand over to the program.
constexpr milliseconds kHandoffWait = std::chrono::seconds(3);
constexpr milliseconds kPollStep = milliseconds(2);
constexpr char kRootHint[] =
    "run as root (e.g. with sudo): network namespaces, veth links and bridges need "
    "CAP_NET_ADMIN and CAP_SYS_ADMIN";

// Names are passed to `ip` as single argv entries, but one starting with '-' would still be read
// as an option, and '/' would escape /run/netns: allow a conservative character set only.
bool ValidName(std::string_view s, size_t max_len) {
  if (s.empty() || s.size() > max_len || s == "." || s == ".." || s[0] == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

Status CheckNamespaceName(const std::string& ns) {
  if (ValidName(ns, 64)) return Status::Ok();
  return Status::InvalidArgument("invalid network namespace name \"" + ns +
                                 "\": use 1-64 letters, digits, '-', '_' or '.', not starting "
                                 "with '-'");
}

Status CheckDeviceName(const std::string& dev) {
  if (ValidName(dev, 15)) return Status::Ok();
  return Status::InvalidArgument("invalid interface name \"" + dev +
                                 "\": use 1-15 letters, digits, '-', '_' or '.' (the kernel "
                                 "limit is 15 characters), not starting with '-'");
}

// Multi-line tool output folded into one line for an error message.
std::string OneLine(std::string_view s) {
  std::string out(TrimSpace(s));
  for (size_t pos; (pos = out.find('\n')) != std::string::npos;) out.replace(pos, 1, "; ");
  return out;
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Turns a failed `ip` run into a Status that says what failed and, where we know, how to fix it.
Status IpFailure(const std::string& what, const RunResult& r) {
  if (r.timed_out) {
    return Status::DeadlineExceeded(what + ": `ip` did not finish within " +
                                    std::to_string(kIpTimeout.count() / 1000) +
                                    " s; check `dmesg` for a stuck network driver and retry");
  }
  std::string err = OneLine(r.err.empty() ? r.out : r.err);
  if (err.empty()) {
    err = r.signaled ? "ip was killed by signal " + std::to_string(r.signal)
                     : "ip exited with status " + std::to_string(r.exit_code);
  }
  std::string message = what + ": " + err;
  if (Contains(err, "Operation not permitted") || Contains(err, "Permission denied")) {
    return Status::PermissionDenied(message + "; " + kRootHint);
  }
  if (Contains(err, "Cannot open network namespace")) {
    return Status::NotFound(message + "; create the namespace first");
  }
  if (Contains(err, "does not exist") || Contains(err, "Cannot find device")) {
    return Status::NotFound(message);
  }
  if (Contains(err, "File exists")) return Status::AlreadyExists(message);
  if (Contains(err, "not supported") || Contains(err, "Unknown device type")) {
    return Status::FailedPrecondition(message +
                                      "; the kernel lacks veth or bridge support (modprobe veth "
                                      "bridge)");
  }
  return Status::Internal(message);
}

// Runs `ip ARGS...`. Fails only when `ip` cannot be started; check exit_code for the rest.
Result<RunResult> RunIp(std::vector<std::string> args) {
  args.insert(args.begin(), "ip");
  RunOptions options;
  options.timeout = kIpTimeout;
  auto r = Run(args, options);
  if (!r.ok()) {
    return Status::FailedPrecondition(r.status().message() +
                                      "; install iproute2 (apt-get install iproute2) and make "
                                      "sure `ip` is in PATH");
  }
  return r;
}

// Runs `ip ARGS...` and maps a non-zero exit to an error that starts with `what`.
Status RunIpOk(std::vector<std::string> args, const std::string& what) {
  auto r = RunIp(std::move(args));
  if (!r.ok()) return r.status().WithPrefix(what);
  if (r->exit_code != 0 || r->signaled || r->timed_out) return IpFailure(what, *r);
  return Status::Ok();
}

// Deletes link `dev` in `ns`; a link that is already gone is fine. A veth whose peer's namespace
// was just deleted vanishes asynchronously (the kernel tears namespaces down in a work queue), so
// the link seen a moment ago may be gone by the time it is deleted.
Status DeleteLinkIfPresent(const std::string& ns, const std::string& dev, const std::string& what) {
  auto r = RunIp({"-n", ns, "link", "del", "dev", dev});
  if (!r.ok()) return r.status().WithPrefix(what);
  if (r->exit_code == 0 || Contains(r->err, "Cannot find device")) return Status::Ok();
  return IpFailure(what, *r);
}

// The value of the first "key": in a JSON text as raw text (strings unquoted), or nullopt. Enough
// for the flat fields of `ip -j link show`; interface names cannot contain quotes (ValidName).
std::optional<std::string> JsonField(std::string_view json, std::string_view key) {
  std::string needle = "\"" + std::string(key) + "\":";
  size_t pos = json.find(needle);
  if (pos == std::string_view::npos) return std::nullopt;
  std::string_view rest = json.substr(pos + needle.size());
  if (!rest.empty() && rest[0] == '"') {
    size_t end = rest.find('"', 1);
    if (end == std::string_view::npos) return std::nullopt;
    return std::string(rest.substr(1, end - 1));
  }
  size_t end = 0;
  while (end < rest.size() && (rest[end] == '-' || (rest[end] >= '0' && rest[end] <= '9'))) ++end;
  if (end == 0) return std::nullopt;
  return std::string(rest.substr(0, end));
}

int JsonInt(std::string_view json, std::string_view key) {
  auto v = JsonField(json, key);
  return v ? std::atoi(v->c_str()) : 0;
}

// What we need to know about one link.
struct LinkInfo {
  int ifindex = 0;
  int peer_ifindex = 0;  // a veth's other end, an ifindex in the peer's namespace (0: unknown)
  std::string kind;      // "veth", "bridge", ...
  std::string master;    // the bridge it is plugged into, if any
};

// The link `dev` in `ns`, nullopt when there is none.
Result<std::optional<LinkInfo>> GetLink(const std::string& ns, const std::string& dev) {
  auto r = RunIp({"-n", ns, "-d", "-j", "link", "show", "dev", dev});
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    if (Contains(r->err, "does not exist")) return std::optional<LinkInfo>();
    return IpFailure("reading link " + dev + " in network namespace " + ns, *r);
  }
  LinkInfo info;
  info.ifindex = JsonInt(r->out, "ifindex");
  info.peer_ifindex = JsonInt(r->out, "link_index");
  info.kind = JsonField(r->out, "info_kind").value_or("");
  info.master = JsonField(r->out, "master").value_or("");
  return std::optional<LinkInfo>(info);
}

// Every IPv4 address of `dev` in `ns`, in the kernel's order.
Result<std::vector<Ipv4Net>> InterfaceAddresses(const std::string& ns, const std::string& dev) {
  auto r = RunIp({"-n", ns, "-o", "-4", "addr", "show", "dev", dev});
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return IpFailure("reading the addresses of " + dev + " in network namespace " + ns, *r);
  }
  // One line per address: "2: eth0    inet 198.18.0.2/15 brd ... scope global eth0\ ...".
  std::vector<Ipv4Net> out;
  std::string_view text = r->out;
  size_t pos = 0;
  while ((pos = text.find(" inet ", pos)) != std::string_view::npos) {
    pos += 6;
    size_t end = text.find_first_of(" \n", pos);
    std::string_view token = text.substr(pos, end == std::string_view::npos ? end : end - pos);
    if (token.find('/') == std::string_view::npos) continue;  // a point-to-point "peer" form
    auto net = ParseCidr(token);
    if (net.ok()) out.push_back(*net);
  }
  return out;
}

// --- processes ---

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

// "ping from iputils 20221126" / "ping utility, iputils-s20161105" -> 20221126 / 20161105; 0 when
// the ping is not iputils (busybox, inetutils).
int64_t IputilsVersion(std::string_view text) {
  size_t pos = text.find("iputils");
  if (pos == std::string_view::npos) return 0;
  pos += 7;
  while (pos < text.size() && (text[pos] < '0' || text[pos] > '9')) {
    if (text[pos] == '\n') return 0;
    ++pos;
  }
  int64_t v = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    v = v * 10 + (text[pos++] - '0');
  }
  return v;
}

// iputils accepts a fractional -W since s20200821 ("ping: add support for sub-second timeouts");
// older ones, and other pings, want whole seconds. Asked once (a thread-safe static).
bool PingTakesFractionalTimeout() {
  static const bool fractional = [] {
    auto r = Run({"ping", "-V"}, RunOptions{.timeout = std::chrono::seconds(5)});
    return r.ok() && IputilsVersion(r->out + r->err) >= 20200821;
  }();
  return fractional;
}

// "0.045" (milliseconds, as ping prints them) -> 45 microseconds; digits past the third decimal
// are dropped. nullopt when `s` is not a plain decimal.
std::optional<int64_t> ParseMillisToMicros(std::string_view s) {
  int64_t whole = 0, frac = 0;
  int frac_digits = 0;
  bool dot = false, any = false;
  for (char c : s) {
    if (c == '.' && !dot) {
      dot = true;
    } else if (c >= '0' && c <= '9') {
      any = true;
      if (!dot) {
        whole = whole * 10 + (c - '0');
        if (whole > 1'000'000'000) return std::nullopt;
      } else if (frac_digits < 3) {
        frac = frac * 10 + (c - '0');
        ++frac_digits;
      }
    } else {
      return std::nullopt;
    }
  }
  if (!any) return std::nullopt;
  while (frac_digits++ < 3) frac *= 10;
  return whole * 1000 + frac;
}

// The average RTT from ping's summary, "rtt min/avg/max/mdev = 0.045/0.051/0.060/0.004 ms"
// (busybox: "round-trip min/avg/max = ..."), in microseconds.
std::optional<int64_t> ParsePingRtt(std::string_view out) {
  size_t pos = out.find("min/avg/max");
  if (pos == std::string_view::npos) return std::nullopt;
  pos = out.find("= ", pos);
  if (pos == std::string_view::npos) return std::nullopt;
  std::string_view values = out.substr(pos + 2);
  values = values.substr(0, values.find_first_of(" \n"));
  size_t slash = values.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view avg = values.substr(slash + 1);
  return ParseMillisToMicros(avg.substr(0, avg.find('/')));
}

}  // namespace

Status CheckNetnsSupport() {
  if (::geteuid() != 0) {
    return Status::PermissionDenied(
        "the local provider must run as root: it creates Linux network namespaces, veth links and "
        "a bridge, which need CAP_NET_ADMIN and CAP_SYS_ADMIN; run it with sudo (sudo carrierarr "
        "up), or use another provider");
  }
  auto r = RunIp({"-V"});
  if (!r.ok()) return r.status().WithPrefix("checking for iproute2");
  if (r->exit_code != 0) return IpFailure("checking for iproute2 (ip -V)", *r);
  return Status::Ok();
}

bool NamespaceExists(const std::string& ns) {
  if (!CheckNamespaceName(ns).ok()) return false;
  struct stat st;
  return ::stat((std::string(kNetnsDir) + "/" + ns).c_str(), &st) == 0;
}

std::vector<std::string> ListNamespaces() {
  std::vector<std::string> out;
  DIR* dir = ::opendir(kNetnsDir);
  if (dir == nullptr) return out;
  while (const dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

Status CreateNamespace(const std::string& ns) {
  CARRIERARR_RETURN_IF_ERROR(CheckNamespaceName(ns));
  const std::string what = "creating network namespace " + ns;
  if (!NamespaceExists(ns)) {
    Status s = RunIpOk({"netns", "add", ns}, what);
    // Someone else may have created it between our check and `ip netns add`: that is fine.
    if (!s.ok() && !(s.code() == StatusCode::kAlreadyExists && NamespaceExists(ns))) return s;
  }
  // Without loopback up, even 127.0.0.1 is unreachable inside the namespace.
  Status s = RunIpOk({"-n", ns, "link", "set", "dev", "lo", "up"},
                     "bringing up loopback in network namespace " + ns);
  if (!s.ok()) {
    return Status(s.code(), s.message() + " (if /run/netns/" + ns +
                                " is stale, remove it with `ip netns del " + ns + "`)");
  }
  return Status::Ok();
}

std::vector<pid_t> NamespacePids(const std::string& ns) {
  std::vector<pid_t> out;
  if (!NamespaceExists(ns)) return out;
  auto r = RunIp({"netns", "pids", ns});
  if (!r.ok() || r->exit_code != 0) return out;
  std::string_view text = r->out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = TrimSpace(text.substr(0, nl));
    if (!line.empty()) {
      pid_t pid = 0;
      bool digits =
          std::all_of(line.begin(), line.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (digits && line.size() < 10) {
        for (char c : line) pid = pid * 10 + (c - '0');
        if (pid > 0) out.push_back(pid);
      }
    }
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

Status DeleteNamespace(const std::string& ns, milliseconds grace) {
  CARRIERARR_RETURN_IF_ERROR(CheckNamespaceName(ns));
  if (!NamespaceExists(ns)) return Status::Ok();

  // Everything inside dies with the namespace; pidfds pin the processes we saw so that a pid
  // reused meanwhile is never signalled. We never signal ourselves.
  struct Victim {
    pid_t pid;
    int pidfd;
  };
  std::vector<Victim> victims;
  for (pid_t pid : NamespacePids(ns)) {
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
  std::string stuck;
  const auto kill_deadline = steady_clock::now() + kKillWait;
  for (const auto& v : victims) {
    auto left = std::chrono::ceil<milliseconds>(kill_deadline - steady_clock::now());
    if (!WaitGone(v.pid, v.pidfd, std::max(left, milliseconds(0)))) {
      stuck += (stuck.empty() ? "" : ", ") + std::to_string(v.pid);
    }
    if (v.pidfd >= 0) ::close(v.pidfd);
  }

  // Deleting the name even with a stuck process frees it; the kernel drops the namespace itself
  // (and its links) when the last process leaves.
  Status s = RunIpOk({"netns", "del", ns}, "deleting network namespace " + ns);
  if (!s.ok() && NamespaceExists(ns)) return s;
  if (!stuck.empty()) {
    return Status::DeadlineExceeded(
        "deleting network namespace " + ns + ": process(es) " + stuck +
        " did not exit after SIGKILL; they are probably stuck in the kernel (state D, see "
        "`ps -o pid,stat,wchan -p PID`); the namespace goes away when they exit");
  }
  return Status::Ok();
}

Status EnsureBridge(const std::string& ns, const std::string& bridge) {
  CARRIERARR_RETURN_IF_ERROR(CheckNamespaceName(ns));
  CARRIERARR_RETURN_IF_ERROR(CheckDeviceName(bridge));
  const std::string where = bridge + " in network namespace " + ns;
  auto link = GetLink(ns, bridge);
  if (!link.ok()) return link.status();
  if (!link->has_value()) {
    Status s = RunIpOk({"-n", ns, "link", "add", "name", bridge, "type", "bridge"},
                       "creating bridge " + where);
    if (!s.ok() && s.code() != StatusCode::kAlreadyExists) return s;
    link = GetLink(ns, bridge);
    if (!link.ok()) return link.status();
  }
  if (link->has_value() && (*link)->kind != "bridge") {
    return Status::FailedPrecondition(
        where +
        " exists but is not a bridge (kind: " + ((*link)->kind.empty() ? "none" : (*link)->kind) +
        "); pick another bridge name or delete it with `ip -n " + ns + " link del " + bridge + "`");
  }
  return RunIpOk({"-n", ns, "link", "set", "dev", bridge, "up"}, "bringing up bridge " + where);
}

Status ConnectToBridge(const std::string& bridge_ns, const std::string& bridge,
                       const std::string& bridge_port, const std::string& node_ns,
                       const Ipv4Net& address) {
  CARRIERARR_RETURN_IF_ERROR(CheckNamespaceName(bridge_ns));
  CARRIERARR_RETURN_IF_ERROR(CheckNamespaceName(node_ns));
  CARRIERARR_RETURN_IF_ERROR(CheckDeviceName(bridge));
  CARRIERARR_RETURN_IF_ERROR(CheckDeviceName(bridge_port));
  int prefix = address.PrefixLength();
  if (prefix < 1 || prefix > 32) {
    return Status::InvalidArgument("connecting " + node_ns + " to the bridge: address " +
                                   address.ToString() + " needs a prefix length 1-32");
  }
  const std::string what =
      "connecting network namespace " + node_ns + " to bridge " + bridge + " in " + bridge_ns;
  for (const auto* ns : {&bridge_ns, &node_ns}) {
    if (!NamespaceExists(*ns)) {
      return Status::NotFound(what + ": network namespace " + *ns +
                              " does not exist; create it first");
    }
  }
  auto br = GetLink(bridge_ns, bridge);
  if (!br.ok()) return br.status().WithPrefix(what);
  if (!br->has_value() || (*br)->kind != "bridge") {
    return Status::FailedPrecondition(what + ": there is no bridge " + bridge +
                                      " in that namespace; create it first (EnsureBridge)");
  }

  auto port = GetLink(bridge_ns, bridge_port);
  if (!port.ok()) return port.status().WithPrefix(what);
  auto eth = GetLink(node_ns, "eth0");
  if (!eth.ok()) return eth.status().WithPrefix(what);
  // The pair is ours when each end names the other's ifindex as its peer.
  bool paired = port->has_value() && eth->has_value() && (*port)->kind == "veth" &&
                (*eth)->kind == "veth" && (*port)->peer_ifindex == (*eth)->ifindex &&
                (*eth)->peer_ifindex == (*port)->ifindex;
  if (!paired) {
    // A stale or foreign end is replaced; deleting one end of a veth deletes both.
    if (port->has_value()) {
      CARRIERARR_RETURN_IF_ERROR(
          DeleteLinkIfPresent(bridge_ns, bridge_port, what + ": removing stale " + bridge_port));
    }
    CARRIERARR_RETURN_IF_ERROR(
        DeleteLinkIfPresent(node_ns, "eth0", what + ": removing stale eth0"));
    // Created inside the bridge namespace with the peer born in the node namespace: nothing ever
    // appears in the root namespace, not even for a moment. A stale end still being torn down
    // by the kernel makes the name busy for a moment: retry a few times (bounded).
    const std::vector<std::string> add{"-n",        bridge_ns, "link", "add",  "name",
                                       bridge_port, "type",    "veth", "peer", "name",
                                       "eth0",      "netns",   node_ns};
    const std::string add_what = what + ": creating veth pair " + bridge_port + "/eth0";
    for (int attempt = 1;; ++attempt) {
      auto r = RunIp(add);
      if (!r.ok()) return r.status().WithPrefix(add_what);
      if (r->exit_code == 0) break;
      if (attempt == 5 || !Contains(r->err, "File exists")) return IpFailure(add_what, *r);
      CARRIERARR_RETURN_IF_ERROR(DeleteLinkIfPresent(bridge_ns, bridge_port, add_what));
      CARRIERARR_RETURN_IF_ERROR(DeleteLinkIfPresent(node_ns, "eth0", add_what));
      std::this_thread::sleep_for(milliseconds(20 * attempt));
    }
    port = GetLink(bridge_ns, bridge_port);
    if (!port.ok()) return port.status().WithPrefix(what);
    if (!port->has_value()) return Status::Internal(what + ": " + bridge_port + " vanished");
  }
  if ((*port)->master != bridge) {
    CARRIERARR_RETURN_IF_ERROR(
        RunIpOk({"-n", bridge_ns, "link", "set", "dev", bridge_port, "master", bridge},
                what + ": plugging " + bridge_port + " into " + bridge));
  }
  CARRIERARR_RETURN_IF_ERROR(RunIpOk({"-n", bridge_ns, "link", "set", "dev", bridge_port, "up"},
                                     what + ": bringing up " + bridge_port));

  auto addrs = InterfaceAddresses(node_ns, "eth0");
  if (!addrs.ok()) return addrs.status().WithPrefix(what);
  if (*addrs != std::vector<Ipv4Net>{address}) {
    CARRIERARR_RETURN_IF_ERROR(RunIpOk({"-n", node_ns, "-4", "addr", "flush", "dev", "eth0"},
                                       what + ": clearing old addresses of eth0"));
    CARRIERARR_RETURN_IF_ERROR(
        RunIpOk({"-n", node_ns, "addr", "add", address.ToString(), "dev", "eth0"},
                what + ": adding " + address.ToString() + " to eth0"));
  }
  return RunIpOk({"-n", node_ns, "link", "set", "dev", "eth0", "up"}, what + ": bringing up eth0");
}

bool LinkExists(const std::string& ns, const std::string& dev) {
  if (!CheckNamespaceName(ns).ok() || !CheckDeviceName(dev).ok()) return false;
  auto link = GetLink(ns, dev);
  return link.ok() && link->has_value();
}

std::optional<Ipv4Net> InterfaceAddress(const std::string& ns, const std::string& dev) {
  if (!CheckNamespaceName(ns).ok() || !CheckDeviceName(dev).ok()) return std::nullopt;
  auto addrs = InterfaceAddresses(ns, dev);
  if (!addrs.ok() || addrs->empty()) return std::nullopt;
  return addrs->front();
}

Result<pid_t> StartInNamespace(const std::string& ns, const std::vector<std::string>& argv,
                               const std::string& log_path) {
  CARRIERARR_RETURN_IF_ERROR(CheckNamespaceName(ns));
  if (argv.empty() || argv[0].empty()) {
    return Status::InvalidArgument("starting a process in network namespace " + ns +
                                   ": empty command");
  }
  const std::string what = "starting " + argv[0] + " in network namespace " + ns;
  // Checked here because once `ip netns exec` runs, its failures only reach the log.
  if (!NamespaceExists(ns)) {
    return Status::NotFound(what + ": the namespace does not exist; create it first");
  }
  if (!FindProgram(argv[0])) {
    return Status::NotFound(what + ": " + argv[0] +
                            " not found in PATH or not executable; install it or give its full "
                            "path");
  }
  auto ip_path = FindProgram("ip");
  if (!ip_path) {
    return Status::FailedPrecondition(what + ": `ip` not found in PATH; install iproute2");
  }

  int log_fd =
      AboveStdio(::open(log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (log_fd < 0) {
    int err = errno;
    return Status(
        err == EACCES || err == EPERM ? StatusCode::kPermissionDenied : StatusCode::kNotFound,
        what + ": opening log " + log_path + ": " + ErrnoString(err));
  }
  FdCloser log_closer(log_fd);
  struct stat log_stat;
  off_t log_start = ::fstat(log_fd, &log_stat) == 0 ? log_stat.st_size : 0;
  int null_fd = AboveStdio(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null_fd < 0) return Status::Internal(what + ": opening /dev/null: " + ErrnoString(errno));
  FdCloser null_closer(null_fd);
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) {
    return Status::Internal(what + ": pipe: " + ErrnoString(errno));
  }
  report[0] = AboveStdio(report[0]);
  report[1] = AboveStdio(report[1]);
  FdCloser report_read(report[0]);
  if (report[0] < 0 || report[1] < 0) {
    if (report[1] >= 0) ::close(report[1]);
    return Status::Internal(what + ": pipe: " + ErrnoString(errno));
  }

  // Everything the children need is prepared before fork: after it, a multi-threaded parent's
  // child may only make async-signal-safe calls.
  std::vector<std::string> ip_argv = {"ip", "netns", "exec", ns};
  ip_argv.insert(ip_argv.end(), argv.begin(), argv.end());
  std::vector<char*> args;
  args.reserve(ip_argv.size() + 1);
  for (auto& a : ip_argv) args.push_back(a.data());
  args.push_back(nullptr);

  // Double fork: the intermediate child starts a new session, forks the daemon and exits at once,
  // so the daemon is reparented to init and never lingers as our zombie.
  pid_t middle = ::fork();
  if (middle < 0) {
    int err = errno;
    ::close(report[1]);
    return Status::Internal(what + ": fork: " + ErrnoString(err));
  }
  if (middle == 0) {
    ::setsid();
    pid_t daemon = ::fork();
    if (daemon == 0) ExecDaemon(ip_path->c_str(), args.data(), null_fd, log_fd, report[1]);
    ssize_t ignored = ::write(report[1], &daemon, sizeof(daemon));
    (void)ignored;
    ::_exit(daemon < 0 ? 1 : 0);
  }
  ::close(report[1]);
  int wstatus = 0;
  while (::waitpid(middle, &wstatus, 0) < 0 && errno == EINTR) {
  }

  const auto deadline = steady_clock::now() + kHandoffWait;
  pid_t pid = -1;
  if (ReadFull(report[0], &pid, sizeof(pid), deadline) != sizeof(pid) || pid <= 0) {
    return Status::Internal(what + ": fork of the daemon failed");
  }
  int exec_err = 0;
  size_t got = ReadFull(report[0], &exec_err, sizeof(exec_err), deadline);
  if (got == sizeof(exec_err)) {
    return Status::Internal(what + ": exec " + *ip_path + ": " + ErrnoString(exec_err));
  }
  if (got != 0) return Status::Internal(what + ": lost track of the daemon");

  // `ip` now runs; it enters the namespace and execs the program under the same pid. Wait for
  // that handover so that the pid is inside the namespace when we return.
  const std::string ip_cmdline = JoinCmdline(ip_argv);
  const std::string proc_cmdline = "/proc/" + std::to_string(pid) + "/cmdline";
  while (steady_clock::now() < deadline) {
    if (ProcessGone(pid)) {
      std::string message = what + ": it exited at once";
      std::string tail = LogTail(log_path, log_start);
      if (!tail.empty()) message += " (" + tail + ")";
      message += "; see " + log_path;
      return Status::FailedPrecondition(message);
    }
    auto cmdline = ReadFile(proc_cmdline);
    if (cmdline.ok() && !cmdline->empty() && *cmdline != ip_cmdline) return pid;
    std::this_thread::sleep_for(kPollStep);
  }
  return pid;  // `ip` is slow to hand over but alive: the pid stays the program's.
}

std::vector<pid_t> ProcessesWithArgs(const std::vector<std::string>& args) {
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

bool ProcessMatches(pid_t pid, const std::string& marker) {
  if (pid <= 0 || marker.empty() || ProcessGone(pid)) return false;
  auto cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  if (!cmdline.ok()) return false;
  // Arguments are NUL-separated; with spaces instead, a marker may span arguments ("sleep 30").
  std::replace(cmdline->begin(), cmdline->end(), '\0', ' ');
  return Contains(*cmdline, marker);
}

Status StopProcess(pid_t pid, const std::string& marker, milliseconds grace) {
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

Result<std::chrono::microseconds> Ping(const std::string& ns, uint32_t target,
                                       milliseconds timeout) {
  CARRIERARR_RETURN_IF_ERROR(CheckNamespaceName(ns));
  const std::string addr = FormatIpv4(target);
  const std::string what = "pinging " + addr + " from network namespace " + ns;
  if (timeout.count() <= 0) return Status::InvalidArgument(what + ": timeout must be positive");
  std::string wait;
  if (PingTakesFractionalTimeout()) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%lld.%03lld", static_cast<long long>(timeout.count() / 1000),
                  static_cast<long long>(timeout.count() % 1000));
    wait = buf;
  } else {
    wait = std::to_string((timeout.count() + 999) / 1000);  // whole seconds, rounded up
  }
  RunOptions options;
  options.timeout = timeout + std::chrono::seconds(5);  // ping itself stops after `timeout`
  auto r =
      Run({"ip", "netns", "exec", ns, "ping", "-c", "1", "-n", "-q", "-W", wait, addr}, options);
  if (!r.ok()) return r.status().WithPrefix(what);
  if (r->timed_out) return Status::DeadlineExceeded(what + ": ping did not stop on its own");
  if (r->exit_code == 0) {
    auto us = ParsePingRtt(r->out);
    if (!us) {
      return Status::DataLoss(
          what + ": cannot read the round-trip time from ping's output: " + OneLine(r->out));
    }
    // A reply came back, so the RTT is not zero even if it printed as 0.000 ms.
    return std::chrono::microseconds(std::max<int64_t>(*us, 1));
  }
  if (r->exit_code == 1) {
    return Status::DeadlineExceeded(what + ": no reply within " + std::to_string(timeout.count()) +
                                    " ms");
  }
  std::string err = OneLine(r->err.empty() ? r->out : r->err);
  if (Contains(err, "Cannot open network namespace")) {
    return Status::NotFound(what + ": " + err + "; create the namespace first");
  }
  if (Contains(err, "Operation not permitted")) {
    return Status::PermissionDenied(what + ": " + err + "; " + kRootHint);
  }
  if (Contains(err, "exec of")) {
    return Status::FailedPrecondition(what + ": " + err + "; install iputils-ping");
  }
  return Status::Unavailable(what + ": " + (err.empty() ? "ping failed" : err));
}

}  // namespace carrierarr::local
