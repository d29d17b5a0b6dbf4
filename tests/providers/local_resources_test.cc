// The local provider's resources over a FakeProcessRunner: no root, no namespace is made. A small
// scripted `ip` keeps namespaces (as files in a directory of the test's own, where the real one
// keeps /run/netns) and links, and answers only the exact argv the resources are meant to run;
// anything else fails the run, so an unexpected command shows up as a failed Create.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include "core/time_source.h"
#include "providers/enrollment.h"
#include "providers/local/local_provider.h"
#include "providers/local/netns.h"
#include "testing/fake_process_runner.h"

namespace carrierarr::local {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Argv = std::vector<std::string>;
using testing::FakeProcessRunner;

struct Link {
  std::string kind;
  int ifindex = 0;
  int peer = 0;
  std::string master;
  std::vector<std::string> addrs;
};

// The part of iproute2 the local provider uses, over fake state.
class ScriptedIp {
 public:
  ScriptedIp(FakeProcessRunner& runner, std::string dir) : runner_(runner), dir_(std::move(dir)) {
    runner.OnRun({"ip"}, [this](const Argv& a) { return Answer(a); });
  }
  bool HasLink(const std::string& ns, const std::string& dev) {
    std::lock_guard<std::mutex> lock(mu_);
    return links_.count({ns, dev}) != 0;
  }
  // Makes every later `ip netns add` fail as an unprivileged user's does.
  void DenyNetnsAdd() { deny_add_ = true; }

 private:
  Result<RunResult> Answer(const Argv& a) {
    std::lock_guard<std::mutex> lock(mu_);
    if (a.size() == 4 && a[1] == "netns" && a[2] == "add") {
      if (deny_add_) {
        return FakeProcessRunner::Exit(
            1, "", "mount --make-shared /run/netns failed: Operation not permitted\n");
      }
      std::ofstream(dir_ + "/" + a[3]).put('\n');
      return FakeProcessRunner::Exit(0);
    }
    if (a.size() == 4 && a[1] == "netns" && a[2] == "del") {
      std::filesystem::remove(dir_ + "/" + a[3]);
      for (auto it = links_.begin(); it != links_.end();) {
        it = it->first.first == a[3] ? links_.erase(it) : std::next(it);
      }
      return FakeProcessRunner::Exit(0);
    }
    if (a.size() == 4 && a[1] == "netns" && a[2] == "pids") {
      std::string out;
      for (pid_t pid : runner_.LivePidsStartedWith({"ip", "netns", "exec", a[3]})) {
        out += std::to_string(pid) + "\n";
      }
      return FakeProcessRunner::Exit(0, out);
    }
    if (a.size() < 4 || a[1] != "-n") return Unexpected(a);
    const std::string& ns = a[2];
    const Argv rest(a.begin() + 3, a.end());
    if (rest == Argv{"link", "set", "dev", "lo", "up"}) return FakeProcessRunner::Exit(0);
    if (rest.size() == 6 && rest[0] == "-d" && rest[3] == "show") {
      auto it = links_.find({ns, rest[5]});
      if (it == links_.end()) {
        return FakeProcessRunner::Exit(1, "", "Device \"" + rest[5] + "\" does not exist.\n");
      }
      const Link& l = it->second;
      return FakeProcessRunner::Exit(
          0, "[{\"ifindex\":" + std::to_string(l.ifindex) +
                 ",\"link_index\":" + std::to_string(l.peer) + ",\"master\":\"" + l.master +
                 "\",\"linkinfo\":{\"info_kind\":\"" + l.kind + "\"}}]\n");
    }
    if (rest.size() == 6 && rest[0] == "link" && rest[1] == "add" && rest[5] == "bridge") {
      links_[{ns, rest[3]}] = {.kind = "bridge", .ifindex = next_ifindex_++};
      return FakeProcessRunner::Exit(0);
    }
    if (rest.size() == 11 && rest[0] == "link" && rest[1] == "add" && rest[5] == "veth") {
      int port = next_ifindex_++, eth = next_ifindex_++;
      links_[{ns, rest[3]}] = {.kind = "veth", .ifindex = port, .peer = eth};
      links_[{rest[10], rest[8]}] = {.kind = "veth", .ifindex = eth, .peer = port};
      return FakeProcessRunner::Exit(0);
    }
    if (rest.size() == 4 && rest[0] == "link" && rest[1] == "del") {
      auto it = links_.find({ns, rest[3]});
      if (it == links_.end()) return FakeProcessRunner::Exit(1, "", "Cannot find device\n");
      int peer = it->second.peer;
      links_.erase(it);
      // Deleting one end of a veth deletes both.
      std::erase_if(links_,
                    [peer](const auto& l) { return peer != 0 && l.second.ifindex == peer; });
      return FakeProcessRunner::Exit(0);
    }
    if (rest.size() >= 5 && rest[0] == "link" && rest[1] == "set") {
      auto it = links_.find({ns, rest[3]});
      if (it == links_.end()) return FakeProcessRunner::Exit(1, "", "Cannot find device\n");
      if (rest[4] == "master") it->second.master = rest.at(5);
      return FakeProcessRunner::Exit(0);
    }
    if (rest.size() == 6 && rest[0] == "-o" && rest[2] == "addr" && rest[3] == "show") {
      std::string out;
      auto it = links_.find({ns, rest[5]});
      if (it != links_.end()) {
        for (const auto& addr : it->second.addrs) {
          out += "2: " + rest[5] + "    inet " + addr + " scope global " + rest[5] + "\n";
        }
      }
      return FakeProcessRunner::Exit(0, out);
    }
    if (rest.size() == 5 && rest[1] == "addr" && rest[2] == "flush") {
      links_[{ns, rest[4]}].addrs.clear();
      return FakeProcessRunner::Exit(0);
    }
    if (rest.size() == 5 && rest[0] == "addr" && rest[1] == "add") {
      links_[{ns, rest[4]}].addrs.push_back(rest[2]);
      return FakeProcessRunner::Exit(0);
    }
    return Unexpected(a);
  }

  static RunResult Unexpected(const Argv& a) {
    std::string line;
    for (const auto& s : a) line += s + " ";
    ADD_FAILURE() << "unexpected command: " << line;
    return FakeProcessRunner::Exit(2, "", "unexpected command\n");
  }

  FakeProcessRunner& runner_;
  std::string dir_;
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Link> links_;
  int next_ifindex_ = 10;
  bool deny_add_ = false;
};

// Exists() must answer; an error fails the test (and counts as "not there").
bool Exists(const provision::Resource& r) {
  auto e = r.Exists();
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() && *e;
}

class LocalResourcesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/local-resources-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directory(dir_ + "/netns");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Runs of `ip` whose argv starts with `prefix`, in order.
  std::vector<Argv> IpRuns(const Argv& prefix) const {
    std::vector<Argv> out;
    for (const auto& run : runner_.runs()) {
      if (run.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), run.begin())) {
        out.push_back(run);
      }
    }
    return out;
  }

  NodeNamespaceParams NodeParams() const {
    mesh::NodePlan node{.name = "w-1", .mesh_ip = 0x0a2a0205};  // 10.42.2.5
    return {.fleet = "f", .node = node, .underlay = {0xc6120000, 0xfffe0000}, .netns = netns_};
  }

  std::string dir_;
  FakeProcessRunner runner_;
  SimulatedTimeSource time_;
  std::unique_ptr<ScriptedIp> ip_;
  Netns netns_{runner_, time_, "/nonexistent"};
};

class LocalResourcesWithIpTest : public LocalResourcesTest {
 protected:
  void SetUp() override {
    LocalResourcesTest::SetUp();
    ip_ = std::make_unique<ScriptedIp>(runner_, dir_ + "/netns");
    netns_ = Netns(runner_, time_, dir_ + "/netns");
  }
};

TEST_F(LocalResourcesWithIpTest, UnderlayIsCreatedWithTheExactIpCommandsAndOnlyOnce) {
  auto underlay = MakeUnderlayResource("f", netns_);
  EXPECT_FALSE(Exists(*underlay));
  auto created = underlay->Create();
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ((*created)["netns"], "f.ul");
  EXPECT_THAT(IpRuns({"ip", "netns", "add"}), ElementsAre(Argv{"ip", "netns", "add", "f.ul"}));
  EXPECT_THAT(
      IpRuns({"ip", "-n", "f.ul", "link", "add"}),
      ElementsAre(Argv{"ip", "-n", "f.ul", "link", "add", "name", "br0", "type", "bridge"}));
  EXPECT_THAT(IpRuns({"ip", "-n", "f.ul", "link", "set"}),
              ElementsAre(Argv{"ip", "-n", "f.ul", "link", "set", "dev", "lo", "up"},
                          Argv{"ip", "-n", "f.ul", "link", "set", "dev", "br0", "up"}));
  EXPECT_TRUE(Exists(*underlay));

  // Again: nothing is added, the namespace and bridge are kept.
  created = underlay->Create();
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(IpRuns({"ip", "netns", "add"}).size(), 1u);
  EXPECT_EQ(IpRuns({"ip", "-n", "f.ul", "link", "add"}).size(), 1u);
}

TEST_F(LocalResourcesWithIpTest, NodeNamespaceIsPluggedIntoTheBridgeWithItsAddress) {
  ASSERT_TRUE(MakeUnderlayResource("f", netns_)->Create().ok());
  auto node = MakeNodeNamespaceResource(NodeParams());
  EXPECT_FALSE(Exists(*node));
  auto created = node->Create();
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ((*created)["underlay_ip"], "198.18.2.5/15");
  EXPECT_EQ((*created)["bridge_port"], "v0205");
  EXPECT_THAT(IpRuns({"ip", "-n", "f.ul", "link", "add", "name", "v0205"}),
              ElementsAre(Argv{"ip", "-n", "f.ul", "link", "add", "name", "v0205", "type", "veth",
                               "peer", "name", "eth0", "netns", "f.w-1"}));
  EXPECT_THAT(
      IpRuns({"ip", "-n", "f.w-1", "addr", "add"}),
      ElementsAre(Argv{"ip", "-n", "f.w-1", "addr", "add", "198.18.2.5/15", "dev", "eth0"}));
  EXPECT_TRUE(Exists(*node));

  // Again: the pair and its address are kept, not made anew.
  ASSERT_TRUE(node->Create().ok());
  EXPECT_EQ(IpRuns({"ip", "-n", "f.ul", "link", "add", "name", "v0205"}).size(), 1u);
  EXPECT_EQ(IpRuns({"ip", "-n", "f.w-1", "addr", "add"}).size(), 1u);
}

TEST_F(LocalResourcesWithIpTest, DeletingANamespaceStopsWhatRunsInItAndIsIdempotent) {
  provision::KindRegistry kinds;
  RegisterLocalKinds(kinds, netns_);
  ASSERT_TRUE(netns_.CreateNamespace("f.w-1").ok());
  auto pid = netns_.StartInNamespace("f.w-1", {"sleep", "30"}, dir_ + "/sleep.log");
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();

  const provision::Deleter* del = kinds.Find("netns");
  ASSERT_NE(del, nullptr);
  Status s = (*del)({{"netns", "f.w-1"}});
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(runner_.Alive(*pid));
  EXPECT_FALSE(netns_.NamespaceExists("f.w-1"));
  EXPECT_THAT(IpRuns({"ip", "netns", "del"}), ElementsAre(Argv{"ip", "netns", "del", "f.w-1"}));
  s = (*del)({{"netns", "f.w-1"}});  // already gone: fine, and no `ip` call
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(IpRuns({"ip", "netns", "del"}).size(), 1u);
}

TEST_F(LocalResourcesWithIpTest, NebulaStartsInItsNamespaceAndStopsByItsConfig) {
  ASSERT_TRUE(netns_.CreateNamespace("f.w-1").ok());
  // A nebula of an interrupted run, still running with the same config: never run two.
  pid_t leftover = runner_.AddProcess({"nebula", "-config", dir_ + "/w-1.yml"});
  NebulaProcessParams params{.fleet = "f",
                             .node = {.name = "w-1", .mesh_ip = 0x0a2a0205},
                             .config_path = dir_ + "/w-1.yml",
                             .log_path = dir_ + "/w-1.log",
                             .netns = netns_};
  auto nebula = MakeNebulaProcessResource(params);
  EXPECT_FALSE(Exists(*nebula));
  // nebula brings up its tun device with the mesh address once it runs.
  runner_.OnRun({"ip", "-n", "f.w-1", "-o", "-4", "addr", "show", "dev", "nebula1"},
                FakeProcessRunner::Exit(0, "5: nebula1    inet 10.42.2.5/16 scope global\n"));
  auto created = nebula->Create();
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_FALSE(runner_.Alive(leftover));
  ASSERT_EQ(runner_.daemons().size(), 1u);
  const FakeProcessRunner::Daemon started = runner_.daemons()[0];
  EXPECT_EQ(started.argv,
            (Argv{"ip", "netns", "exec", "f.w-1", "nebula", "-config", dir_ + "/w-1.yml"}));
  EXPECT_EQ(started.options.wrapper_args, 4u);
  EXPECT_EQ(started.options.log_path, dir_ + "/w-1.log");
  EXPECT_EQ((*created)["pid"], started.pid);
  EXPECT_TRUE(Exists(*nebula));

  // Its record's deleter stops it by pid, checked against its config path.
  provision::KindRegistry kinds;
  RegisterLocalKinds(kinds, netns_);
  Status s = (*kinds.Find("nebula"))(*created);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(runner_.Alive(started.pid));
  EXPECT_EQ(runner_.stops().back().marker, dir_ + "/w-1.yml");
  EXPECT_FALSE(Exists(*nebula));
}

TEST_F(LocalResourcesWithIpTest, NebulaThatNeverComesUpIsStoppedAndItsLogQuoted) {
  ASSERT_TRUE(netns_.CreateNamespace("f.w-1").ok());
  { std::ofstream(dir_ + "/w-1.log") << "level=error msg=\"no such file: ca.crt\"\n"; }
  auto nebula = MakeNebulaProcessResource({.fleet = "f",
                                           .node = {.name = "w-1", .mesh_ip = 0x0a2a0205},
                                           .config_path = dir_ + "/w-1.yml",
                                           .log_path = dir_ + "/w-1.log",
                                           .netns = netns_});
  auto created = nebula->Create();
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(created.status().message(), HasSubstr("did not bring up nebula1 within 5 s"));
  EXPECT_THAT(created.status().message(), HasSubstr("no such file: ca.crt"));
  // The wait ran on the simulated clock, and what was started is gone again.
  EXPECT_GE(time_.slept(), std::chrono::seconds(4));
  ASSERT_EQ(runner_.daemons().size(), 1u);
  EXPECT_FALSE(runner_.Alive(runner_.daemons()[0].pid));
}

TEST_F(LocalResourcesWithIpTest, ErrorsKeepTheirFixText) {
  // A daemon that cannot start says why, with what was being started in front.
  ASSERT_TRUE(netns_.CreateNamespace("f.w-1").ok());
  runner_.FailNextStart(Status::NotFound("nebula not found in PATH or not executable"));
  auto r = netns_.StartInNamespace("f.w-1", {"nebula"}, dir_ + "/x.log");
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
  EXPECT_EQ(r.status().message(),
            "starting nebula in network namespace f.w-1: nebula not found in PATH or not "
            "executable");

  ip_->DenyNetnsAdd();
  Status s = MakeUnderlayResource("f", netns_)->Create().status();
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("creating network namespace f.ul"));
  EXPECT_THAT(s.message(), HasSubstr("run as root"));
}

TEST_F(LocalResourcesTest, MissingIpIsReportedWithTheInstallHint) {
  runner_.OnRun({"ip"}, [](const Argv&) -> Result<RunResult> {
    return Status::NotFound("cannot run ip: No such file or directory");
  });
  Status s = MakeUnderlayResource("f", netns_)->Create().status();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("apt-get install iproute2"));
}

TEST_F(LocalResourcesTest, StartingInAMissingNamespaceSaysToCreateItFirst) {
  auto r = netns_.StartInNamespace("f.w-1", {"nebula"}, dir_ + "/x.log");
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("create it first"));
  EXPECT_TRUE(runner_.daemons().empty());
  r = netns_.StartInNamespace("-bad", {"nebula"}, dir_ + "/x.log");
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

// Hands out "token-<node>-<n>" and fails while `failure` is set.
class ScriptedMinter final : public providers::EnrollmentMinter {
 public:
  Result<std::string> Mint(const std::string& node, const std::string& ttl) const override {
    std::lock_guard<std::mutex> lock(mu_);
    minted_.push_back(node + " " + ttl);
    if (!failure.ok()) return failure;
    return "token-" + node + "-" + std::to_string(minted_.size());
  }
  std::vector<std::string> minted() const {
    std::lock_guard<std::mutex> lock(mu_);
    return minted_;
  }
  Status failure;

 private:
  mutable std::mutex mu_;
  mutable std::vector<std::string> minted_;
};

TEST_F(LocalResourcesTest, AgentTokensComeFromTheFleetMinterWithoutRunningAnything) {
  spec::FleetSpec fleet;
  std::vector<mesh::NodePlan> nodes = {
      {.name = "homelab", .role = mesh::Role::kHomelab, .provider = "local", .mesh_ip = 0x0a2a0002},
      {.name = "w-1", .provider = "local", .mesh_ip = 0x0a2a0205}};
  const providers::FleetPaths paths{.state_dir = dir_};
  auto minter = std::make_shared<ScriptedMinter>();
  provision::ResourceList list;
  AddControlPlaneResources({.fleet = fleet, .paths = paths, .nodes = nodes, .enrollment = minter},
                           list, Seams{.time = &time_, .processes = &runner_});
  provision::Resource* token = nullptr;
  provision::Resource* control_plane = nullptr;
  for (const auto& r : list) {
    if (r->id() == "agent-token/w-1") token = r.get();
    if (r->id() == "control-plane") control_plane = r.get();
  }
  ASSERT_NE(token, nullptr);
  ASSERT_NE(control_plane, nullptr);
  EXPECT_THAT(token->deps(), ElementsAre("enrollment-key"));
  // The control plane trusts the key that signs them.
  EXPECT_THAT(control_plane->deps(), ::testing::Contains("enrollment-key"));
  EXPECT_FALSE(Exists(*token));

  minter->failure = Status::NotFound("the fleet's enrollment key: no such file");
  auto created = token->Create();
  EXPECT_EQ(created.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(created.status().message(),
              HasSubstr("enrollment token for w-1: the fleet's enrollment key"));
  EXPECT_FALSE(Exists(*token));

  minter->failure = Status::Ok();
  ASSERT_TRUE(token->Create().ok());
  EXPECT_TRUE(Exists(*token));
  const std::string path = dir_ + "/agents/w-1.token";
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(content, "token-w-1-2\n");
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_THAT(minter->minted(), ElementsAre("w-1 1h", "w-1 1h"));
  EXPECT_TRUE(runner_.runs().empty());  // nothing was exec'd to mint
}

}  // namespace
}  // namespace carrierarr::local
