// The model gateway's cost (issue 14), in one process and one run, on 127.0.0.1:
//
//  1. Warm path: the same requests to a model server (testing/fake_model_server.h, whose own
//     time is ~0) directly and through the gateway, alternating, one at a time: p50/p99 of
//     each and of the difference (the gateway's added latency). Whole answers and streamed
//     ones (time to first byte and to the end).
//  2. Throughput: 8 clients for 3 s each, directly and through the gateway: requests/s.
//  3. Streaming is never buffered whole: a 10-token stream with 50 ms between tokens, time to
//     first token directly and through the gateway.
//  4. Cold path: a pool at zero behind the real burst controller (SQLite store, simulated
//     provider start of START_MS, model load of LOAD_MS): from the request to the whole answer,
//     minus the provider's start and the model's load = the time carrierarr owns.
//
//   bash bench/run_gateway_bench.sh        (or build/bin/gateway_bench [WARM_REQUESTS])
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "burst/controller.h"
#include "control_plane/store.h"
#include "gateway/gateway.h"
#include "testing/fake_model_server.h"

namespace {

using namespace carrierarr;  // NOLINT: a benchmark's main
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr char kBody[] = R"({"model":"llama3:8b","prompt":"hi","stream":false})";
constexpr char kStreamBody[] = R"({"model":"llama3:8b","prompt":"hi"})";

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "gateway_bench: %s\n", why.c_str());
  std::exit(1);
}

// A model server on a loopback port.
class Node {
 public:
  explicit Node(testing::FakeModelOptions o) : models_(std::move(o)) {
    models_.Install(server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) Die("cannot listen on 127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i)  // 5 s
      std::this_thread::sleep_for(milliseconds(10));
  }
  ~Node() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  testing::FakeModelServer models_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

// Fixed upstreams, nothing to wake: the warm path.
class StaticBackends final : public gateway::Backends {
 public:
  explicit StaticBackends(std::string up) : up_(std::move(up)) {}
  std::vector<std::string> Upstreams(const std::string&) override { return {up_}; }
  Status Wake(const std::string&, const std::string&) override { return Status::Ok(); }
  void Touch(const std::string&) override {}

 private:
  std::string up_;
};

spec::PoolSpec Pool(bool scaled) {
  spec::PoolSpec p;
  p.name = "gpu";
  p.type = spec::PoolType::kGpuWorker;
  p.models = {"llama3:8b"};
  p.scaling.enabled = scaled;
  p.scaling.max = 1;
  p.count = 1;
  return p;
}

std::unique_ptr<gateway::Gateway> StartGateway(gateway::Backends* b, bool scaled) {
  auto g = gateway::Gateway::Start(
      {.port = 0, .pools = {Pool(scaled)}, .backends = b, .poll = milliseconds(20)});
  if (!g.ok()) Die(g.status().ToString());
  return std::move(*g);
}

// One request; the time to its first byte and to its end.
struct Timing {
  double first_ms = 0, total_ms = 0;
};
Timing Request(httplib::Client& c, const char* body) {
  const auto start = Clock::now();
  Timing t;
  bool first = true;
  httplib::Request req;
  req.method = "POST";
  req.path = "/api/generate";
  req.body = body;
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) {
    if (first) t.first_ms = Ms(Clock::now() - start);
    first = false;
    return true;
  };
  auto res = c.send(req);
  if (!res || res->status != 200) Die("a request failed");
  t.total_ms = Ms(Clock::now() - start);
  return t;
}

void WarmLatency(int requests, int node_port, int gateway_port, const char* body,
                 const char* what) {
  httplib::Client direct("127.0.0.1", node_port), via("127.0.0.1", gateway_port);
  for (int i = 0; i < 50; ++i) Request(direct, body), Request(via, body);  // warm-up
  std::vector<double> d_first, d_total, g_first, g_total, added;
  for (int i = 0; i < requests; ++i) {
    Timing a = Request(direct, body), b = Request(via, body);
    d_first.push_back(a.first_ms);
    d_total.push_back(a.total_ms);
    g_first.push_back(b.first_ms);
    g_total.push_back(b.total_ms);
    added.push_back(b.total_ms - a.total_ms);
  }
  std::printf("| %s | %d | %.3f / %.3f | %.3f / %.3f | %.3f / %.3f | **%.3f / %.3f** |\n", what,
              requests, Percentile(d_first, .5), Percentile(d_total, .5), Percentile(g_first, .5),
              Percentile(g_total, .5), Percentile(d_total, .99), Percentile(g_total, .99),
              Percentile(g_total, .5) - Percentile(d_total, .5),
              Percentile(g_total, .99) - Percentile(d_total, .99));
}

double Throughput(int port) {
  std::atomic<int> done{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  clients.reserve(8);
  for (int i = 0; i < 8; ++i)
    clients.emplace_back([&] {
      httplib::Client c("127.0.0.1", port);
      while (!stop) {
        Request(c, kBody);
        ++done;
      }
    });
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  stop = true;
  for (auto& t : clients) t.join();
  return done / std::chrono::duration<double>(Clock::now() - start).count();
}

// The cold path's node: started by the controller after the provider's start time.
class SimulatedNodes final : public burst::NodePower,
                             public burst::NodeActivity,
                             public gateway::Backends {
 public:
  SimulatedNodes(milliseconds start, milliseconds load) : start_(start), load_(load) {}
  // burst::NodePower: the provider's start (a simulated boot), then the node's Ollama.
  Status Start(const std::string&) override {
    std::this_thread::sleep_for(start_);
    std::lock_guard lock(mu_);
    node_ = std::make_unique<Node>(testing::FakeModelOptions{.load_time = load_});
    return Status::Ok();
  }
  Status Stop(const std::string&) override {
    std::lock_guard lock(mu_);
    node_.reset();
    return Status::Ok();
  }
  bool AgentSeenSince(const std::string&, burst::Clock::time_point) override {
    std::lock_guard lock(mu_);
    return node_ != nullptr;
  }
  std::optional<burst::Clock::time_point> LastBusy(const std::string&) override {
    return std::nullopt;
  }
  std::vector<std::string> Upstreams(const std::string&) override {
    std::lock_guard lock(mu_);
    if (!node_) return {};
    return {node_->url()};
  }
  Status Wake(const std::string& pool, const std::string& reason) override {
    return controller->Wake(pool, reason).status();
  }
  void Touch(const std::string& pool) override { controller->Touch(pool); }

  burst::Controller* controller = nullptr;

 private:
  const milliseconds start_, load_;
  std::mutex mu_;
  std::unique_ptr<Node> node_;
};

void ColdPath(int runs, milliseconds start, milliseconds load) {
  std::vector<double> owned, total;
  for (int i = 0; i < runs; ++i) {
    const std::string dir =
        (std::filesystem::temp_directory_path() / ("gateway_bench." + std::to_string(getpid())))
            .string();
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto store = control_plane::OpenSqliteStore(dir + "/fleet.db");
    if (!store.ok()) Die(store.status().ToString());
    SimulatedNodes nodes(start, load);
    spec::FleetSpec fleet;
    fleet.pools = {Pool(true)};
    auto controller = burst::Controller::Start({.fleet = fleet,
                                                .store = store->get(),
                                                .power = &nodes,
                                                .activity = &nodes,
                                                .owner = "bench"});
    if (!controller.ok()) Die(controller.status().ToString());
    nodes.controller = controller->get();
    auto g = StartGateway(&nodes, true);
    httplib::Client c("127.0.0.1", g->port());
    c.set_read_timeout(std::chrono::seconds(60));
    const Timing t = Request(c, kBody);
    total.push_back(t.total_ms);
    owned.push_back(t.total_ms - Ms(start) - Ms(load));
    g->Stop();
    controller->reset();
    std::filesystem::remove_all(dir);
  }
  std::printf("| %d | %lld | %lld | %.0f / %.0f | **%.0f / %.0f** |\n", runs,
              static_cast<long long>(start.count()), static_cast<long long>(load.count()),
              Percentile(total, .5), Percentile(total, 1), Percentile(owned, .5),
              Percentile(owned, 1));
}

}  // namespace

int main(int argc, char** argv) {
  const int requests = argc > 1 ? std::atoi(argv[1]) : 2000;
  if (requests < 10) Die("WARM_REQUESTS must be at least 10");
  {
    Node node({});
    StaticBackends backends(node.url());
    auto g = StartGateway(&backends, false);
    std::printf("### Warm path: added latency, one request at a time (ms)\n\n");
    std::printf(
        "| answer | requests | direct p50 first / end | gateway p50 first / end | "
        "direct / gateway p99 end | added p50 / p99 |\n|---|---|---|---|---|---|\n");
    WarmLatency(requests, node.port(), g->port(), kBody, "whole (`stream: false`)");
    WarmLatency(requests, node.port(), g->port(), kStreamBody, "streamed (NDJSON, 5 chunks)");
    std::printf("\n### Throughput, 8 clients, 3 s each (requests/s)\n\n");
    const double direct = Throughput(node.port());
    const double via = Throughput(g->port());
    std::printf("| direct | gateway | ratio |\n|---|---|---|\n| %.0f | %.0f | %.2f |\n", direct,
                via, via / direct);
  }
  {
    Node node({.tokens = std::vector<std::string>(10, "tok"), .token_gap = milliseconds(50)});
    StaticBackends backends(node.url());
    auto g = StartGateway(&backends, false);
    httplib::Client direct("127.0.0.1", node.port()), via("127.0.0.1", g->port());
    std::vector<double> d, v, d_end, v_end;
    for (int i = 0; i < 20; ++i) {
      Timing a = Request(direct, kStreamBody), b = Request(via, kStreamBody);
      d.push_back(a.first_ms), v.push_back(b.first_ms);
      d_end.push_back(a.total_ms), v_end.push_back(b.total_ms);
    }
    std::printf(
        "\n### Streaming is not buffered: 10 tokens 50 ms apart, 20 requests (ms, p50)\n\n"
        "| | first token | end |\n|---|---|---|\n| direct | %.1f | %.1f |\n| gateway | %.1f | "
        "%.1f |\n",
        Percentile(d, .5), Percentile(d_end, .5), Percentile(v, .5), Percentile(v_end, .5));
  }
  std::printf(
      "\n### Cold path: request at zero to the whole answer (ms)\n\n"
      "| runs | provider start | model load | total p50 / max | carrierarr-owned p50 / max |\n"
      "|---|---|---|---|---|\n");
  ColdPath(5, milliseconds(2000), milliseconds(1500));
  return 0;
}
