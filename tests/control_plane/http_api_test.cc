// The HTTP API over a real ControlPlane and SQLite store, spoken to with httplib's client on
// 127.0.0.1: authentication, the JSON shapes, status codes and the Prometheus text; and the
// bounds of its server (http_server.h) against slow, idle, trickling and greedy clients, spoken
// to over raw sockets from several loopback addresses (all of 127.0.0.0/8 is loopback on Linux).
#include "control_plane/http_api.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "burst/controller.h"
#include "control_plane/control_plane.h"
#include "control_plane/store.h"
#include "ec2agent/v1/agent.pb.h"
#include "testing/raw_socket.h"
#include "testing/tools.h"

namespace carrierarr::control_plane {
namespace {

using nlohmann::json;

// A connected agent that answers every command with exit code 7, from a thread of its own.
class AnsweringAgent : public StreamSink {
 public:
  explicit AnsweringAgent(ControlPlane* cp) : cp_(cp) {}
  ~AnsweringAgent() override { JoinAll(); }
  // Waits for every answer. Call before dropping the test's reference: an answering thread may
  // hold the last other one (the control plane acks through it), and a destructor run on that
  // thread could not join it.
  void JoinAll() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }
  bool Send(const ec2agent::v1::ControlMessage& message) override {
    if (!message.has_command()) return true;
    std::lock_guard lock(mu_);
    threads_.emplace_back([this, id = message.command().command_id()] {
      ec2agent::v1::AgentMessage m;
      m.mutable_command_result()->set_command_id(id);
      m.mutable_command_result()->set_exit_code(7);
      m.mutable_command_result()->set_stdout("hello\n");
      EXPECT_TRUE(cp_->OnAgentMessage("gpu-1", m).ok());
    });
    return true;
  }
  void Close(const Status&) override {}

 private:
  ControlPlane* cp_;
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

constexpr char kAdmin[] = "cat_0123456789abcdef0123456789abcdef0123456789abcdef";

// A raw TCP connection to 127.0.0.1:port from a loopback source address of the test's choosing,
// for clients that httplib cannot play: slow, idle, trickling.
class RawConnection {
 public:
  RawConnection(int port, const std::string& source)
      : fd_(testing::ConnectFromLoopback(port, source)), connected_(fd_ >= 0) {}
  ~RawConnection() {
    if (fd_ >= 0) close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  bool Send(std::string_view data) {
    return send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  // Reads what arrives within `timeout`; true when the server closed the connection by then.
  bool ReadUntilClosed(std::chrono::milliseconds timeout, std::string* got = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return true;  // closed, or reset
      if (got) got->append(buf, static_cast<size_t>(n));
    }
  }
  // Reads until `needle` has arrived (or `timeout`); what came.
  std::string ReadUntil(std::string_view needle, std::chrono::milliseconds timeout) {
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (got.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(/*allow_exec=*/false); }

  void Open(bool allow_exec, const HttpLimits& limits = {}) {
    api_.reset();
    cp_.reset();
    auto store = OpenSqliteStore(dir_ / ("fleet" + std::to_string(opened_++) + ".db"));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ControlPlaneOptions options;
    options.background_threads = false;
    options.allow_exec = allow_exec;
    options.command_grace = std::chrono::seconds(1);  // bounds the waits of unanswered commands
    auto cp = ControlPlane::Create(std::move(*store), options);
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    cp_ = std::move(*cp);
    ASSERT_TRUE(cp_->SetAdminToken(kAdmin).ok());
    auto api = HttpApi::Start(*cp_, "127.0.0.1", 0, "", "", "9.8.7", limits);
    ASSERT_TRUE(api.ok()) << api.status().ToString();
    api_ = std::move(*api);
    ASSERT_GT(api_->port(), 0);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", api_->port());
    client_->set_read_timeout(std::chrono::seconds(20));
  }

  void TearDown() override {
    client_.reset();
    if (api_) api_->Stop();
    api_.reset();
    cp_.reset();
  }

  httplib::Headers Admin() const { return {{"Authorization", std::string("Bearer ") + kAdmin}}; }

  // Registers a node through the control plane with a fresh single-use token.
  void RegisterNode(const std::string& id) {
    carrierarr::v1::CreateTokenRequest t;
    t.set_name("for " + id);
    t.set_max_uses(1);
    t.set_node_id(id);
    auto token = cp_->CreateToken(t);
    ASSERT_TRUE(token.ok()) << token.status().ToString();
    ec2agent::v1::RegisterRequest r;
    r.set_node_id(id);
    r.set_node_type(ec2agent::v1::NODE_TYPE_GPU_WORKER);
    r.set_nebula_ip("10.42.0.7");
    r.set_region("homelab");
    r.mutable_capabilities()->set_gpu_count(2);
    auto registered = cp_->Register({token->secret()}, r);
    ASSERT_TRUE(registered.ok()) << registered.status().ToString();
  }

  static json Json(const httplib::Result& r) {
    EXPECT_TRUE(r) << "request failed: " << httplib::to_string(r.error());
    if (!r) return json();
    json j = json::parse(r->body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r->body;
    return j;
  }

  testing::ScratchDir dir_;
  int opened_ = 0;
  std::unique_ptr<ControlPlane> cp_;
  std::unique_ptr<HttpApi> api_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpApiTest, HealthAndVersionNeedNoToken) {
  auto health = client_->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(Json(health)["status"], "ok");
  EXPECT_EQ(health->get_header_value("Content-Type"), "application/json");

  auto head = client_->Head("/health");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
  EXPECT_EQ(head->get_header_value("Content-Length"), std::to_string(health->body.size()));

  auto version = client_->Get("/version");
  ASSERT_TRUE(version);
  EXPECT_EQ(version->status, 200);
  EXPECT_EQ(Json(version)["version"], "9.8.7");
}

TEST_F(HttpApiTest, EverythingElseNeedsTheAdminToken) {
  for (const char* path : {"/api/v1/fleet", "/api/v1/nodes", "/api/v1/nodes/x", "/api/v1/stats",
                           "/api/v1/commands/cmd_x", "/api/v1/events", "/metrics"}) {
    SCOPED_TRACE(path);
    auto none = client_->Get(path);
    ASSERT_TRUE(none);
    EXPECT_EQ(none->status, 401);
    json j = Json(none);
    EXPECT_EQ(j["error"], "no admin token");
    EXPECT_NE(j["hint"].get<std::string>().find("admin.token"), std::string::npos);

    auto wrong = client_->Get(path, {{"Authorization", "Bearer cat_wrong"}});
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401);
    EXPECT_EQ(Json(wrong)["error"], "wrong admin token");

    // Not a bearer value at all.
    auto basic = client_->Get(path, {{"Authorization", std::string("Basic ") + kAdmin}});
    ASSERT_TRUE(basic);
    EXPECT_EQ(basic->status, 401);
  }
  auto post =
      client_->Post("/api/v1/command", R"({"node_id":"a","type":"REBOOT"})", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 401);
  auto del = client_->Delete("/api/v1/nodes/a");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 401);
}

TEST_F(HttpApiTest, NodesFleetAndOneNode) {
  auto empty = client_->Get("/api/v1/nodes", Admin());
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 200);
  json j = Json(empty);
  ASSERT_TRUE(j["nodes"].is_array()) << empty->body;
  EXPECT_TRUE(j["nodes"].empty());

  RegisterNode("gpu-1");

  auto list = client_->Get("/api/v1/nodes", Admin());
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
  j = Json(list);
  ASSERT_EQ(j["nodes"].size(), 1u) << list->body;
  EXPECT_EQ(j["nodes"][0]["node_id"], "gpu-1");
  EXPECT_EQ(j["nodes"][0]["nebula_ip"], "10.42.0.7");
  EXPECT_EQ(j["nodes"][0]["node_type"], "NODE_TYPE_GPU_WORKER");  // snake_case names, enum names

  auto one = client_->Get("/api/v1/nodes/gpu-1", Admin());
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  j = Json(one);
  EXPECT_EQ(j["node_id"], "gpu-1");
  EXPECT_EQ(j["region"], "homelab");
  EXPECT_EQ(j["capabilities"]["gpu_count"], 2);

  auto fleet = client_->Get("/api/v1/fleet", Admin());
  ASSERT_TRUE(fleet);
  EXPECT_EQ(fleet->status, 200);
  j = Json(fleet);
  EXPECT_EQ(j["summary"]["total_nodes"], 1) << fleet->body;
  ASSERT_EQ(j["nodes"].size(), 1u);
  EXPECT_EQ(j["nodes"][0]["node_id"], "gpu-1");

  auto cpu_only = client_->Get("/api/v1/fleet?node_type=cpu_worker", Admin());
  ASSERT_TRUE(cpu_only);
  EXPECT_EQ(cpu_only->status, 200);
  EXPECT_EQ(Json(cpu_only)["summary"]["total_nodes"], 0) << cpu_only->body;
  auto bad_filter = client_->Get("/api/v1/fleet?node_type=toaster", Admin());
  ASSERT_TRUE(bad_filter);
  EXPECT_EQ(bad_filter->status, 400);

  auto unknown = client_->Get("/api/v1/nodes/nope", Admin());
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  j = Json(unknown);
  EXPECT_EQ(j["code"], "not found");
  EXPECT_NE(j["error"].get<std::string>().find("nope"), std::string::npos);

  auto deleted = client_->Delete("/api/v1/nodes/gpu-1", Admin());
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->status, 200) << deleted->body;
  EXPECT_TRUE(Json(client_->Get("/api/v1/nodes", Admin()))["nodes"].empty());
  auto again = client_->Delete("/api/v1/nodes/gpu-1", Admin());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 404);
}

TEST_F(HttpApiTest, CommandRequestsAreValidated) {
  RegisterNode("gpu-1");
  struct Case {
    const char* body;
    const char* error_part;
  };
  const Case cases[] = {
      {"{not json", "not valid JSON"},
      {"[1,2]", "JSON object"},
      {R"({"type":"REBOOT"})", "node_id is required"},
      {R"({"node_id":"gpu-1"})", "type is required"},
      {R"({"node_id":"gpu-1","type":"TOASTER"})", "unknown command type"},
      {R"({"node_id":"gpu-1","type":99})", "unknown command type"},
      {R"({"node_id":"gpu-1","type":"REBOOT","argv":"ls -l"})", "argv must be an array"},
      {R"({"node_id":"gpu-1","type":"REBOOT","args":{"a":[1]}})", "args.a must be a string"},
      {R"({"node_id":"gpu-1","type":"REBOOT","timeout_seconds":-1})", "timeout_seconds"},
      {R"({"node_id":"gpu-1","type":"REBOOT","timeout_seconds":1.5})", "timeout_seconds"},
      {R"({"node_id":"gpu-1","type":"REBOOT","wait":"yes"})", "wait must be"},
      {R"({"node_id":"gpu-1","type":"REBOOT","timeout":5})", "unknown field \"timeout\""},
      // Checked by the control plane: still a 400.
      {R"({"node_id":"gpu-1","type":"PULL_MODEL"})", "model"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    auto r = client_->Post("/api/v1/command", Admin(), c.body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    json j = Json(r);
    EXPECT_NE(j["error"].get<std::string>().find(c.error_part), std::string::npos) << r->body;
  }

  auto unknown = client_->Post("/api/v1/command", Admin(), R"({"node_id":"ghost","type":"REBOOT"})",
                               "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404) << unknown->body;

  // EXEC is off unless the fleet allows it: a state of the fleet, not a bad request.
  auto exec = client_->Post("/api/v1/command", Admin(),
                            R"({"node_id":"gpu-1","type":"EXEC","argv":["uname","-a"]})",
                            "application/json");
  ASSERT_TRUE(exec);
  EXPECT_EQ(exec->status, 409);
  EXPECT_NE(Json(exec)["error"].get<std::string>().find("--allow-exec"), std::string::npos);

  // Over the 1 MiB body limit.
  std::string huge =
      R"({"node_id":"gpu-1","type":"REBOOT","args":{"x":")" + std::string(1 << 20, 'a') + R"("}})";
  auto too_big = client_->Post("/api/v1/command", Admin(), huge, "application/json");
  ASSERT_TRUE(too_big);
  EXPECT_EQ(too_big->status, 413);
  EXPECT_EQ(Json(too_big)["error"], "request body over the limit of 1 MiB (1048576 bytes)");
}

TEST_F(HttpApiTest, QueuedCommandIsAcceptedAndCanBeRead) {
  Open(/*allow_exec=*/true);
  RegisterNode("gpu-1");
  // No agent is connected: the command stays queued.
  auto r = client_->Post(
      "/api/v1/command", Admin(),
      R"({"node_id":"gpu-1","type":"exec","argv":["echo","a b","*"],"timeout_seconds":5})",
      "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202) << r->body;
  json j = Json(r);
  EXPECT_EQ(j["state"], "queued");
  EXPECT_EQ(j["type"], "COMMAND_TYPE_EXEC");
  EXPECT_EQ(j["argv"], json::array({"echo", "a b", "*"}));  // passed as given, never split
  const std::string id = j["command_id"];
  ASSERT_FALSE(id.empty());

  auto got = client_->Get("/api/v1/commands/" + id, Admin());
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(Json(got)["command_id"], id);
  EXPECT_EQ(Json(got)["node_id"], "gpu-1");

  auto missing = client_->Get("/api/v1/commands/cmd_000000000000", Admin());
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);

  // By number, with args given as a boolean: accepted as the text "true".
  auto drain =
      client_->Post("/api/v1/command", Admin(),
                    R"({"node_id":"gpu-1","type":3,"args":{"force":true}})", "application/json");
  ASSERT_TRUE(drain);
  EXPECT_EQ(drain->status, 202) << drain->body;
  EXPECT_EQ(Json(drain)["type"], "COMMAND_TYPE_DRAIN");
  EXPECT_EQ(Json(drain)["args"]["force"], "true");

  auto events = client_->Get("/api/v1/events", Admin());
  ASSERT_TRUE(events);
  EXPECT_EQ(events->status, 200);
  j = Json(events);
  ASSERT_TRUE(j["events"].is_array());
  bool saw_command = false;
  for (const auto& e : j["events"]) saw_command |= e["kind"] == "command";
  EXPECT_TRUE(saw_command) << events->body;
}

TEST_F(HttpApiTest, WaitedCommandReturnsTheResult) {
  Open(/*allow_exec=*/true);
  RegisterNode("gpu-1");
  auto agent = std::make_shared<AnsweringAgent>(cp_.get());
  cp_->AttachStream("gpu-1", agent);
  auto r = client_->Post("/api/v1/command", Admin(),
                         R"({"node_id":"gpu-1","type":"EXEC","argv":["true"],"wait":true})",
                         "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  json j = Json(r);
  EXPECT_EQ(j["state"], "failed") << r->body;  // exit 7, success false
  EXPECT_EQ(j["result"]["exit_code"], 7);
  EXPECT_EQ(j["result"]["stdout"], "hello\n");
  agent->JoinAll();
  cp_->DetachStream("gpu-1", agent.get());
}

TEST_F(HttpApiTest, CancelEndsAQueuedCommandAndWakesItsWaiter) {
  RegisterNode("gpu-1");  // never connected: the command stays queued
  // A waiting POST, answered by the cancel rather than by its 10-minute timeout.
  httplib::Client waiter("127.0.0.1", api_->port());
  waiter.set_read_timeout(std::chrono::seconds(60));
  int waited_status = 0;
  std::string waited_body;
  std::thread waiting([&] {
    auto waited =
        waiter.Post("/api/v1/command", Admin(),
                    R"({"node_id":"gpu-1","type":"REBOOT","timeout_seconds":600,"wait":true})",
                    "application/json");
    if (waited) {
      waited_status = waited->status;
      waited_body = waited->body;
    }
  });
  std::string id;
  for (int i = 0; i < 1000 && id.empty(); ++i) {  // 10 s
    auto unfinished = cp_->store().ListCommands("gpu-1", /*unfinished_only=*/true);
    if (unfinished.ok() && !unfinished->empty()) id = (*unfinished)[0].command_id;
    if (id.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(id.empty()) << "the waiting POST queued no command";
  auto cancelled = client_->Post("/api/v1/commands/" + id + "/cancel", Admin(), "", "text/plain");
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(cancelled->status, 200) << cancelled->body;
  EXPECT_EQ(Json(cancelled)["state"], "cancelled") << cancelled->body;
  waiting.join();
  EXPECT_EQ(waited_status, 200) << waited_body;
  EXPECT_EQ(json::parse(waited_body, nullptr, false).value("state", ""), "cancelled")
      << waited_body;

  auto again = client_->Post("/api/v1/commands/" + id + "/cancel", Admin(), "", "text/plain");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 409) << again->body;
  EXPECT_NE(again->body.find("already finished"), std::string::npos) << again->body;
  auto unknown =
      client_->Post("/api/v1/commands/cmd_000000000000/cancel", Admin(), "", "text/plain");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404) << unknown->body;
  auto anonymous = client_->Post("/api/v1/commands/" + id + "/cancel", "", "text/plain");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
}

TEST_F(HttpApiTest, UnansweredWaitIsBoundedAndStopDoesNotWaitForIt) {
  RegisterNode("gpu-1");  // never connected: nobody answers
  auto start = std::chrono::steady_clock::now();
  auto r = client_->Post("/api/v1/command", Admin(),
                         R"({"node_id":"gpu-1","type":"REBOOT","timeout_seconds":1,"wait":true})",
                         "application/json");
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202) << r->body;  // still to come
  EXPECT_EQ(Json(r)["state"], "queued");
  EXPECT_GE(took, std::chrono::milliseconds(1900));  // timeout 1 s + grace 1 s
  EXPECT_LT(took, std::chrono::seconds(10));

  // A request waiting (up to 300 s + grace) when the API stops is let go at once.
  std::thread waiter([&] {
    httplib::Client c("127.0.0.1", api_->port());
    c.set_read_timeout(std::chrono::seconds(30));
    c.Post("/api/v1/command", Admin(), R"({"node_id":"gpu-1","type":"REBOOT","wait":true})",
           "application/json");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  start = std::chrono::steady_clock::now();
  api_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  waiter.join();
}

// Every line is a comment (# HELP / # TYPE) or "name{labels} value"; returns the samples.
int ExpectPrometheusText(const std::string& body) {
  const std::regex sample(R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$)");
  const std::regex comment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$)");
  std::istringstream lines(body);
  std::string line;
  int samples = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      EXPECT_TRUE(std::regex_match(line, comment)) << line;
    } else {
      EXPECT_TRUE(std::regex_match(line, sample)) << line;
      ++samples;
    }
  }
  return samples;
}

TEST_F(HttpApiTest, MetricsAreValidPrometheusText) {
  RegisterNode("gpu-1");
  auto r = client_->Get("/metrics", Admin());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  EXPECT_GT(ExpectPrometheusText(r->body), 3);
  EXPECT_NE(r->body.find("carrierarr_registrations_total 1"), std::string::npos) << r->body;
}

// Starts every node at once.
class InstantPower final : public burst::NodePower {
 public:
  Status Start(const std::string&) override { return Status::Ok(); }
  Status Stop(const std::string&) override { return Status::Ok(); }
};

TEST_F(HttpApiTest, PoolsAreListedWokenAndSleptWithABurstController) {
  auto refused = client_->Get("/api/v1/pools", Admin());
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 409) << refused->body;
  EXPECT_NE(refused->body.find("--fleet"), std::string::npos) << refused->body;

  spec::FleetSpec fleet;
  spec::PoolSpec gpu;
  gpu.name = "gpu";
  gpu.scaling = {.enabled = true, .min = 0, .max = 1};
  gpu.usd_per_hour = 1'000'000;
  fleet.pools.push_back(gpu);
  auto store = OpenSqliteStore(dir_ / "burst.db");
  ASSERT_TRUE(store.ok());
  InstantPower power;
  auto burst = burst::Controller::Start({.fleet = fleet,
                                         .store = store->get(),
                                         .power = &power,
                                         .owner = "test",
                                         .background_thread = false});
  ASSERT_TRUE(burst.ok()) << burst.status().ToString();
  cp_->SetBurst(burst->get());

  auto woke = client_->Post("/api/v1/pools/gpu/wake", Admin(), "", "application/json");
  ASSERT_TRUE(woke);
  EXPECT_EQ(woke->status, 200) << woke->body;
  EXPECT_EQ(Json(woke)["outcome"], "decided");
  EXPECT_EQ(Json(woke)["actions"][0]["state"], "decided") << "answered once decided";
  (*burst)->RunPending();
  auto pools = client_->Get("/api/v1/pools", Admin());
  ASSERT_TRUE(pools);
  EXPECT_EQ(Json(pools)["pools"][0]["running"], json::array({"gpu-1"})) << pools->body;

  auto metrics = client_->Get("/metrics", Admin());
  ASSERT_TRUE(metrics);
  ExpectPrometheusText(metrics->body);
  EXPECT_NE(metrics->body.find("carrierarr_pool_running_nodes{pool=\"gpu\"} 1"), std::string::npos)
      << metrics->body;

  auto unknown = client_->Post("/api/v1/pools/nope/wake", Admin(), "", "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404) << unknown->body;
  auto slept = client_->Post("/api/v1/pools/gpu/sleep", Admin(), "", "application/json");
  ASSERT_TRUE(slept);
  EXPECT_EQ(slept->status, 200) << slept->body;
  (*burst)->RunPending();
  pools = client_->Get("/api/v1/pools", Admin());
  ASSERT_TRUE(pools);
  EXPECT_EQ(Json(pools)["pools"][0]["running"], json::array()) << pools->body;
  auto anonymous = client_->Post("/api/v1/pools/gpu/wake", "", "application/json");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  cp_->SetBurst(nullptr);
}

TEST_F(HttpApiTest, StatsIsJson) {
  RegisterNode("gpu-1");
  auto r = client_->Get("/api/v1/stats", Admin());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  json j = Json(r);
  ASSERT_TRUE(j.is_object()) << r->body;
  EXPECT_EQ(j["registrations"], 1);
  EXPECT_TRUE(j.contains("store")) << r->body;
}

TEST_F(HttpApiTest, UnknownEndpointIsJson404) {
  auto r = client_->Get("/api/v1/nothing", Admin());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(Json(r)["error"].get<std::string>().find("/api/v1/nothing"), std::string::npos);
}

TEST_F(HttpApiTest, ServesHttpsWithACertificate) {
  const std::string openssl = testing::RequireProgram("openssl", "openssl");
  ASSERT_FALSE(openssl.empty());
  auto made = testing::RunIn(
      dir_.path(), {openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto tls = HttpApi::Start(*cp_, "127.0.0.1", 0, dir_ / "cert.pem", dir_ / "key.pem", "9.8.7");
  ASSERT_TRUE(tls.ok()) << tls.status().ToString();

  httplib::SSLClient client("127.0.0.1", (*tls)->port());
  client.set_ca_cert_path((dir_ / "cert.pem").c_str());
  client.enable_server_certificate_verification(true);
  auto r = client.Get("/api/v1/nodes", Admin());
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(Json(r)["nodes"].is_array());

  // Plain HTTP to the TLS port gets nothing.
  httplib::Client plain("127.0.0.1", (*tls)->port());
  plain.set_read_timeout(std::chrono::seconds(5));
  auto p = plain.Get("/health");
  EXPECT_TRUE(!p || p->status != 200);
  (*tls)->Stop();
}

// Counts the "command" events: one per command the control plane has queued.
size_t CommandEvents(ControlPlane& cp) {
  auto events = cp.Events(0, 1000, std::chrono::milliseconds(0));
  size_t n = 0;
  if (events.ok())
    for (const auto& e : *events) n += e.kind() == "command";
  return n;
}

// Issue 11: 4 slow connections, 20 idle ones or four waits froze the old server (4 threads).
TEST_F(HttpApiTest, SlowIdleAndWaitingClientsDoNotDelayHealthOrTheApi) {
  RegisterNode("gpu-1");  // never connected: a wait on its commands lasts 300 s + grace
  // 50 slow clients from two addresses (each under the per-client cap of 32) and 20 idle ones.
  std::vector<std::unique_ptr<RawConnection>> slow, idle;
  for (int i = 0; i < 50; ++i) {
    slow.push_back(
        std::make_unique<RawConnection>(api_->port(), i % 2 ? "127.0.0.2" : "127.0.0.3"));
    ASSERT_TRUE(slow.back()->connected());
    ASSERT_TRUE(slow.back()->Send("G"));
  }
  for (int i = 0; i < 20; ++i) {
    idle.push_back(std::make_unique<RawConnection>(api_->port(), "127.0.0.4"));
    ASSERT_TRUE(idle.back()->connected());
  }
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread trickler([&] {
    // A byte a second on every slow connection; the request never ends.
    const std::string rest = "ET /health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaa";
    for (size_t i = 0; i < rest.size(); ++i) {
      for (auto& c : slow) c->Send(rest.substr(i, 1));
      std::unique_lock lock(mu);
      if (cv.wait_for(lock, std::chrono::seconds(1), [&] { return done; })) return;
    }
  });
  // Six waited commands that nobody answers.
  const size_t before = CommandEvents(*cp_);
  std::vector<std::thread> waiters;
  waiters.reserve(6);
  for (int i = 0; i < 6; ++i) {
    waiters.emplace_back([this] {
      httplib::Client c("127.0.0.1", api_->port());
      c.set_read_timeout(std::chrono::seconds(60));
      c.Post("/api/v1/command", Admin(), R"({"node_id":"gpu-1","type":"REBOOT","wait":true})",
             "application/json");
    });
  }
  for (int i = 0; i < 1000 && CommandEvents(*cp_) < before + 6; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(CommandEvents(*cp_), before + 6) << "the waited commands were not all queued";

  httplib::Client c("127.0.0.1", api_->port());
  c.set_connection_timeout(std::chrono::seconds(2));
  c.set_read_timeout(std::chrono::seconds(2));
  for (int i = 0; i < 3; ++i) {
    auto start = std::chrono::steady_clock::now();
    auto health = c.Get("/health");
    ASSERT_TRUE(health) << "no answer to /health: " << httplib::to_string(health.error());
    EXPECT_EQ(health->status, 200);
    auto nodes = c.Get("/api/v1/nodes", Admin());
    ASSERT_TRUE(nodes) << "no answer to /api/v1/nodes: " << httplib::to_string(nodes.error());
    EXPECT_EQ(nodes->status, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  }

  {
    std::lock_guard lock(mu);
    done = true;
  }
  cv.notify_all();
  trickler.join();
  api_->Stop();  // lets the waiters go
  for (auto& w : waiters) w.join();
}

TEST_F(HttpApiTest, ConnectionCapsPerClientAndInTotal) {
  HttpLimits limits;
  limits.max_connections_per_client = 3;
  limits.max_connections = 5;
  Open(/*allow_exec=*/false, limits);
  const int port = api_->port();
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<RawConnection>(port, "127.0.0.2"));
    ASSERT_TRUE(held.back()->connected());
  }
  RawConnection fourth(port, "127.0.0.2");
  std::string got;
  EXPECT_TRUE(fourth.ReadUntilClosed(std::chrono::seconds(10), &got));
  EXPECT_NE(got.find("503"), std::string::npos) << got;
  EXPECT_NE(got.find("too many connections from 127.0.0.2 (limit 3)"), std::string::npos) << got;

  // Another address still gets in, up to the total.
  for (int i = 0; i < 2; ++i) {
    held.push_back(std::make_unique<RawConnection>(port, "127.0.0.3"));
    ASSERT_TRUE(held.back()->connected());
  }
  RawConnection sixth(port, "127.0.0.4");
  got.clear();
  EXPECT_TRUE(sixth.ReadUntilClosed(std::chrono::seconds(10), &got));
  EXPECT_NE(got.find("too many connections (limit 5)"), std::string::npos) << got;

  // Those let in are served.
  ASSERT_TRUE(held[0]->Send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_NE(held[0]->ReadUntil("\"ok\"", std::chrono::seconds(10)).find("200 OK"),
            std::string::npos);

  // A closed connection gives its place back (once the server has seen the close).
  held.pop_back();
  bool served = false;
  for (int attempt = 0; attempt < 100 && !served; ++attempt) {
    RawConnection next(port, "127.0.0.4");
    ASSERT_TRUE(next.Send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    std::string answer;
    next.ReadUntilClosed(std::chrono::seconds(10), &answer);
    served = answer.find("200 OK") != std::string::npos;
  }
  EXPECT_TRUE(served);
}

// Reads `c` while sending `request` a byte every 50 ms; true when the server closed it.
bool TrickleUntilClosed(RawConnection& c, const std::string& request) {
  for (char byte : request) {
    if (!c.Send(std::string(1, byte))) return true;
    if (c.ReadUntilClosed(std::chrono::milliseconds(50))) return true;
  }
  return false;
}

TEST_F(HttpApiTest, WholeRequestDeadlineClosesATricklingClient) {
  HttpLimits limits;
  limits.request_timeout = std::chrono::seconds(1);
  Open(/*allow_exec=*/false, limits);
  // Each byte arrives well within any per-read timeout; the request as a whole never ends.
  RawConnection c(api_->port(), "127.0.0.2");
  ASSERT_TRUE(c.connected());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(TrickleUntilClosed(
      c, "POST /api/v1/command HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(1000, 'a')));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));

  // The same for a body that trickles.
  RawConnection body(api_->port(), "127.0.0.2");
  ASSERT_TRUE(
      body.Send("POST /api/v1/command HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"));
  EXPECT_TRUE(TrickleUntilClosed(body, std::string(1000, 'a')));

  auto health = client_->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(HttpApiTest, IdleKeepAliveConnectionIsClosed) {
  HttpLimits limits;
  limits.idle_timeout = std::chrono::seconds(1);
  Open(/*allow_exec=*/false, limits);
  RawConnection c(api_->port(), "127.0.0.2");
  ASSERT_TRUE(c.Send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_NE(c.ReadUntil("\"ok\"", std::chrono::seconds(10)).find("200 OK"), std::string::npos);
  EXPECT_TRUE(c.ReadUntilClosed(std::chrono::seconds(10)));
}

TEST_F(HttpApiTest, PipelinedRequestsOnOneConnectionAreAllAnswered) {
  RawConnection c(api_->port(), "127.0.0.2");
  ASSERT_TRUE(
      c.Send("GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /version HTTP/1.1\r\nHost: x\r\n"
             "Connection: close\r\n\r\n"));
  std::string got;
  EXPECT_TRUE(c.ReadUntilClosed(std::chrono::seconds(10), &got));
  EXPECT_NE(got.find(R"({"status":"ok"})"), std::string::npos) << got;
  EXPECT_NE(got.find(R"({"version":"9.8.7"})"), std::string::npos) << got;
}

// curl sends larger bodies only after a "100 Continue".
TEST_F(HttpApiTest, ExpectContinueGetsA100BeforeTheBody) {
  RawConnection c(api_->port(), "127.0.0.2");
  const std::string body = R"({"node_id":"ghost","type":"REBOOT"})";
  ASSERT_TRUE(
      c.Send(std::string("POST /api/v1/command HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ") +
             kAdmin + "\r\nExpect: 100-continue\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\nConnection: close\r\n\r\n"));
  EXPECT_NE(c.ReadUntil("\r\n\r\n", std::chrono::seconds(10)).find("HTTP/1.1 100 Continue"),
            std::string::npos);
  ASSERT_TRUE(c.Send(body));
  std::string got;
  EXPECT_TRUE(c.ReadUntilClosed(std::chrono::seconds(10), &got));
  EXPECT_NE(got.find("HTTP/1.1 404"), std::string::npos) << got;  // no node "ghost"
}

TEST_F(HttpApiTest, SizeLimitsAreNamedInTheirErrors) {
  HttpLimits limits;
  limits.max_body_bytes = 4096;
  limits.max_header_bytes = 2048;
  Open(/*allow_exec=*/false, limits);
  auto big = client_->Post("/api/v1/command", Admin(), std::string(5000, ' '), "application/json");
  ASSERT_TRUE(big) << httplib::to_string(big.error());
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(Json(big)["error"], "request body over the limit of 4 KiB (4096 bytes)") << big->body;

  httplib::Headers headers = Admin();
  headers.emplace("X-Big", std::string(3000, 'a'));
  auto header = client_->Get("/api/v1/nodes", headers);
  ASSERT_TRUE(header) << httplib::to_string(header.error());
  EXPECT_EQ(header->status, 431);
  EXPECT_EQ(Json(header)["error"], "request header over the limit of 2 KiB (2048 bytes)");
}

// The old server let a JSON exception (a node id that is not UTF-8) through as its text.
TEST_F(HttpApiTest, NodeIdThatIsNotUtf8IsA404) {
  auto r = client_->Get("/api/v1/nodes/%FF%FE", Admin());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->body;
  EXPECT_EQ(Json(r)["code"], "not found");
  EXPECT_EQ(r->body.find("exception"), std::string::npos) << r->body;
}

TEST_F(HttpApiTest, EventsWaitForTheNextEvent) {
  auto all = client_->Get("/api/v1/events?limit=1000", Admin());
  ASSERT_TRUE(all);
  json events = Json(all)["events"];
  ASSERT_FALSE(events.empty()) << all->body;      // "started" at least
  const std::string last = events.back()["seq"];  // an int64: a JSON string

  // Nothing comes: an empty list once the wait is over.
  auto start = std::chrono::steady_clock::now();
  auto none = client_->Get("/api/v1/events?wait_seconds=1&after=" + last, Admin());
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 200);
  EXPECT_TRUE(Json(none)["events"].empty()) << none->body;
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900));

  // An event comes while the request waits (or before it is read: then it is listed at once).
  int status = 0;
  std::string body;
  std::thread reader([&] {
    httplib::Client c("127.0.0.1", api_->port());
    c.set_read_timeout(std::chrono::seconds(60));
    auto r = c.Get("/api/v1/events?wait_seconds=60&after=" + last, Admin());
    if (r) status = r->status, body = r->body;
  });
  cp_->UpdateIntervals(std::chrono::seconds(5), std::chrono::seconds(10));  // a "config" event
  reader.join();
  EXPECT_EQ(status, 200);
  json got = json::parse(body, nullptr, false)["events"];
  ASSERT_FALSE(got.empty()) << body;
  EXPECT_EQ(got[0]["kind"], "config");

  auto bad = client_->Get("/api/v1/events?wait_seconds=301", Admin());
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
}

TEST_F(HttpApiTest, WatchesFireOnceAndNotAfterUnwatch) {
  // An unknown (or finished) command: at once.
  int fired = 0;
  cp_->UnwatchCommand(cp_->WatchCommand("cmd_unknown", [&] { ++fired; }));
  EXPECT_EQ(fired, 1);
  // An event after the last one: not yet; an unwatched watch never.
  std::atomic<int> events_fired{0}, unwatched_fired{0};
  const uint64_t keep = cp_->WatchEvents(1 << 30, [&] { ++events_fired; });
  const uint64_t drop = cp_->WatchEvents(0, [&] { ++unwatched_fired; });  // "started" is seq 1
  EXPECT_EQ(unwatched_fired, 1);
  cp_->UnwatchEvents(drop);
  const uint64_t later = cp_->WatchEvents(1 << 20, [&] { ++unwatched_fired; });
  cp_->UnwatchEvents(later);
  cp_->UpdateIntervals(std::chrono::seconds(5), std::chrono::seconds(10));
  EXPECT_EQ(events_fired, 0);
  EXPECT_EQ(unwatched_fired, 1);
  cp_->UnwatchEvents(keep);
}

TEST(HttpServerTest, AnExceptionInAHandlerIsLoggedAndAnswered500WithoutItsText) {
  std::mutex mu;
  std::vector<std::string> logged;
  HttpServerOptions options;
  options.log = [&](const std::string& line) {
    std::lock_guard lock(mu);
    logged.push_back(line);
  };
  std::vector<HttpRoute> routes;
  routes.push_back({.method = "GET", .pattern = "/boom", .handler = [](const HttpRequest&) {
                      throw std::runtime_error("secret detail");
                      return HttpHandlerResult(HttpResponse{});
                    }});
  routes.push_back(
      {.method = "GET", .pattern = "/later", .handler = [](const HttpRequest&) {
         return HttpHandlerResult(DeferredResponse{
             .deadline = std::chrono::seconds(30),
             .start = [](const std::function<void()>& wake) { wake(); },
             .stop = [] {},
             .respond = []() -> HttpResponse { throw std::runtime_error("secret later"); }});
       }});
  routes.push_back(
      {.method = "GET", .pattern = "/items/*/name", .handler = [](const HttpRequest& r) {
         return HttpHandlerResult(JsonResponse(200, json{{"id", r.params[0]}}.dump()));
       }});
  auto server = HttpServer::Start(std::move(options), std::move(routes));
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  httplib::Client c("127.0.0.1", (*server)->port());
  c.set_read_timeout(std::chrono::seconds(20));
  for (const char* path : {"/boom", "/later"}) {
    SCOPED_TRACE(path);
    auto r = c.Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    EXPECT_EQ(json::parse(r->body, nullptr, false),
              json({{"error", "internal error"}, {"code", "internal"}}));
    EXPECT_EQ(r->body.find("secret"), std::string::npos) << r->body;
  }
  auto item = c.Get("/items/a%20b/name");
  ASSERT_TRUE(item);
  EXPECT_EQ(json::parse(item->body, nullptr, false)["id"], "a b");
  (*server)->Stop();
  std::lock_guard lock(mu);
  ASSERT_EQ(logged.size(), 2u);
  EXPECT_NE(logged[0].find("/boom: secret detail"), std::string::npos) << logged[0];
  EXPECT_NE(logged[1].find("secret later"), std::string::npos) << logged[1];
}

TEST(HttpApiStartTest, RefusesHalfATlsConfigAndABusyPort) {
  testing::ScratchDir dir;
  auto store = OpenSqliteStore(dir / "fleet.db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto cp = ControlPlane::Create(std::move(*store), {.background_threads = false});
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();

  auto half = HttpApi::Start(**cp, "127.0.0.1", 0, dir / "cert.pem", "", "v");
  ASSERT_FALSE(half.ok());
  EXPECT_EQ(half.status().code(), StatusCode::kInvalidArgument);

  auto missing = HttpApi::Start(**cp, "127.0.0.1", 0, dir / "cert.pem", dir / "key.pem", "v");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("cert.pem"), std::string::npos);

  auto first = HttpApi::Start(**cp, "127.0.0.1", 0, "", "", "v");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = HttpApi::Start(**cp, "127.0.0.1", (*first)->port(), "", "", "v");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  (*first)->Stop();
  (*first)->Stop();  // idempotent
}

}  // namespace
}  // namespace carrierarr::control_plane
