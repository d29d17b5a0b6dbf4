// End to end: the real `carrierarr` binary brings fleets up on the local provider (network
// namespaces on this machine, the real `nebula` in each), and the tests check what an operator
// would: every node pings every other over the mesh, `status` and `doctor` agree, `down` leaves
// nothing behind, a run killed at any step is finished by the next one, bad input changes nothing.
//
// Needs root, nebula, iproute2 and iputils-ping: without them every test FAILS (never skips) and
// says so. Network rule: traffic only flows between namespaces the tests made; underlays are in
// 198.18.0.0/15, meshes in 10.42.0.0/16 (10.43.0.0/16 for a second fleet), and the root namespace
// gets no mesh route. Fleets are named "e<pid>-<tag>", so parallel test processes never share a
// namespace; TearDown runs `carrierarr down` and then removes, by pid and by name, whatever of
// ours is left, even after a failure. Every wait is bounded.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/file_util.h"
#include "core/subprocess.h"
#include "testing/process.h"
#include "testing/tools.h"

namespace carrierarr {
namespace {

using ::carrierarr::testing::CarrierarrBinary;
using ::carrierarr::testing::DescribeWaitStatus;
using ::carrierarr::testing::RequireProgram;
using ::carrierarr::testing::ScratchDir;
using ::carrierarr::testing::Slurp;
using ::carrierarr::testing::StreamingProcess;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kNetnsDir[] = "/run/netns";
// A whole `up` of a small fleet takes well under a second; these only bound a hung run.
constexpr seconds kCommandTimeout{60};

// ---------------------------------------------------------------------------------------------
// fleet.yaml

struct Pool {
  std::string name;
  std::string type;  // gpu-worker | cpu-worker
  int count = 1;
};

// The issue's fleet: lighthouse, homelab and two workers.
const std::vector<Pool> kTwoWorkers = {{"gpu", "gpu-worker", 1}, {"cpu", "cpu-worker", 1}};

// The resources of a local fleet of `nodes` nodes: per node its certificate, nebula config,
// namespace, nebula, agent enrollment token and agent; once the CA, the enrollment key, the
// underlay and the control plane. (The issue's fleet: 4 nodes, 28 resources.)
constexpr int ResourcesOf(int nodes) { return 6 * nodes + 4; }

// A fleet.yaml with the mesh `<mesh16>.0.0/16` (e.g. "10.42"). Line numbers matter to the
// bad-input tests, which edit this text: keep the layout.
std::string FleetYaml(const std::string& name, const std::vector<Pool>& pools,
                      const std::string& mesh16 = "10.42") {
  std::string y = "name: " + name +  // 1
                  "\nmesh:\n"        // 2
                  "  cidr: " +
                  mesh16 + ".0.0/16\n" +       // 3
                  "  lighthouse_port: 4242\n"  // 4
                  "lighthouse:\n"              // 5
                  "  provider: local\n"        // 6
                  "homelab:\n"                 // 7
                  "  mesh_ip: " +
                  mesh16 + ".1.1\n" +  // 8
                  "pools:\n";          // 9
  for (const auto& p : pools) {
    y += "  - name: " + p.name + "\n" +                   // 10, 13, ...
         "    type: " + p.type + "\n" +                   // 11, 14, ...
         "    count: " + std::to_string(p.count) + "\n";  // 12, 15, ...
  }
  y += "providers:\n"
       "  local:\n"
       "    underlay: 198.18.0.0/15\n";
  return y;
}

// ---------------------------------------------------------------------------------------------
// Running things

RunResult RunProgram(const std::vector<std::string>& argv, const std::string& dir = "",
                     std::chrono::milliseconds timeout = kCommandTimeout) {
  RunOptions options;
  options.working_dir = dir;
  options.timeout = timeout;
  auto r = Run(argv, options);
  if (!r.ok()) {
    ADD_FAILURE() << "cannot run " << argv[0] << ": " << r.status().ToString();
    return {};
  }
  return *r;
}

std::string Describe(const RunResult& r) {
  std::string how = r.timed_out  ? "timed out"
                    : r.signaled ? "killed by signal " + std::to_string(r.signal)
                                 : "exit " + std::to_string(r.exit_code);
  return how + "\n--- stdout:\n" + r.out + "--- stderr:\n" + r.err;
}

// One JSON document, or a test failure naming the text.
Json ParseJson(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) ADD_FAILURE() << "not JSON:\n" << text;
  return j;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// ---------------------------------------------------------------------------------------------
// What exists on the machine

std::vector<std::string> Namespaces(const std::string& prefix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(kNetnsDir, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool NamespaceExists(const std::string& ns) {
  return std::filesystem::exists(std::string(kNetnsDir) + "/" + ns);
}

// "pid: cmdline" of every live process (zombies are dead) whose command line mentions `needle`.
std::vector<std::string> ProcessesMentioning(const std::string& needle) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    std::string pid = e.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (pid == std::to_string(::getpid())) continue;
    auto stat = ReadFile("/proc/" + pid + "/stat");
    if (!stat.ok()) continue;
    size_t paren = stat->rfind(')');
    if (paren == std::string::npos || paren + 2 >= stat->size()) continue;
    char state = (*stat)[paren + 2];
    if (state == 'Z' || state == 'X') continue;
    auto cmdline = ReadFile("/proc/" + pid + "/cmdline");
    if (!cmdline.ok()) continue;
    std::replace(cmdline->begin(), cmdline->end(), '\0', ' ');
    if (cmdline->find(needle) != std::string::npos) out.push_back(pid + ": " + *cmdline);
  }
  return out;
}

std::vector<pid_t> NamespacePids(const std::string& ns) {
  std::vector<pid_t> out;
  RunResult r = RunProgram({"ip", "netns", "pids", ns}, "", seconds(10));
  for (const auto& line : Lines(r.out)) {
    if (!line.empty() && line.find_first_not_of("0123456789") == std::string::npos) {
      out.push_back(static_cast<pid_t>(std::stol(line)));
    }
  }
  return out;
}

// Link names in the root namespace ("eth0", "lo", ...).
std::set<std::string> RootLinks() {
  std::set<std::string> out;
  RunResult r = RunProgram({"ip", "-o", "link", "show"}, "", seconds(10));
  for (const auto& line : Lines(r.out)) {
    // "3: v0001@if2: <BROADCAST,...> ..." -> "v0001"
    size_t a = line.find(": ");
    if (a == std::string::npos) continue;
    size_t b = line.find_first_of(":@", a + 2);
    out.insert(line.substr(a + 2, b == std::string::npos ? std::string::npos : b - a - 2));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The fixture

struct NodeInfo {
  std::string name;
  std::string role;
  std::string mesh_ip;
  int pid = 0;
  bool healthy = false;
};

struct PlanCounts {
  int create = -1, replace = -1, del = -1, unchanged = -1;
  std::vector<Json> steps;
  // Ids of the steps with `action`.
  std::vector<std::string> Ids(const std::string& action) const {
    std::vector<std::string> out;
    for (const auto& s : steps) {
      if (s.value("action", "") == action) out.push_back(s.value("id", ""));
    }
    return out;
  }
  // Id -> reason of the steps with `action`.
  std::map<std::string, std::string> Reasons(const std::string& action) const {
    std::map<std::string, std::string> out;
    for (const auto& s : steps) {
      if (s.value("action", "") == action) out[s.value("id", "")] = s.value("reason", "");
    }
    return out;
  }
};

// Where to SIGKILL a streaming run: right after the first event line that matches (and `delay`
// later, to land inside the next step rather than at its start).
struct KillPoint {
  std::string event;  // "plan", "started", "succeeded"
  std::string id;     // step id; empty: any
  milliseconds delay{0};
  // The point is so close to the end that the run may finish before SIGKILL lands; that is
  // then no failure (the test goes on as after a kill).
  bool may_finish = false;
};

std::string ToString(const KillPoint& k) {
  return k.event + (k.id.empty() ? "" : " " + k.id) +
         (k.delay.count() > 0 ? " +" + std::to_string(k.delay.count()) + "ms" : "");
}

class FleetE2eTest : public ::testing::Test {
 protected:
  struct Fleet {
    std::string name;
    std::unique_ptr<ScratchDir> scratch;
    const std::string& dir() const { return scratch->path(); }
    std::string state_dir() const { return dir() + "/.carrierarr"; }
  };

  void SetUp() override {
    // First: TearDown cleans up by this prefix, and must never sweep with an empty one.
    prefix_ = "e" + std::to_string(::getpid()) + "-";
    ASSERT_EQ(::geteuid(), 0u)
        << "this test needs root: it makes network namespaces, veth links and bridges "
           "(run it as root, e.g. in CI's privileged job)";
    RequireProgram("nebula", "nebula");
    RequireProgram("ip", "iproute2");
    RequireProgram("ping", "iputils-ping");
    ASSERT_FALSE(HasFailure()) << "missing programs (see above)";
    ASSERT_TRUE(std::filesystem::exists(CarrierarrBinary())) << CarrierarrBinary();
    root_links_before_ = RootLinks();
    root_routes_before_ = RootMeshRoutes();
  }

  void TearDown() override {
    if (prefix_.empty() || ::geteuid() != 0) return;
    for (const auto& f : fleets_) {
      if (!std::filesystem::exists(f.state_dir())) continue;
      RunResult r = Cli(f, {"down"});
      if (r.exit_code != 0) std::cerr << "TearDown: down of " << f.name << ": " << Describe(r);
    }
    // Last resort, each by its own pid: whatever still runs in our namespaces or from our
    // directories (a nebula in a namespace deleted by hand has no name to find it by).
    for (const auto& ns : Namespaces(prefix_)) {
      for (pid_t pid : NamespacePids(ns)) {
        std::cerr << "TearDown: killing " << pid << " left in " << ns << "\n";
        ::kill(pid, SIGKILL);
      }
      RunProgram({"ip", "netns", "del", ns}, "", seconds(10));
    }
    for (const auto& f : fleets_) {
      for (const auto& p : ProcessesMentioning(f.dir() + "/")) {
        std::cerr << "TearDown: killing " << p << "\n";
        ::kill(static_cast<pid_t>(std::stol(p)), SIGKILL);
      }
    }
    fleets_.clear();  // removes the scratch directories
  }

  // A scratch directory with a fleet.yaml for fleet "<prefix><tag>".
  Fleet& NewFleet(const std::string& tag, const std::vector<Pool>& pools = kTwoWorkers,
                  const std::string& mesh16 = "10.42") {
    Fleet f{prefix_ + tag, std::make_unique<ScratchDir>()};
    EXPECT_LE(f.name.size(), 12u) << f.name;
    WriteFleetYaml(f, pools, mesh16);
    fleets_.push_back(std::move(f));
    return fleets_.back();
  }

  void WriteFleetYaml(const Fleet& f, const std::vector<Pool>& pools,
                      const std::string& mesh16 = "10.42") {
    Status s = WriteFileAtomic(f.dir() + "/fleet.yaml", FleetYaml(f.name, pools, mesh16), 0644);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // Runs `carrierarr ARGS...` in the fleet's directory.
  RunResult Cli(const Fleet& f, std::vector<std::string> args) {
    args.insert(args.begin(), CarrierarrBinary());
    return RunProgram(args, f.dir());
  }

  void Up(const Fleet& f, std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), "up");
    RunResult r = Cli(f, extra);
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
  }

  void Down(const Fleet& f) {
    RunResult r = Cli(f, {"down"});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    EXPECT_THAT(r.out, HasSubstr("nothing of it is left")) << Describe(r);
  }

  PlanCounts Plan(const Fleet& f, std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), {"plan", "--json"});
    RunResult r = Cli(f, extra);
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    Json j = ParseJson(r.out);
    PlanCounts c;
    if (!j.is_object()) return c;
    c.create = j.value("create", -1);
    c.replace = j.value("replace", -1);
    c.del = j.value("delete", -1);
    c.unchanged = j.value("unchanged", -1);
    for (const auto& s : j.value("steps", Json::array())) c.steps.push_back(s);
    return c;
  }

  // `status --json`, by node name; `want_exit` 0 when every node should be healthy.
  std::map<std::string, NodeInfo> StatusOf(const Fleet& f, int want_exit = 0) {
    RunResult r = Cli(f, {"status", "--json"});
    EXPECT_EQ(r.exit_code, want_exit) << Describe(r);
    Json j = ParseJson(r.out);
    std::map<std::string, NodeInfo> out;
    if (!j.is_object()) return out;
    EXPECT_EQ(j.value("fleet", ""), f.name);
    for (const auto& n : j.value("nodes", Json::array())) {
      NodeInfo info{n.value("name", ""), n.value("role", ""), n.value("mesh_ip", ""),
                    n.value("pid", 0), n.value("healthy", false)};
      out[info.name] = info;
    }
    return out;
  }

  // Pids of the fleet's control plane and of the agents of `nodes`, by resource id
  // ("control-plane", "agent/<node>"); each is found by the state directory only it is given. A
  // test failure when one does not run exactly once (none, or a second one left beside it).
  std::map<std::string, int> DaemonPids(const Fleet& f,
                                        const std::map<std::string, NodeInfo>& nodes) {
    std::map<std::string, std::string> markers{{"control-plane", f.state_dir() + "/control"}};
    for (const auto& [name, n] : nodes)
      markers["agent/" + name] = f.state_dir() + "/agents/" + name;
    std::map<std::string, int> out;
    for (const auto& [id, dir] : markers) {
      auto procs = AgentOrControlPlane(dir);
      EXPECT_EQ(procs.size(), 1u) << f.name << ": " << id << " runs " << procs.size()
                                  << " times: " << ::testing::PrintToString(procs);
      if (procs.size() == 1) out[id] = std::stoi(procs[0]);
    }
    return out;
  }

  // The processes started with `--state-dir DIR` ("pid: cmdline"): a control plane or an agent.
  static std::vector<std::string> AgentOrControlPlane(const std::string& dir) {
    return ProcessesMentioning(" --state-dir " + dir + " ");  // whole arguments: gpu-1, not gpu-10
  }

  // Every node healthy, with a running nebula; returns them.
  std::map<std::string, NodeInfo> ExpectHealthy(const Fleet& f, size_t nodes) {
    auto status = StatusOf(f, 0);
    EXPECT_EQ(status.size(), nodes);
    for (const auto& [name, n] : status) {
      EXPECT_TRUE(n.healthy) << f.name << ": " << name << " is not healthy";
      EXPECT_GT(n.pid, 0) << f.name << ": " << name << " has no nebula pid";
    }
    return status;
  }

  // From every node's namespace, one ping to every other node's mesh address, retried a few
  // times (the first packet between two workers waits for their handshake via the lighthouse).
  void ExpectFullMesh(const Fleet& f, const std::map<std::string, NodeInfo>& nodes) {
    const auto deadline = Clock::now() + seconds(30);
    for (const auto& [from, a] : nodes) {
      for (const auto& [to, b] : nodes) {
        if (from == to) continue;
        bool ok = false;
        std::string last;
        for (int attempt = 0; attempt < 5 && !ok && Clock::now() < deadline; ++attempt) {
          RunResult r = RunProgram(
              {"ip", "netns", "exec", f.name + "." + from, "ping", "-c", "1", "-W", "2", b.mesh_ip},
              "", seconds(10));
          ok = r.exit_code == 0;
          last = Describe(r);
        }
        EXPECT_TRUE(ok) << f.name << ": " << from << " cannot ping " << to << " (" << b.mesh_ip
                        << ") over the mesh; last try: " << last;
      }
    }
  }

  // The root namespace's routes into the meshes the tests use. Compared with what was there
  // before the test, so that a machine with routes of its own there (k3s uses 10.42.0.0/16 for
  // pods) does not fail the test.
  static std::set<std::string> RootMeshRoutes() {
    std::set<std::string> out;
    RunResult routes = RunProgram({"ip", "-4", "route", "show"}, "", seconds(10));
    for (const auto& line : Lines(routes.out)) {
      if (line.find("10.42.") != std::string::npos || line.find("10.43.") != std::string::npos) {
        out.insert(line);
      }
    }
    return out;
  }

  // The network rule: the root namespace never gets a route into a mesh, nor one of our links.
  void ExpectRootNamespaceUntouched() {
    for (const auto& route : RootMeshRoutes()) {
      EXPECT_EQ(root_routes_before_.count(route), 1u)
          << "a mesh route appeared in the root namespace: " << route;
    }
    for (const auto& link : RootLinks()) {
      if (root_links_before_.count(link) != 0) continue;
      EXPECT_THAT(link, Not(MatchesRegex("v[0-9a-f]{4}|nebula1|br0|eth0")))
          << "a link of ours appeared in the root namespace";
    }
  }

  // Nothing of fleet `f` is left: no state directory, namespace, process or link.
  void ExpectNothingLeft(const Fleet& f) {
    EXPECT_FALSE(std::filesystem::exists(f.state_dir())) << f.state_dir() << " left behind";
    EXPECT_THAT(Namespaces(f.name + "."), IsEmpty()) << "namespaces left behind";
    EXPECT_THAT(ProcessesMentioning(f.dir() + "/"), IsEmpty()) << "processes left behind";
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(f.dir())) {
      files.push_back(e.path().filename().string());
    }
    EXPECT_THAT(files, ElementsAre("fleet.yaml")) << "files left behind";
    ExpectRootNamespaceUntouched();
  }

  // Runs `carrierarr ARGS...` with its stdout streamed, and SIGKILLs it right after the first
  // line for which `kill_after(line as JSON)` holds. True when it was killed there; a test failure
  // when the run ended first.
  bool RunAndKill(const Fleet& f, const std::vector<std::string>& args,
                  const std::function<bool(const Json&)>& kill_after, milliseconds delay,
                  bool may_finish, const std::string& what) {
    StreamingProcess p;
    std::vector<std::string> argv{CarrierarrBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    Status s = p.Start(argv, f.dir());
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) return false;
    std::string seen;
    bool matched = false;
    const auto deadline = Clock::now() + seconds(30);
    while (!matched && Clock::now() < deadline) {
      auto line = p.ReadLine(seconds(10));
      if (!line) break;
      seen += *line + "\n";
      Json j = Json::parse(*line, nullptr, false);
      matched = !j.is_discarded() && kill_after(j);
    }
    if (matched) {
      if (delay.count() > 0) std::this_thread::sleep_for(delay);
      p.Signal(SIGKILL);
    }
    auto status = p.Wait(seconds(20));
    EXPECT_TRUE(status.has_value()) << what << ": the run did not end";
    EXPECT_TRUE(matched) << what << ": never reached the kill point; output:\n"
                         << seen << p.pending_out() << "stderr:\n"
                         << p.err();
    if (!matched || !status) return false;
    if (may_finish && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) return true;
    EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL)
        << what << ": the run ended (" << DescribeWaitStatus(*status)
        << ") before SIGKILL reached it; output:\n"
        << seen << p.err();
    return true;
  }

  // `up --json --parallelism 1` (one step at a time, so every kill point is a distinct moment),
  // killed at `at`.
  bool KillUpAt(const Fleet& f, const KillPoint& at) {
    return RunAndKill(
        f, {"up", "--json", "--parallelism", "1"},
        [&](const Json& j) {
          return j.value("event", "") == at.event && (at.id.empty() || j.value("id", "") == at.id);
        },
        at.delay, at.may_finish, "up killed after " + ToString(at));
  }

  std::string prefix_;
  std::set<std::string> root_links_before_;
  std::set<std::string> root_routes_before_;
  std::deque<Fleet> fleets_;  // a deque: references to its fleets stay valid
};

// Node name -> mesh IP.
std::map<std::string, std::string> Addresses(const std::map<std::string, NodeInfo>& nodes) {
  std::map<std::string, std::string> out;
  for (const auto& [name, n] : nodes) out[name] = n.mesh_ip;
  return out;
}

std::map<std::string, int> Pids(const std::map<std::string, NodeInfo>& nodes) {
  std::map<std::string, int> out;
  for (const auto& [name, n] : nodes) out[name] = n.pid;
  return out;
}

// ---------------------------------------------------------------------------------------------
// The mesh, status, idempotence, down

TEST_F(FleetE2eTest, UpMeshesEveryNodeAndDownLeavesNothing) {
  Fleet& f = NewFleet("a");

  RunResult up = Cli(f, {"up", "--json"});
  ASSERT_EQ(up.exit_code, 0) << Describe(up);
  // Every line is one JSON object: the plan, a started and a succeeded event per step, done.
  std::vector<Json> events;
  for (const auto& line : Lines(up.out)) events.push_back(ParseJson(line));
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.front().value("event", ""), "plan");
  EXPECT_EQ(events.front().value("create", -1), ResourcesOf(4));
  std::map<std::string, std::vector<std::string>> by_step;
  std::map<std::string, size_t> started_at, succeeded_at;  // event line of each step
  for (size_t i = 1; i + 1 < events.size(); ++i) {
    const std::string id = events[i].value("id", ""), event = events[i].value("event", "");
    by_step[id].push_back(event);
    (event == "started" ? started_at : succeeded_at)[id] = i;
  }
  EXPECT_EQ(by_step.size(), static_cast<size_t>(ResourcesOf(4)));
  for (const auto& [id, seq] : by_step) {
    EXPECT_THAT(seq, ElementsAre("started", "succeeded")) << id;
  }
  // The control plane and every node's token and agent are among them, each started only once
  // what it needs is made: the control plane the homelab's nebula (it listens on the mesh) and
  // the enrollment key (it trusts its public half), a token the key (which signs it), an agent
  // its node's nebula, its token and the control plane.
  std::vector<std::pair<std::string, std::string>> needs{{"control-plane", "nebula/homelab"},
                                                         {"control-plane", "enrollment-key"}};
  for (const std::string node : {"lighthouse", "homelab", "gpu-1", "cpu-1"}) {
    needs.push_back({"agent-token/" + node, "enrollment-key"});
    needs.push_back({"agent/" + node, "nebula/" + node});
    needs.push_back({"agent/" + node, "agent-token/" + node});
    needs.push_back({"agent/" + node, "control-plane"});
  }
  for (const auto& [step, dep] : needs) {
    if (started_at.count(step) == 0 || succeeded_at.count(dep) == 0) {
      ADD_FAILURE() << step << " or " << dep << " was not made:\n" << up.out;
      continue;
    }
    EXPECT_GT(started_at[step], succeeded_at[dep])
        << step << " started before " << dep << " was made";
  }
  EXPECT_EQ(events.back(), (Json{{"event", "done"},
                                 {"nodes", 4},
                                 {"meshed", 4},
                                 {"cloud", 0},
                                 {"unmeasured", 0},
                                 {"stopped", 0},
                                 {"seconds", events.back().value("seconds", 0.0)}}));

  EXPECT_THAT(Namespaces(f.name + "."),
              UnorderedElementsAre(f.name + ".lighthouse", f.name + ".homelab", f.name + ".gpu-1",
                                   f.name + ".cpu-1", f.name + ".ul"));
  ExpectRootNamespaceUntouched();

  auto nodes = ExpectHealthy(f, 4);
  EXPECT_EQ(Addresses(nodes), (std::map<std::string, std::string>{{"lighthouse", "10.42.0.1"},
                                                                  {"homelab", "10.42.1.1"},
                                                                  {"gpu-1", "10.42.2.1"},
                                                                  {"cpu-1", "10.42.2.2"}}));
  EXPECT_EQ(nodes["lighthouse"].role, "lighthouse");
  EXPECT_EQ(nodes["homelab"].role, "homelab");
  EXPECT_EQ(nodes["gpu-1"].role, "worker");
  ExpectFullMesh(f, nodes);
  const auto daemons = DaemonPids(f, nodes);  // one control plane, one agent per node
  EXPECT_EQ(daemons.size(), 5u);

  // doctor: every check passes on a healthy fleet.
  RunResult doctor = Cli(f, {"doctor", "--json"});
  EXPECT_EQ(doctor.exit_code, 0) << Describe(doctor);
  Json checks = ParseJson(doctor.out);
  EXPECT_EQ(checks.value("failed", -1), 0) << doctor.out;
  EXPECT_GE(checks.value("checks", Json::array()).size(), 10u) << doctor.out;
  for (const auto& c : checks.value("checks", Json::array())) {
    EXPECT_TRUE(c.value("ok", false)) << c.dump();
  }

  // A second `up` right after the first changes nothing.
  PlanCounts plan = Plan(f);
  EXPECT_EQ(plan.create, 0);
  EXPECT_EQ(plan.replace, 0);
  EXPECT_EQ(plan.del, 0);
  EXPECT_EQ(plan.unchanged, ResourcesOf(4));
  RunResult again = Cli(f, {"up"});
  ASSERT_EQ(again.exit_code, 0) << Describe(again);
  EXPECT_THAT(again.out, HasSubstr("Plan: 0 to create, 0 to replace, 0 to delete, " +
                                   std::to_string(ResourcesOf(4)) + " unchanged."));
  EXPECT_THAT(again.out, HasSubstr("No changes. Fleet '" + f.name + "' is up: 4/4 nodes"));
  EXPECT_THAT(again.out, Not(HasSubstr("ok   create")));
  auto after = ExpectHealthy(f, 4);
  EXPECT_EQ(Pids(after), Pids(nodes)) << "a no-op up restarted nebula";
  EXPECT_EQ(DaemonPids(f, after), daemons) << "a no-op up restarted the control plane or an agent";
  PlanCounts plan2 = Plan(f);
  EXPECT_EQ(plan2.create + plan2.replace + plan2.del, 0);

  RunResult down = Cli(f, {"down"});
  ASSERT_EQ(down.exit_code, 0) << Describe(down);
  EXPECT_THAT(down.out, HasSubstr("Removed " + std::to_string(ResourcesOf(4)) +
                                  " resources of fleet '" + f.name + "'; nothing of it is left."));
  ExpectNothingLeft(f);

  // Read-only commands on a fleet that is down create nothing either.
  RunResult status = Cli(f, {"status"});
  EXPECT_EQ(status.exit_code, 1) << Describe(status);
  EXPECT_THAT(status.out, HasSubstr("not deployed"));
  PlanCounts fresh = Plan(f);
  EXPECT_EQ(fresh.create, ResourcesOf(4));
  RunResult down_again = Cli(f, {"down"});
  EXPECT_EQ(down_again.exit_code, 0) << Describe(down_again);
  EXPECT_THAT(down_again.out, HasSubstr("Nothing to remove"));
  ExpectNothingLeft(f);
}

// ---------------------------------------------------------------------------------------------
// The control plane and the agents

// The control plane runs in the homelab namespace, every node's agent registers with it over
// the mesh with its own single-use token, and the operator reaches it through the unix socket.
TEST_F(FleetE2eTest, AgentsRegisterOverTheMeshAndACommandRoundTrips) {
  Fleet& f = NewFleet("g");
  Up(f);
  // Each agent registered during `up` (its readiness check); statuses follow within seconds.
  Json nodes;
  for (int i = 0; i < 100; ++i) {  // 10 s
    RunResult r = Cli(f, {"nodes", "--json"});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    nodes = ParseJson(r.out);
    size_t reporting = 0;
    for (const auto& n : nodes.value("nodes", Json::array()))
      reporting += n.value("lifecycle", "") == "connected" && n.contains("last_status") ? 1 : 0;
    if (reporting == 4) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  std::map<std::string, Json> by_name;
  for (const auto& n : nodes.value("nodes", Json::array())) by_name[n.value("node_id", "")] = n;
  ASSERT_EQ(by_name.size(), 4u) << nodes.dump(2);
  for (const char* name : {"lighthouse", "homelab", "gpu-1", "cpu-1"}) {
    ASSERT_EQ(by_name.count(name), 1u) << name;
    EXPECT_EQ(by_name[name].value("lifecycle", ""), "connected") << name;
    EXPECT_TRUE(by_name[name].contains("last_status")) << name << " sent no status";
  }
  // Registered from inside its namespace: the mesh address the agent found on its tun device.
  EXPECT_EQ(by_name["gpu-1"].value("nebula_ip", ""), "10.42.2.1");
  EXPECT_EQ(by_name["gpu-1"].value("node_type", ""), "NODE_TYPE_GPU_WORKER");

  // A command round trip: argv arrives as given (no shell, no splitting).
  RunResult exec = Cli(f, {"exec", "cpu-1", "--", "/bin/echo", "two  spaces", "'quoted'"});
  ASSERT_EQ(exec.exit_code, 0) << Describe(exec);
  EXPECT_EQ(exec.out, "two  spaces 'quoted'\n");
  // It ran in the node's network namespace: its tun device has the node's mesh address.
  RunResult ip =
      Cli(f, {"exec", "gpu-1", "--", "/usr/sbin/ip", "-4", "-o", "addr", "show", "dev", "nebula1"});
  ASSERT_EQ(ip.exit_code, 0) << Describe(ip);
  EXPECT_THAT(ip.out, HasSubstr("10.42.2.1/16"));
  // The exit code comes back.
  RunResult fails = Cli(f, {"exec", "homelab", "--", "/bin/false"});
  EXPECT_EQ(fails.exit_code, 1) << Describe(fails);

  // status shows what the agents report.
  RunResult st = Cli(f, {"status", "--json"});
  ASSERT_EQ(st.exit_code, 0) << Describe(st);
  for (const auto& n : ParseJson(st.out).value("nodes", Json::array()))
    EXPECT_EQ(n.value("agent", Json::object()).value("lifecycle", ""), "connected") << n.dump();

  // Mesh identity (last: it replaces cpu-1's registration): a tokenless agent that speaks only
  // the original protocol, in cpu-1's namespace, is cpu-1 (Nebula vouches for its source
  // address); claiming another node's id is refused; from the root namespace (the only way in
  // is the unix socket) it is refused too.
  const std::string original_agent = std::string(CARRIERARR_BINARY_DIR) + "/bin/original-agent";
  const std::string control_plane = by_name["homelab"].value("nebula_ip", "") + ":50051";
  RunResult mine = RunProgram({"ip", "netns", "exec", f.name + ".cpu-1", original_agent,
                               "--control-plane", control_plane, "--node-id", "cpu-1"},
                              "", seconds(30));
  EXPECT_EQ(mine.out, "registered cpu-1\n") << Describe(mine);
  RunResult other = RunProgram({"ip", "netns", "exec", f.name + ".cpu-1", original_agent,
                                "--control-plane", control_plane, "--node-id", "gpu-1"},
                               "", seconds(30));
  EXPECT_EQ(other.exit_code, 3) << Describe(other);
  EXPECT_THAT(other.out, HasSubstr("may register only as cpu-1, not gpu-1"));
  RunResult root =
      RunProgram({original_agent, "--control-plane",
                  "unix:" + f.state_dir() + "/control/serve.sock", "--node-id", "cpu-1"},
                 "", seconds(30));
  EXPECT_EQ(root.exit_code, 3) << Describe(root);
  EXPECT_THAT(root.out, HasSubstr("no enrollment token"));

  Down(f);
  ExpectNothingLeft(f);
}

// ---------------------------------------------------------------------------------------------
// Crashes: SIGKILL at many points of `up` and `down`

TEST_F(FleetE2eTest, UpKilledAtAnyStepIsFinishedByTheNextUp) {
  Fleet& f = NewFleet("k");
  // Spread over the run (parallelism 1 makes one resource at a time in dependency order, from
  // the CA to the agents, then waits for the mesh); the delayed ones land inside a step rather
  // than at its start. A sample, not every step: each point is a whole up, up and down.
  const std::vector<KillPoint> points = {
      {"plan", ""},                                    // addresses recorded, nothing made
      {"started", "ca"},                               // mid CA
      {"started", "enrollment-key"},                   // mid enrollment key
      {"succeeded", "cert/homelab"},                   // between certificates
      {"started", "underlay"},                         // mid bridge namespace
      {"started", "netns/homelab"},                    // mid node namespace
      {"started", "netns/cpu-1", milliseconds(15)},    // inside the veth setup
      {"succeeded", "netns/gpu-1"},                    // between namespaces
      {"started", "nebula/lighthouse"},                // mid nebula start
      {"started", "nebula/gpu-1", milliseconds(5)},    // inside the nebula start
      {"succeeded", "nebula/cpu-1"},                   // nebulas made, no control plane yet
      {"started", "control-plane", milliseconds(10)},  // inside the control plane's start
      {"started", "agent-token/gpu-1"},                // mid token
      {"succeeded", "agent-token/cpu-1"},              // tokens made, no agent yet
      {"started", "agent/homelab", milliseconds(10)},  // inside an agent's registration
      {"succeeded", "agent/cpu-1", {}, true},          // all made: waiting for the mesh
  };
  for (const auto& at : points) {
    SCOPED_TRACE("killed after " + ToString(at));
    if (!KillUpAt(f, at)) break;
    RunResult plan = Cli(f, {"plan", "--json"});
    EXPECT_EQ(plan.exit_code, 0) << Describe(plan);

    RunResult up = Cli(f, {"up"});
    EXPECT_EQ(up.exit_code, 0) << Describe(up);
    EXPECT_THAT(up.out, HasSubstr("4/4 nodes reach the lighthouse")) << Describe(up);
    auto nodes = ExpectHealthy(f, 4);
    // Exactly one nebula per node, one control plane and one agent per node: a killed run's
    // process was not left running beside it.
    for (const auto& [name, n] : nodes) {
      EXPECT_EQ(ProcessesMentioning(f.state_dir() + "/nebula/" + name + ".yml").size(), 1u) << name;
    }
    DaemonPids(f, nodes);
    PlanCounts settled = Plan(f);
    EXPECT_EQ(settled.create + settled.replace + settled.del, 0);

    Down(f);
    ExpectNothingLeft(f);
    if (HasFailure()) break;  // one broken point is enough to look at
  }
}

TEST_F(FleetE2eTest, UpKilledMidwayIsUndoneByDown) {
  Fleet& f = NewFleet("d");
  for (const KillPoint& at : std::vector<KillPoint>{{"started", "netns/gpu-1"},
                                                    {"started", "nebula/homelab"},
                                                    {"succeeded", "nebula/lighthouse"},
                                                    {"started", "control-plane", milliseconds(10)},
                                                    {"started", "agent/gpu-1", milliseconds(10)}}) {
    SCOPED_TRACE("killed after " + ToString(at));
    if (!KillUpAt(f, at)) break;
    Down(f);
    ExpectNothingLeft(f);
    if (HasFailure()) break;
  }
}

TEST_F(FleetE2eTest, DownKilledMidwayIsFinishedByTheNextDown) {
  Fleet& f = NewFleet("r");
  struct DownKill {
    KillPoint at;   // id "*last*": after the last step's event (the state directory goes next)
    bool up_again;  // resume with `up` (it must converge) before the final `down`
  };
  const std::vector<DownKill> points = {
      {{"succeeded", "agent/gpu-1"}, true},   // agents partly stopped: up makes them again
      {{"started", "control-plane"}, false},  // agents and tokens gone, mid control plane stop
      {{"started", "nebula/homelab"}, false},
      {{"succeeded", "nebula/lighthouse"}, true},
      {{"started", "netns/lighthouse"}, false},
      {{"started", "underlay", {}, true}, false},  // one of the last steps: may finish first
      {{"succeeded", "*last*", {}, true}, false},
  };
  for (const auto& p : points) {
    SCOPED_TRACE("down killed after " + ToString(p.at));
    Up(f);
    if (HasFatalFailure()) return;
    size_t steps = 0, finished = 0;
    bool killed = RunAndKill(
        f, {"down", "--json"},
        [&](const Json& j) {
          std::string event = j.value("event", "");
          if (event == "plan") steps = j.value("steps", Json::array()).size();
          if (event == "succeeded" || event == "failed") ++finished;
          if (p.at.id == "*last*") return steps > 0 && finished == steps;
          return event == p.at.event && j.value("id", "") == p.at.id;
        },
        p.at.delay, p.at.may_finish, "down killed after " + ToString(p.at));
    if (!killed) break;
    if (p.up_again) {
      RunResult up = Cli(f, {"up"});
      EXPECT_EQ(up.exit_code, 0) << Describe(up);
      DaemonPids(f, ExpectHealthy(f, 4));  // one control plane, one agent per node
    }
    RunResult down = Cli(f, {"down"});
    EXPECT_EQ(down.exit_code, 0) << Describe(down);
    ExpectNothingLeft(f);
    if (HasFailure()) break;
  }
}

// ---------------------------------------------------------------------------------------------
// The lock

TEST_F(FleetE2eTest, ASecondConcurrentUpFailsFastOnTheLock) {
  Fleet& f = NewFleet("l");
  StreamingProcess first;
  ASSERT_TRUE(
      first.Start({CarrierarrBinary(), "up", "--json", "--parallelism", "1"}, f.dir()).ok());
  // Hold it still while it holds the lock: after its first step started, before it finishes.
  bool started = false;
  for (int i = 0; i < 100 && !started; ++i) {
    auto line = first.ReadLine(seconds(10));
    if (!line) break;
    started = ParseJson(*line).value("event", "") == "started";
  }
  ASSERT_TRUE(started) << first.err();
  ASSERT_TRUE(first.Signal(SIGSTOP));

  const auto t0 = Clock::now();
  RunResult second = Cli(f, {"up"});
  const auto waited = Clock::now() - t0;
  EXPECT_EQ(second.exit_code, 1) << Describe(second);
  EXPECT_LT(waited, seconds(5)) << "the second up waited for the lock instead of failing";
  EXPECT_THAT(second.err, HasSubstr("another carrierarr run holds the fleet's lock"));
  EXPECT_THAT(second.err, HasSubstr("(pid " + std::to_string(first.pid()) + ")"));
  RunResult down = Cli(f, {"down"});
  EXPECT_EQ(down.exit_code, 1) << Describe(down);
  EXPECT_THAT(down.err, HasSubstr("holds the fleet's lock"));
  // Reading needs no lock.
  RunResult plan = Cli(f, {"plan"});
  EXPECT_EQ(plan.exit_code, 0) << Describe(plan);

  ASSERT_TRUE(first.Signal(SIGCONT));
  auto status = first.Wait(seconds(60));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << DescribeWaitStatus(*status) << "\n"
      << first.err();
  ExpectHealthy(f, 4);
  Down(f);
  ExpectNothingLeft(f);
}

// ---------------------------------------------------------------------------------------------
// Fleets side by side; changes of fleet.yaml; drift; doctor

TEST_F(FleetE2eTest, TwoFleetsCoexistAndDownOfOneLeavesTheOther) {
  Fleet& a = NewFleet("a");
  Fleet& b = NewFleet("b", {{"cpu", "cpu-worker", 2}}, "10.43");
  Up(a);
  Up(b);
  ASSERT_FALSE(HasFatalFailure());
  auto nodes_a = ExpectHealthy(a, 4);
  auto nodes_b = ExpectHealthy(b, 4);
  ExpectFullMesh(a, nodes_a);
  ExpectFullMesh(b, nodes_b);
  const auto daemons_b = DaemonPids(b, nodes_b);  // each fleet has its own control plane
  // The meshes are separate: fleet a has no way into fleet b's mesh.
  RunResult cross = RunProgram(
      {"ip", "netns", "exec", a.name + ".homelab", "ping", "-c", "1", "-W", "1", "10.43.0.1"}, "",
      seconds(10));
  EXPECT_NE(cross.exit_code, 0) << Describe(cross);

  Down(a);
  ExpectNothingLeft(a);
  auto still = ExpectHealthy(b, 4);
  EXPECT_EQ(Pids(still), Pids(nodes_b)) << "down of one fleet touched the other";
  EXPECT_EQ(DaemonPids(b, still), daemons_b) << "down of one fleet touched the other's agents";
  EXPECT_EQ(Namespaces(b.name + ".").size(), 5u);
  ExpectFullMesh(b, still);
  Down(b);
  ExpectNothingLeft(b);
}

TEST_F(FleetE2eTest, CountChangeTouchesOnlyThatNode) {
  Fleet& f = NewFleet("c", {{"w", "cpu-worker", 2}});
  Up(f);
  ASSERT_FALSE(HasFatalFailure());
  auto before = ExpectHealthy(f, 4);
  const auto daemons_before = DaemonPids(f, before);

  // 2 -> 3 workers: one node's resources to create (its agent and that agent's token included),
  // nothing else.
  WriteFleetYaml(f, {{"w", "cpu-worker", 3}});
  PlanCounts grow = Plan(f);
  EXPECT_EQ(grow.replace, 0);
  EXPECT_EQ(grow.del, 0);
  EXPECT_THAT(grow.Ids("create"),
              UnorderedElementsAre("cert/w-3", "config/w-3", "netns/w-3", "nebula/w-3",
                                   "agent-token/w-3", "agent/w-3"));
  EXPECT_EQ(grow.unchanged, ResourcesOf(4));
  Up(f);
  auto grown = ExpectHealthy(f, 5);
  ASSERT_EQ(grown.count("w-3"), 1u);
  EXPECT_EQ(grown["w-3"].mesh_ip, "10.42.2.3");
  for (const auto& [name, n] : before) {
    EXPECT_EQ(grown[name].mesh_ip, n.mesh_ip) << name << " changed its address";
    EXPECT_EQ(grown[name].pid, n.pid) << name << "'s nebula was restarted";
  }
  auto daemons_grown = DaemonPids(f, grown);
  EXPECT_EQ(daemons_grown.count("agent/w-3"), 1u) << "the new node has no agent";
  daemons_grown.erase("agent/w-3");
  EXPECT_EQ(daemons_grown, daemons_before) << "the control plane or another agent was restarted";
  ExpectFullMesh(f, grown);

  // Back to 2: that node's resources to delete, only them.
  WriteFleetYaml(f, {{"w", "cpu-worker", 2}});
  PlanCounts shrink = Plan(f);
  EXPECT_EQ(shrink.create, 0);
  EXPECT_EQ(shrink.replace, 0);
  EXPECT_THAT(shrink.Ids("delete"),
              UnorderedElementsAre("cert/w-3", "config/w-3", "netns/w-3", "nebula/w-3",
                                   "agent-token/w-3", "agent/w-3"));
  EXPECT_EQ(shrink.unchanged, ResourcesOf(4));

  // --skip-teardown keeps them.
  PlanCounts kept = Plan(f, {"--skip-teardown"});
  EXPECT_EQ(kept.create + kept.replace + kept.del, 0);
  Up(f, {"--skip-teardown"});
  EXPECT_TRUE(NamespaceExists(f.name + ".w-3"));
  EXPECT_EQ(ProcessesMentioning(f.state_dir() + "/nebula/w-3.yml").size(), 1u);
  EXPECT_EQ(AgentOrControlPlane(f.state_dir() + "/agents/w-3").size(), 1u);
  PlanCounts still = Plan(f);
  EXPECT_EQ(still.del, ResourcesOf(5) - ResourcesOf(4))
      << "what --skip-teardown kept is still recorded, to delete later";

  // A plain `up` deletes them, and only them.
  Up(f);
  EXPECT_FALSE(NamespaceExists(f.name + ".w-3"));
  EXPECT_THAT(ProcessesMentioning(f.state_dir() + "/nebula/w-3.yml"), IsEmpty());
  EXPECT_THAT(AgentOrControlPlane(f.state_dir() + "/agents/w-3"), IsEmpty());
  auto shrunk = ExpectHealthy(f, 4);
  EXPECT_EQ(Pids(shrunk), Pids(before));
  EXPECT_EQ(DaemonPids(f, shrunk), daemons_before);
  EXPECT_EQ(Addresses(shrunk), Addresses(before));
  EXPECT_EQ(Namespaces(f.name + ".").size(), 5u);
  Down(f);
  ExpectNothingLeft(f);
}

TEST_F(FleetE2eTest, NamespaceDeletedByHandIsPlannedAndRepaired) {
  Fleet& f = NewFleet("h");
  Up(f);
  ASSERT_FALSE(HasFatalFailure());
  auto before = ExpectHealthy(f, 4);
  const auto daemons_before = DaemonPids(f, before);
  RunResult del = RunProgram({"ip", "netns", "del", f.name + ".gpu-1"}, "", seconds(10));
  ASSERT_EQ(del.exit_code, 0) << Describe(del);

  // The namespace, and what ran in it: its nebula and its agent. The agent's token (a file in the
  // state directory) and the control plane are untouched.
  PlanCounts drift = Plan(f);
  EXPECT_THAT(drift.Ids("create"),
              UnorderedElementsAre("netns/gpu-1", "nebula/gpu-1", "agent/gpu-1"));
  EXPECT_EQ(drift.replace + drift.del, 0);
  for (const auto& s : drift.steps) {
    if (s.value("action", "") == "create") {
      EXPECT_THAT(s.value("reason", ""), HasSubstr("missing")) << s.dump();
    }
  }
  RunResult up = Cli(f, {"up"});
  ASSERT_EQ(up.exit_code, 0) << Describe(up);
  EXPECT_THAT(up.out, HasSubstr("Plan: 3 to create, 0 to replace, 0 to delete"));
  auto repaired = ExpectHealthy(f, 4);
  EXPECT_EQ(Addresses(repaired), Addresses(before));
  EXPECT_NE(repaired["gpu-1"].pid, before["gpu-1"].pid);
  EXPECT_EQ(repaired["cpu-1"].pid, before["cpu-1"].pid) << "other nodes were restarted";
  // The nebula and the agent of the namespace deleted by hand kept running in it, unreachable by
  // name: the repair must stop them, not leave two nebulas with one certificate or two agents
  // with one node's credential.
  EXPECT_EQ(ProcessesMentioning(f.state_dir() + "/nebula/gpu-1.yml").size(), 1u)
      << ::testing::PrintToString(ProcessesMentioning(f.state_dir() + "/nebula/gpu-1.yml"));
  auto daemons = DaemonPids(f, repaired);  // exactly one each
  EXPECT_NE(daemons["agent/gpu-1"], daemons_before.at("agent/gpu-1"));
  daemons.erase("agent/gpu-1");
  auto others_before = daemons_before;
  others_before.erase("agent/gpu-1");
  EXPECT_EQ(daemons, others_before) << "the control plane or other agents were restarted";
  // The new agent (its single-use token spent, it has the credential it was given) is back in
  // touch with the control plane over the re-made mesh: it reports the new namespace's nebula,
  // which only an agent inside that namespace sees.
  const std::string new_nebula = "pid " + std::to_string(repaired["gpu-1"].pid);
  auto nebula_reported = [](const Json& node) {
    return node.value("last_status", Json::object())
        .value("nebula", Json::object())
        .value("message", "");
  };
  Json gpu = Json::object();
  for (int i = 0; i < 150; ++i) {  // 15 s: it reports when it connects
    RunResult r = Cli(f, {"nodes", "--json"});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    for (const auto& n : ParseJson(r.out).value("nodes", Json::array()))
      if (n.value("node_id", "") == "gpu-1") gpu = n;
    if (gpu.value("lifecycle", "") == "connected" && nebula_reported(gpu) == new_nebula) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(gpu.value("lifecycle", ""), "connected") << gpu.dump(2);
  EXPECT_EQ(nebula_reported(gpu), new_nebula)
      << "gpu-1's agent did not report from the re-made namespace: " << gpu.dump(2);
  ExpectFullMesh(f, repaired);
  Down(f);
  ExpectNothingLeft(f);
}

TEST_F(FleetE2eTest, DoctorReportsAKilledLighthouseWithAFix) {
  Fleet& f = NewFleet("o");
  Up(f);
  ASSERT_FALSE(HasFatalFailure());
  auto nodes = ExpectHealthy(f, 4);
  const auto daemons_before = DaemonPids(f, nodes);
  const int pid = nodes["lighthouse"].pid;
  ASSERT_GT(pid, 0);
  // Signalled only once it is certain that this pid is the lighthouse's nebula of this test.
  auto lighthouse = ProcessesMentioning(f.state_dir() + "/nebula/lighthouse.yml");
  ASSERT_EQ(lighthouse.size(), 1u);
  ASSERT_EQ(lighthouse[0].substr(0, lighthouse[0].find(':')), std::to_string(pid));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  const auto deadline = Clock::now() + seconds(10);
  while (!ProcessesMentioning(f.state_dir() + "/nebula/lighthouse.yml").empty() &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_THAT(ProcessesMentioning(f.state_dir() + "/nebula/lighthouse.yml"), IsEmpty());

  RunResult doctor = Cli(f, {"doctor", "--json"});
  EXPECT_EQ(doctor.exit_code, 1) << Describe(doctor);
  Json report = ParseJson(doctor.out);
  EXPECT_GE(report.value("failed", 0), 1);
  bool port_check = false;
  for (const auto& c : report.value("checks", Json::array())) {
    if (c.value("ok", true)) continue;
    EXPECT_FALSE(c.value("fix", "").empty()) << "a failed check without a fix: " << c.dump();
    if (c.value("check", "") == "lighthouse port") {
      port_check = true;
      EXPECT_THAT(c.value("detail", ""), HasSubstr("nothing listens on UDP 4242"));
      EXPECT_THAT(c.value("fix", ""), HasSubstr("carrierarr up"));
    }
  }
  EXPECT_TRUE(port_check) << doctor.out;
  RunResult text = Cli(f, {"doctor"});
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_THAT(text.out, HasSubstr("FAIL  lighthouse port"));
  EXPECT_THAT(text.out, HasSubstr("      fix: "));

  auto broken = StatusOf(f, 1);
  EXPECT_FALSE(broken["lighthouse"].healthy);
  // The other nebulas start after the lighthouse's, so they are re-made with it, and with them
  // what runs over the mesh: the control plane (on the homelab's nebula) and every agent (on its
  // node's nebula). Certificates, configs, namespaces, the enrollment key and the tokens (signed
  // offline with it) stay.
  PlanCounts repair = Plan(f);
  EXPECT_THAT(repair.Ids("create"), ElementsAre("nebula/lighthouse"));
  std::map<std::string, std::string> remade{{"control-plane", "re-made with nebula/homelab"}};
  for (const std::string node : {"lighthouse", "homelab", "gpu-1", "cpu-1"}) {
    if (node != "lighthouse") remade["nebula/" + node] = "re-made with nebula/lighthouse";
    remade["agent/" + node] = "re-made with nebula/" + node;
  }
  EXPECT_EQ(repair.Reasons("replace"), remade);
  EXPECT_EQ(repair.del, 0);
  EXPECT_EQ(repair.unchanged, ResourcesOf(4) - 1 - static_cast<int>(remade.size()));

  // What doctor says to do works.
  Up(f);
  auto fixed_nodes = ExpectHealthy(f, 4);
  // Each daemon re-made once: one control plane and one agent per node, none left from before.
  auto daemons = DaemonPids(f, fixed_nodes);
  EXPECT_EQ(daemons.size(), daemons_before.size());
  for (const auto& [id, old_pid] : daemons_before) {
    EXPECT_NE(daemons[id], old_pid) << id << " was not re-made";
  }
  RunResult fixed = Cli(f, {"doctor", "--json"});
  EXPECT_EQ(fixed.exit_code, 0) << Describe(fixed);
  Down(f);
  ExpectNothingLeft(f);
}

// A worker's nebula killed: it is started again, and its agent with it (the agent runs over that
// nebula); no other node, the control plane or another agent is touched.
TEST_F(FleetE2eTest, KilledNebulaIsRestartedWithItsAgentOnly) {
  Fleet& f = NewFleet("n");
  Up(f);
  ASSERT_FALSE(HasFatalFailure());
  auto nodes = ExpectHealthy(f, 4);
  const auto daemons_before = DaemonPids(f, nodes);
  const int pid = nodes["gpu-1"].pid;
  auto nebula = ProcessesMentioning(f.state_dir() + "/nebula/gpu-1.yml");
  ASSERT_EQ(nebula.size(), 1u);
  ASSERT_EQ(nebula[0].substr(0, nebula[0].find(':')), std::to_string(pid));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  const auto deadline = Clock::now() + seconds(10);
  while (!ProcessesMentioning(f.state_dir() + "/nebula/gpu-1.yml").empty() &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_THAT(ProcessesMentioning(f.state_dir() + "/nebula/gpu-1.yml"), IsEmpty());

  PlanCounts plan = Plan(f);
  EXPECT_THAT(plan.Ids("create"), ElementsAre("nebula/gpu-1"));
  EXPECT_EQ(plan.Reasons("replace"),
            (std::map<std::string, std::string>{{"agent/gpu-1", "re-made with nebula/gpu-1"}}));
  EXPECT_EQ(plan.del, 0);
  EXPECT_EQ(plan.unchanged, ResourcesOf(4) - 2);

  RunResult up = Cli(f, {"up"});
  ASSERT_EQ(up.exit_code, 0) << Describe(up);
  EXPECT_THAT(up.out, HasSubstr("Plan: 1 to create, 1 to replace, 0 to delete"));
  auto after = ExpectHealthy(f, 4);
  EXPECT_NE(after["gpu-1"].pid, pid);
  for (const char* other : {"lighthouse", "homelab", "cpu-1"}) {
    EXPECT_EQ(after[other].pid, nodes[other].pid) << other << "'s nebula was restarted";
  }
  auto daemons = DaemonPids(f, after);  // exactly one each: the old agent was stopped
  EXPECT_NE(daemons["agent/gpu-1"], daemons_before.at("agent/gpu-1"))
      << "its agent was not re-made";
  daemons.erase("agent/gpu-1");
  auto others_before = daemons_before;
  others_before.erase("agent/gpu-1");
  EXPECT_EQ(daemons, others_before) << "the control plane or another agent was restarted";
  PlanCounts settled = Plan(f);
  EXPECT_EQ(settled.create + settled.replace + settled.del, 0);
  Down(f);
  ExpectNothingLeft(f);
}

TEST_F(FleetE2eTest, TargetedUpMakesOnlyWhatTheTargetNeeds) {
  Fleet& f = NewFleet("t");
  const auto t0 = Clock::now();
  RunResult up = Cli(f, {"up", "--target", "nebula/gpu-1"});
  ASSERT_EQ(up.exit_code, 0) << Describe(up);
  EXPECT_LT(Clock::now() - t0, seconds(10)) << "it waited for nodes it was not asked to make";
  EXPECT_THAT(Namespaces(f.name + "."),
              UnorderedElementsAre(f.name + ".lighthouse", f.name + ".gpu-1", f.name + ".ul"));
  RunResult ping = RunProgram(
      {"ip", "netns", "exec", f.name + ".gpu-1", "ping", "-c", "1", "-W", "2", "10.42.0.1"}, "",
      seconds(10));
  EXPECT_EQ(ping.exit_code, 0) << Describe(ping);
  EXPECT_THAT(AgentOrControlPlane(f.state_dir() + "/control"), IsEmpty())
      << "the control plane was started, but nebula/gpu-1 does not need it";
  PlanCounts rest = Plan(f);
  // All but the CA, the underlay and the lighthouse's and gpu-1's cert, config, namespace and
  // nebula: homelab's and cpu-1's four, the enrollment key, the control plane, every node's
  // token and agent.
  EXPECT_EQ(rest.create, ResourcesOf(4) - (2 + 2 * 4));

  // An agent needs its node's nebula, its token and the control plane; the control plane needs
  // the homelab's nebula and the enrollment key. So the homelab is made as well, and cpu-1 is not.
  PlanCounts agent = Plan(f, {"--target", "agent/gpu-1"});
  EXPECT_THAT(
      agent.Ids("create"),
      UnorderedElementsAre("cert/homelab", "config/homelab", "netns/homelab", "nebula/homelab",
                           "enrollment-key", "control-plane", "agent-token/gpu-1", "agent/gpu-1"));
  EXPECT_EQ(agent.replace + agent.del, 0);
  Up(f, {"--target", "agent/gpu-1"});
  EXPECT_THAT(Namespaces(f.name + "."),
              UnorderedElementsAre(f.name + ".lighthouse", f.name + ".homelab", f.name + ".gpu-1",
                                   f.name + ".ul"));
  EXPECT_EQ(AgentOrControlPlane(f.state_dir() + "/control").size(), 1u);
  EXPECT_EQ(AgentOrControlPlane(f.state_dir() + "/agents/gpu-1").size(), 1u);
  for (const char* node : {"lighthouse", "homelab", "cpu-1"}) {
    EXPECT_THAT(AgentOrControlPlane(f.state_dir() + "/agents/" + node), IsEmpty()) << node;
  }
  PlanCounts remaining = Plan(f);
  // cpu-1's cert, config, namespace, nebula; the other three agents and their tokens.
  EXPECT_THAT(
      remaining.Ids("create"),
      UnorderedElementsAre("cert/cpu-1", "config/cpu-1", "netns/cpu-1", "nebula/cpu-1",
                           "agent-token/lighthouse", "agent/lighthouse", "agent-token/homelab",
                           "agent/homelab", "agent-token/cpu-1", "agent/cpu-1"));
  EXPECT_EQ(remaining.replace + remaining.del, 0);

  Up(f);
  auto nodes = ExpectHealthy(f, 4);
  ExpectFullMesh(f, nodes);
  DaemonPids(f, nodes);  // one control plane, one agent per node
  Down(f);
  ExpectNothingLeft(f);
}

// ---------------------------------------------------------------------------------------------
// Bad input: a clear message, exit 2, and nothing made

struct YamlCase {
  std::string name;
  std::string from, to;  // edit of FleetYaml()'s text
  std::string position;  // "fleet.yaml:LINE:COLUMN: "
  std::string message;   // part of what follows it
};

TEST_F(FleetE2eTest, BadFleetYamlIsRejectedWithItsPositionAndNothingIsMade) {
  Fleet& f = NewFleet("y");
  const std::string good = FleetYaml(f.name, kTwoWorkers);
  const std::vector<YamlCase> cases = {
      {"unknown key", "  lighthouse_port: 4242\n", "  lighthouse_port: 4242\n  colour: blue\n",
       "fleet.yaml:5:3: ", "unknown key 'colour' in mesh; allowed: cidr, lighthouse_port"},
      {"bad cidr", "10.42.0.0/16", "10.42.0.0/33",
       "fleet.yaml:3:9: ", "mesh.cidr: invalid CIDR address: 10.42.0.0/33"},
      {"bad cidr address", "10.42.0.0/16", "10.42.0.300/16",
       "fleet.yaml:3:9: ", "invalid CIDR address"},
      {"/24 mesh", "10.42.0.0/16", "10.42.0.0/24",
       "fleet.yaml:3:9: ", "mesh.cidr 10.42.0.0/24 is narrower than /16"},
      {"count too big", "count: 1", "count: 251",
       "fleet.yaml:12:12: ", "pool 'gpu'.count must be a whole number from 0 to 250, not '251'"},
      {"negative count", "count: 1", "count: -1", "fleet.yaml:12:12: ", "from 0 to 250"},
      {"count not a number", "count: 1", "count: many", "fleet.yaml:12:12: ", "not 'many'"},
      {"duplicate pool", "name: cpu", "name: gpu",
       "fleet.yaml:13:11: ", "pool name 'gpu' is already used"},
      {"pool named like a role", "name: cpu", "name: homelab",
       "fleet.yaml:13:11: ", "pool name 'homelab' is already used"},
      {"unknown pool type", "type: cpu-worker", "type: tpu-worker",
       "fleet.yaml:14:11: ", "must be gpu-worker or cpu-worker"},
      {"fleet name", "name: " + f.name, "name: Bad_Name",
       "fleet.yaml:1:7: ", "name 'Bad_Name' must be 1-12 lowercase letters"},
      {"fleet name too long", "name: " + f.name, "name: abcdefghijklm",
       "fleet.yaml:1:7: ", "must be 1-12"},
      {"homelab outside the mesh", "mesh_ip: 10.42.1.1", "mesh_ip: 10.50.1.1",
       "fleet.yaml:8:12: ", "homelab.mesh_ip 10.50.1.1 is outside mesh.cidr 10.42.0.0/16"},
      {"unknown provider", "  provider: local\n", "  provider: azure\n",
       "fleet.yaml:6:13: ", "lighthouse.provider 'azure' is not available"},
      {"port out of range", "lighthouse_port: 4242", "lighthouse_port: 70000",
       "fleet.yaml:4:20: ", "from 1 to 65535"},
      {"underlay overlapping the mesh", "198.18.0.0/15", "10.0.0.0/8", "fleet.yaml:", "overlaps"},
      {"not YAML", "name: " + f.name, "name: [" + f.name, "fleet.yaml:", "not valid YAML"},
      {"tab", "mesh:\n  cidr", "mesh:\n\tcidr", "fleet.yaml:", "not valid YAML"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_NE(good.find(c.from), std::string::npos) << c.from;
    std::string bad = good;
    bad.replace(bad.find(c.from), c.from.size(), c.to);
    ASSERT_TRUE(WriteFileAtomic(f.dir() + "/fleet.yaml", bad, 0644).ok());
    for (std::string command : {"plan", "up", "down", "status", "doctor"}) {
      SCOPED_TRACE(command);
      RunResult r = Cli(f, {command});
      EXPECT_EQ(r.exit_code, 2) << Describe(r);
      EXPECT_THAT(r.err, HasSubstr(c.position)) << Describe(r);
      EXPECT_THAT(r.err, HasSubstr(c.message)) << Describe(r);
      EXPECT_THAT(r.err, HasSubstr("Error: fleet.yaml is not valid; fix the lines above"));
      EXPECT_FALSE(std::filesystem::exists(f.state_dir())) << "partial state after a bad file";
    }
  }
  // The empty file says how to get a good one.
  ASSERT_TRUE(WriteFileAtomic(f.dir() + "/fleet.yaml", "", 0644).ok());
  RunResult empty = Cli(f, {"up"});
  EXPECT_EQ(empty.exit_code, 2) << Describe(empty);
  EXPECT_THAT(empty.err, HasSubstr("fleet.yaml:1:1: the file is empty; run 'carrierarr init'"));
  EXPECT_FALSE(std::filesystem::exists(f.state_dir()));
  EXPECT_THAT(Namespaces(prefix_), IsEmpty());
  ExpectRootNamespaceUntouched();
}

TEST_F(FleetE2eTest, BadFlagsAreUsageErrorsAndNothingIsMade) {
  Fleet& f = NewFleet("g");
  struct FlagCase {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<FlagCase> cases = {
      {{"up", "--bogus"}, "Error: flag provided but not defined: -bogus\nRun 'carrierarr up -h'"},
      {{"plan", "-x"}, "flag provided but not defined: -x"},
      {{"down", "--skip-teardown"}, "flag provided but not defined: -skip-teardown"},
      {{"up", "--parallelism", "0"}, "--parallelism must be a number from 1 to 64, not '0'"},
      {{"up", "--parallelism", "65"}, "--parallelism must be a number from 1 to 64, not '65'"},
      {{"up", "--parallelism", "4x"}, "--parallelism must be a number from 1 to 64, not '4x'"},
      {{"up", "--parallelism"}, "flag needs an argument: -parallelism"},
      {{"up", "--json=maybe"}, "invalid boolean value \"maybe\" for -json"},
      {{"up", "--target", "netns/nope"},
       "--target netns/nope is not a resource of this fleet; see 'carrierarr plan'"},
      {{"up", "--target", "ca,nope"}, "--target nope is not a resource of this fleet"},
      {{"plan", "--target", "nope"}, "--target nope is not a resource of this fleet"},
      {{"down", "--target", "nope"}, "--target nope is not recorded in the state"},
      {{"up", "now"}, "unexpected argument \"now\""},
      {{"status", "extra"}, "unexpected argument \"extra\""},
      {{"launch"}, "Error: unknown command \"launch\""},
      {{"init", "-name", "Bad_Name"}, "-name 'Bad_Name' is not a valid fleet name"},
  };
  const std::string yaml = Slurp(f.dir() + "/fleet.yaml");
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c.args));
    RunResult r = Cli(f, c.args);
    EXPECT_EQ(r.exit_code, 2) << Describe(r);
    EXPECT_THAT(r.err, HasSubstr(c.message)) << Describe(r);
    EXPECT_THAT(r.err, Not(HasSubstr("Nothing is lost"))) << "nothing was started";
    EXPECT_FALSE(std::filesystem::exists(f.state_dir())) << "partial state after bad flags";
    EXPECT_EQ(Slurp(f.dir() + "/fleet.yaml"), yaml);
  }
  EXPECT_THAT(Namespaces(prefix_), IsEmpty());
  ExpectRootNamespaceUntouched();
}

TEST_F(FleetE2eTest, MissingFleetYamlSuggestsInitAndInitNeverOverwrites) {
  ScratchDir empty;
  for (std::string command : {"plan", "up", "down", "status", "doctor"}) {
    SCOPED_TRACE(command);
    RunResult r = RunProgram({CarrierarrBinary(), command}, empty.path());
    EXPECT_EQ(r.exit_code, 2) << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("open fleet.yaml: no such file or directory; run 'carrierarr "
                                 "init' to write a fleet.yaml, or pass -f FILE"));
    EXPECT_FALSE(std::filesystem::exists(empty / ".carrierarr"));
  }
  RunResult other = RunProgram({CarrierarrBinary(), "up", "-f", "elsewhere.yaml"}, empty.path());
  EXPECT_EQ(other.exit_code, 2) << Describe(other);
  EXPECT_THAT(other.err, HasSubstr("open elsewhere.yaml: no such file or directory"));
  EXPECT_FALSE(std::filesystem::exists(empty / ".carrierarr"));

  // init writes one, and then refuses to overwrite it (an operation that failed: exit 1).
  const std::string name = prefix_ + "i";
  RunResult init = RunProgram({CarrierarrBinary(), "init", "-name", name}, empty.path());
  ASSERT_EQ(init.exit_code, 0) << Describe(init);
  const std::string written = Slurp(empty / "fleet.yaml");
  EXPECT_THAT(written, HasSubstr("name: " + name + "\n"));
  RunResult again = RunProgram({CarrierarrBinary(), "init", "-name", "other"}, empty.path());
  EXPECT_NE(again.exit_code, 0) << Describe(again);
  EXPECT_THAT(again.err, HasSubstr("fleet.yaml already exists; edit it, or pass -f"));
  EXPECT_EQ(Slurp(empty / "fleet.yaml"), written);
  // What init writes is a valid fleet: lighthouse, homelab and two workers.
  RunResult plan = RunProgram({CarrierarrBinary(), "plan", "--json"}, empty.path());
  EXPECT_EQ(plan.exit_code, 0) << Describe(plan);
  EXPECT_EQ(ParseJson(plan.out).value("create", -1), ResourcesOf(4));
  EXPECT_FALSE(std::filesystem::exists(empty / ".carrierarr"));
  EXPECT_THAT(Namespaces(name + "."), IsEmpty());
}

// ---------------------------------------------------------------------------------------------
// GPU burst: a scaled pool at zero, woken and stopped by the control plane's burst controller

class BurstE2eTest : public FleetE2eTest {
 protected:
  // gpu scales from 0 to 2; cpu always runs one node.
  Fleet& NewScaledFleet(const std::string& tag) {
    Fleet& f = NewFleet(tag);
    std::string yaml = FleetYaml(f.name, {{"cpu", "cpu-worker", 1}});
    yaml.replace(yaml.find("pools:\n") + 7, 0,
                 "  - name: gpu\n"
                 "    type: gpu-worker\n"
                 "    scaling: {min: 0, max: 2, idle_after: 30m}\n");
    EXPECT_TRUE(WriteFileAtomic(f.dir() + "/fleet.yaml", yaml, 0644).ok());
    return f;
  }
  // The nebula and the agent of `node`, each as often as it runs.
  std::vector<std::string> NodeProcesses(const Fleet& f, const std::string& node) {
    auto out = ProcessesMentioning(f.state_dir() + "/nebula/" + node + ".yml");
    for (const auto& p : AgentOrControlPlane(f.state_dir() + "/agents/" + node)) out.push_back(p);
    return out;
  }
  int ControlPlanePid(const Fleet& f) {
    auto procs = AgentOrControlPlane(f.state_dir() + "/control");
    EXPECT_EQ(procs.size(), 1u) << ::testing::PrintToString(procs);
    return procs.empty() ? 0 : std::stoi(procs[0]);
  }
  // `carrierarr pools --json`'s gpu pool once nothing is pending (bounded).
  Json SettledGpuPool(const Fleet& f) {
    Json pool;
    for (int i = 0; i < 300; ++i) {  // 30 s
      RunResult r = Cli(f, {"pools", "--json"});
      if (r.exit_code == 0) {
        for (const auto& p : ParseJson(r.out).value("pools", Json::array()))
          if (p.value("pool", "") == "gpu") pool = p;
        if (pool.is_object() && pool.value("pending", Json::array()).empty()) return pool;
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
    ADD_FAILURE() << "the gpu pool never settled: " << pool.dump();
    return pool;
  }
  // SIGKILLs the control plane, waits (bounded) for the `carrierarr power` it left running to
  // finish, and brings the control plane back with `up`.
  void KillAndRestartControlPlane(const Fleet& f) {
    ASSERT_EQ(::kill(ControlPlanePid(f), SIGKILL), 0);
    for (int i = 0; i < 300 && !ProcessesMentioning("power -f " + f.dir()).empty(); ++i)
      std::this_thread::sleep_for(milliseconds(100));
    ASSERT_THAT(ProcessesMentioning("power -f " + f.dir()), IsEmpty());
    ASSERT_NO_FATAL_FAILURE(Up(f));
  }
};

TEST_F(BurstE2eTest, APoolAtZeroIsWokenStoppedAndSurvivesAKilledControlPlane) {
  Fleet& f = NewScaledFleet("z");
  RunResult up = Cli(f, {"up"});
  ASSERT_EQ(up.exit_code, 0) << Describe(up);
  EXPECT_THAT(up.out, HasSubstr("3/3 nodes reach the lighthouse over the mesh; 2 nodes of scaled "
                                "pools are stopped until woken"));
  // Every node has its identity and namespace; the gpu nodes do not run, and status says so.
  auto status = StatusOf(f, 0);
  ASSERT_EQ(status.size(), 5u);
  for (const char* node : {"gpu-1", "gpu-2"}) {
    EXPECT_TRUE(status[node].healthy) << node << " is stopped on purpose";
    EXPECT_EQ(status[node].pid, 0) << node;
    EXPECT_TRUE(NamespaceExists(f.name + "." + node)) << node;
    EXPECT_THAT(NodeProcesses(f, node), IsEmpty()) << node;
  }
  EXPECT_EQ(Plan(f).create, 0) << "a second up keeps them stopped";

  // A wake starts the lowest node; it meshes; a second wake joins it, starting nothing.
  RunResult wake = Cli(f, {"wake", "gpu"});
  ASSERT_EQ(wake.exit_code, 0) << Describe(wake);
  EXPECT_THAT(wake.out, HasSubstr("start gpu-1: done"));
  EXPECT_EQ(NodeProcesses(f, "gpu-1").size(), 2u) << "its nebula and its agent, once each";
  EXPECT_THAT(NodeProcesses(f, "gpu-2"), IsEmpty());
  auto nodes = StatusOf(f, 0);
  ExpectFullMesh(f, {{"homelab", nodes["homelab"]}, {"gpu-1", nodes["gpu-1"]}});
  RunResult again = Cli(f, {"wake", "gpu"});
  ASSERT_EQ(again.exit_code, 0) << Describe(again);
  EXPECT_THAT(again.out, HasSubstr("pool gpu: awake"));
  EXPECT_EQ(NodeProcesses(f, "gpu-1").size(), 2u);

  // Sleep stops it and keeps its namespace.
  RunResult sleep = Cli(f, {"sleep", "gpu"});
  ASSERT_EQ(sleep.exit_code, 0) << Describe(sleep);
  EXPECT_THAT(sleep.out, HasSubstr("stop gpu-1: done"));
  EXPECT_THAT(NodeProcesses(f, "gpu-1"), IsEmpty());
  EXPECT_TRUE(NamespaceExists(f.name + ".gpu-1"));
  // status shows it stopped, without the agent report of its last run.
  RunResult st = Cli(f, {"status", "--json"});
  ASSERT_EQ(st.exit_code, 0) << Describe(st);
  for (const auto& n : ParseJson(st.out).value("nodes", Json::array())) {
    if (n.value("name", "") != "gpu-1") continue;
    EXPECT_THAT(n.value("detail", ""), HasSubstr("stopped (scaled to zero")) << n.dump();
    EXPECT_FALSE(n.contains("agent")) << n.dump();
  }

  // The control plane killed right after deciding a wake: the restarted one carries it out,
  // once.
  ASSERT_EQ(Cli(f, {"wake", "gpu", "--wait", "0"}).exit_code, 0);
  ASSERT_NO_FATAL_FAILURE(KillAndRestartControlPlane(f));
  Json pool = SettledGpuPool(f);
  EXPECT_EQ(pool.value("running", Json::array()), Json::array({"gpu-1"})) << pool.dump();
  EXPECT_EQ(NodeProcesses(f, "gpu-1").size(), 2u) << "started once";

  // And right after deciding a stop.
  ASSERT_EQ(Cli(f, {"sleep", "gpu", "--wait", "0"}).exit_code, 0);
  ASSERT_NO_FATAL_FAILURE(KillAndRestartControlPlane(f));
  pool = SettledGpuPool(f);
  EXPECT_EQ(pool.value("running", Json::array()), Json::array()) << pool.dump();
  EXPECT_THAT(NodeProcesses(f, "gpu-1"), IsEmpty());

  Down(f);
  ExpectNothingLeft(f);
}

// The whole loop through the model gateway: a pool at zero whose node runs a fake Ollama
// (testing/fake_model_server.h as `ollama serve`, with a load time); requests from the homelab
// reach the gateway on its mesh address.
class GatewayE2eTest : public BurstE2eTest {
 protected:
  Fleet& NewModelFleet(const std::string& tag) {
    Fleet& f = NewFleet(tag);
    std::string yaml = FleetYaml(f.name, {{"cpu", "cpu-worker", 1}});
    yaml.replace(yaml.find("pools:\n") + 7, 0,
                 "  - name: gpu\n"
                 "    type: gpu-worker\n"
                 "    scaling: {min: 0, max: 2, idle_after: 10s}\n"
                 "    models: [llama3:8b]\n");
    yaml += "    ollama: " + std::string(CARRIERARR_BINARY_DIR) + "/bin/carrierarr-fake-ollama\n";
    EXPECT_TRUE(WriteFileAtomic(f.dir() + "/fleet.yaml", yaml, 0644).ok());
    return f;
  }
  // POST `body` to the gateway from the homelab namespace; the body, then the status on its own
  // last line.
  RunResult Ask(const Fleet& f, const std::string& path, const std::string& body) {
    return RunProgram(
        {"ip", "netns", "exec", f.name + ".homelab", "curl", "-sS", "-N", "--max-time", "90", "-w",
         "\n%{http_code}", "-H", "Content-Type: application/json", "-d", body,
         "http://10.42.1.1:11434" + path},
        "", seconds(100));
  }
  std::vector<std::string> OllamaOf(const Fleet& f, const std::string& node) {
    std::vector<std::string> out;
    for (pid_t pid : NamespacePids(f.name + "." + node))
      for (const auto& p : ProcessesMentioning("carrierarr-fake-ollama serve"))
        if (p.rfind(std::to_string(pid) + ":", 0) == 0) out.push_back(p);
    return out;
  }
};

TEST_F(GatewayE2eTest, ARequestWakesThePoolIsStreamedAndThePoolStopsWhenIdle) {
  ASSERT_EQ(setenv("FAKE_OLLAMA_LOAD_MS", "1500", 1), 0);  // inherited by the nodes' Ollama
  Fleet& f = NewModelFleet("m");
  ASSERT_NO_FATAL_FAILURE(Up(f));
  ASSERT_THAT(NodeProcesses(f, "gpu-1"), IsEmpty());

  // Held while gpu-1 starts and its model loads, told so, then answered with the stream.
  const auto start = std::chrono::steady_clock::now();
  RunResult r = Ask(f, "/api/generate", R"({"model":"llama3:8b","prompt":"hi"})");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(r.out.ends_with("\n200")) << r.out;
  EXPECT_THAT(r.out, HasSubstr("\"phase\":\"waking the pool\"")) << "progress while held";
  EXPECT_THAT(r.out, HasSubstr("\"response\":\"Hel\"")) << r.out;
  EXPECT_THAT(r.out, HasSubstr("\"done\":true")) << r.out;
  EXPECT_GE(took, milliseconds(1500)) << "it waited for the model to load";
  EXPECT_EQ(NodeProcesses(f, "gpu-1").size(), 2u);
  EXPECT_EQ(OllamaOf(f, "gpu-1").size(), 1u);
  EXPECT_THAT(NodeProcesses(f, "gpu-2"), IsEmpty());

  // Warm: answered at once, nothing started.
  RunResult warm =
      Ask(f, "/v1/chat/completions",
          R"({"model":"llama3:8b","stream":true,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_TRUE(warm.out.ends_with("\n200")) << warm.out;
  EXPECT_THAT(warm.out, HasSubstr("data: [DONE]")) << warm.out;
  EXPECT_THAT(warm.out, Not(HasSubstr(": carrierarr:"))) << "not held";
  // Where each node is on its readiness ladder: gpu-1 is up to its agent (a local node has no
  // GPU, so the GPU rung and the ones above it stay unreached); gpu-2 never started.
  nlohmann::json gpu1, gpu2;
  for (int i = 0; i < 100; ++i) {  // 10 s
    RunResult st = Cli(f, {"status", "--json"});
    auto j = nlohmann::json::parse(st.out, nullptr, false);
    for (const auto& n : j.is_object() ? j["nodes"] : nlohmann::json::array()) {
      if (n.value("name", "") == "gpu-1") gpu1 = n.value("readiness", nlohmann::json());
      if (n.value("name", "") == "gpu-2") gpu2 = n.value("readiness", nlohmann::json());
    }
    if (gpu1.is_object() && gpu1.value("summary", "") == "agent registered; next: GPU visible")
      break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(gpu1.is_object()) << "no readiness for gpu-1";
  EXPECT_EQ(gpu1["summary"], "agent registered; next: GPU visible") << gpu1.dump();
  EXPECT_EQ(gpu1["ladder"].back()["rung"], "model llama3:8b loaded") << gpu1.dump();
  ASSERT_TRUE(gpu2.is_object());
  EXPECT_EQ(gpu2["summary"], "stopped");
  // The wake's phases, the gateway's last two among them, in the start's record.
  RunResult pools = Cli(f, {"pools"});
  ASSERT_EQ(pools.exit_code, 0) << Describe(pools);
  EXPECT_THAT(pools.out, HasSubstr("; running ")) << pools.out;
  EXPECT_THAT(pools.out, HasSubstr(", model loaded ")) << pools.out;
  EXPECT_THAT(pools.out, HasSubstr(", first byte ")) << pools.out;

  // Idle for idle_after: stopped, namespace kept.
  bool stopped = false;
  for (int i = 0; i < 600 && !stopped; ++i) {  // 60 s
    stopped = NodeProcesses(f, "gpu-1").empty() && OllamaOf(f, "gpu-1").empty();
    if (!stopped) std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_TRUE(stopped) << "gpu-1 still runs after idle_after";
  EXPECT_TRUE(NamespaceExists(f.name + ".gpu-1"));
  // Drained before it stopped (the gateway sent it nothing new, its answers had finished).
  // (The processes go before `carrierarr power` returns and the stop is recorded.)
  RunResult after;
  for (int i = 0; i < 100; ++i) {  // 10 s
    after = Cli(f, {"pools"});
    if (after.out.find("stop gpu-1: done") != std::string::npos) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_THAT(after.out, HasSubstr("stop gpu-1: done")) << after.out;
  EXPECT_THAT(after.out, HasSubstr("; drained ")) << after.out;
  EXPECT_THAT(after.out, Not(HasSubstr("drain:"))) << after.out;

  // A burst of requests at zero: one wake (gpu-2 never starts), every one answered.
  std::vector<std::thread> clients;
  std::vector<RunResult> answers(5);
  for (size_t i = 0; i < answers.size(); ++i)
    clients.emplace_back([&, i] {
      answers[i] = Ask(f, "/api/generate", R"({"model":"llama3:8b","prompt":"hi","stream":false})");
    });
  for (auto& t : clients) t.join();
  for (const auto& a : answers) EXPECT_TRUE(a.out.ends_with("\n200")) << Describe(a);
  EXPECT_EQ(NodeProcesses(f, "gpu-1").size(), 2u);
  EXPECT_THAT(NodeProcesses(f, "gpu-2"), IsEmpty()) << "one wake for the burst";

  // An unknown model is refused by the gateway, in Ollama's error shape.
  RunResult unknown = Ask(f, "/api/generate", R"({"model":"mistral","prompt":"hi"})");
  EXPECT_TRUE(unknown.out.ends_with("\n404")) << unknown.out;
  EXPECT_THAT(unknown.out, HasSubstr("serves llama3:8b"));

  unsetenv("FAKE_OLLAMA_LOAD_MS");
  Down(f);
  ExpectNothingLeft(f);
}

// A wake that would pass the pool's budget ($100/h against $1 a day: EC2's one-minute minimum
// alone passes it) is refused with the figures, through the CLI and through the gateway, and
// nothing starts.
TEST_F(GatewayE2eTest, AWakePastTheBudgetIsRefusedWithTheFiguresAndStartsNothing) {
  Fleet& f = NewModelFleet("b");
  auto yaml = ReadFile(f.dir() + "/fleet.yaml");
  ASSERT_TRUE(yaml.ok());
  std::string y = *yaml;
  y.replace(y.find("    models: [llama3:8b]\n"), 0,
            "    instance_type: lab.gpu\n    budget: {usd_per_day: 1}\n");
  y += "prices:\n  lab.gpu: 100\n";
  ASSERT_TRUE(WriteFileAtomic(f.dir() + "/fleet.yaml", y, 0644).ok());
  ASSERT_NO_FATAL_FAILURE(Up(f));

  RunResult wake = Cli(f, {"wake", "gpu"});
  EXPECT_NE(wake.exit_code, 0) << Describe(wake);
  EXPECT_THAT(wake.out + wake.err, HasSubstr("$1.00")) << Describe(wake);
  EXPECT_THAT(wake.out + wake.err, HasSubstr("budget")) << Describe(wake);

  RunResult asked =
      Ask(f, "/api/generate", R"({"model":"llama3:8b","prompt":"hi","stream":false})");
  EXPECT_TRUE(asked.out.ends_with("\n503")) << asked.out;
  EXPECT_THAT(asked.out, HasSubstr("was not woken")) << asked.out;
  EXPECT_THAT(asked.out, HasSubstr("$1.00")) << asked.out;
  EXPECT_THAT(NodeProcesses(f, "gpu-1"), IsEmpty()) << "nothing started";
  EXPECT_THAT(OllamaOf(f, "gpu-1"), IsEmpty());

  Down(f);
  ExpectNothingLeft(f);
}

}  // namespace
}  // namespace carrierarr
