// How many agents can one `carrierarr-fleet serve` take, and how quickly does it store what they
// send? Simulates --agents agents over real gRPC (ec2agent.v1) with the callback client API, so
// that 10,000 streams need no thread each, spread over --channels TCP connections:
//   1. Register: every agent registers (node ids <prefix>00001, ...) with ONE reusable
//      enrollment token (--token, --token-file, or created through the admin API with
//      --admin-token-file and --create-token), at most --register-concurrency calls in flight;
//   2. Connect: every agent opens its Connect stream with its node credential; a stream counts as
//      open when the control plane's first message (the ConfigUpdate) arrives;
//   3. Steady: every agent sends a NodeStatus of ~340 bytes (4 services, resources, 1 GPU, 2
//      models) every --interval, timestamped at send, phases spread uniformly over the interval,
//      for --duration;
//   4. Sweep (optional): --sweep "1000,2000,..." total messages/s, each for --step, by changing
//      the interval to agents / rate.
// For every step the control plane's histogram carrierarr_status_store_latency_seconds (from the
// status's timestamp to the committed store write) is read from /metrics before and after; the
// step's p50/p99 come from the difference of the cumulative buckets, linearly interpolated
// within a bucket, and the achieved rate from the count difference over the step's time. The
// saturation throughput is the highest rate whose p99 stays under --p99-target-ms with at least
// 95 % of the offered rate stored; also reported is the highest rate kept up with at all (95 %
// stored, p99 under 1 s). The sweep stops after two steps in a row that did not keep up.
// Columns: sent/s = statuses the generator sent / step time (below rate/s when the generator
// falls behind); stored/s = histogram count difference / step time; bw_p99 = p99 of one batched
// store write; busy = sends skipped because that agent's previous write was still in flight;
// srv_cpu / gen_cpu in % of one core; pass "yes", "p99" (kept up, p99 over target) or "NO".
//
// Also reported: registration and connect times, messages sent, stream errors, the server's
// VmRSS/VmHWM and CPU (--server-pid), the generator's own RSS and CPU. Output: a table, then one
// line "RESULT_JSON {...}". Exit status: 0 when the run completed (targets missed are reported,
// not failed), 1 when a phase failed, 2 on a usage error.
//
// Usage: bench/run_agent_load_bench.sh [flags], or agent_load_bench --help.
#include <google/protobuf/timestamp.pb.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "carrierarr/v1/fleet.grpc.pb.h"
#include "cli/flags.h"
#include "core/duration.h"
#include "ec2agent/v1/agent.grpc.pb.h"

namespace carrierarr::bench {
namespace {

using ec2agent::v1::AgentControl;
using ec2agent::v1::AgentMessage;
using ec2agent::v1::ControlMessage;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t first = s.find_first_not_of(" \t");
  return first == std::string::npos ? "" : s.substr(first);
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

// --- process figures from /proc ---

struct ProcStats {
  bool ok = false;
  double rss_mb = 0, hwm_mb = 0;
  double cpu_s = 0;  // utime + stime
};

ProcStats ReadProc(const std::string& pid) {
  ProcStats p;
  std::string status, stat;
  if (!ReadFile("/proc/" + pid + "/status", &status) || !ReadFile("/proc/" + pid + "/stat", &stat))
    return p;
  std::istringstream lines(status);
  std::string line;
  for (int i = 0; i < 200 && std::getline(lines, line); ++i) {
    if (line.rfind("VmRSS:", 0) == 0) p.rss_mb = std::atof(line.c_str() + 6) / 1024.0;
    if (line.rfind("VmHWM:", 0) == 0) p.hwm_mb = std::atof(line.c_str() + 6) / 1024.0;
  }
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return p;
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> f;
  std::string token;
  for (int i = 0; i < 20 && fields >> token; ++i) f.push_back(token);
  if (f.size() < 13) return p;
  double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  p.cpu_s = (std::atof(f[11].c_str()) + std::atof(f[12].c_str())) / ticks;
  p.ok = true;
  return p;
}

// --- the control plane's /metrics ---

struct Histogram {
  std::vector<double> le_s;        // upper bounds in seconds, ascending, last is +Inf
  std::vector<double> cumulative;  // cumulative counts
  double count = 0, sum_s = 0;
};

struct Snapshot {
  bool ok = false;
  std::string error;
  Clock::time_point at;
  std::map<std::string, double> samples;  // "name{labels}" -> value
  Histogram store_latency;
  Histogram batch_write;

  double Get(const std::string& name) const {
    auto it = samples.find(name);
    return it == samples.end() ? 0 : it->second;
  }
};

Histogram ExtractHistogram(const std::map<std::string, double>& samples, const std::string& name) {
  Histogram h;
  std::vector<std::pair<double, double>> buckets;
  const std::string prefix = name + "_bucket{le=\"";
  for (auto it = samples.lower_bound(prefix); it != samples.end(); ++it) {
    if (it->first.rfind(prefix, 0) != 0) break;
    std::string le = it->first.substr(prefix.size());
    le = le.substr(0, le.find('"'));
    double bound = le == "+Inf" ? INFINITY : std::strtod(le.c_str(), nullptr);
    buckets.emplace_back(bound, it->second);
  }
  std::sort(buckets.begin(), buckets.end());
  for (const auto& [bound, value] : buckets) {
    h.le_s.push_back(bound);
    h.cumulative.push_back(value);
  }
  auto count = samples.find(name + "_count");
  auto sum = samples.find(name + "_sum");
  if (count != samples.end()) h.count = count->second;
  if (sum != samples.end()) h.sum_s = sum->second;
  return h;
}

struct Quantiles {
  double count = 0;
  double p50_ms = 0, p99_ms = 0, mean_ms = 0;
  bool p99_beyond_last_bound = false;  // p99 fell into the +Inf bucket
};

// Quantiles of the observations between two snapshots of one histogram.
Quantiles Diff(const Histogram& before, const Histogram& after) {
  Quantiles q;
  if (after.le_s.empty() || (!before.le_s.empty() && before.le_s.size() != after.le_s.size()))
    return q;
  std::vector<double> in_bucket(after.le_s.size());
  double previous = 0;
  for (size_t i = 0; i < after.le_s.size(); ++i) {
    double cum = after.cumulative[i] - (before.le_s.empty() ? 0 : before.cumulative[i]);
    in_bucket[i] = std::max(0.0, cum - previous);
    previous = cum;
  }
  q.count = after.count - before.count;
  if (q.count <= 0) return q;
  q.mean_ms = (after.sum_s - before.sum_s) / q.count * 1000.0;
  auto quantile = [&](double fraction, bool* beyond) {
    double rank = fraction * q.count, seen = 0;
    for (size_t i = 0; i < in_bucket.size(); ++i) {
      if (in_bucket[i] > 0 && seen + in_bucket[i] >= rank) {
        double lo = i == 0 ? 0 : after.le_s[i - 1];
        double hi = after.le_s[i];
        if (std::isinf(hi)) {
          if (beyond != nullptr) *beyond = true;
          return lo * 1000.0;
        }
        return (lo + (hi - lo) * (rank - seen) / in_bucket[i]) * 1000.0;
      }
      seen += in_bucket[i];
    }
    return 0.0;
  };
  q.p50_ms = quantile(0.50, nullptr);
  q.p99_ms = quantile(0.99, &q.p99_beyond_last_bound);
  return q;
}

class MetricsReader {
 public:
  MetricsReader(const std::string& base_url, std::string admin_token)
      : client_(base_url), token_(std::move(admin_token)) {
    client_.set_connection_timeout(5, 0);
    client_.set_read_timeout(30, 0);
  }

  Snapshot Read() {
    Snapshot s;
    s.at = Clock::now();
    httplib::Headers headers = {{"Authorization", "Bearer " + token_}};
    auto res = client_.Get("/metrics", headers);
    if (!res) {
      s.error = "GET /metrics: " + httplib::to_string(res.error());
      return s;
    }
    if (res->status != 200) {
      s.error = "GET /metrics: HTTP " + std::to_string(res->status) + ": " + res->body;
      return s;
    }
    std::istringstream lines(res->body);
    std::string line;
    for (int i = 0; i < 100000 && std::getline(lines, line); ++i) {
      if (line.empty() || line[0] == '#') continue;
      size_t space = line.rfind(' ');
      if (space == std::string::npos) continue;
      s.samples[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
    }
    s.store_latency = ExtractHistogram(s.samples, "carrierarr_status_store_latency_seconds");
    s.batch_write = ExtractHistogram(s.samples, "carrierarr_store_batch_write_seconds");
    s.ok = !s.store_latency.le_s.empty();
    if (!s.ok) s.error = "/metrics has no carrierarr_status_store_latency_seconds";
    return s;
  }

 private:
  httplib::Client client_;
  std::string token_;
};

// --- simulated agents ---

struct Counters {
  std::atomic<uint64_t> sent{0};              // StartWrite calls
  std::atomic<uint64_t> write_failures{0};    // OnWriteDone(false)
  std::atomic<uint64_t> skipped_busy{0};      // due while the previous write was in flight
  std::atomic<uint64_t> skipped_closed{0};    // due on a stream that is not open
  std::atomic<uint64_t> control_messages{0};  // ControlMessages read
  std::atomic<uint64_t> opened{0};            // streams that got their first message
  std::atomic<uint64_t> ended_early{0};       // streams the server ended before shutdown
  std::atomic<uint64_t> done{0};              // OnDone calls
  std::atomic<uint64_t> done_not_ok{0};       // ... with a status other than OK/CANCELLED
  std::mutex errors_mu;
  std::map<std::string, uint64_t> errors;  // "CODE: message" -> times

  void Error(const std::string& what) {
    std::lock_guard lock(errors_mu);
    if (errors.size() < 20 || errors.count(what)) errors[what]++;
  }
};

// protobuf 3.21's TimeUtil::GetCurrentTime() has whole seconds only (nanos 0): stamp with the
// system clock to the microsecond instead, as the agent does.
void SetNow(google::protobuf::Timestamp* ts) {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(now);
  ts->set_seconds(secs.count());
  ts->set_nanos(static_cast<int32_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(now - secs).count()));
}

// Fills a realistic status of one GPU worker: ~340 bytes serialized.
void FillStatus(int index, ec2agent::v1::NodeStatus* s) {
  s->set_node_id("");  // the control plane takes the id from the credential
  auto service = [](ec2agent::v1::ServiceStatus* svc, int64_t uptime, const char* message) {
    svc->set_state(ec2agent::v1::SERVICE_STATE_RUNNING);
    svc->set_message(message);
    svc->set_uptime_seconds(uptime);
  };
  service(s->mutable_nebula(), 86400 + index, "active (running) since boot, tun nebula1 up");
  service(s->mutable_k3s(), 86000 + index, "active (running): k3s-agent v1.29.4+k3s1, node Ready");
  service(s->mutable_ollama(), 85000 + index, "active (running): ollama 0.3.12, 2 models");
  service(s->mutable_liqo(), 0, "not installed");
  s->mutable_liqo()->set_state(ec2agent::v1::SERVICE_STATE_NOT_INSTALLED);
  auto* r = s->mutable_resources();
  r->set_cpu_percent(12.5 + index % 50);
  r->set_memory_used_mb(9000 + index % 4000);
  r->set_memory_total_mb(32768);
  r->set_disk_used_mb(81234 + index % 1000);
  r->set_disk_total_mb(204800);
  auto* gpu = s->add_gpus();
  gpu->set_index(0);
  gpu->set_name("NVIDIA A10G");
  gpu->set_memory_used_mb(10240 + index % 2048);
  gpu->set_memory_total_mb(23028);
  gpu->set_utilization_percent(37.0 + index % 60);
  gpu->set_temperature_c(48 + index % 20);
  auto* m1 = s->add_loaded_models();
  m1->set_name("llama3.1:8b-instruct-q4_K_M");
  m1->set_size_bytes(4920753328);
  m1->set_currently_loaded(true);
  auto* m2 = s->add_loaded_models();
  m2->set_name("nomic-embed-text:latest");
  m2->set_size_bytes(274302450);
  m2->set_currently_loaded(false);
  s->set_uptime_seconds(86400 + index);
  s->set_idle_seconds(index % 600);
  s->set_health(ec2agent::v1::HEALTH_STATE_HEALTHY);
}

// One agent's Connect stream. The reactor is owned by the Bench (never deleted by gRPC). A hold
// keeps OnDone back until the stream ended early (OnReadDone(false)) or Close(); mu_ guards every
// call into gRPC that needs the call alive, and is recursive because gRPC may run a reaction
// inline on the calling thread.
class Agent final : public grpc::ClientBidiReactor<AgentMessage, ControlMessage> {
 public:
  Agent(int index, Counters* counters) : index_(index), counters_(counters) {
    FillStatus(index, out_.mutable_status());
  }

  void Start(AgentControl::Stub* stub, const std::string& credential) {
    context_.AddMetadata("authorization", "Bearer " + credential);
    stub->async()->Connect(&context_, this);
    StartRead(&in_);
    AddHold();
    started_ = true;
    StartCall();
  }

  bool open() const { return open_.load(std::memory_order_acquire); }
  bool writing() const { return writing_.load(std::memory_order_acquire); }
  bool done() const { return done_.load(std::memory_order_acquire); }

  // From the scheduler thread: sends one status stamped now, unless the stream is not open or
  // the previous write is still in flight.
  void TrySend() {
    if (!open()) {
      counters_->skipped_closed.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    bool expected = false;
    if (!writing_.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
      counters_->skipped_busy.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    std::lock_guard lock(mu_);
    if (hold_released_ || closing_) {
      writing_.store(false, std::memory_order_release);
      counters_->skipped_closed.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    auto* s = out_.mutable_status();
    ++sequence_;
    s->mutable_resources()->set_cpu_percent(static_cast<double>((index_ + sequence_) % 100));
    s->set_idle_seconds(sequence_);
    SetNow(s->mutable_timestamp());
    counters_->sent.fetch_add(1, std::memory_order_relaxed);
    StartWrite(&out_);
  }

  // Ends the stream from our side (WritesDone; the control plane then finishes it with OK).
  void Close() {
    std::lock_guard lock(mu_);
    closing_ = true;
    if (!started_ || hold_released_) return;
    hold_released_ = true;
    StartWritesDone();
    RemoveHold();
  }
  void Cancel() {
    std::lock_guard lock(mu_);
    if (started_ && !done()) context_.TryCancel();
  }

  void OnReadDone(bool ok) override {
    if (ok) {
      counters_->control_messages.fetch_add(1, std::memory_order_relaxed);
      if (!open_.exchange(true, std::memory_order_acq_rel))
        counters_->opened.fetch_add(1, std::memory_order_relaxed);
      StartRead(&in_);
      return;
    }
    std::lock_guard lock(mu_);
    open_.store(false, std::memory_order_release);
    if (!closing_) counters_->ended_early.fetch_add(1, std::memory_order_relaxed);
    if (!hold_released_) {
      hold_released_ = true;
      RemoveHold();
    }
  }

  void OnWriteDone(bool ok) override {
    if (!ok) counters_->write_failures.fetch_add(1, std::memory_order_relaxed);
    writing_.store(false, std::memory_order_release);
  }

  void OnDone(const grpc::Status& status) override {
    if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
      counters_->done_not_ok.fetch_add(1, std::memory_order_relaxed);
      counters_->Error(std::to_string(status.error_code()) + ": " + status.error_message());
    }
    counters_->done.fetch_add(1, std::memory_order_relaxed);
    done_.store(true, std::memory_order_release);
  }

 private:
  const int index_;
  Counters* const counters_;
  grpc::ClientContext context_;
  AgentMessage out_;
  ControlMessage in_;
  int64_t sequence_ = 0;
  std::recursive_mutex mu_;
  bool started_ = false, hold_released_ = false, closing_ = false;  // guarded by mu_
  std::atomic<bool> open_{false}, writing_{false}, done_{false};
};

// --- the benchmark ---

struct Options {
  std::string target = "127.0.0.1:50051";
  std::string http = "http://127.0.0.1:8090";
  std::string token, token_file, admin_token_file, prefix = "bench-", sweep, server_pid, json_out;
  bool create_token = false;
  int64_t agents = 1000, channels = 64, register_concurrency = 64;
  double interval_s = 10, duration_s = 60, step_s = 20, p99_target_ms = 50, window_s = 10;
  double connect_timeout_s = 120;
};

// One --window of a step, from the monitor thread's snapshots.
struct Window {
  double from_s = 0, to_s = 0;
  double stored_rate = 0, batches_per_s = 0;
  Quantiles latency;
};

struct Step {
  std::string name;
  double offered_rate = 0;  // messages/s asked of the generator
  double interval_s = 0;
  double seconds = 0;
  uint64_t sent = 0, skipped_busy = 0, skipped_closed = 0, write_failures = 0;
  double server_statuses = 0;  // carrierarr_status_messages_total difference
  double stored_rate = 0;      // latency histogram count difference / seconds
  Quantiles latency;
  Quantiles batch_write;
  double batches = 0;
  double store_errors = 0;
  double server_cpu_pct = -1, server_rss_mb = -1, gen_cpu_pct = 0, gen_rss_mb = 0;
  bool pass = false;       // p99 under the target and >= 95 % of the offered rate stored
  bool sustained = false;  // >= 95 % of the offered rate stored, p99 under 1 s
  double loadavg_1m = -1;  // the machine's, at the end of the step
  std::vector<Window> windows;
  std::string error;
};

double LoadAverage() {
  std::string text;
  return ReadFile("/proc/loadavg", &text) ? std::atof(text.c_str()) : -1;
}

double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

class Bench {
 public:
  explicit Bench(Options o) : o_(std::move(o)) {}
  int Run();

 private:
  bool MakeChannels();
  bool ObtainToken();
  bool RegisterAll();
  bool ConnectAll();
  Step RunStep(const std::string& name, double rate, double seconds);
  void CloseAll();
  void PrintStep(const Step& s);
  json StepJson(const Step& s) const;

  Options o_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<AgentControl::Stub>> stubs_;
  std::vector<std::string> credentials_;  // per agent; empty when its registration failed
  std::vector<std::unique_ptr<Agent>> agents_;
  Counters counters_;
  std::unique_ptr<MetricsReader> metrics_;
  std::string admin_token_;
  uint64_t cursor_ = 0;  // next agent to send, round robin over the agents

  double register_s_ = 0, register_rate_ = 0;
  uint64_t registered_ = 0, register_errors_ = 0;
  double connect_s_ = 0;
  uint64_t connected_ = 0;
  double server_streams_open_ = -1;
  std::vector<Step> steps_;
  json server_rss_;  // phase -> MB
  std::map<std::string, uint64_t> register_error_kinds_;
};

bool Bench::MakeChannels() {
  for (int64_t i = 0; i < o_.channels; ++i) {
    grpc::ChannelArguments args;
    // A channel argument of its own and no shared subchannel pool: one TCP connection each.
    args.SetInt("carrierarr.bench.channel", static_cast<int>(i));
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    auto channel = grpc::CreateCustomChannel(o_.target, grpc::InsecureChannelCredentials(), args);
    channels_.push_back(channel);
    stubs_.push_back(AgentControl::NewStub(channel));
  }
  auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(15);
  for (auto& channel : channels_) {
    if (!channel->WaitForConnected(deadline)) {
      std::cerr << "agent_load_bench: cannot connect to " << o_.target << "\n";
      return false;
    }
  }
  return true;
}

bool Bench::ObtainToken() {
  if (!o_.token.empty()) return true;
  if (!o_.token_file.empty()) {
    if (!ReadFile(o_.token_file, &o_.token)) {
      std::cerr << "agent_load_bench: cannot read --token-file " << o_.token_file << "\n";
      return false;
    }
    o_.token = Trim(o_.token);
    return !o_.token.empty();
  }
  if (!o_.create_token) {
    std::cerr << "agent_load_bench: pass --token, --token-file or --create-token\n";
    return false;
  }
  // A reusable token (max_uses 0) through the admin API, carrierarr.v1.Fleet.CreateToken.
  auto fleet = carrierarr::v1::Fleet::NewStub(channels_.front());
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + admin_token_);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  carrierarr::v1::CreateTokenRequest request;
  request.set_name("agent-load-bench");
  // Tokens are bound: this one enrols the pool whose ids the bench makes ("bench-" -> "bench-*").
  request.set_pool(o_.prefix.substr(0, o_.prefix.size() - (o_.prefix.ends_with('-') ? 1 : 0)));
  request.set_max_uses(0);
  request.set_ttl_seconds(3600);
  carrierarr::v1::CreateTokenResponse response;
  grpc::Status s = fleet->CreateToken(&context, request, &response);
  if (!s.ok()) {
    std::cerr << "agent_load_bench: CreateToken: " << s.error_message() << "\n";
    return false;
  }
  o_.token = response.secret();
  return true;
}

bool Bench::RegisterAll() {
  struct Call {
    grpc::ClientContext context;
    ec2agent::v1::RegisterRequest request;
    ec2agent::v1::RegisterResponse response;
  };
  const int n = static_cast<int>(o_.agents);
  credentials_.assign(n, "");
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0, finished = 0;
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return in_flight < o_.register_concurrency; });
      ++in_flight;
    }
    auto call = std::make_shared<Call>();
    call->context.AddMetadata("authorization", "Bearer " + o_.token);
    call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    char id[64];
    std::snprintf(id, sizeof id, "%s%05d", o_.prefix.c_str(), i + 1);
    auto& r = call->request;
    r.set_node_id(id);
    r.set_node_type(ec2agent::v1::NODE_TYPE_GPU_WORKER);
    r.set_instance_id("i-0bench" + std::to_string(100000 + i));
    r.set_nebula_ip("10.42." + std::to_string(1 + i / 250) + "." + std::to_string(1 + i % 250));
    r.set_region("us-east-1");
    r.set_availability_zone("us-east-1a");
    (*r.mutable_labels())["pool"] = "bench";
    auto* caps = r.mutable_capabilities();
    caps->set_has_gpu(true);
    caps->set_gpu_model("NVIDIA A10G");
    caps->set_gpu_count(1);
    caps->set_gpu_memory_mb(23028);
    caps->set_cpu_cores(8);
    caps->set_memory_mb(32768);
    caps->set_disk_mb(204800);
    r.set_agent_version("agent_load_bench");
    stubs_[i % stubs_.size()]->async()->Register(
        &call->context, &call->request, &call->response, [&, call, i](grpc::Status s) {
          std::lock_guard lock(mu);
          if (s.ok() && call->response.accepted() && !call->response.node_credential().empty()) {
            credentials_[i] = call->response.node_credential();
            ++registered_;
          } else {
            ++register_errors_;
            std::string why = s.ok() ? "not accepted: " + call->response.message()
                                     : std::to_string(s.error_code()) + ": " + s.error_message();
            if (register_error_kinds_.size() < 20 || register_error_kinds_.count(why))
              register_error_kinds_[why]++;
          }
          --in_flight;
          ++finished;
          cv.notify_all();
        });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return finished == n; });
  register_s_ = SecondsSince(start);
  register_rate_ = register_s_ > 0 ? registered_ / register_s_ : 0;
  return registered_ > 0;
}

bool Bench::ConnectAll() {
  auto start = Clock::now();
  agents_.reserve(credentials_.size());
  uint64_t started = 0;
  for (size_t i = 0; i < credentials_.size(); ++i) {
    agents_.push_back(std::make_unique<Agent>(static_cast<int>(i), &counters_));
    if (credentials_[i].empty()) continue;
    agents_.back()->Start(stubs_[i % stubs_.size()].get(), credentials_[i]);
    ++started;
  }
  // Bounded wait: every stream open or ended, or the timeout.
  const int polls = static_cast<int>(o_.connect_timeout_s * 100);
  for (int i = 0; i < polls; ++i) {
    if (counters_.opened.load() + counters_.ended_early.load() >= started) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  connect_s_ = SecondsSince(start);
  connected_ = counters_.opened.load();
  return connected_ > 0;
}

Step Bench::RunStep(const std::string& name, double rate, double seconds) {
  Step s;
  s.name = name;
  s.offered_rate = rate;
  s.interval_s = static_cast<double>(agents_.size()) / rate;
  const std::string pid = o_.server_pid;
  ProcStats server_before = pid.empty() ? ProcStats{} : ReadProc(pid);
  double gen_before = SelfCpuSeconds();
  uint64_t sent0 = counters_.sent, busy0 = counters_.skipped_busy,
           closed0 = counters_.skipped_closed, fail0 = counters_.write_failures;
  Snapshot before = metrics_->Read();
  if (!before.ok) {
    s.error = before.error;
    return s;
  }

  // A monitor thread snapshots /metrics every --window (own HTTP client), so that the time
  // profile of a step shows without stalling the sender.
  std::mutex window_mu;
  std::condition_variable window_cv;
  bool step_over = false;
  Snapshot window_start = before;  // guarded by window_mu; where the next window begins
  std::thread monitor;
  if (o_.window_s > 0 && o_.window_s < seconds) {
    monitor = std::thread([&, previous = before] {
      MetricsReader reader(o_.http, admin_token_);
      const int max_windows = static_cast<int>(seconds / o_.window_s) + 1;
      for (int w = 1; w <= max_windows; ++w) {
        auto due = previous.at + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(w * o_.window_s));
        {
          std::unique_lock lock(window_mu);
          if (window_cv.wait_until(lock, due, [&] { return step_over; })) return;
        }
        Snapshot now = reader.Read();
        if (!now.ok) continue;
        std::lock_guard lock(window_mu);
        const Snapshot& last = window_start;
        Window win;
        win.from_s = std::chrono::duration<double>(last.at - previous.at).count();
        win.to_s = std::chrono::duration<double>(now.at - previous.at).count();
        win.latency = Diff(last.store_latency, now.store_latency);
        double span = win.to_s - win.from_s;
        if (span > 0) {
          win.stored_rate = win.latency.count / span;
          win.batches_per_s = (now.Get("carrierarr_store_batches_total") -
                               last.Get("carrierarr_store_batches_total")) /
                              span;
        }
        s.windows.push_back(win);
        window_start = std::move(now);
      }
    });
  }

  // Message k is due at start + k / rate: agent phases spread uniformly over the interval.
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  const uint64_t n = agents_.size();
  uint64_t issued = 0;
  // Each pass sends what is due or sleeps until the next message (at most 1 ms).
  const uint64_t max_iterations = static_cast<uint64_t>(seconds * (rate + 1000) * 2) + 1000;
  for (uint64_t it = 0; it < max_iterations; ++it) {
    auto now = Clock::now();
    if (now >= end) break;
    auto due = static_cast<uint64_t>(std::chrono::duration<double>(now - start).count() * rate);
    for (; issued < due; ++issued) {
      agents_[cursor_ % n]->TrySend();
      ++cursor_;
    }
    auto next = start + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>((issued + 1) / rate));
    std::this_thread::sleep_until(std::min({next, end, now + std::chrono::milliseconds(1)}));
  }
  if (monitor.joinable()) {
    {
      std::lock_guard lock(window_mu);
      step_over = true;
    }
    window_cv.notify_all();
    monitor.join();
  }
  Snapshot after = metrics_->Read();
  s.loadavg_1m = LoadAverage();
  if (!s.windows.empty() && after.ok) {  // the last, partial window
    Window win;
    win.from_s = s.windows.back().to_s;
    win.to_s = std::chrono::duration<double>(after.at - before.at).count();
    win.latency = Diff(window_start.store_latency, after.store_latency);
    double span = win.to_s - win.from_s;
    if (span > 0.5) {
      win.stored_rate = win.latency.count / span;
      win.batches_per_s = (after.Get("carrierarr_store_batches_total") -
                           window_start.Get("carrierarr_store_batches_total")) /
                          span;
      s.windows.push_back(win);
    }
  }
  s.seconds = std::chrono::duration<double>(after.at - before.at).count();
  s.sent = counters_.sent - sent0;
  s.skipped_busy = counters_.skipped_busy - busy0;
  s.skipped_closed = counters_.skipped_closed - closed0;
  s.write_failures = counters_.write_failures - fail0;
  if (!after.ok) {
    s.error = after.error;
    return s;
  }
  s.latency = Diff(before.store_latency, after.store_latency);
  s.batch_write = Diff(before.batch_write, after.batch_write);
  s.server_statuses = after.Get("carrierarr_status_messages_total") -
                      before.Get("carrierarr_status_messages_total");
  s.batches =
      after.Get("carrierarr_store_batches_total") - before.Get("carrierarr_store_batches_total");
  s.store_errors =
      after.Get("carrierarr_store_errors_total") - before.Get("carrierarr_store_errors_total");
  s.stored_rate = s.seconds > 0 ? s.latency.count / s.seconds : 0;
  if (!pid.empty()) {
    ProcStats server_after = ReadProc(pid);
    if (server_before.ok && server_after.ok) {
      s.server_cpu_pct = (server_after.cpu_s - server_before.cpu_s) / s.seconds * 100.0;
      s.server_rss_mb = server_after.rss_mb;
    }
  }
  s.gen_cpu_pct = (SelfCpuSeconds() - gen_before) / s.seconds * 100.0;
  s.gen_rss_mb = ReadProc("self").rss_mb;
  s.sustained = s.latency.count > 0 && !s.latency.p99_beyond_last_bound &&
                s.latency.p99_ms < 1000 && s.stored_rate >= 0.95 * rate;
  s.pass = s.sustained && s.latency.p99_ms < o_.p99_target_ms;
  return s;
}

void Bench::CloseAll() {
  // Let writes in flight finish (bounded), then WritesDone on every stream.
  for (int i = 0; i < 500; ++i) {
    bool any =
        std::any_of(agents_.begin(), agents_.end(), [](const auto& a) { return a->writing(); });
    if (!any) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& a : agents_) a->Close();
  const uint64_t started = std::count_if(credentials_.begin(), credentials_.end(),
                                         [](const std::string& c) { return !c.empty(); });
  for (int i = 0; i < 1500 && counters_.done.load() < started; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (counters_.done.load() < started) {
    std::cerr << "agent_load_bench: " << started - counters_.done.load()
              << " streams did not end after WritesDone; cancelling them\n";
    for (auto& a : agents_) a->Cancel();
    for (int i = 0; i < 1000 && counters_.done.load() < started; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Bench::PrintStep(const Step& s) {
  char line[400];
  if (!s.error.empty()) {
    std::printf("%-11s %8.0f  error: %s\n", s.name.c_str(), s.offered_rate, s.error.c_str());
    return;
  }
  std::snprintf(
      line, sizeof line,
      "%-11s %8.0f %7.2f %6.1f %8llu %8.0f %8.0f %8.2f %7.2f%s %7.2f %7.2f %6llu %7.1f %8.1f "
      "%7.1f %6s\n",
      s.name.c_str(), s.offered_rate, s.interval_s, s.seconds,
      static_cast<unsigned long long>(s.sent), s.seconds > 0 ? s.sent / s.seconds : 0,
      s.stored_rate, s.latency.p50_ms, s.latency.p99_ms,
      s.latency.p99_beyond_last_bound ? "+" : " ", s.latency.mean_ms, s.batch_write.p99_ms,
      static_cast<unsigned long long>(s.skipped_busy), s.server_cpu_pct, s.server_rss_mb,
      s.gen_cpu_pct, s.pass ? "yes" : (s.sustained ? "p99" : "NO"));
  std::fputs(line, stdout);
  for (const Window& w : s.windows)
    std::printf("  %5.0f-%-5.0fs %40.0f %8.2f %7.2f%s %7.2f   (%.0f batches/s)\n", w.from_s, w.to_s,
                w.stored_rate, w.latency.p50_ms, w.latency.p99_ms,
                w.latency.p99_beyond_last_bound ? "+" : " ", w.latency.mean_ms, w.batches_per_s);
  std::fflush(stdout);
}

json Bench::StepJson(const Step& s) const {
  json windows = json::array();
  for (const Window& w : s.windows)
    windows.push_back({{"from_s", w.from_s},
                       {"to_s", w.to_s},
                       {"stored_rate", w.stored_rate},
                       {"p50_ms", w.latency.p50_ms},
                       {"p99_ms", w.latency.p99_ms},
                       {"mean_ms", w.latency.mean_ms},
                       {"batches_per_s", w.batches_per_s}});
  return {{"name", s.name},
          {"offered_rate", s.offered_rate},
          {"interval_s", s.interval_s},
          {"seconds", s.seconds},
          {"sent", s.sent},
          {"sent_rate", s.seconds > 0 ? s.sent / s.seconds : 0},
          {"skipped_busy", s.skipped_busy},
          {"skipped_closed", s.skipped_closed},
          {"write_failures", s.write_failures},
          {"server_statuses", s.server_statuses},
          {"stored", s.latency.count},
          {"stored_rate", s.stored_rate},
          {"p50_ms", s.latency.p50_ms},
          {"p99_ms", s.latency.p99_ms},
          {"p99_beyond_last_bucket", s.latency.p99_beyond_last_bound},
          {"mean_ms", s.latency.mean_ms},
          {"batches", s.batches},
          {"batch_write_p50_ms", s.batch_write.p50_ms},
          {"batch_write_p99_ms", s.batch_write.p99_ms},
          {"store_errors", s.store_errors},
          {"server_cpu_pct", s.server_cpu_pct},
          {"server_rss_mb", s.server_rss_mb},
          {"gen_cpu_pct", s.gen_cpu_pct},
          {"gen_rss_mb", s.gen_rss_mb},
          {"pass", s.pass},
          {"sustained", s.sustained},
          {"loadavg_1m", s.loadavg_1m},
          {"windows", windows},
          {"error", s.error}};
}

std::vector<double> ParseRates(const std::string& csv) {
  std::vector<double> rates;
  for (const std::string& item : cli::SplitCommaList(csv)) {
    char* end = nullptr;
    double r = std::strtod(item.c_str(), &end);
    if (end == item.c_str() || *end != '\0' || !(r > 0)) return {};
    rates.push_back(r);
  }
  return rates;
}

int Bench::Run() {
  const auto run_start = Clock::now();
  if (!o_.admin_token_file.empty()) {
    if (!ReadFile(o_.admin_token_file, &admin_token_)) {
      std::cerr << "agent_load_bench: cannot read --admin-token-file " << o_.admin_token_file
                << "\n";
      return 2;
    }
    admin_token_ = Trim(admin_token_);
  }
  metrics_ = std::make_unique<MetricsReader>(o_.http, admin_token_);
  Snapshot probe = metrics_->Read();
  if (!probe.ok) {
    std::cerr << "agent_load_bench: " << probe.error << "\n";
    return 1;
  }
  if (!MakeChannels() || !ObtainToken()) return 1;
  auto record_rss = [&](const std::string& phase) {
    if (o_.server_pid.empty()) return;
    ProcStats p = ReadProc(o_.server_pid);
    if (p.ok) server_rss_[phase] = {{"rss_mb", p.rss_mb}, {"hwm_mb", p.hwm_mb}};
  };
  record_rss("start");

  std::printf("agent_load_bench: %lld agents over %lld channels to %s, metrics from %s\n",
              static_cast<long long>(o_.agents), static_cast<long long>(o_.channels),
              o_.target.c_str(), o_.http.c_str());
  {
    AgentMessage m;
    FillStatus(0, m.mutable_status());
    SetNow(m.mutable_status()->mutable_timestamp());
    std::printf("status message: %zu bytes serialized\n", m.ByteSizeLong());
  }
  std::fflush(stdout);

  bool ok = RegisterAll();
  record_rss("registered");
  std::printf("register: %llu/%lld in %.2f s (%.0f/s), %llu errors\n",
              static_cast<unsigned long long>(registered_), static_cast<long long>(o_.agents),
              register_s_, register_rate_, static_cast<unsigned long long>(register_errors_));
  for (const auto& [why, times] : register_error_kinds_)
    std::printf("  register error x%llu: %s\n", static_cast<unsigned long long>(times),
                why.c_str());
  std::fflush(stdout);

  if (ok) {
    ok = ConnectAll();
    Snapshot s = metrics_->Read();
    if (s.ok) server_streams_open_ = s.Get("carrierarr_streams_open");
    record_rss("connected");
    std::printf(
        "connect: %llu/%llu streams open in %.2f s (server reports %.0f open), %llu "
        "ended early\n",
        static_cast<unsigned long long>(connected_), static_cast<unsigned long long>(registered_),
        connect_s_, server_streams_open_,
        static_cast<unsigned long long>(counters_.ended_early.load()));
    std::fflush(stdout);
  }

  if (ok) {
    std::printf("\n%-11s %8s %7s %6s %8s %8s %8s %8s %8s %7s %7s %6s %7s %8s %7s %6s\n", "step",
                "rate/s", "intvl_s", "secs", "sent", "sent/s", "stored/s", "p50_ms", "p99_ms",
                "mean", "bw_p99", "busy", "srv_cpu", "srv_rss", "gen_cpu", "pass");
    std::fflush(stdout);
    const double steady_rate = static_cast<double>(agents_.size()) / o_.interval_s;
    steps_.push_back(RunStep("steady", steady_rate, o_.duration_s));
    PrintStep(steps_.back());
    record_rss("steady");
    int failed_in_a_row = 0;
    for (double rate : ParseRates(o_.sweep)) {
      char name[32];
      std::snprintf(name, sizeof name, "sweep-%.0f", rate);
      steps_.push_back(RunStep(name, rate, o_.step_s));
      PrintStep(steps_.back());
      failed_in_a_row = steps_.back().sustained ? 0 : failed_in_a_row + 1;
      if (failed_in_a_row >= 2) {
        std::printf("(sweep stopped: two steps in a row did not keep up)\n");
        break;
      }
    }
    record_rss("end");
  }

  CloseAll();
  ProcStats server = o_.server_pid.empty() ? ProcStats{} : ReadProc(o_.server_pid);
  ProcStats self = ReadProc("self");
  double saturation = 0;
  for (const Step& s : steps_)
    if (s.pass) saturation = std::max(saturation, s.stored_rate);
  double sustained = 0;
  for (const Step& s : steps_)
    if (s.sustained) sustained = std::max(sustained, s.stored_rate);
  uint64_t stream_errors = counters_.ended_early + counters_.done_not_ok + counters_.write_failures;

  std::printf(
      "\nmessages sent: %llu, write failures: %llu, skipped (write in flight): %llu, "
      "skipped (stream not open): %llu\n",
      static_cast<unsigned long long>(counters_.sent.load()),
      static_cast<unsigned long long>(counters_.write_failures.load()),
      static_cast<unsigned long long>(counters_.skipped_busy.load()),
      static_cast<unsigned long long>(counters_.skipped_closed.load()));
  std::printf("streams: %llu ended early by the server, %llu ended with an error status\n",
              static_cast<unsigned long long>(counters_.ended_early.load()),
              static_cast<unsigned long long>(counters_.done_not_ok.load()));
  for (const auto& [why, times] : counters_.errors)
    std::printf("  stream error x%llu: %s\n", static_cast<unsigned long long>(times), why.c_str());
  if (server.ok)
    std::printf("server (pid %s): VmRSS %.1f MB, VmHWM %.1f MB\n", o_.server_pid.c_str(),
                server.rss_mb, server.hwm_mb);
  std::printf("generator: VmRSS %.1f MB, VmHWM %.1f MB, CPU %.1f s over %.1f s\n", self.rss_mb,
              self.hwm_mb, SelfCpuSeconds(), SecondsSince(run_start));
  if (!o_.sweep.empty())
    std::printf(
        "saturation (highest stored rate with p99 < %.0f ms): %.0f msg/s; highest rate "
        "kept up with (>= 95 %% stored, p99 < 1 s): %.0f msg/s\n",
        o_.p99_target_ms, saturation, sustained);

  json steps = json::array();
  for (const Step& s : steps_) steps.push_back(StepJson(s));
  json errors = json::object();
  for (const auto& [why, times] : counters_.errors) errors[why] = times;
  json result = {{"agents", o_.agents},
                 {"channels", o_.channels},
                 {"interval_s", o_.interval_s},
                 {"duration_s", o_.duration_s},
                 {"registered", registered_},
                 {"register_errors", register_errors_},
                 {"register_s", register_s_},
                 {"register_per_s", register_rate_},
                 {"connected", connected_},
                 {"connect_s", connect_s_},
                 {"server_streams_open", server_streams_open_},
                 {"messages_sent", counters_.sent.load()},
                 {"write_failures", counters_.write_failures.load()},
                 {"skipped_busy", counters_.skipped_busy.load()},
                 {"skipped_closed", counters_.skipped_closed.load()},
                 {"streams_ended_early", counters_.ended_early.load()},
                 {"streams_error_status", counters_.done_not_ok.load()},
                 {"stream_errors", stream_errors},
                 {"stream_error_kinds", errors},
                 {"steps", steps},
                 {"saturation_msgs_per_s", saturation},
                 {"sustained_max_msgs_per_s", sustained},
                 {"p99_target_ms", o_.p99_target_ms},
                 {"server_pid", o_.server_pid},
                 {"server_rss_by_phase", server_rss_},
                 {"server_rss_mb", server.ok ? server.rss_mb : -1},
                 {"server_hwm_mb", server.ok ? server.hwm_mb : -1},
                 {"gen_rss_mb", self.rss_mb},
                 {"gen_hwm_mb", self.hwm_mb},
                 {"gen_cpu_s", SelfCpuSeconds()},
                 {"wall_s", SecondsSince(run_start)}};
  std::string line = result.dump();
  std::printf("RESULT_JSON %s\n", line.c_str());
  std::fflush(stdout);
  if (!o_.json_out.empty()) std::ofstream(o_.json_out) << line << "\n";
  return ok ? 0 : 1;
}

constexpr char kUsage[] =
    "Usage: agent_load_bench [flags]\n\n"
    "Simulates --agents carrierarr agents (Register, Connect, NodeStatus every --interval) "
    "against\n"
    "a running `carrierarr-fleet serve`, and reads the send->stored latency from its /metrics.\n"
    "bench/run_agent_load_bench.sh starts a scratch control plane and runs this.\n\nFlags:\n";

// "60" (seconds) or a Go duration ("1m", "500ms"); -1 when neither.
double Seconds(const std::string& value) {
  char* end = nullptr;
  double plain = std::strtod(value.c_str(), &end);
  if (end != value.c_str() && *end == '\0') return plain;
  auto d = ParseGoDuration(value);
  return d.ok() ? std::chrono::duration<double>(*d).count() : -1;
}

int Main(int argc, char** argv) {
  // 10,000 streams need few descriptors (one per channel), but a big sweep may want more.
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  Options o;
  cli::FlagSet flags;
  std::string interval = "10s", duration = "60s", step = "20s", connect_timeout = "120s",
              window = "10s";
  int64_t p99_target_ms = 50;
  flags.String("target", &o.target, o.target, "control plane gRPC address HOST:PORT");
  flags.String("http", &o.http, o.http, "control plane HTTP API base URL (for /metrics)");
  flags.String("token", &o.token, "", "reusable enrollment token");
  flags.String("token-file", &o.token_file, "", "file holding the reusable enrollment token");
  flags.String("admin-token-file", &o.admin_token_file, "",
               "the control plane's admin.token (for /metrics and --create-token)");
  flags.Bool("create-token", &o.create_token, false,
             "create a reusable enrollment token through the admin API (needs "
             "--admin-token-file)");
  flags.String("prefix", &o.prefix, o.prefix,
               "node id prefix (ids are PREFIX00001, ...; ends in '-' with --create-token)");
  flags.Int("agents", &o.agents, o.agents, "simulated agents");
  flags.Int("channels", &o.channels, o.channels, "gRPC channels (TCP connections)");
  flags.Int("register-concurrency", &o.register_concurrency, o.register_concurrency,
            "Register calls in flight at most");
  flags.String("interval", &interval, interval,
               "status interval of every agent in the steady phase (seconds, or 10s, 1m...)");
  flags.String("duration", &duration, duration, "length of the steady phase");
  flags.String("sweep", &o.sweep, "",
               "comma separated total rates (messages/s) to run after the steady phase");
  flags.String("step", &step, step, "length of each sweep step");
  flags.String("window", &window, window,
               "also report p50/p99 per window of this length within a step (0 = off)");
  flags.Int("p99-target-ms", &p99_target_ms, p99_target_ms,
            "a step passes when its send->stored p99 is under this");
  flags.String("connect-timeout", &connect_timeout, connect_timeout,
               "longest wait for all streams to open");
  flags.String("server-pid", &o.server_pid, "", "pid of the control plane, for its RSS and CPU");
  flags.String("json-out", &o.json_out, "", "also write the result JSON to this file");
  std::vector<std::string> args(argv + 1, argv + argc);
  Status parsed = flags.Parse(args);
  if (flags.help()) {
    std::cout << kUsage << flags.Usage();
    return 0;
  }
  if (!parsed.ok()) {
    std::cerr << "agent_load_bench: " << parsed.message() << "\n" << kUsage << flags.Usage();
    return 2;
  }
  o.interval_s = Seconds(interval);
  o.duration_s = Seconds(duration);
  o.step_s = Seconds(step);
  o.connect_timeout_s = Seconds(connect_timeout);
  o.window_s = Seconds(window);
  o.p99_target_ms = static_cast<double>(p99_target_ms);
  if (o.agents < 1 || o.agents > 99999 || o.channels < 1 || o.channels > 4096 ||
      o.register_concurrency < 1 || o.interval_s <= 0 || o.duration_s <= 0 || o.step_s <= 0 ||
      o.connect_timeout_s <= 0 || o.window_s < 0 ||
      (!o.sweep.empty() && ParseRates(o.sweep).empty())) {
    std::cerr << "agent_load_bench: invalid flags (agents 1-99999, channels 1-4096, positive "
                 "durations, --sweep a list of positive rates)\n";
    return 2;
  }
  if (o.create_token && o.admin_token_file.empty()) {
    std::cerr << "agent_load_bench: --create-token needs --admin-token-file\n";
    return 2;
  }
  return Bench(std::move(o)).Run();
}

}  // namespace
}  // namespace carrierarr::bench

int main(int argc, char** argv) { return carrierarr::bench::Main(argc, argv); }
