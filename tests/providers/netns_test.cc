// Tests for the network-namespace building blocks of the local provider. They create real
// namespaces, veth links and a bridge, so they need root: without it they FAIL (never skip) and say
// so. Every namespace is named "cnt<pid>-..." and TearDown deletes all of them, even after a
// failure; traffic only flows between namespaces the test made (198.18.0.0/15).
#include "providers/local/netns.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/file_util.h"
#include "core/process_runner.h"
#include "core/subprocess.h"
#include "core/time_source.h"

namespace carrierarr::local {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

ProcessRunner& Processes() { return *RealProcessRunner::Get(); }

// StopProcess with the grace the local provider gives its daemons unless a test says otherwise.
Status Stop(pid_t pid, const std::string& marker, milliseconds grace = milliseconds(1000)) {
  return Processes().StopProcess(pid, marker, grace);
}

uint32_t Ip(const char* s) {
  auto r = ParseIpv4(s);
  EXPECT_TRUE(r.ok()) << s;
  return r.ok() ? *r : 0;
}

Ipv4Net Cidr(const char* s) {
  auto r = ParseCidr(s);
  EXPECT_TRUE(r.ok()) << s;
  return r.ok() ? *r : Ipv4Net{};
}

// What the root namespace looks like, minus anything that changes by itself (flags, counters):
// "index: name" of every link, and the IPv4 routes.
std::string RootSnapshot() {
  auto links = Run({"ip", "-o", "link", "show"});
  auto routes = Run({"ip", "-4", "route", "show"});
  EXPECT_TRUE(links.ok() && routes.ok());
  if (!links.ok() || !routes.ok()) return "";
  std::string out;
  std::istringstream in(links->out);
  for (std::string line; std::getline(in, line);) {
    // "3: eth0@if4: <...> ..." -> "3: eth0@if4"
    size_t second_colon = line.find(':', line.find(':') + 1);
    out += line.substr(0, second_colon) + "\n";
  }
  return out + "routes:\n" + routes->out;
}

// Watches the root namespace's netlink link group: catches a link that appears there even for a
// moment (a veth created in the root namespace and then moved away).
class RootLinkWatcher {
 public:
  RootLinkWatcher() {
    fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    addr.nl_groups = RTMGRP_LINK;
    if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~RootLinkWatcher() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }

  // Names of links created or changed in the root namespace since the last call.
  std::vector<std::string> NewLinks() {
    std::vector<std::string> names;
    alignas(nlmsghdr) char buf[65536];
    for (int i = 0; i < 1000; ++i) {  // bounded: drains what is queued, then stops
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      int len = static_cast<int>(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
        if (h->nlmsg_type != RTM_NEWLINK) continue;
        auto* info = static_cast<ifinfomsg*>(NLMSG_DATA(h));
        int attr_len = static_cast<int>(IFLA_PAYLOAD(h));
        for (auto* a = IFLA_RTA(info); RTA_OK(a, attr_len); a = RTA_NEXT(a, attr_len)) {
          if (a->rta_type == IFLA_IFNAME) names.emplace_back(static_cast<char*>(RTA_DATA(a)));
        }
      }
    }
    return names;
  }

 private:
  int fd_ = -1;
};

// The pid's parent and session, from /proc/PID/stat: "pid (comm) state ppid pgrp session ...".
std::pair<pid_t, pid_t> ParentAndSession(pid_t pid) {
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return {-1, -1};
  std::istringstream in(stat->substr(stat->rfind(')') + 2));
  char state;
  pid_t ppid, pgrp, session;
  in >> state >> ppid >> pgrp >> session;
  return {ppid, session};
}

std::set<std::string> OpenFds(pid_t pid) {
  std::set<std::string> fds;
  std::error_code ec;
  for (const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    fds.insert(e.path().filename().string());
  }
  return fds;
}

std::string FdTarget(pid_t pid, int fd) {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd),
                                       ec)
      .string();
}

// Waits (bounded) until the process ignores SIGTERM: the shell must have run its `trap` before
// the test sends the signal, or SIGTERM alone would end it.
bool WaitIgnoresSigterm(pid_t pid) {
  for (int i = 0; i < 300; ++i) {  // up to 3 s
    auto status = ReadFile("/proc/" + std::to_string(pid) + "/status");
    if (!status.ok()) return false;
    size_t pos = status->find("SigIgn:\t");
    if (pos != std::string::npos) {
      uint64_t ignored = std::strtoull(status->c_str() + pos + 8, nullptr, 16);
      if (ignored & (uint64_t{1} << (SIGTERM - 1))) return true;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  return false;
}

// True when the pid is a live sleep (not a zombie waiting to be reaped).
bool SleepAlive(pid_t pid) { return Processes().ProcessMatches(pid, "sleep"); }

class NetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u)
        << "netns_test needs root: it creates network namespaces, veth links and a bridge "
           "(CAP_NET_ADMIN, CAP_SYS_ADMIN). Run it with sudo; it never touches the root namespace.";
    Status support = netns_.CheckSupport();
    ASSERT_TRUE(support.ok()) << support.ToString();
    prefix_ = "cnt" + std::to_string(::getpid()) + "-";
    char tmpl[] = "/tmp/netns-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }

  void TearDown() override {
    for (const auto& [pid, marker] : started_) {
      Status s = Stop(pid, marker, milliseconds(200));
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    for (const auto& ns : netns_.ListNamespaces()) {
      if (ns.rfind(prefix_, 0) != 0) continue;
      Status s = netns_.DeleteNamespace(ns, milliseconds(200));
      EXPECT_TRUE(s.ok()) << s.ToString();
      EXPECT_FALSE(netns_.NamespaceExists(ns)) << ns << " left behind";
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  std::string Ns(const std::string& suffix) const { return prefix_ + suffix; }

  // Starts argv in ns, remembers it for TearDown and fails the test when it cannot start.
  pid_t Start(const std::string& ns, const std::vector<std::string>& argv,
              const std::string& marker, const std::string& log = "") {
    auto pid = netns_.StartInNamespace(ns, argv, log.empty() ? dir_ + "/daemon.log" : log);
    EXPECT_TRUE(pid.ok()) << pid.status().ToString();
    if (!pid.ok()) return -1;
    started_.emplace_back(*pid, marker);
    return *pid;
  }

  // Builds bridge namespace "br" with bridge and two nodes "a" (198.18.0.2) and "b" (.3).
  void BuildTwoNodes() {
    for (const char* n : {"br", "a", "b"}) {
      Status s = netns_.CreateNamespace(Ns(n));
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
    Status s = netns_.EnsureBridge(Ns("br"), Bridge());
    ASSERT_TRUE(s.ok()) << s.ToString();
    s = netns_.ConnectToBridge(Ns("br"), Bridge(), Port("a"), Ns("a"), Cidr("198.18.0.2/15"));
    ASSERT_TRUE(s.ok()) << s.ToString();
    s = netns_.ConnectToBridge(Ns("br"), Bridge(), Port("b"), Ns("b"), Cidr("198.18.0.3/15"));
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  // Link names unique to this run, so the root-namespace watcher cannot confuse them.
  std::string Bridge() const { return "cnt" + std::to_string(::getpid()) + "br"; }
  std::string Port(const std::string& node) const {
    return "cnt" + std::to_string(::getpid()) + node;
  }

  const Netns netns_{*RealProcessRunner::Get(), *RealTimeSource::Get()};
  std::string prefix_;
  std::string dir_;
  std::vector<std::pair<pid_t, std::string>> started_;
};

TEST_F(NetnsTest, CreateExistsDeleteAreIdempotent) {
  const std::string ns = Ns("a");
  EXPECT_FALSE(netns_.NamespaceExists(ns));
  EXPECT_TRUE(netns_.DeleteNamespace(ns).ok());  // deleting what is not there succeeds

  Status s = netns_.CreateNamespace(ns);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(netns_.NamespaceExists(ns));
  EXPECT_THAT(netns_.ListNamespaces(), Contains(ns));
  s = netns_.CreateNamespace(ns);  // creating what exists succeeds
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(netns_.NamespacePids(ns).empty());

  // Loopback is up: the namespace can reach itself.
  auto rtt = netns_.Ping(ns, Ip("127.0.0.1"), milliseconds(1000));
  ASSERT_TRUE(rtt.ok()) << rtt.status().ToString();
  EXPECT_GT(rtt->count(), 0);

  s = netns_.DeleteNamespace(ns);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(netns_.NamespaceExists(ns));
  EXPECT_THAT(netns_.ListNamespaces(), Not(Contains(ns)));
  s = netns_.DeleteNamespace(ns);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_F(NetnsTest, RejectsNamesThatCouldEscapeOrBeReadAsOptions) {
  for (const std::string& bad :
       std::vector<std::string>{"", "a/b", "..", "-n", "has space", std::string(65, 'x')}) {
    Status s = netns_.CreateNamespace(bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << "'" << bad << "': " << s.ToString();
    EXPECT_FALSE(netns_.NamespaceExists(bad));
  }
  Status s = netns_.CreateNamespace(Ns("a"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  s = netns_.EnsureBridge(Ns("a"), "a-very-long-bridge-name");  // over the kernel's 15 characters
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("15"));
}

TEST_F(NetnsTest, BridgeConnectsTwoNamespacesWithoutTouchingTheRootNamespace) {
  const std::string before = RootSnapshot();
  RootLinkWatcher watcher;
  ASSERT_TRUE(watcher.ok()) << "netlink socket: " << ErrnoString(errno);

  ASSERT_NO_FATAL_FAILURE(BuildTwoNodes());
  Status s = netns_.EnsureBridge(Ns("br"), Bridge());  // again: kept
  EXPECT_TRUE(s.ok()) << s.ToString();

  EXPECT_EQ(netns_.InterfaceAddress(Ns("a"), "eth0"), Cidr("198.18.0.2/15"));
  EXPECT_EQ(netns_.InterfaceAddress(Ns("b"), "eth0"), Cidr("198.18.0.3/15"));
  EXPECT_EQ(netns_.InterfaceAddress(Ns("a"), "nosuchdev"), std::nullopt);
  EXPECT_EQ(netns_.InterfaceAddress(Ns("nosuchns"), "eth0"), std::nullopt);

  auto rtt = netns_.Ping(Ns("a"), Ip("198.18.0.3"), milliseconds(2000));
  ASSERT_TRUE(rtt.ok()) << rtt.status().ToString();
  EXPECT_GT(rtt->count(), 0);
  EXPECT_LT(rtt->count(), 1'000'000);
  rtt = netns_.Ping(Ns("b"), Ip("198.18.0.2"), milliseconds(2000));
  ASSERT_TRUE(rtt.ok()) << rtt.status().ToString();
  EXPECT_GT(rtt->count(), 0);

  // Connecting again keeps the link (same ifindex) and its address.
  auto ifindex = [&](const std::string& ns) {
    auto r = carrierarr::Run({"ip", "-n", ns, "-o", "link", "show", "dev", "eth0"});
    return r.ok() ? r->out.substr(0, r->out.find(':')) : "";
  };
  const std::string index_before = ifindex(Ns("a"));
  s = netns_.ConnectToBridge(Ns("br"), Bridge(), Port("a"), Ns("a"), Cidr("198.18.0.2/15"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ifindex(Ns("a")), index_before);
  // A new address replaces the old one rather than adding to it.
  s = netns_.ConnectToBridge(Ns("br"), Bridge(), Port("a"), Ns("a"), Cidr("198.18.0.4/15"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto addrs = carrierarr::Run({"ip", "-n", Ns("a"), "-o", "-4", "addr", "show", "dev", "eth0"});
  ASSERT_TRUE(addrs.ok());
  EXPECT_THAT(addrs->out, HasSubstr("198.18.0.4/15"));
  EXPECT_THAT(addrs->out, Not(HasSubstr("198.18.0.2/")));
  rtt = netns_.Ping(Ns("b"), Ip("198.18.0.4"), milliseconds(2000));
  EXPECT_TRUE(rtt.ok()) << rtt.status().ToString();

  // No reply: an error after about the timeout (sub-second timeouts are honoured).
  auto start = steady_clock::now();
  rtt = netns_.Ping(Ns("a"), Ip("198.18.0.99"), milliseconds(300));
  auto took = steady_clock::now() - start;
  EXPECT_FALSE(rtt.ok());
  EXPECT_EQ(rtt.status().code(), StatusCode::kDeadlineExceeded) << rtt.status().ToString();
  EXPECT_LT(took, milliseconds(1500));
  // No route at all (the mesh range is not routed on the underlay).
  rtt = netns_.Ping(Ns("a"), Ip("10.42.0.1"), milliseconds(300));
  EXPECT_FALSE(rtt.ok());
  EXPECT_THAT(rtt.status().message(), HasSubstr("unreachable"));
  rtt = netns_.Ping(Ns("nosuchns"), Ip("198.18.0.3"), milliseconds(300));
  EXPECT_FALSE(rtt.ok());

  // The root namespace saw nothing, not even a link passing through, and has nothing new.
  EXPECT_EQ(RootSnapshot(), before);
  for (const auto& name : watcher.NewLinks()) {
    EXPECT_TRUE(name.rfind("cnt", 0) != 0 && name != "eth0")
        << "link " << name << " appeared in the root namespace";
  }
  for (const char* n : {"a", "b", "br"}) {
    s = netns_.DeleteNamespace(Ns(n));
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  EXPECT_EQ(RootSnapshot(), before);
}

TEST_F(NetnsTest, ConnectFailsClearlyWithoutBridgeOrNamespace) {
  Status s = netns_.CreateNamespace(Ns("br"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  s = netns_.ConnectToBridge(Ns("br"), Bridge(), Port("a"), Ns("a"), Cidr("198.18.0.2/15"));
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr(Ns("a")));
  s = netns_.CreateNamespace(Ns("a"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  s = netns_.ConnectToBridge(Ns("br"), Bridge(), Port("a"), Ns("a"), Cidr("198.18.0.2/15"));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("EnsureBridge"));
}

TEST_F(NetnsTest, StartedProcessRunsDetachedInTheNamespaceAndStops) {
  const std::string ns = Ns("a");
  Status s = netns_.CreateNamespace(ns);
  ASSERT_TRUE(s.ok()) << s.ToString();
  // A descriptor we leak on purpose: the daemon must not inherit it.
  int leaked = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leaked, 0);
  const std::string log = dir_ + "/sleep.log";
  pid_t pid = Start(ns, {"sleep", "30"}, "sleep 30", log);
  ::close(leaked);
  ASSERT_GT(pid, 0);

  EXPECT_THAT(netns_.NamespacePids(ns), Contains(pid));
  EXPECT_TRUE(Processes().ProcessMatches(pid, "sleep 30"));
  EXPECT_FALSE(Processes().ProcessMatches(pid, "nebula"));
  EXPECT_FALSE(Processes().ProcessMatches(pid, ""));
  auto [ppid, session] = ParentAndSession(pid);
  EXPECT_NE(ppid, ::getpid()) << "the daemon must not be our child";
  EXPECT_NE(session, ::getsid(0)) << "the daemon must have its own session";
  EXPECT_EQ(OpenFds(pid), (std::set<std::string>{"0", "1", "2"}));
  EXPECT_EQ(FdTarget(pid, 0), "/dev/null");
  EXPECT_EQ(FdTarget(pid, 1), log);
  EXPECT_EQ(FdTarget(pid, 2), log);
  struct stat st;
  ASSERT_EQ(::stat(log.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // A wrong marker means "not ours": nothing is killed, and that is not an error.
  s = Stop(pid, "not-the-marker");
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(Processes().ProcessMatches(pid, "sleep 30"))
      << "StopProcess killed a process it did not match";

  auto start = steady_clock::now();
  s = Stop(pid, "sleep 30");
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_LT(steady_clock::now() - start, milliseconds(1000));  // SIGTERM was enough
  EXPECT_FALSE(Processes().ProcessMatches(pid, "sleep 30"));
  EXPECT_THAT(netns_.NamespacePids(ns), Not(Contains(pid)));
  s = Stop(pid, "sleep 30");  // again: already gone is success
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Stop(pid, "").code(), StatusCode::kInvalidArgument);
}

TEST_F(NetnsTest, LogIsAppendedNotTruncated) {
  const std::string ns = Ns("a");
  Status s = netns_.CreateNamespace(ns);
  ASSERT_TRUE(s.ok()) << s.ToString();
  const std::string log = dir_ + "/append.log";
  s = WriteFileAtomic(log, "earlier run\n", 0600);
  ASSERT_TRUE(s.ok()) << s.ToString();
  pid_t pid =
      Start(ns, {"sh", "-c", "echo to-stdout; echo to-stderr >&2; exec sleep 29"}, "sleep 29", log);
  ASSERT_GT(pid, 0);
  std::string text;
  for (int i = 0; i < 200; ++i) {  // up to 2 s
    auto r = ReadFile(log);
    if (r.ok()) text = *r;
    if (text.find("to-stderr") != std::string::npos &&
        text.find("to-stdout") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(text.rfind("earlier run\n", 0), 0u) << text;
  EXPECT_THAT(text, HasSubstr("to-stdout\n"));
  EXPECT_THAT(text, HasSubstr("to-stderr\n"));
}

TEST_F(NetnsTest, StartFailsClearly) {
  const std::string ns = Ns("a");
  auto r = netns_.StartInNamespace(ns, {"sleep", "30"}, dir_ + "/x.log");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
  EXPECT_THAT(r.status().message(), HasSubstr("create it first"));

  Status s = netns_.CreateNamespace(ns);
  ASSERT_TRUE(s.ok()) << s.ToString();
  r = netns_.StartInNamespace(ns, {"no-such-program-carrierarr"}, dir_ + "/x.log");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("not found in PATH"));
  r = netns_.StartInNamespace(ns, {}, dir_ + "/x.log");
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = netns_.StartInNamespace(ns, {"sleep", "30"}, dir_ + "/no/such/dir/x.log");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("no/such/dir/x.log"));
  EXPECT_TRUE(netns_.NamespacePids(ns).empty());
}

TEST_F(NetnsTest, StopEscalatesToSigkill) {
  const std::string ns = Ns("a");
  Status s = netns_.CreateNamespace(ns);
  ASSERT_TRUE(s.ok()) << s.ToString();
  // SIGTERM is ignored, and stays ignored across the exec. The marker is whole arguments, so
  // it is found once sh has become sleep.
  pid_t pid = Start(ns, {"sh", "-c", "trap '' TERM; exec sleep 28"}, "sleep 28");
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(WaitIgnoresSigterm(pid));
  bool became_sleep = false;
  for (int i = 0; i < 300 && !became_sleep; ++i) {  // up to 3 s
    became_sleep = Processes().ProcessMatches(pid, "sleep 28");
    if (!became_sleep) std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_TRUE(became_sleep);
  auto start = steady_clock::now();
  s = Stop(pid, "sleep 28", milliseconds(200));
  auto took = steady_clock::now() - start;
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_GE(took, milliseconds(200));
  EXPECT_LT(took, milliseconds(3000));
  EXPECT_FALSE(Processes().ProcessMatches(pid, "sleep 28"));
}

TEST_F(NetnsTest, DeleteNamespaceKillsLeftoverProcesses) {
  const std::string ns = Ns("a");
  Status s = netns_.CreateNamespace(ns);
  ASSERT_TRUE(s.ok()) << s.ToString();
  pid_t polite = Start(ns, {"sleep", "27"}, "sleep 27");
  pid_t stubborn = Start(ns, {"sh", "-c", "trap '' TERM; exec sleep 26"}, "sleep 26");
  ASSERT_GT(polite, 0);
  ASSERT_GT(stubborn, 0);
  ASSERT_TRUE(WaitIgnoresSigterm(stubborn));
  EXPECT_THAT(netns_.NamespacePids(ns), ::testing::IsSupersetOf({polite, stubborn}));

  auto start = steady_clock::now();
  s = netns_.DeleteNamespace(ns, milliseconds(200));
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_LT(steady_clock::now() - start, milliseconds(3000));
  EXPECT_FALSE(netns_.NamespaceExists(ns));
  EXPECT_FALSE(SleepAlive(polite));
  EXPECT_FALSE(SleepAlive(stubborn));
  EXPECT_TRUE(netns_.NamespacePids(ns).empty());
}

}  // namespace
}  // namespace carrierarr::local
