// Linux network namespaces, veth links, a bridge and processes inside namespaces: the building
// blocks of the local provider. Every call runs `ip` (iproute2) with an argv vector; nothing is
// ever set up in the root namespace except the namespaces' own mount points under /run/netns.
// Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN). All functions are idempotent where that makes
// sense: creating what exists succeeds, deleting what is gone succeeds.
// Thread-safe: functions share no state; the kernel serialises conflicting changes.
#ifndef CARRIERARR_PROVIDERS_LOCAL_NETNS_H_
#define CARRIERARR_PROVIDERS_LOCAL_NETNS_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/ipv4.h"
#include "core/status.h"

namespace carrierarr::local {

// Fails with a clear message when not root or when `ip` is missing.
Status CheckNetnsSupport();

bool NamespaceExists(const std::string& ns);
std::vector<std::string> ListNamespaces();      // names under /run/netns
Status CreateNamespace(const std::string& ns);  // also brings up its loopback
// Kills every process left in the namespace (SIGTERM, then SIGKILL after `grace`), then deletes it.
Status DeleteNamespace(const std::string& ns,
                       std::chrono::milliseconds grace = std::chrono::milliseconds(500));
std::vector<pid_t> NamespacePids(const std::string& ns);

// In `ns`: a bridge `bridge` (up), for the underlay all node namespaces plug into.
Status EnsureBridge(const std::string& ns, const std::string& bridge);

// Plugs `node_ns` into `bridge` in `bridge_ns`: a veth pair whose bridge end `bridge_port`
// (<= 15 chars) lives in `bridge_ns` and whose other end is `eth0` in `node_ns` with `address`
// (host address with prefix, e.g. 198.18.0.2/15). Idempotent: an existing correct link is kept.
Status ConnectToBridge(const std::string& bridge_ns, const std::string& bridge,
                       const std::string& bridge_port, const std::string& node_ns,
                       const Ipv4Net& address);

// True when a link named `dev` exists in `ns`.
bool LinkExists(const std::string& ns, const std::string& dev);

// The IPv4 address (with prefix) of `dev` in `ns`, if any.
std::optional<Ipv4Net> InterfaceAddress(const std::string& ns, const std::string& dev);

// Starts argv inside `ns` as a detached daemon (own session, stdin /dev/null, stdout and stderr
// appended to `log_path`) and returns its pid without waiting for it. The process is not our
// child to reap beyond the immediate exec: callers stop it with StopProcess. Returns once the
// program runs inside `ns`; fails when `ns` or the program is missing, or when the program exits
// before that (the message quotes the end of its log).
Result<pid_t> StartInNamespace(const std::string& ns, const std::vector<std::string>& argv,
                               const std::string& log_path);

// Every process on this machine (but this one) whose arguments after argv[0] include `args`,
// consecutive and each whole ({"-config", "/x/a.yml"} matches neither "/x/a.yml.bak" nor a
// different flag). Found wherever it runs, also in a namespace whose name was deleted by hand
// (the process keeps the namespace alive, and `ip netns pids` can no longer reach it).
std::vector<pid_t> ProcessesWithArgs(const std::vector<std::string>& args);

// True when `pid` is alive and its command line contains `marker` (guards against pid reuse).
// Zombies count as gone; the arguments are joined with spaces; an empty marker never matches.
bool ProcessMatches(pid_t pid, const std::string& marker);

// SIGTERM, wait up to `grace`, then SIGKILL; only if ProcessMatches(pid, marker). Succeeds when
// the process is gone afterwards (or was never there, or the pid now belongs to another program).
// An empty marker is an InvalidArgument error.
Status StopProcess(pid_t pid, const std::string& marker,
                   std::chrono::milliseconds grace = std::chrono::milliseconds(1000));

// One ICMP echo from inside `ns` to `target`; the round-trip time, or an error on timeout.
Result<std::chrono::microseconds> Ping(const std::string& ns, uint32_t target,
                                       std::chrono::milliseconds timeout);

}  // namespace carrierarr::local

#endif  // CARRIERARR_PROVIDERS_LOCAL_NETNS_H_
