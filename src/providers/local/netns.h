// Linux network namespaces, veth links, a bridge and processes inside namespaces: the building
// blocks of the local provider. Every call runs `ip` (iproute2) with an argv vector through the
// ProcessRunner it was given; nothing is ever set up in the root namespace except the
// namespaces' own mount points under /run/netns. Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN).
// All functions are idempotent where that makes sense: creating what exists succeeds, deleting
// what is gone succeeds.
#ifndef CARRIERARR_PROVIDERS_LOCAL_NETNS_H_
#define CARRIERARR_PROVIDERS_LOCAL_NETNS_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/ipv4.h"
#include "core/process_runner.h"
#include "core/seams.h"
#include "core/status.h"
#include "core/time_source.h"

namespace carrierarr::local {

// A cheap value: copies share the runner, the clock and what they learnt about `ping`.
// Thread-safe: members share no mutable state but a once-computed flag; the kernel serialises
// conflicting changes.
class Netns {
 public:
  // `processes` and `time` are not owned and must outlive every copy. `netns_dir` is where `ip`
  // keeps the namespaces' names (tests that script `ip` point it at a directory of their own).
  Netns(ProcessRunner& processes, TimeSource& time, std::string netns_dir = "/run/netns");
  explicit Netns(const Seams& seams) : Netns(*seams.processes, *seams.time) {}

  ProcessRunner& processes() const { return *processes_; }
  TimeSource& time() const { return *time_; }

  // Fails with a clear message when not root or when `ip` is missing.
  Status CheckSupport() const;

  bool NamespaceExists(const std::string& ns) const;
  std::vector<std::string> ListNamespaces() const;      // names under the netns directory
  Status CreateNamespace(const std::string& ns) const;  // also brings up its loopback
  // Kills every process left in the namespace (SIGTERM, then SIGKILL after `grace`), then
  // deletes it.
  Status DeleteNamespace(const std::string& ns,
                         std::chrono::milliseconds grace = std::chrono::milliseconds(500)) const;
  std::vector<pid_t> NamespacePids(const std::string& ns) const;

  // In `ns`: a bridge `bridge` (up), for the underlay all node namespaces plug into.
  Status EnsureBridge(const std::string& ns, const std::string& bridge) const;

  // Plugs `node_ns` into `bridge` in `bridge_ns`: a veth pair whose bridge end `bridge_port`
  // (<= 15 chars) lives in `bridge_ns` and whose other end is `eth0` in `node_ns` with `address`
  // (host address with prefix, e.g. 198.18.0.2/15). Idempotent: an existing correct link is kept.
  Status ConnectToBridge(const std::string& bridge_ns, const std::string& bridge,
                         const std::string& bridge_port, const std::string& node_ns,
                         const Ipv4Net& address) const;

  // True when a link named `dev` exists in `ns`.
  bool LinkExists(const std::string& ns, const std::string& dev) const;

  // The IPv4 address (with prefix) of `dev` in `ns`, if any.
  std::optional<Ipv4Net> InterfaceAddress(const std::string& ns, const std::string& dev) const;

  // Starts argv inside `ns` as a detached daemon (ProcessRunner::StartDaemon through
  // `ip netns exec`) and returns its pid, once the program runs inside `ns`. Fails when `ns` or
  // the program is missing, or when the program exits before that (quoting the end of its log).
  Result<pid_t> StartInNamespace(const std::string& ns, const std::vector<std::string>& argv,
                                 const std::string& log_path) const;

  // One ICMP echo from inside `ns` to `target`; the round-trip time, or an error on timeout.
  Result<std::chrono::microseconds> Ping(const std::string& ns, uint32_t target,
                                         std::chrono::milliseconds timeout) const;

 private:
  struct PingFlavour;
  // Whether this machine's ping takes a fractional -W (asked once).
  bool PingTakesFractionalTimeout() const;

  ProcessRunner* processes_;
  TimeSource* time_;
  std::string netns_dir_;
  std::shared_ptr<PingFlavour> ping_;
};

}  // namespace carrierarr::local

#endif  // CARRIERARR_PROVIDERS_LOCAL_NETNS_H_
