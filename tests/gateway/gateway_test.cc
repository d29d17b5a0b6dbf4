// The model gateway (gateway/gateway.h) on loopback, in front of real HTTP model servers
// (testing/fake_model_server.h: load time, token streams) and a fake of its backends whose Wake
// "starts a node" (puts a model server's URL in the pool's upstreams) after a delay, as the burst
// controller would. Clients are httplib's, reading the answers piece by piece.
#include "gateway/gateway.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "testing/eventually.h"
#include "testing/fake_model_server.h"
#include "testing/loopback_server.h"

namespace carrierarr::gateway {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Eventually;

// A node's Ollama: a FakeModelServer on a loopback port.
class Node {
 public:
  explicit Node(testing::FakeModelOptions o) : models_(std::move(o)) {
    models_.Install(server_.server());
    server_.Start();
  }
  std::string url() const { return server_.url(); }
  testing::FakeModelServer& models() { return models_; }

 private:
  testing::FakeModelServer models_;
  testing::LoopbackServer server_;
};

// The pools' nodes and wakes, as the burst controller and the registry would give them.
class FakeBackends final : public Backends {
 public:
  std::vector<std::string> Upstreams(const std::string& pool) override {
    std::lock_guard lock(mu_);
    return pool == "gpu" ? ups_ : std::vector<std::string>{};
  }
  Status Wake(const std::string& pool, const std::string& reason) override {
    std::lock_guard lock(mu_);
    ++wakes_;
    last_reason_ = reason;
    if (!wake_result_.ok()) return wake_result_;
    if (pool == "gpu" && on_wake_) {
      // The node comes up a while after the decision, on a thread of its own.
      threads_.emplace_back([this, up = on_wake_(), delay = start_delay_] {
        std::this_thread::sleep_for(delay);
        std::lock_guard started(mu_);
        ups_ = {up};
      });
      on_wake_ = nullptr;
    }
    return Status::Ok();
  }
  void Touch(const std::string& pool) override {
    std::lock_guard lock(mu_);
    ++touches_[pool];
  }
  void WakePhase(const std::string& pool, const std::string& phase,
                 std::chrono::system_clock::time_point at) override {
    std::lock_guard lock(mu_);
    phases_.push_back({pool + " " + phase, at});
  }
  // "gpu model_loaded", ... in the order seen, with when.
  std::vector<std::pair<std::string, std::chrono::system_clock::time_point>> phases() {
    std::lock_guard lock(mu_);
    return phases_;
  }

  ~FakeBackends() override {
    for (auto& t : threads_) t.join();
  }
  void SetUpstreams(std::vector<std::string> ups) {
    std::lock_guard lock(mu_);
    ups_ = std::move(ups);
  }
  // The next wake brings `url` up after `delay`.
  void StartOnWake(std::string url, milliseconds delay) {
    std::lock_guard lock(mu_);
    on_wake_ = [url] { return url; };
    start_delay_ = delay;
  }
  void RefuseWakes(Status s) {
    std::lock_guard lock(mu_);
    wake_result_ = std::move(s);
  }
  int wakes() {
    std::lock_guard lock(mu_);
    return wakes_;
  }
  int touches(const std::string& pool) {
    std::lock_guard lock(mu_);
    return touches_[pool];
  }
  std::string last_reason() {
    std::lock_guard lock(mu_);
    return last_reason_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> ups_;
  std::function<std::string()> on_wake_;
  milliseconds start_delay_{0};
  Status wake_result_;
  int wakes_ = 0;
  std::map<std::string, int> touches_;
  std::string last_reason_;
  std::vector<std::pair<std::string, std::chrono::system_clock::time_point>> phases_;
  std::vector<std::thread> threads_;
};

spec::PoolSpec GpuPool() {
  spec::PoolSpec pool;
  pool.name = "gpu";
  pool.type = spec::PoolType::kGpuWorker;
  pool.models = {"llama3:8b"};
  return pool;
}

// An answer as it arrived: its pieces, and when each came.
struct Answer {
  int status = 0;
  std::string retry_after;
  std::string body;
  std::vector<std::chrono::steady_clock::time_point> pieces;
};

Answer Post(int port, const std::string& path, const json& body) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(seconds(30));
  Answer a;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.response_handler = [&a](const httplib::Response& r) {
    a.status = r.status;
    a.retry_after = r.get_header_value("Retry-After");
    return true;
  };
  req.content_receiver = [&a](const char* data, size_t n, uint64_t, uint64_t) {
    a.body.append(data, n);
    a.pieces.push_back(std::chrono::steady_clock::now());
    return true;
  };
  auto res = c.send(req);
  if (!res) a.status = -1;
  return a;
}

class GatewayTest : public ::testing::Test {
 protected:
  void StartGateway(GatewayOptions o = {}) {
    o.port = 0;
    o.pools = {GpuPool()};
    o.backends = &backends_;
    o.poll = milliseconds(20);
    auto g = Gateway::Start(std::move(o));
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    gateway_ = std::move(*g);
  }
  int port() const { return gateway_->port(); }

  FakeBackends backends_;
  std::unique_ptr<Gateway> gateway_;
};

const json kGenerate = {{"model", "llama3:8b"}, {"prompt", "hi"}};

TEST_F(GatewayTest, AWarmRequestIsStreamedAsTheNodeMakesIt) {
  Node node({.load_time = milliseconds(0), .token_gap = milliseconds(150)});
  backends_.SetUpstreams({node.url()});
  StartGateway();
  const Answer direct = [&] {
    httplib::Client c(node.url());
    auto r = c.Post("/api/generate", kGenerate.dump(), "application/json");
    return Answer{.status = r ? r->status : -1, .body = r ? r->body : ""};
  }();
  // A pool that runs is looked at before its first request: that one is not held.
  ASSERT_TRUE(Eventually([&] { return gateway_->Stats().ready_models == 1; }));
  const Answer a = Post(port(), "/api/generate", kGenerate);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, direct.body) << "the node's stream, byte for byte";
  EXPECT_EQ(gateway_->Stats().held, 0u);
  ASSERT_GE(a.pieces.size(), 3u) << "token by token, not buffered whole";
  EXPECT_GE(a.pieces.back() - a.pieces.front(), milliseconds(300))
      << "the first token came before the node had made the last";
  EXPECT_EQ(backends_.wakes(), 0) << "a pool that runs is not woken";
  EXPECT_GE(backends_.touches("gpu"), 2) << "at the start and at the end";
  EXPECT_EQ(gateway_->Stats().forwarded, 1u);
  EXPECT_TRUE(backends_.phases().empty()) << "a warm request is no wake's";
}

TEST_F(GatewayTest, AColdRequestIsHeldWhileThePoolWakesThenStreamed) {
  Node node({.load_time = milliseconds(800)});
  backends_.StartOnWake(node.url(), milliseconds(300));
  StartGateway({.progress_every = milliseconds(100)});
  const auto asked = std::chrono::system_clock::now();
  const Answer a = Post(port(), "/api/generate", kGenerate);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(backends_.wakes(), 1);
  // The wake's phases as the gateway saw them: the model loaded (after the node's 300 ms start
  // and 800 ms load), then the answer's first byte.
  const auto phases = backends_.phases();
  ASSERT_EQ(phases.size(), 2u);
  EXPECT_EQ(phases[0].first, "gpu model_loaded");
  EXPECT_EQ(phases[1].first, "gpu first_byte");
  EXPECT_GE(phases[0].second - asked, milliseconds(1100));
  EXPECT_GE(phases[1].second, phases[0].second);
  EXPECT_NE(backends_.last_reason().find("llama3:8b"), std::string::npos);
  EXPECT_EQ(node.models().loads(), 1) << "the gateway had the model loaded before forwarding";
  // Progress lines first (NDJSON chunks a client reads as empty tokens), then the node's stream.
  std::vector<json> lines;
  size_t start = 0;
  for (size_t nl; (nl = a.body.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(json::parse(a.body.substr(start, nl - start)));
  ASSERT_GE(lines.size(), 3u) << a.body;
  EXPECT_EQ(lines[0]["carrierarr"]["phase"], "waking the pool") << a.body;
  EXPECT_EQ(lines[0]["response"], "");
  EXPECT_EQ(lines[0]["done"], false);
  EXPECT_NE(a.body.find("\"phase\":\"loading llama3:8b"), std::string::npos) << a.body;
  EXPECT_EQ(lines.back()["done"], true);
  std::string text;
  for (const json& l : lines) text += l.value("response", "");
  EXPECT_EQ(text, "Hello, world");
}

TEST_F(GatewayTest, ABurstOfColdRequestsMakesOneWakeAndOneLoad) {
  Node node({.load_time = milliseconds(200)});
  backends_.StartOnWake(node.url(), milliseconds(300));
  StartGateway();
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 12; ++i)
    clients.emplace_back([&, i] {
      json body = kGenerate;
      body["stream"] = i % 2 == 0;
      if (Post(port(), "/api/generate", body).status == 200) ++ok;
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok, 12);
  EXPECT_EQ(backends_.wakes(), 1);
  EXPECT_EQ(node.models().loads(), 1);
  EXPECT_EQ(node.models().requests(), 12);
  EXPECT_GE(gateway_->Stats().held, 1u);
}

TEST_F(GatewayTest, BeyondTheQueueARequestGets503WithRetryAfter) {
  StartGateway({.max_held = 2, .max_wait = seconds(3)});
  std::vector<std::thread> held;
  for (int i = 0; i < 2; ++i)
    held.emplace_back([&] {
      Post(port(), "/api/generate", {{"model", "llama3:8b"}, {"stream", false}});
    });
  ASSERT_TRUE(Eventually([&] { return gateway_->Stats().holding == 2; }));
  const Answer a = Post(port(), "/v1/chat/completions", {{"model", "llama3:8b"}, {"stream", true}});
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(a.retry_after, "5");
  const json err = json::parse(a.body);
  EXPECT_NE(err["error"]["message"].get<std::string>().find("2 requests are waiting"),
            std::string::npos)
      << a.body;
  EXPECT_EQ(gateway_->Stats().refused_full, 1u);
  gateway_->Stop();  // the held ones are answered 503 at once
  for (auto& t : held) t.join();
}

TEST_F(GatewayTest, PastItsWaitARequestGets503WithRetryAfterOrAnErrorLineWhenStreamed) {
  StartGateway({.max_wait = milliseconds(300), .progress_every = milliseconds(50)});
  const Answer whole = Post(port(), "/api/chat", {{"model", "llama3:8b"}, {"stream", false}});
  EXPECT_EQ(whole.status, 503);
  EXPECT_EQ(whole.retry_after, "30");
  EXPECT_NE(whole.body.find("was not ready within"), std::string::npos) << whole.body;
  EXPECT_NE(whole.body.find("waking the pool"), std::string::npos) << "says where it got to";
  // A streamed request began (200, progress) while it waited: it ends on the stream's error line.
  const Answer streamed = Post(port(), "/api/chat", {{"model", "llama3:8b"}});
  EXPECT_EQ(streamed.status, 200);
  EXPECT_NE(streamed.body.find("\"message\":{\"content\":\"\",\"role\":\"assistant\"}"),
            std::string::npos)
      << "chat progress lines carry an empty message: " << streamed.body;
  const std::string last =
      streamed.body.substr(streamed.body.rfind('\n', streamed.body.size() - 2) + 1);
  EXPECT_NE(json::parse(last)["error"].get<std::string>().find("was not ready within"),
            std::string::npos)
      << streamed.body;
  EXPECT_EQ(gateway_->Stats().refused_wait, 2u);
}

TEST_F(GatewayTest, AWakeRefusedByTheBudgetSaysWhy) {
  backends_.RefuseWakes(Status::ResourceExhausted(
      "pool gpu: waking would pass its budget: $19.80 of $20.00 spent today"));
  StartGateway();
  const Answer a = Post(port(), "/v1/chat/completions", {{"model", "llama3:8b"}});
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(a.retry_after, "") << "no point retrying before the budget allows it";
  EXPECT_NE(a.body.find("$19.80 of $20.00 spent today"), std::string::npos) << a.body;
  EXPECT_EQ(gateway_->Stats().refused_wake, 1u);
  // The next request asks again (the budget may allow it by then).
  EXPECT_EQ(Post(port(), "/v1/chat/completions", {{"model", "llama3:8b"}}).status, 503);
  EXPECT_EQ(backends_.wakes(), 2);
}

TEST_F(GatewayTest, OpenAiStreamsGetProgressAsCommentsThenTheEvents) {
  Node node({.load_time = milliseconds(200)});
  backends_.StartOnWake(node.url(), milliseconds(100));
  StartGateway();
  const Answer a = Post(port(), "/v1/chat/completions",
                        {{"model", "llama3:8b"},
                         {"stream", true},
                         {"messages", {{{"role", "user"}, {"content", "hi"}}}}});
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body.rfind(": carrierarr: waking the pool (pool gpu, model llama3:8b, 0 s)\n\n", 0),
            0u)
      << a.body;
  EXPECT_NE(a.body.find("data: {\"choices\""), std::string::npos) << a.body;
  EXPECT_NE(a.body.find("data: [DONE]\n\n"), std::string::npos) << a.body;
}

TEST_F(GatewayTest, ANodeThatStoppedIsForgottenAndThePoolWokenAgain) {
  auto first = std::make_unique<Node>(testing::FakeModelOptions{});
  Node second({});
  backends_.SetUpstreams({first->url()});
  StartGateway();
  ASSERT_EQ(Post(port(), "/api/generate", kGenerate).status, 200);
  // The controller stops the node (idle): gone from the upstreams, and from the gateway's view.
  first.reset();
  backends_.SetUpstreams({});
  backends_.StartOnWake(second.url(), milliseconds(50));
  const Answer a = Post(port(), "/api/generate", kGenerate);
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(backends_.wakes(), 1);
  EXPECT_EQ(second.models().requests(), 1);
}

TEST_F(GatewayTest, ANodeStartedAgainHasItsModelLoadedAgain) {
  Node node({.load_time = milliseconds(100)});
  backends_.SetUpstreams({node.url()});
  StartGateway();
  ASSERT_EQ(Post(port(), "/api/generate", kGenerate).status, 200);
  // Stopped (its Ollama forgets what it had loaded), then woken at the same address.
  backends_.SetUpstreams({});
  ASSERT_TRUE(Eventually([&] { return gateway_->Stats().ready_models == 0; }));
  node.models().Unload();
  backends_.StartOnWake(node.url(), milliseconds(50));
  const Answer a = Post(port(), "/api/generate", kGenerate);
  EXPECT_EQ(a.status, 200);
  EXPECT_LT(a.pieces.back() - a.pieces.front(), seconds(5)) << "loaded again at once";
  EXPECT_EQ(node.models().loads(), 2);
}

TEST_F(GatewayTest, UnknownModelsAndBadBodiesAreRefusedInTheClientsDialect) {
  StartGateway();
  const Answer unknown = Post(port(), "/api/generate", {{"model", "mistral"}});
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(json::parse(unknown.body)["error"].get<std::string>().find("serves llama3:8b"),
            std::string::npos)
      << unknown.body;
  const Answer openai = Post(port(), "/v1/chat/completions", {{"messages", json::array()}});
  EXPECT_EQ(openai.status, 400);
  EXPECT_EQ(json::parse(openai.body)["error"]["type"], "invalid_request_error") << openai.body;
  httplib::Client c("127.0.0.1", port());
  auto tags = c.Get("/api/tags");
  ASSERT_TRUE(tags);
  EXPECT_EQ(json::parse(tags->body)["models"][0]["name"], "llama3:8b");
  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(json::parse(models->body)["data"][0]["id"], "llama3:8b");
  EXPECT_EQ(backends_.wakes(), 0);
}

TEST_F(GatewayTest, ALongAnswerTouchesItsPoolWhileItStreams) {
  Node node({.tokens = std::vector<std::string>(10, "x"), .token_gap = milliseconds(100)});
  backends_.SetUpstreams({node.url()});
  StartGateway();
  ASSERT_TRUE(Eventually([&] { return gateway_->Stats().ready_models == 1; }));
  ASSERT_EQ(Post(port(), "/api/generate", kGenerate).status, 200);
  // About a second of streaming at a 20 ms poll: touched all along, not only at both ends (the
  // controller would stop an idle_after: 1s pool under it otherwise).
  EXPECT_GE(backends_.touches("gpu"), 10);
}

TEST_F(GatewayTest, StopAnswersHeldRequestsAndEndsForwards) {
  Node slow({.tokens = std::vector<std::string>(100, "x"), .token_gap = milliseconds(100)});
  backends_.SetUpstreams({slow.url()});
  StartGateway();
  std::thread streaming([&] { Post(port(), "/api/generate", kGenerate); });
  ASSERT_TRUE(Eventually([&] { return slow.models().requests() == 1; }));
  const auto start = std::chrono::steady_clock::now();
  gateway_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(3)) << "a 10 s stream is cut";
  streaming.join();
}

}  // namespace
// A node about to stop: its answer in flight finishes (Drain waits for it), nothing new goes
// there (a new request is held and wakes the pool, as if it had stopped); started again
// (Undrain), it serves the held request.
TEST_F(GatewayTest, ADrainedNodeFinishesItsAnswersAndTakesNothingNew) {
  Node node({.tokens = std::vector<std::string>(8, "x"), .token_gap = milliseconds(100)});
  backends_.SetUpstreams({node.url()});
  StartGateway();
  ASSERT_TRUE(Eventually([&] { return gateway_->Stats().ready_models == 1; }));
  Answer long_answer;
  std::thread in_flight([&] { long_answer = Post(port(), "/api/generate", kGenerate); });
  ASSERT_TRUE(Eventually([&] { return gateway_->Stats().forwarded == 1; }));

  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(gateway_->Drain(node.url(), seconds(10)));
  const auto took = std::chrono::steady_clock::now() - start;
  in_flight.join();
  EXPECT_EQ(long_answer.status, 200);
  EXPECT_NE(long_answer.body.find("\"done\":true"), std::string::npos) << "answered whole";
  EXPECT_GE(took, milliseconds(300)) << "the drain waited for the answer";
  EXPECT_EQ(gateway_->Stats().ready_models, 0u);

  Answer held;
  std::thread later([&] {
    held = Post(port(), "/api/generate",
                {{"model", "llama3:8b"}, {"prompt", "hi"}, {"stream", false}});
  });
  ASSERT_TRUE(Eventually([&] { return gateway_->Stats().held == 1; }));
  ASSERT_TRUE(Eventually([&] { return backends_.wakes() >= 1; })) << "as if it had stopped";
  EXPECT_EQ(node.models().requests(), 1) << "nothing new reached the draining node";
  gateway_->Undrain(node.url());
  later.join();
  EXPECT_EQ(held.status, 200) << held.body;
  EXPECT_EQ(node.models().requests(), 2);

  // A drain that outlasts its timeout says so.
  std::thread slow([&] { Post(port(), "/api/generate", kGenerate); });
  ASSERT_TRUE(Eventually([&] { return gateway_->Stats().forwarded == 3; }));
  EXPECT_FALSE(gateway_->Drain(node.url(), milliseconds(100)));
  slow.join();
}

}  // namespace carrierarr::gateway
