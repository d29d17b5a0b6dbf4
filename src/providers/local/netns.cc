#include "providers/local/netns.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string_view>

#include "core/strings.h"

namespace carrierarr::local {
namespace {

using std::chrono::milliseconds;

// `ip` talks to the kernel over netlink and finishes in milliseconds; a hung one is a bug.
constexpr milliseconds kIpTimeout = std::chrono::seconds(10);
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
Result<RunResult> RunIp(ProcessRunner& processes, std::vector<std::string> args) {
  args.insert(args.begin(), "ip");
  RunOptions options;
  options.timeout = kIpTimeout;
  auto r = processes.Run(args, options);
  if (!r.ok()) {
    return Status::FailedPrecondition(r.status().message() +
                                      "; install iproute2 (apt-get install iproute2) and make "
                                      "sure `ip` is in PATH");
  }
  return r;
}

// Runs `ip ARGS...` and maps a non-zero exit to an error that starts with `what`.
Status RunIpOk(ProcessRunner& processes, std::vector<std::string> args, const std::string& what) {
  auto r = RunIp(processes, std::move(args));
  if (!r.ok()) return r.status().WithPrefix(what);
  if (r->exit_code != 0 || r->signaled || r->timed_out) return IpFailure(what, *r);
  return Status::Ok();
}

// Deletes link `dev` in `ns`; a link that is already gone is fine. A veth whose peer's namespace
// was just deleted vanishes asynchronously (the kernel tears namespaces down in a work queue), so
// the link seen a moment ago may be gone by the time it is deleted.
Status DeleteLinkIfPresent(ProcessRunner& processes, const std::string& ns, const std::string& dev,
                           const std::string& what) {
  auto r = RunIp(processes, {"-n", ns, "link", "del", "dev", dev});
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
Result<std::optional<LinkInfo>> GetLink(ProcessRunner& processes, const std::string& ns,
                                        const std::string& dev) {
  auto r = RunIp(processes, {"-n", ns, "-d", "-j", "link", "show", "dev", dev});
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
Result<std::vector<Ipv4Net>> InterfaceAddresses(ProcessRunner& processes, const std::string& ns,
                                                const std::string& dev) {
  auto r = RunIp(processes, {"-n", ns, "-o", "-4", "addr", "show", "dev", dev});
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

// iputils accepts a fractional -W since s20200821 ("ping: add support for sub-second timeouts");
// older ones, and other pings, want whole seconds.
struct Netns::PingFlavour {
  std::once_flag asked;
  bool fractional = false;
};

Netns::Netns(ProcessRunner& processes, TimeSource& time, std::string netns_dir)
    : processes_(&processes),
      time_(&time),
      netns_dir_(std::move(netns_dir)),
      ping_(std::make_shared<PingFlavour>()) {}

bool Netns::PingTakesFractionalTimeout() const {
  std::call_once(ping_->asked, [this] {
    auto r = processes_->Run({"ping", "-V"}, RunOptions{.timeout = std::chrono::seconds(5)});
    ping_->fractional = r.ok() && IputilsVersion(r->out + r->err) >= 20200821;
  });
  return ping_->fractional;
}

Status Netns::CheckSupport() const {
  if (::geteuid() != 0) {
    return Status::PermissionDenied(
        "the local provider must run as root: it creates Linux network namespaces, veth links and "
        "a bridge, which need CAP_NET_ADMIN and CAP_SYS_ADMIN; run it with sudo (sudo carrierarr "
        "up), or use another provider");
  }
  auto r = RunIp(*processes_, {"-V"});
  if (!r.ok()) return r.status().WithPrefix("checking for iproute2");
  if (r->exit_code != 0) return IpFailure("checking for iproute2 (ip -V)", *r);
  return Status::Ok();
}

bool Netns::NamespaceExists(const std::string& ns) const {
  if (!CheckNamespaceName(ns).ok()) return false;
  struct stat st;
  return ::stat((netns_dir_ + "/" + ns).c_str(), &st) == 0;
}

std::vector<std::string> Netns::ListNamespaces() const {
  std::vector<std::string> out;
  DIR* dir = ::opendir(netns_dir_.c_str());
  if (dir == nullptr) return out;
  while (const dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

Status Netns::CreateNamespace(const std::string& ns) const {
  CARRIERARR_RETURN_IF_ERROR(CheckNamespaceName(ns));
  const std::string what = "creating network namespace " + ns;
  if (!NamespaceExists(ns)) {
    Status s = RunIpOk(*processes_, {"netns", "add", ns}, what);
    // Someone else may have created it between our check and `ip netns add`: that is fine.
    if (!s.ok() && !(s.code() == StatusCode::kAlreadyExists && NamespaceExists(ns))) return s;
  }
  // Without loopback up, even 127.0.0.1 is unreachable inside the namespace.
  Status s = RunIpOk(*processes_, {"-n", ns, "link", "set", "dev", "lo", "up"},
                     "bringing up loopback in network namespace " + ns);
  if (!s.ok()) {
    return Status(s.code(), s.message() + " (if " + netns_dir_ + "/" + ns +
                                " is stale, remove it with `ip netns del " + ns + "`)");
  }
  return Status::Ok();
}

std::vector<pid_t> Netns::NamespacePids(const std::string& ns) const {
  std::vector<pid_t> out;
  if (!NamespaceExists(ns)) return out;
  auto r = RunIp(*processes_, {"netns", "pids", ns});
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

Status Netns::DeleteNamespace(const std::string& ns, milliseconds grace) const {
  CARRIERARR_RETURN_IF_ERROR(CheckNamespaceName(ns));
  if (!NamespaceExists(ns)) return Status::Ok();

  // Everything inside dies with the namespace.
  std::string stuck;
  for (pid_t pid : processes_->StopAll(NamespacePids(ns), grace)) {
    stuck += (stuck.empty() ? "" : ", ") + std::to_string(pid);
  }

  // Deleting the name even with a stuck process frees it; the kernel drops the namespace itself
  // (and its links) when the last process leaves.
  Status s = RunIpOk(*processes_, {"netns", "del", ns}, "deleting network namespace " + ns);
  if (!s.ok() && NamespaceExists(ns)) return s;
  if (!stuck.empty()) {
    return Status::DeadlineExceeded(
        "deleting network namespace " + ns + ": process(es) " + stuck +
        " did not exit after SIGKILL; they are probably stuck in the kernel (state D, see "
        "`ps -o pid,stat,wchan -p PID`); the namespace goes away when they exit");
  }
  return Status::Ok();
}

Status Netns::EnsureBridge(const std::string& ns, const std::string& bridge) const {
  CARRIERARR_RETURN_IF_ERROR(CheckNamespaceName(ns));
  CARRIERARR_RETURN_IF_ERROR(CheckDeviceName(bridge));
  const std::string where = bridge + " in network namespace " + ns;
  auto link = GetLink(*processes_, ns, bridge);
  if (!link.ok()) return link.status();
  if (!link->has_value()) {
    Status s = RunIpOk(*processes_, {"-n", ns, "link", "add", "name", bridge, "type", "bridge"},
                       "creating bridge " + where);
    if (!s.ok() && s.code() != StatusCode::kAlreadyExists) return s;
    link = GetLink(*processes_, ns, bridge);
    if (!link.ok()) return link.status();
  }
  if (link->has_value() && (*link)->kind != "bridge") {
    return Status::FailedPrecondition(
        where +
        " exists but is not a bridge (kind: " + ((*link)->kind.empty() ? "none" : (*link)->kind) +
        "); pick another bridge name or delete it with `ip -n " + ns + " link del " + bridge + "`");
  }
  return RunIpOk(*processes_, {"-n", ns, "link", "set", "dev", bridge, "up"},
                 "bringing up bridge " + where);
}

Status Netns::ConnectToBridge(const std::string& bridge_ns, const std::string& bridge,
                              const std::string& bridge_port, const std::string& node_ns,
                              const Ipv4Net& address) const {
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
  auto br = GetLink(*processes_, bridge_ns, bridge);
  if (!br.ok()) return br.status().WithPrefix(what);
  if (!br->has_value() || (*br)->kind != "bridge") {
    return Status::FailedPrecondition(what + ": there is no bridge " + bridge +
                                      " in that namespace; create it first (EnsureBridge)");
  }

  auto port = GetLink(*processes_, bridge_ns, bridge_port);
  if (!port.ok()) return port.status().WithPrefix(what);
  auto eth = GetLink(*processes_, node_ns, "eth0");
  if (!eth.ok()) return eth.status().WithPrefix(what);
  // The pair is ours when each end names the other's ifindex as its peer.
  bool paired = port->has_value() && eth->has_value() && (*port)->kind == "veth" &&
                (*eth)->kind == "veth" && (*port)->peer_ifindex == (*eth)->ifindex &&
                (*eth)->peer_ifindex == (*port)->ifindex;
  if (!paired) {
    // A stale or foreign end is replaced; deleting one end of a veth deletes both.
    if (port->has_value()) {
      CARRIERARR_RETURN_IF_ERROR(DeleteLinkIfPresent(*processes_, bridge_ns, bridge_port,
                                                     what + ": removing stale " + bridge_port));
    }
    CARRIERARR_RETURN_IF_ERROR(
        DeleteLinkIfPresent(*processes_, node_ns, "eth0", what + ": removing stale eth0"));
    // Created inside the bridge namespace with the peer born in the node namespace: nothing ever
    // appears in the root namespace, not even for a moment. A stale end still being torn down
    // by the kernel makes the name busy for a moment: retry a few times (bounded).
    const std::vector<std::string> add{"-n",        bridge_ns, "link", "add",  "name",
                                       bridge_port, "type",    "veth", "peer", "name",
                                       "eth0",      "netns",   node_ns};
    const std::string add_what = what + ": creating veth pair " + bridge_port + "/eth0";
    for (int attempt = 1;; ++attempt) {
      auto r = RunIp(*processes_, add);
      if (!r.ok()) return r.status().WithPrefix(add_what);
      if (r->exit_code == 0) break;
      if (attempt == 5 || !Contains(r->err, "File exists")) return IpFailure(add_what, *r);
      CARRIERARR_RETURN_IF_ERROR(
          DeleteLinkIfPresent(*processes_, bridge_ns, bridge_port, add_what));
      CARRIERARR_RETURN_IF_ERROR(DeleteLinkIfPresent(*processes_, node_ns, "eth0", add_what));
      time_->SleepFor(milliseconds(20 * attempt));
    }
    port = GetLink(*processes_, bridge_ns, bridge_port);
    if (!port.ok()) return port.status().WithPrefix(what);
    if (!port->has_value()) return Status::Internal(what + ": " + bridge_port + " vanished");
  }
  if ((*port)->master != bridge) {
    CARRIERARR_RETURN_IF_ERROR(
        RunIpOk(*processes_, {"-n", bridge_ns, "link", "set", "dev", bridge_port, "master", bridge},
                what + ": plugging " + bridge_port + " into " + bridge));
  }
  CARRIERARR_RETURN_IF_ERROR(RunIpOk(*processes_,
                                     {"-n", bridge_ns, "link", "set", "dev", bridge_port, "up"},
                                     what + ": bringing up " + bridge_port));

  auto addrs = InterfaceAddresses(*processes_, node_ns, "eth0");
  if (!addrs.ok()) return addrs.status().WithPrefix(what);
  if (*addrs != std::vector<Ipv4Net>{address}) {
    CARRIERARR_RETURN_IF_ERROR(RunIpOk(*processes_,
                                       {"-n", node_ns, "-4", "addr", "flush", "dev", "eth0"},
                                       what + ": clearing old addresses of eth0"));
    CARRIERARR_RETURN_IF_ERROR(
        RunIpOk(*processes_, {"-n", node_ns, "addr", "add", address.ToString(), "dev", "eth0"},
                what + ": adding " + address.ToString() + " to eth0"));
  }
  return RunIpOk(*processes_, {"-n", node_ns, "link", "set", "dev", "eth0", "up"},
                 what + ": bringing up eth0");
}

bool Netns::LinkExists(const std::string& ns, const std::string& dev) const {
  if (!CheckNamespaceName(ns).ok() || !CheckDeviceName(dev).ok()) return false;
  auto link = GetLink(*processes_, ns, dev);
  return link.ok() && link->has_value();
}

std::optional<Ipv4Net> Netns::InterfaceAddress(const std::string& ns,
                                               const std::string& dev) const {
  if (!CheckNamespaceName(ns).ok() || !CheckDeviceName(dev).ok()) return std::nullopt;
  auto addrs = InterfaceAddresses(*processes_, ns, dev);
  if (!addrs.ok() || addrs->empty()) return std::nullopt;
  return addrs->front();
}

Result<pid_t> Netns::StartInNamespace(const std::string& ns, const std::vector<std::string>& argv,
                                      const std::string& log_path) const {
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
  std::vector<std::string> ip_argv = {"ip", "netns", "exec", ns};
  ip_argv.insert(ip_argv.end(), argv.begin(), argv.end());
  auto pid = processes_->StartDaemon(ip_argv, {.log_path = log_path, .wrapper_args = 4});
  if (!pid.ok()) return pid.status().WithPrefix(what);
  return pid;
}

Result<std::chrono::microseconds> Netns::Ping(const std::string& ns, uint32_t target,
                                              milliseconds timeout) const {
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
  auto r = processes_->Run(
      {"ip", "netns", "exec", ns, "ping", "-c", "1", "-n", "-q", "-W", wait, addr}, options);
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
