// The agent's collectors against fakes that stand in for what cannot run here: a /proc tree
// written into a scratch directory, a fake nvidia-smi script, and fake EC2 metadata and Ollama
// HTTP servers on 127.0.0.1. Service probing also runs against the real /proc with a real child.
#include "agent/collectors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/file_util.h"
#include "core/strings.h"
#include "core/time_source.h"
#include "testing/eventually.h"
#include "testing/fake_ollama.h"
#include "testing/loopback_server.h"
#include "testing/process.h"
#include "testing/tools.h"

namespace carrierarr::agent {
namespace {

using ::carrierarr::testing::Eventually;
using ::carrierarr::testing::FakeOllama;
using ::carrierarr::testing::LoopbackServer;
using ::carrierarr::testing::ScratchDir;
using ::carrierarr::testing::SilentPort;
using ::carrierarr::testing::Slurp;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

constexpr char kOurNet[] = "net:[4026531840]";
constexpr char kOtherNet[] = "net:[4026532999]";

void WriteFile(const std::string& path, const std::string& data, mode_t mode = 0644) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  ASSERT_TRUE(WriteFileAtomic(path, data, mode).ok()) << path;
}

void Symlink(const std::string& target, const std::string& link) {
  std::filesystem::create_directories(std::filesystem::path(link).parent_path());
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0) << link;
}

// A process in a fake /proc: comm, ns/net and a stat line whose field 22 is `start_ticks`.
void FakeProcess(const std::string& proc, int pid, const std::string& comm, const std::string& net,
                 uint64_t start_ticks) {
  const std::string dir = proc + "/" + std::to_string(pid);
  WriteFile(dir + "/comm", comm + "\n");
  if (!net.empty()) Symlink(net, dir + "/ns/net");
  // A command name with spaces and parentheses must not shift the fields.
  WriteFile(dir + "/stat", std::to_string(pid) + " (" + comm + " (x) y) S 1 " +
                               std::to_string(pid) + " 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 " +
                               std::to_string(start_ticks) + " 12345 6 18446744073709551615\n");
}

// A fake /proc holding the files ResourceSampler and ProbeServices read.
std::string FakeProc(const ScratchDir& dir) {
  const std::string proc = dir / "proc";
  Symlink(kOurNet, proc + "/self/ns/net");
  WriteFile(proc + "/stat",
            "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\nintr 1 2 3\n");
  WriteFile(proc + "/meminfo",
            "MemTotal:        8192000 kB\nMemFree:          100000 kB\n"
            "MemAvailable:    2048000 kB\nBuffers:          1000 kB\n");
  WriteFile(proc + "/uptime", "1000.75 3000.10\n");
  WriteFile(proc + "/cpuinfo",
            "processor\t: 0\nmodel name\t: Fake CPU\n\nprocessor\t: 1\nmodel name\t: Fake "
            "CPU\n\nprocessor\t: 2\nmodel name\t: Fake CPU\n\n");
  return proc;
}

// PATH set to one directory for the test's duration: decides which programs count as installed.
class ScopedPath {
 public:
  explicit ScopedPath(const std::string& path) {
    if (const char* old = std::getenv("PATH")) old_ = old;
    ::setenv("PATH", path.c_str(), 1);
  }
  ~ScopedPath() {
    if (old_) {
      ::setenv("PATH", old_->c_str(), 1);
    } else {
      ::unsetenv("PATH");
    }
  }

 private:
  std::optional<std::string> old_;
};

// ---------------------------------------------------------------------------------------------
// nvidia-smi

TEST(ParseNvidiaSmiCsvTest, ParsesFieldsTrimsSpacesAndZeroesMissingValues) {
  auto gpus = ParseNvidiaSmiCsv(
      "0, NVIDIA A10G, 1234, 23028, 45, 61\n"
      "1, Tesla T4, [N/A], 15360, [Not Supported], [N/A]\r\n"
      "not a gpu line\n"
      "x, Bad Index, 1, 2, 3, 4\n"
      "2, NVIDIA H100 80GB HBM3, 10, 81559, 99, 70.6\n"
      "\n");
  ASSERT_EQ(gpus.size(), 3u);
  EXPECT_EQ(gpus[0].index(), 0);
  EXPECT_EQ(gpus[0].name(), "NVIDIA A10G");
  EXPECT_EQ(gpus[0].memory_used_mb(), 1234);
  EXPECT_EQ(gpus[0].memory_total_mb(), 23028);
  EXPECT_DOUBLE_EQ(gpus[0].utilization_percent(), 45.0);
  EXPECT_EQ(gpus[0].temperature_c(), 61);

  EXPECT_EQ(gpus[1].index(), 1);
  EXPECT_EQ(gpus[1].name(), "Tesla T4");
  EXPECT_EQ(gpus[1].memory_used_mb(), 0);
  EXPECT_EQ(gpus[1].memory_total_mb(), 15360);
  EXPECT_DOUBLE_EQ(gpus[1].utilization_percent(), 0.0);
  EXPECT_EQ(gpus[1].temperature_c(), 0);

  EXPECT_EQ(gpus[2].name(), "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(gpus[2].temperature_c(), 71);  // rounded
}

TEST(ParseNvidiaSmiCsvTest, KeepsACommaInTheName) {
  auto gpus = ParseNvidiaSmiCsv("3, Quadro, Special Edition, 5, 6, 7.5, 8\n");
  ASSERT_EQ(gpus.size(), 1u);
  EXPECT_EQ(gpus[0].index(), 3);
  EXPECT_EQ(gpus[0].name(), "Quadro, Special Edition");
  EXPECT_EQ(gpus[0].memory_used_mb(), 5);
  EXPECT_EQ(gpus[0].memory_total_mb(), 6);
  EXPECT_DOUBLE_EQ(gpus[0].utilization_percent(), 7.5);
  EXPECT_EQ(gpus[0].temperature_c(), 8);
}

TEST(QueryGpusTest, RunsTheDocumentedQueryAndParsesIt) {
  ScratchDir dir;
  const std::string smi = dir / "nvidia-smi";
  WriteFile(smi,
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$0.args\"\n"
            "echo '0, NVIDIA L4, 100, 23034, 12, 40'\necho '1, NVIDIA L4, 0, 23034, 0, 38'\n",
            0755);
  std::string error = "stale";
  auto gpus = QueryGpus(smi, &error);
  EXPECT_EQ(error, "");
  ASSERT_EQ(gpus.size(), 2u);
  EXPECT_EQ(gpus[1].index(), 1);
  EXPECT_EQ(gpus[1].temperature_c(), 38);
  EXPECT_EQ(Slurp(smi + ".args"),
            "--query-gpu=index,name,memory.used,memory.total,utilization.gpu,temperature.gpu\n"
            "--format=csv,noheader,nounits\n");
}

TEST(QueryGpusTest, AbsentProgramIsNoGpuAndNoError) {
  ScratchDir dir;
  std::string error = "stale";
  EXPECT_TRUE(QueryGpus(dir / "nvidia-smi", &error).empty());
  EXPECT_EQ(error, "");
  ScopedPath path(dir.path());  // looked up in PATH by name
  EXPECT_TRUE(QueryGpus("nvidia-smi", &error).empty());
  EXPECT_EQ(error, "");
}

TEST(QueryGpusTest, FailingProgramGivesItsReason) {
  ScratchDir dir;
  const std::string smi = dir / "nvidia-smi";
  WriteFile(smi,
            "#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the "
            "NVIDIA driver.' >&2\nexit 9\n",
            0755);
  std::string error;
  EXPECT_TRUE(QueryGpus(smi, &error).empty());
  EXPECT_THAT(error, HasSubstr("exit 9"));
  EXPECT_THAT(error, HasSubstr("could not communicate with the NVIDIA driver"));
}

// ---------------------------------------------------------------------------------------------
// Mesh IP

TEST(DetectMeshIpTest, FindsLoopbackByPrefixAndNothingForAnUnknownPrefix) {
  EXPECT_EQ(DetectMeshIp("lo"), std::optional<std::string>("127.0.0.1"));
  EXPECT_EQ(DetectMeshIp("carrierarr-no-such-if"), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// EC2 instance metadata (IMDSv2)

// A fake IMDS that insists on v2: GETs without the session token it handed out are refused.
class FakeImds {
 public:
  explicit FakeImds(bool with_public_ip = true, bool with_region = true) {
    auto& s = server_.server();
    s.Put("/latest/api/token", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      ttl_ = req.get_header_value("X-aws-ec2-metadata-token-ttl-seconds");
      if (ttl_.empty()) {
        res.status = 400;
        return;
      }
      ++token_puts_;
      res.set_content("AQAEAfaketoken==", "text/plain");
    });
    auto item = [this](std::string value) {
      return [this, value](const httplib::Request& req, httplib::Response& res) {
        std::lock_guard<std::mutex> lock(mu_);
        if (req.get_header_value("X-aws-ec2-metadata-token") != "AQAEAfaketoken==") {
          ++unauthorized_;
          res.status = 401;
          return;
        }
        res.set_content(value, "text/plain");
      };
    };
    s.Get("/latest/meta-data/instance-id", item("i-0123456789abcdef0"));
    if (with_region) s.Get("/latest/meta-data/placement/region", item("eu-west-1"));
    s.Get("/latest/meta-data/placement/availability-zone", item("eu-west-1b"));
    if (with_public_ip) s.Get("/latest/meta-data/public-ipv4", item("203.0.113.7"));
    s.Get("/latest/meta-data/instance-type", item("g5.xlarge"));
    server_.Start();
  }
  std::string url() const { return server_.url(); }
  int unauthorized() {
    std::lock_guard<std::mutex> lock(mu_);
    return unauthorized_;
  }
  int token_puts() {
    std::lock_guard<std::mutex> lock(mu_);
    return token_puts_;
  }
  std::string ttl() {
    std::lock_guard<std::mutex> lock(mu_);
    return ttl_;
  }

 private:
  LoopbackServer server_;
  std::mutex mu_;
  std::string ttl_;
  int token_puts_ = 0;
  int unauthorized_ = 0;
};

TEST(QueryImdsTest, ReadsIdentityWithASessionToken) {
  FakeImds imds;
  auto id = QueryImds(imds.url(), std::chrono::milliseconds(2000));
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->instance_id, "i-0123456789abcdef0");
  EXPECT_EQ(id->region, "eu-west-1");
  EXPECT_EQ(id->availability_zone, "eu-west-1b");
  EXPECT_EQ(id->public_ip, "203.0.113.7");
  EXPECT_EQ(id->instance_type, "g5.xlarge");
  EXPECT_EQ(imds.token_puts(), 1);
  EXPECT_EQ(imds.ttl(), "21600");
  EXPECT_EQ(imds.unauthorized(), 0);
}

TEST(QueryImdsTest, NoPublicIpIsEmptyAndRegionFallsBackToTheZone) {
  FakeImds imds(/*with_public_ip=*/false, /*with_region=*/false);
  auto id = QueryImds(imds.url() + "/", std::chrono::milliseconds(2000));
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->public_ip, "");
  EXPECT_EQ(id->region, "eu-west-1");
  EXPECT_EQ(id->instance_type, "g5.xlarge");
}

TEST(QueryImdsTest, AnImdsThatRefusesTokensIsNotUsedWithV1) {
  LoopbackServer server;
  int gets = 0;
  std::mutex mu;
  server.server().Put("/latest/api/token",
                      [](const httplib::Request&, httplib::Response& res) { res.status = 403; });
  server.server().Get(".*", [&](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    ++gets;
    res.set_content("i-v1only", "text/plain");
  });
  server.Start();
  EXPECT_EQ(QueryImds(server.url(), std::chrono::milliseconds(2000)), std::nullopt);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(gets, 0);
}

TEST(QueryImdsTest, SilentEndpointGivesNulloptWithinTheTimeout) {
  SilentPort hang;
  auto start = Clock::now();
  EXPECT_EQ(QueryImds(hang.url(), std::chrono::milliseconds(200)), std::nullopt);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));

  SilentPort refused(SilentPort::kRefusing);
  start = Clock::now();
  EXPECT_EQ(QueryImds(refused.url(), std::chrono::milliseconds(200)), std::nullopt);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
}

// ---------------------------------------------------------------------------------------------
// Resources

TEST(ResourceSamplerTest, ExactNumbersFromAFakeProc) {
  ScratchDir dir;
  const std::string proc = FakeProc(dir);
  ResourceSampler sampler(proc, dir.path());

  auto first = sampler.Sample();
  EXPECT_EQ(first.cpu_percent(), 0.0);  // no earlier sample to compare with
  EXPECT_EQ(first.memory_total_mb(), 8000);
  EXPECT_EQ(first.memory_used_mb(), 6000);  // (8192000 - 2048000) kB

  struct statvfs fs;
  ASSERT_EQ(::statvfs(dir.path().c_str(), &fs), 0);
  const int64_t total_mb =
      static_cast<int64_t>(fs.f_blocks) * static_cast<int64_t>(fs.f_frsize) / (1024 * 1024);
  EXPECT_EQ(first.disk_total_mb(), total_mb);
  EXPECT_GT(first.disk_used_mb(), 0);
  EXPECT_LE(first.disk_used_mb(), first.disk_total_mb());

  // busy +50+50 (user, system) and +100 idle (+20 of it iowait): 100 of 200 ticks busy.
  WriteFile(proc + "/stat", "cpu  150 0 150 880 20 0 0 0 7 7\n");
  EXPECT_DOUBLE_EQ(sampler.Sample().cpu_percent(), 50.0);
  // 30 busy (irq, softirq, steal count as busy) of 120.
  WriteFile(proc + "/stat", "cpu  150 0 150 970 20 10 10 10 7 7\n");
  EXPECT_DOUBLE_EQ(sampler.Sample().cpu_percent(), 25.0);
  // No time passed: 0, not a division by zero.
  EXPECT_DOUBLE_EQ(sampler.Sample().cpu_percent(), 0.0);

  EXPECT_EQ(sampler.UptimeSeconds(), 1000);
  auto caps = sampler.Capabilities();
  EXPECT_EQ(caps.cpu_cores(), 3);
  EXPECT_EQ(caps.memory_mb(), 8000);
  EXPECT_EQ(caps.disk_mb(), total_mb);
  EXPECT_FALSE(caps.has_gpu());
}

TEST(ResourceSamplerTest, RealProcGivesPlausibleNumbers) {
  ResourceSampler sampler;
  auto first = sampler.Sample();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto second = sampler.Sample();
  EXPECT_GE(second.cpu_percent(), 0.0);
  EXPECT_LE(second.cpu_percent(), 100.0);
  EXPECT_GT(first.memory_total_mb(), 0);
  EXPECT_LE(first.memory_used_mb(), first.memory_total_mb());
  EXPECT_GT(first.disk_total_mb(), 0);
  EXPECT_GT(sampler.UptimeSeconds(), 0);
  EXPECT_EQ(sampler.Capabilities().cpu_cores(), static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN)));
}

TEST(ResourceSamplerTest, MissingFilesGiveZeroes) {
  ScratchDir dir;
  ResourceSampler sampler(dir / "no-proc", dir / "no-disk");
  auto usage = sampler.Sample();
  EXPECT_EQ(usage.cpu_percent(), 0.0);
  EXPECT_EQ(usage.memory_total_mb(), 0);
  EXPECT_EQ(usage.disk_total_mb(), 0);
  EXPECT_EQ(sampler.UptimeSeconds(), 0);
  EXPECT_GE(sampler.Capabilities().cpu_cores(), 1);  // falls back to sysconf
}

// ---------------------------------------------------------------------------------------------
// Services

TEST(ProbeServicesTest, CountsOnlyProcessesInOurNetworkNamespace) {
  ScratchDir dir;
  const std::string proc = FakeProc(dir);
  const long hz = ::sysconf(_SC_CLK_TCK);
  FakeProcess(proc, 100, "nebula", kOtherNet, 10 * hz);  // another local node's nebula
  FakeProcess(proc, 101, "nebula", kOurNet, 250 * hz);
  FakeProcess(proc, 102, "nebula", kOurNet, 400 * hz);  // younger: the oldest one counts
  FakeProcess(proc, 200, "k3s-server", kOtherNet, 5 * hz);
  FakeProcess(proc, 300, "ollama", "", 5 * hz);  // unreadable ns link: cannot be ours
  FakeProcess(proc, 400, "liqo-gateway", kOurNet, 900 * hz);
  FakeProcess(proc, 500, "bash", kOurNet, 1);

  ScratchDir bin;
  WriteFile(bin / "k3s", "#!/bin/sh\n", 0755);  // installed, yet not running here
  ScopedPath path(bin.path());
  ServiceStates s = ProbeServices(proc);

  EXPECT_EQ(s.nebula.state(), ec2agent::v1::SERVICE_STATE_RUNNING);
  EXPECT_EQ(s.nebula.message(), "pid 101");
  EXPECT_EQ(s.nebula.uptime_seconds(), 750);  // 1000.75 - 250
  EXPECT_EQ(s.k3s.state(), ec2agent::v1::SERVICE_STATE_STOPPED);
  EXPECT_EQ(s.ollama.state(), ec2agent::v1::SERVICE_STATE_NOT_INSTALLED);
  EXPECT_EQ(s.liqo.state(), ec2agent::v1::SERVICE_STATE_RUNNING);
  EXPECT_EQ(s.liqo.uptime_seconds(), 100);
}

TEST(ProbeServicesTest, RecognisesEveryServiceName) {
  const std::vector<std::pair<std::string, int>> names = {
      {"nebula", 0}, {"k3s", 1},     {"k3s-server", 1},     {"k3s-agent", 1},
      {"ollama", 2}, {"liqonet", 3}, {"liqo-controller", 3}};
  for (const auto& [comm, which] : names) {
    ScratchDir dir;
    const std::string proc = FakeProc(dir);
    FakeProcess(proc, 42, comm, kOurNet, 1);
    ServiceStates s = ProbeServices(proc);
    const ec2agent::v1::ServiceStatus* all[] = {&s.nebula, &s.k3s, &s.ollama, &s.liqo};
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(all[i]->state() == ec2agent::v1::SERVICE_STATE_RUNNING, i == which)
          << comm << " service " << i;
    }
  }
}

// A real child in our namespace: a copy of sleep named like k3s's agent (comm is the file
// name). k3s, rather than nebula, since other tests may run a real nebula on this host.
TEST(ProbeServicesTest, RealProcessIsRunningUntilKilled) {
  ScratchDir dir;
  const std::string fake = dir / "k3s-agent";
  std::filesystem::copy_file("/bin/sleep", fake);
  std::filesystem::permissions(fake, std::filesystem::perms(0755));

  auto before = ProbeServices();
  ASSERT_NE(before.k3s.state(), ec2agent::v1::SERVICE_STATE_RUNNING) << before.k3s.message();

  carrierarr::testing::StreamingProcess child;
  ASSERT_TRUE(child.Start({fake, "30"}, dir.path()).ok());
  const std::string want = "pid " + std::to_string(child.pid());
  ServiceStates running;
  // Between spawn and exec the child still carries our name: wait for the exec.
  Eventually([&] {
    running = ProbeServices();
    return running.k3s.message() == want;
  });
  EXPECT_EQ(running.k3s.state(), ec2agent::v1::SERVICE_STATE_RUNNING);
  EXPECT_EQ(running.k3s.message(), want);
  EXPECT_GE(running.k3s.uptime_seconds(), 0);
  EXPECT_LE(running.k3s.uptime_seconds(), 5);

  ASSERT_TRUE(child.Signal(SIGKILL));
  ASSERT_TRUE(child.Wait(std::chrono::seconds(5)).has_value());
  EXPECT_NE(ProbeServices().k3s.state(), ec2agent::v1::SERVICE_STATE_RUNNING);
}

// ---------------------------------------------------------------------------------------------
// Ollama

// The models the Ollama tests see: three installed (one with a size that is not a number, one
// without a name), llama3:8b loaded until `expires_at`.
void ServeModels(FakeOllama& ollama, const std::string& expires_at = "2030-01-01T10:00:00Z") {
  ollama.set_tags(R"({"models":[
      {"name":"llama3:8b","model":"llama3:8b","size":4661224676,"digest":"abc"},
      {"name":"qwen2:0.5b","model":"qwen2:0.5b","size":352164041},
      {"model":"nameless:1b","size":"not a number"},
      {"size":1}]})");
  ollama.set_ps(R"({"models":[{"name":"llama3:8b","model":"llama3:8b","expires_at":")" +
                expires_at + R"("}]})");
}

TEST(OllamaClientTest, ListsModelsWithTheLoadedOnesMarked) {
  FakeOllama ollama;
  ServeModels(ollama);
  OllamaClient client(ollama.url() + "/");
  auto models = client.Models();
  ASSERT_TRUE(models.ok()) << models.status().ToString();
  ASSERT_EQ(models->size(), 3u);
  EXPECT_EQ((*models)[0].name(), "llama3:8b");
  EXPECT_EQ((*models)[0].size_bytes(), 4661224676);
  EXPECT_TRUE((*models)[0].currently_loaded());
  EXPECT_EQ((*models)[1].name(), "qwen2:0.5b");
  EXPECT_EQ((*models)[1].size_bytes(), 352164041);
  EXPECT_FALSE((*models)[1].currently_loaded());
  EXPECT_EQ((*models)[2].name(), "nameless:1b");
  EXPECT_EQ((*models)[2].size_bytes(), 0);
}

TEST(OllamaClientTest, PullAndUnloadSendTheDocumentedBodies) {
  FakeOllama ollama;
  OllamaClient client(ollama.url());
  ASSERT_TRUE(client.Pull("qwen2:0.5b", std::chrono::seconds(5)).ok());
  ASSERT_TRUE(client.Unload("llama3:8b", std::chrono::seconds(5)).ok());
  auto requests = ollama.requests();
  ASSERT_EQ(requests.size(), 2u);
  ASSERT_EQ(requests[0].rfind("/api/pull ", 0), 0u);
  auto pull = nlohmann::json::parse(requests[0].substr(10));
  EXPECT_EQ(pull["name"], "qwen2:0.5b");
  EXPECT_EQ(pull["stream"], false);
  ASSERT_EQ(requests[1].rfind("/api/generate ", 0), 0u);
  auto unload = nlohmann::json::parse(requests[1].substr(14));
  EXPECT_EQ(unload, nlohmann::json({{"model", "llama3:8b"}, {"keep_alive", 0}}));
}

TEST(OllamaClientTest, ErrorsCarryOllamasMessage) {
  FakeOllama ollama;
  OllamaClient client(ollama.url());
  Status pull = client.Pull("nosuch", std::chrono::seconds(5));
  EXPECT_FALSE(pull.ok());
  EXPECT_THAT(pull.message(), HasSubstr("HTTP 500"));
  EXPECT_THAT(pull.message(), HasSubstr("pull model manifest: file does not exist"));
  Status unload = client.Unload("nosuch", std::chrono::seconds(5));
  EXPECT_EQ(unload.code(), StatusCode::kNotFound);
  EXPECT_THAT(unload.message(), HasSubstr("model \"nosuch\" not found"));
}

TEST(OllamaClientTest, UnreachableIsUnavailable) {
  SilentPort refused(SilentPort::kRefusing);
  OllamaClient client(refused.url());
  auto models = client.Models();
  ASSERT_FALSE(models.ok());
  EXPECT_EQ(models.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(models.status().message(), HasSubstr(refused.url()));
  EXPECT_EQ(client.Pull("x", std::chrono::seconds(1)).code(), StatusCode::kUnavailable);
}

// ---------------------------------------------------------------------------------------------
// StatusCollector

struct CollectorFixture {
  ScratchDir dir;
  ScratchDir bin;
  std::string proc = FakeProc(dir);
  CollectorOptions Options(const std::string& ollama_url) {
    WriteFile(bin / "nvidia-smi",
              "#!/bin/sh\necho '0, NVIDIA A10G, 512, 23028, 30, 55'\n"
              "echo '1, NVIDIA A10G, 0, 23028, 0, 41'\n",
              0755);
    CollectorOptions o;
    o.proc_root = proc;
    o.disk_path = dir.path();
    o.nvidia_smi = bin / "nvidia-smi";
    o.ollama_url = ollama_url;
    return o;
  }
};

TEST(StatusCollectorTest, CollectsEverything) {
  CollectorFixture f;
  FakeOllama ollama;
  ServeModels(ollama);
  FakeProcess(f.proc, 77, "nebula", kOurNet, 100 * ::sysconf(_SC_CLK_TCK));
  FakeProcess(f.proc, 78, "ollama", kOurNet, 200 * ::sysconf(_SC_CLK_TCK));
  ScopedPath path(f.bin.path());  // nothing else installed
  StatusCollector collector(f.Options(ollama.url()));

  const auto before = std::chrono::system_clock::now();
  auto s = collector.Collect("gpu-1");
  EXPECT_EQ(s.node_id(), "gpu-1");
  const auto stamp =
      std::chrono::system_clock::time_point(std::chrono::seconds(s.timestamp().seconds()));
  EXPECT_GE(stamp, std::chrono::time_point_cast<std::chrono::seconds>(before));
  EXPECT_LE(stamp, std::chrono::system_clock::now());
  EXPECT_EQ(s.nebula().state(), ec2agent::v1::SERVICE_STATE_RUNNING);
  EXPECT_EQ(s.nebula().uptime_seconds(), 900);
  EXPECT_EQ(s.ollama().state(), ec2agent::v1::SERVICE_STATE_RUNNING);
  EXPECT_EQ(s.k3s().state(), ec2agent::v1::SERVICE_STATE_NOT_INSTALLED);
  EXPECT_EQ(s.liqo().state(), ec2agent::v1::SERVICE_STATE_NOT_INSTALLED);
  EXPECT_EQ(s.resources().memory_total_mb(), 8000);
  EXPECT_EQ(s.resources().memory_used_mb(), 6000);
  ASSERT_EQ(s.gpus_size(), 2);
  EXPECT_EQ(s.gpus(0).memory_used_mb(), 512);
  EXPECT_EQ(s.gpus(1).temperature_c(), 41);
  // Every installed model, those in memory marked, as the original agent reports them.
  ASSERT_EQ(s.loaded_models_size(), 3);
  EXPECT_EQ(s.loaded_models(0).name(), "llama3:8b");
  EXPECT_TRUE(s.loaded_models(0).currently_loaded());
  EXPECT_EQ(s.loaded_models(1).name(), "qwen2:0.5b");
  EXPECT_FALSE(s.loaded_models(1).currently_loaded());
  EXPECT_EQ(s.loaded_models(1).size_bytes(), 352164041);
  EXPECT_EQ(s.loaded_models(2).name(), "nameless:1b");
  EXPECT_FALSE(s.loaded_models(2).currently_loaded());
  EXPECT_EQ(s.uptime_seconds(), 1000);
  EXPECT_EQ(s.idle_seconds(), 0);
  EXPECT_EQ(s.health(), ec2agent::v1::HEALTH_STATE_HEALTHY);
}

TEST(StatusCollectorTest, HealthFollowsTheServices) {
  CollectorFixture f;
  SilentPort refused(SilentPort::kRefusing);
  ScopedPath path(f.bin.path());
  StatusCollector collector(f.Options(refused.url()));
  // Nebula down: unhealthy, whatever else.
  EXPECT_EQ(collector.Collect("n").health(), ec2agent::v1::HEALTH_STATE_UNHEALTHY);

  FakeProcess(f.proc, 77, "nebula", kOurNet, 1);
  EXPECT_EQ(collector.Collect("n").health(), ec2agent::v1::HEALTH_STATE_HEALTHY);

  // ollama installed but not running: degraded.
  WriteFile(f.bin / "ollama", "#!/bin/sh\n", 0755);
  auto s = collector.Collect("n");
  EXPECT_EQ(s.ollama().state(), ec2agent::v1::SERVICE_STATE_STOPPED);
  EXPECT_EQ(s.health(), ec2agent::v1::HEALTH_STATE_DEGRADED);
  EXPECT_EQ(s.loaded_models_size(), 0);  // Ollama does not answer
}

TEST(StatusCollectorTest, AHungOllamaDoesNotHoldUpTheStatus) {
  CollectorFixture f;
  SilentPort hang;
  StatusCollector collector(f.Options(hang.url()));
  const auto start = Clock::now();
  auto s = collector.Collect("n");
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(1500));
  EXPECT_EQ(s.loaded_models_size(), 0);
  EXPECT_EQ(s.gpus_size(), 2);  // the rest is there
}

TEST(StatusCollectorTest, IdleTimeRestartsOnActivityAndOnOllamaRequests) {
  CollectorFixture f;
  FakeOllama ollama;
  ServeModels(ollama);
  SimulatedTimeSource time;
  CollectorOptions o = f.Options(ollama.url());
  o.time = &time;
  StatusCollector collector(o);
  EXPECT_EQ(collector.Collect("n").idle_seconds(), 0);  // the first /api/ps is a baseline
  time.Advance(std::chrono::seconds(90));
  EXPECT_EQ(collector.Collect("n").idle_seconds(), 90);  // same expires_at: no request since

  ServeModels(ollama, "2030-01-01T10:05:00Z");  // a request moved the model's expiry
  EXPECT_EQ(collector.Collect("n").idle_seconds(), 0);

  time.Advance(std::chrono::minutes(30));
  auto s = collector.Collect("n");
  EXPECT_EQ(s.idle_seconds(), 1800);
  EXPECT_EQ(s.timestamp().seconds(), time.NowUnix());  // the status is stamped by the same clock
  collector.NoteActivity();
  EXPECT_EQ(collector.Collect("n").idle_seconds(), 0);
}

TEST(StatusCollectorTest, CapabilitiesIncludeGpus) {
  CollectorFixture f;
  StatusCollector collector(f.Options("http://127.0.0.1:9"));
  auto caps = collector.Capabilities();
  EXPECT_TRUE(caps.has_gpu());
  EXPECT_EQ(caps.gpu_model(), "NVIDIA A10G");
  EXPECT_EQ(caps.gpu_count(), 2);
  EXPECT_EQ(caps.gpu_memory_mb(), 2 * 23028);
  EXPECT_EQ(caps.cpu_cores(), 3);
  EXPECT_EQ(caps.memory_mb(), 8000);
  EXPECT_GT(caps.disk_mb(), 0);

  CollectorOptions none = f.Options("http://127.0.0.1:9");
  none.nvidia_smi = f.dir / "no-nvidia-smi";
  auto cpu_only = StatusCollector(none).Capabilities();
  EXPECT_FALSE(cpu_only.has_gpu());
  EXPECT_EQ(cpu_only.gpu_count(), 0);
  EXPECT_EQ(cpu_only.gpu_model(), "");
  EXPECT_EQ(cpu_only.gpu_memory_mb(), 0);
}

}  // namespace
}  // namespace carrierarr::agent

namespace carrierarr::agent {
namespace {

// A complete UTF-8 text: every character whole (what protobuf and the control plane require).
bool WholeUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

TEST(StatusCollectorTest, StringsAndListsAreBounded) {
  // An Ollama with 600 models of long multi-byte names, a driver with 100 GPUs of long names:
  // the status stays within what the control plane accepts, cut on character boundaries.
  CollectorFixture f;
  FakeOllama ollama;
  std::string long_name = "x";
  for (int i = 0; i < 150; ++i) long_name += "\xC3\xA9";  // 301 bytes
  nlohmann::json tags = {{"models", nlohmann::json::array()}};
  for (int i = 0; i < 600; ++i) tags["models"].push_back({{"name", std::to_string(i) + long_name}});
  ollama.set_tags(tags.dump());
  ollama.set_ps(nlohmann::json({{"models", {{{"name", "599" + long_name}}}}}).dump());
  CollectorOptions o = f.Options(ollama.url());
  std::string smi = "#!/bin/sh\ni=0\nwhile [ $i -lt 100 ]; do echo \"$i, " + long_name +
                    ", 1, 2, 3, 4\"; i=$((i+1)); done\n";
  WriteFile(f.bin / "nvidia-smi", smi, 0755);
  ScopedPath path(f.bin.path());
  StatusCollector collector(o);
  auto s = collector.Collect("gpu-1");
  ASSERT_EQ(s.gpus_size(), kMaxStatusGpus);
  for (const auto& g : s.gpus()) {
    EXPECT_LE(g.name().size(), kMaxStatusStringBytes);
    EXPECT_TRUE(WholeUtf8(g.name())) << g.name();
  }
  EXPECT_EQ(s.gpus(0).name(), TruncateUtf8(long_name, kMaxStatusStringBytes));
  EXPECT_EQ(s.gpus(0).name().size(), 255u);  // byte 256 would split an é
  ASSERT_EQ(s.loaded_models_size(), kMaxStatusModels);
  // The model in memory (the last Ollama lists) is kept ahead of those on disk.
  EXPECT_TRUE(s.loaded_models(0).currently_loaded());
  EXPECT_EQ(s.loaded_models(0).name(), TruncateUtf8("599" + long_name, kMaxStatusStringBytes));
  for (const auto& m : s.loaded_models()) {
    EXPECT_LE(m.name().size(), kMaxStatusStringBytes);
    EXPECT_TRUE(WholeUtf8(m.name())) << m.name();
  }
  std::string wire;
  EXPECT_TRUE(s.SerializeToString(&wire));
  EXPECT_LE(collector.Capabilities().gpu_model().size(), kMaxStatusStringBytes);
}

// The cloud cluster on the k3s server node: a fake kubectl that prints a NodeList (one node,
// NotReady for want of a CNI, as k3s with --flannel-backend=none reports itself), records its
// argv, and fails while a "fail" file exists.
constexpr char kNotReadyNodeList[] = R"({"apiVersion":"v1","kind":"List","items":[
 {"metadata":{"name":"lighthouse","labels":{"node-role.kubernetes.io/control-plane":"true"}},
  "status":{"addresses":[{"type":"InternalIP","address":"10.100.0.1"}],
   "conditions":[{"type":"Ready","status":"False","reason":"KubeletNotReady",
    "message":"container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"}]}}]})";

struct K3sFixture : CollectorFixture {
  std::string kubeconfig = dir / "k3s.yaml";
  std::vector<std::string> logged;
  CollectorOptions Options(const std::string& ollama_url) {
    WriteFile(bin / "nodes.json", kNotReadyNodeList);
    WriteFile(bin / "kubectl",
              "#!/bin/sh\nprintf '%s\\n' \"$@\" > '" + (bin / "kubectl.argv") + "'\n" +
                  "if [ -e '" + (bin / "fail") +
                  "' ]; then echo 'The connection to the server 127.0.0.1:6443 was refused' >&2;"
                  " exit 1; fi\ncat '" +
                  (bin / "nodes.json") + "'\n",
              0755);
    CollectorOptions o = CollectorFixture::Options(ollama_url);
    o.kubectl = bin / "kubectl";
    o.k3s_kubeconfig = kubeconfig;
    o.log = [this](const std::string& line) { logged.push_back(line); };
    return o;
  }
};

TEST(StatusCollectorTest, TheK3sServerReportsItsClusterNodes) {
  K3sFixture f;
  FakeOllama ollama;
  WriteFile(f.kubeconfig, "apiVersion: v1\nkind: Config\n", 0600);
  StatusCollector collector(f.Options(ollama.url()));
  auto s = collector.Collect("lighthouse");
  ASSERT_EQ(s.k3s_cluster_nodes_size(), 1);
  const auto& n = s.k3s_cluster_nodes(0);
  EXPECT_EQ(n.name(), "lighthouse");
  EXPECT_FALSE(n.ready());
  EXPECT_EQ(n.reason(), "KubeletNotReady");
  EXPECT_THAT(n.message(), HasSubstr("cni plugin not initialized"));
  EXPECT_EQ(n.roles(), "control-plane");
  EXPECT_EQ(n.internal_ip(), "10.100.0.1");
  EXPECT_EQ(Slurp(f.bin / "kubectl.argv"),
            "--kubeconfig\n" + f.kubeconfig + "\nget\nnodes\n-o\njson\n");
  EXPECT_TRUE(f.logged.empty());
}

TEST(StatusCollectorTest, WithoutTheKubeconfigKubectlNeverRuns) {
  K3sFixture f;  // a worker, or a node without k3s: no k3s.yaml
  FakeOllama ollama;
  StatusCollector collector(f.Options(ollama.url()));
  EXPECT_EQ(collector.Collect("gpu-1").k3s_cluster_nodes_size(), 0);
  EXPECT_FALSE(PathExists(f.bin / "kubectl.argv"));
  EXPECT_TRUE(f.logged.empty());
}

TEST(StatusCollectorTest, AFailingKubectlIsLoggedOncePerChange) {
  K3sFixture f;
  FakeOllama ollama;
  WriteFile(f.kubeconfig, "apiVersion: v1\n", 0600);
  WriteFile(f.bin / "fail", "");
  StatusCollector collector(f.Options(ollama.url()));
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(collector.Collect("lighthouse").k3s_cluster_nodes_size(), 0);
  ASSERT_EQ(f.logged.size(), 1u);
  EXPECT_THAT(f.logged[0], HasSubstr("cannot report the cloud cluster's nodes"));
  EXPECT_THAT(f.logged[0], HasSubstr("exit 1"));
  EXPECT_THAT(f.logged[0], HasSubstr("127.0.0.1:6443 was refused"));
  std::filesystem::remove(f.bin / "fail");
  EXPECT_EQ(collector.Collect("lighthouse").k3s_cluster_nodes_size(), 1);
  EXPECT_EQ(collector.Collect("lighthouse").k3s_cluster_nodes_size(), 1);
  ASSERT_EQ(f.logged.size(), 2u);
  EXPECT_THAT(f.logged[1], HasSubstr("reported again"));
  // Output that is no NodeList is a failure too, logged once.
  WriteFile(f.bin / "nodes.json", "not json");
  EXPECT_EQ(collector.Collect("lighthouse").k3s_cluster_nodes_size(), 0);
  EXPECT_EQ(collector.Collect("lighthouse").k3s_cluster_nodes_size(), 0);
  EXPECT_EQ(f.logged.size(), 3u);
}

TEST(TruncateUtf8Test, CutsOnlyOnCharacterBoundaries) {
  EXPECT_EQ(TruncateUtf8("hello", 10), "hello");
  EXPECT_EQ(TruncateUtf8("hello", 5), "hello");
  EXPECT_EQ(TruncateUtf8("hello", 3), "hel");
  EXPECT_EQ(TruncateUtf8("hello", 0), "");
  const std::string e = "\xC3\xA9";              // é, 2 bytes
  const std::string euro = "\xE2\x82\xAC";       // €, 3 bytes
  const std::string emoji = "\xF0\x9F\x98\x80";  // 😀, 4 bytes
  EXPECT_EQ(TruncateUtf8("a" + e, 2), "a");
  EXPECT_EQ(TruncateUtf8("a" + e, 3), "a" + e);
  EXPECT_EQ(TruncateUtf8(euro + euro, 5), euro);
  EXPECT_EQ(TruncateUtf8(euro + euro, 4), euro);
  EXPECT_EQ(TruncateUtf8(emoji + "z", 3), "");
  EXPECT_EQ(TruncateUtf8(emoji + "z", 4), emoji);
  EXPECT_EQ(TruncateUtf8(emoji + "z", 5), emoji + "z");
  // Bytes that are not UTF-8 are cut like any byte.
  EXPECT_EQ(TruncateUtf8("ab\xFF\xFE", 3), "ab\xFF");
}

}  // namespace
}  // namespace carrierarr::agent
