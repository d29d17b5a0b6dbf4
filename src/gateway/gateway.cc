#include "gateway/gateway.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/thread_annotations.h"
#include "gateway/dialect.h"
#include "gateway/upstream.h"

namespace carrierarr::gateway {
namespace {

using control_plane::HttpHandlerResult;
using control_plane::HttpRequest;
using control_plane::HttpResponse;
using control_plane::HttpRoute;
using control_plane::ResponseStream;
using control_plane::StreamedResponse;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr size_t kMaxPsBytes = 1 << 20;
constexpr size_t kMaxErrorBytes = 64 << 10;
constexpr size_t kMaxPreloads = 16;
constexpr milliseconds kProbeTimeout{1000};
constexpr seconds kRewakeEvery{10};
constexpr seconds kPreloadRetry{30};
// What a refused client is told to wait before it tries again.
constexpr char kRetryBusy[] = "1";   // every forwarding thread is taken
constexpr char kRetryFull[] = "5";   // max_held requests wait already
constexpr char kRetryWait[] = "30";  // max_wait passed: the pool is still waking

struct ModelRoute {
  const char* path;
  Dialect dialect;
};
constexpr ModelRoute kModelRoutes[] = {
    {"/api/generate", Dialect::kOllama},        {"/api/chat", Dialect::kOllama},
    {"/api/embed", Dialect::kOllama},           {"/api/embeddings", Dialect::kOllama},
    {"/v1/chat/completions", Dialect::kOpenAi}, {"/v1/completions", Dialect::kOpenAi},
    {"/v1/embeddings", Dialect::kOpenAi}};

// One request, from admission to its answer.
struct Pending {
  Dialect dialect = Dialect::kOllama;
  ModelRequest req;
  std::string pool, path, body;
  std::shared_ptr<ResponseStream> stream;
  Clock::time_point admitted, deadline, next_progress;
  bool begun = false;  // a streamed request that waited: its 200 and progress lines have gone
};
using PendingPtr = std::shared_ptr<Pending>;

HttpResponse Refusal(Dialect d, int status, const std::string& message, const char* retry_after) {
  HttpResponse r{.status = status, .body = ErrorBody(d, message, "server_error")};
  if (retry_after) r.headers.emplace_back("Retry-After", retry_after);
  return r;
}

// Ends a request with an error: a whole answer, or the stream's error line when it has begun.
void Fail(Pending& p, int status, const std::string& message, const char* retry_after) {
  if (p.begun) {
    p.stream->Write(StreamErrorLine(p.dialect, message));
    p.stream->Finish();
  } else {
    p.stream->Respond(Refusal(p.dialect, status, message, retry_after));
  }
}

bool Lists(const json& ps, const std::string& model) {
  if (!ps.is_object() || !ps.contains("models") || !ps["models"].is_array()) return false;
  const std::string latest = model.find(':') == std::string::npos ? model + ":latest" : model;
  for (const json& m : ps["models"]) {
    for (const char* key : {"name", "model"}) {
      if (m.is_object() && m.contains(key) && m[key].is_string() &&
          (m[key] == model || m[key] == latest))
        return true;
    }
  }
  return false;
}

// Carries an upstream's answer to the client. For a request that has begun (its 200 went while
// it waited), an upstream error becomes the stream's error line.
class ClientSink final : public UpstreamSink {
 public:
  explicit ClientSink(Pending& p) : p_(p) {}
  bool Head(int status, const std::string& content_type) override {
    head_seen = true;
    head_at = std::chrono::system_clock::now();
    if (p_.begun) {
      upstream_error_ = status != 200;
      return true;
    }
    return p_.stream->Begin(status, content_type.empty() ? "application/json" : content_type, {});
  }
  bool Data(std::string_view data) override {
    if (!upstream_error_) return p_.stream->Write(data);
    if (error_body_.size() < kMaxErrorBytes) error_body_.append(data.substr(0, kMaxErrorBytes));
    return true;
  }
  // After a whole exchange.
  void End() {
    if (upstream_error_) {
      const json j = json::parse(error_body_, nullptr, false);
      std::string message = "the model's node answered an error";
      if (j.is_object() && j.contains("error") && j["error"].is_string())
        message = j["error"].get<std::string>();
      p_.stream->Write(StreamErrorLine(p_.dialect, message));
    }
    p_.stream->Finish();
  }
  bool head_seen = false;
  std::chrono::system_clock::time_point head_at;

 private:
  Pending& p_;
  bool upstream_error_ = false;
  std::string error_body_;
};

}  // namespace

class Gateway::Impl {
 public:
  explicit Impl(GatewayOptions o) : o_(std::move(o)) {
    for (const spec::PoolSpec& pool : o_.pools)
      for (const std::string& m : pool.models) {
        pool_of_model_[m] = pool.name;
        models_.push_back(m);
        keep_alive_[pool.name] = pool.keep_alive;
      }
  }

  Status Start() {
    std::vector<HttpRoute> routes;
    for (const ModelRoute& r : kModelRoutes) {
      routes.push_back({.method = "POST",
                        .pattern = r.path,
                        .handler = [this, r](const HttpRequest& req) { return Handle(r, req); }});
    }
    for (Dialect d : {Dialect::kOllama, Dialect::kOpenAi}) {
      routes.push_back({.method = "GET",
                        .pattern = d == Dialect::kOllama ? "/api/tags" : "/v1/models",
                        .handler = [this, d](const HttpRequest&) -> HttpHandlerResult {
                          return HttpResponse{.body = ModelList(d, models_)};
                        },
                        .on_io_thread = true});
    }
    routes.push_back({.method = "GET",
                      .pattern = "/",
                      .handler = [](const HttpRequest&) -> HttpHandlerResult {
                        return HttpResponse{.content_type = "text/plain",
                                            .body = "Ollama is running (carrierarr gateway)"};
                      },
                      .on_io_thread = true});
    auto server = control_plane::HttpServer::Start(
        {.host = o_.host, .port = o_.port, .limits = o_.limits}, std::move(routes));
    if (!server.ok()) return server.status();
    server_ = std::move(*server);
    pump_ = std::thread([this] { PumpLoop(); });
    for (int i = 0; i < o_.max_in_flight; ++i) forwarders_.emplace_back([this] { ForwardLoop(); });
    return Status::Ok();
  }

  void Stop() EXCLUDES(mu_) {
    std::deque<PendingPtr> held;
    {
      MutexLock lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      held.swap(held_);
      for (auto& [p, up] : jobs_) held.push_back(p);
      jobs_.clear();
    }
    cancel_ = true;
    pump_cv_.NotifyAll();
    jobs_cv_.NotifyAll();
    drained_cv_.NotifyAll();
    for (auto& p : held) Fail(*p, 503, "the gateway is shutting down", kRetryFull);
    if (pump_.joinable()) pump_.join();
    for (auto& t : forwarders_) t.join();
    for (auto& pre : preloads_)
      if (pre.thread.joinable()) pre.thread.join();
    preloads_.clear();
    if (server_) server_->Stop();
  }

  int port() const { return server_ ? server_->port() : 0; }

  GatewayStats Stats() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    GatewayStats s = stats_;
    s.holding = held_.size();
    for (const auto& [pool, models] : ready_) s.ready_models += models.size();
    return s;
  }

  bool Drain(const std::string& upstream, milliseconds timeout) EXCLUDES(mu_) {
    const auto deadline = Clock::now() + timeout;
    MutexLock lock(mu_);
    draining_.insert(upstream);
    for (auto& [pool, models] : ready_)
      std::erase_if(models, [&](auto& kv) { return kv.second == upstream; });
    for (auto now = Clock::now(); to_upstream_.count(upstream) && now < deadline && !stopping_;
         now = Clock::now())
      drained_cv_.WaitFor(mu_, deadline - now);
    return to_upstream_.count(upstream) == 0;
  }
  void Undrain(const std::string& upstream) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    draining_.erase(upstream);
  }

 private:
  HttpHandlerResult Handle(const ModelRoute& route, const HttpRequest& r) {
    std::string error;
    auto req = ParseModelRequest(route.dialect, route.path, r.body, &error);
    if (!req)
      return HttpResponse{.status = 400,
                          .body = ErrorBody(route.dialect, error, "invalid_request_error")};
    auto pool = pool_of_model_.find(req->model);
    if (pool == pool_of_model_.end()) {
      std::string served;
      for (const std::string& m : models_) served += (served.empty() ? "" : ", ") + m;
      return HttpResponse{
          .status = 404,
          .body = ErrorBody(route.dialect,
                            "model \"" + req->model + "\" is not served here; the gateway serves " +
                                (served.empty() ? "none (no pool has models)" : served) +
                                " (fleet.yaml's pools[].models)",
                            "invalid_request_error")};
    }
    auto p = std::make_shared<Pending>();
    p->dialect = route.dialect;
    p->req = std::move(*req);
    p->pool = pool->second;
    p->path = route.path;
    p->body = r.body;
    return StreamedResponse{.start = [this, p](std::shared_ptr<ResponseStream> stream) {
      p->stream = std::move(stream);
      Admit(p);
    }};
  }

  // A request with its stream: forwarded when its model is ready, else held.
  void Admit(const PendingPtr& p) EXCLUDES(mu_) {
    o_.backends->Touch(p->pool);
    const auto now = Clock::now();
    p->admitted = now;
    {
      MutexLock lock(mu_);
      if (stopping_) return Fail(*p, 503, "the gateway is shutting down", kRetryFull);
      const std::string up = ReadyUpstream(p->pool, p->req.model);
      if (!up.empty()) {
        if (jobs_.size() + forwarding_ >= static_cast<size_t>(o_.max_in_flight)) {
          ++stats_.refused_full;
          return Fail(*p, 503,
                      "the gateway is forwarding " + std::to_string(o_.max_in_flight) +
                          " requests already (max_in_flight); try again",
                      kRetryBusy);
        }
        EnqueueLocked(p, up);
        return;
      }
      if (held_.size() >= o_.max_held) {
        ++stats_.refused_full;
        return Fail(*p, 503,
                    std::to_string(o_.max_held) + " requests are waiting for pools to wake " +
                        "already (the gateway's limit); try again",
                    kRetryFull);
      }
      p->deadline = now + o_.max_wait;
      p->next_progress = now + o_.progress_every;
      p->begun = p->req.stream;
      // A streamed request learns at once that it waits, and why. Under mu_, so that nothing
      // forwards it before its head went (a first line never waits for the client).
      if (p->begun && p->stream->Begin(200, StreamContentType(p->dialect), {}))
        p->stream->Write(ProgressLine(p->dialect, p->req, p->pool, PhaseLocked(p->pool), seconds(0),
                                      std::chrono::system_clock::now()));
      ++stats_.held;
      held_.push_back(p);
    }
    pump_cv_.NotifyAll();
  }

  void EnqueueLocked(const PendingPtr& p, const std::string& up) REQUIRES(mu_) {
    jobs_.emplace_back(p, up);
    ++to_upstream_[up];
    jobs_cv_.NotifyOne();
  }

  // One of `models` that requests wait for (`held`) is ready now.
  bool AnyReady(const std::string& pool, const std::set<std::string>& models,
                const std::set<std::string>& held) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    for (const std::string& m : models)  // a loop: the analysis sees no lock in a lambda
      if (held.count(m) && !ReadyUpstream(pool, m).empty()) return true;
    return false;
  }

  std::string ReadyUpstream(const std::string& pool, const std::string& model) REQUIRES(mu_) {
    auto it = ready_.find(pool);
    if (it == ready_.end()) return "";
    auto m = it->second.find(model);
    return m == it->second.end() ? "" : m->second;
  }

  void ForwardLoop() EXCLUDES(mu_) {
    for (;;) {
      PendingPtr p;
      std::string up;
      {
        MutexLock lock(mu_);
        while (!stopping_ && jobs_.empty()) jobs_cv_.WaitFor(mu_, std::chrono::hours(1));
        if (stopping_) return;
        std::tie(p, up) = std::move(jobs_.front());
        jobs_.pop_front();
        ++forwarding_;
        ++in_flight_[p->pool];
        ++stats_.forwarded;
      }
      Forward(p, up);
      o_.backends->Touch(p->pool);
      MutexLock lock(mu_);
      --forwarding_;
      if (--in_flight_[p->pool] == 0) in_flight_.erase(p->pool);
      if (--to_upstream_[up] == 0) {
        to_upstream_.erase(up);
        drained_cv_.NotifyAll();
      }
    }
  }

  void Forward(const PendingPtr& p, const std::string& up) EXCLUDES(mu_) {
    ClientSink sink(*p);
    Status s = Exchange({.base_url = up,
                         .path = p->path,
                         .body = p->body,
                         .idle_timeout = o_.upstream_idle_timeout,
                         .cancel = &cancel_},
                        sink);
    // A held request: its first byte is a phase of the wake it waited for.
    if (sink.head_seen && p->deadline != Clock::time_point{})
      o_.backends->WakePhase(p->pool, "first_byte", sink.head_at);
    if (s.ok()) return sink.End();
    if (s.code() == StatusCode::kAborted) return;  // the client left, or the gateway stops
    {
      MutexLock lock(mu_);
      ++stats_.upstream_errors;
      if (s.code() == StatusCode::kUnavailable && !sink.head_seen && !stopping_) {
        // The node went away (stopped behind the cache's back): forget it, and wait again.
        auto it = ready_.find(p->pool);
        if (it != ready_.end())
          std::erase_if(it->second, [&](auto& kv) { return kv.second == up; });
        if (held_.size() < o_.max_held) {
          if (p->deadline == Clock::time_point{}) p->deadline = Clock::now() + o_.max_wait;
          held_.push_back(p);
          pump_cv_.NotifyAll();
          return;
        }
      }
    }
    const std::string why = "the model's node failed: " + s.message();
    if (!sink.head_seen) return Fail(*p, 502, why, nullptr);
    p->stream->Write(StreamErrorLine(p->dialect, why));
    p->stream->Finish();
  }

  void PumpLoop() EXCLUDES(mu_) {
    for (;;) {
      {
        MutexLock lock(mu_);
        if (!stopping_) pump_cv_.WaitFor(mu_, o_.poll);
        if (stopping_) return;
      }
      PumpOnce();
    }
  }

  // Looks at every pool: forgets nodes that stopped; for a pool with held requests, finds where
  // their models are loaded (asking Ollama to load them) or wakes it; then sends, fails or
  // reports progress on each held request.
  void PumpOnce() EXCLUDES(mu_) {
    std::map<std::string, std::set<std::string>> wanted;  // pool -> held models
    std::set<std::string> busy;  // pools with a request held or being answered
    {
      MutexLock lock(mu_);
      for (const PendingPtr& p : held_) wanted[p->pool].insert(p->req.model);
      for (const auto& [pool, n] : in_flight_) busy.insert(pool);
    }
    // A long answer or a slow wake is activity the whole time, not only at its ends: the pool
    // is not stopped for idleness under it.
    for (const auto& [pool, models] : wanted) busy.insert(pool);
    for (const std::string& pool : busy) o_.backends->Touch(pool);
    std::map<std::string, std::string> refused;  // pool -> why its wake was refused
    std::set<std::string> live;                  // every upstream that runs now
    for (const spec::PoolSpec& pool : o_.pools) {
      if (pool.models.empty()) continue;
      std::vector<std::string> ups = o_.backends->Upstreams(pool.name);
      live.insert(ups.begin(), ups.end());
      {
        MutexLock lock(mu_);
        // A node about to stop takes nothing new: for its pool it is gone already. (A loop:
        // the thread-safety analysis sees no lock inside a lambda.)
        for (auto up = ups.begin(); up != ups.end();)
          up = draining_.count(*up) ? ups.erase(up) : up + 1;
        auto it = ready_.find(pool.name);
        if (it != ready_.end())
          std::erase_if(it->second, [&](auto& kv) {
            return std::find(ups.begin(), ups.end(), kv.second) == ups.end();
          });
      }
      // Its models not yet seen loaded on a node that runs: found (and loaded) before the first
      // request for them, so that a running pool's requests are never held.
      std::set<std::string> missing;
      {
        MutexLock lock(mu_);
        for (const std::string& m : pool.models)
          if (ReadyUpstream(pool.name, m).empty()) missing.insert(m);
      }
      auto want = wanted.find(pool.name);
      if (!missing.empty() && !ups.empty()) {
        Look(pool.name, missing, ups);
        if (want != wanted.end() && AnyReady(pool.name, missing, want->second))
          o_.backends->WakePhase(pool.name, "model_loaded", std::chrono::system_clock::now());
      }
      if (want != wanted.end() && ups.empty()) {
        Status woken = WakeIfDue(pool.name, *want->second.begin());
        if (woken.code() == StatusCode::kResourceExhausted) refused[pool.name] = woken.message();
      }
    }
    // A node that stopped starts afresh: a failed load there is asked again when it is back.
    std::erase_if(preloads_, [&](Preloading& pre) {
      if (pre.result->load() == kPreloading || live.count(pre.key.substr(0, pre.key.find(' '))))
        return false;
      if (pre.thread.joinable()) pre.thread.join();
      return true;
    });
    Settle(refused);
  }

  // Which of `models` the pool's nodes have loaded; loads the others on nodes whose Ollama
  // answers.
  void Look(const std::string& pool, const std::set<std::string>& models,
            const std::vector<std::string>& ups) EXCLUDES(mu_) {
    std::string phase = "waiting for Ollama on " + ups.front();
    std::map<std::string, std::string> found;  // model -> upstream
    for (const std::string& up : ups) {
      auto ps = Fetch({.base_url = up,
                       .method = "GET",
                       .path = "/api/ps",
                       .connect_timeout = kProbeTimeout,
                       .idle_timeout = kProbeTimeout,
                       .cancel = &cancel_},
                      kMaxPsBytes);
      if (!ps.ok() || ps->status != 200) continue;
      const json loaded = json::parse(ps->body, nullptr, false);
      for (const std::string& m : models) {
        if (found.count(m)) continue;
        if (Lists(loaded, m)) {
          found[m] = up;
        } else {
          phase = "loading " + m + " on " + up;
          Preload(pool, up, m);
        }
      }
    }
    MutexLock lock(mu_);
    for (auto& [m, up] : found) ready_[pool][m] = up;
    phase_[pool] = phase;
  }

  // Ollama's own way to load a model without a prompt, on a thread of its own (a cold load
  // takes minutes); one per node and model at a time.
  void Preload(const std::string& pool, const std::string& up, const std::string& model)
      EXCLUDES(mu_) {
    const auto now = Clock::now();
    std::erase_if(preloads_, [now](Preloading& pre) {
      const int result = pre.result->load();
      if (result == kPreloading) return false;
      if (pre.thread.joinable()) {
        pre.thread.join();
        pre.finished = now;
      }
      // A load that failed is not asked again at once; one that worked is forgotten (the
      // model may be unloaded later, and then loaded again).
      return result == kPreloaded || now - pre.finished >= kPreloadRetry;
    });
    const std::string key = up + " " + model;
    if (preloads_.size() >= kMaxPreloads ||
        std::any_of(preloads_.begin(), preloads_.end(), [&](auto& pre) { return pre.key == key; }))
      return;
    auto ka = keep_alive_.find(pool);
    const std::string keep = ka == keep_alive_.end() ? "-1" : ka->second;
    json body{{"model", model}};
    if (keep == "-1")
      body["keep_alive"] = -1;  // Ollama reads a number as seconds; negative: keep it loaded
    else
      body["keep_alive"] = keep;
    UpstreamCall call{.base_url = up,
                      .path = "/api/generate",
                      .body = body.dump(),
                      .idle_timeout = o_.max_wait,
                      .cancel = &cancel_};
    auto result = std::make_shared<std::atomic<int>>(kPreloading);
    preloads_.push_back({key,
                         result,
                         std::thread([call, result] {
                           auto answer = Fetch(call, kMaxPsBytes);
                           *result =
                               answer.ok() && answer->status == 200 ? kPreloaded : kPreloadFailed;
                         }),
                         {}});
  }

  Status WakeIfDue(const std::string& pool, const std::string& model) EXCLUDES(mu_) {
    const auto now = Clock::now();
    {
      MutexLock lock(mu_);
      auto& asked = wake_asked_[pool];
      if (asked != Clock::time_point{} && now - asked < kRewakeEvery) return Status::Ok();
      asked = now;
      ++stats_.wakes_asked;
    }
    Status s = o_.backends->Wake(pool, "gateway: a request for " + model);
    MutexLock lock(mu_);
    if (s.ok()) {
      phase_[pool] = "waking the pool";
    } else if (s.code() == StatusCode::kResourceExhausted) {
      wake_asked_.erase(pool);  // the next request asks again: the budget may allow it then
    } else {
      // Not scaled (its nodes always run), every node runs, another control plane owns it:
      // the requests wait for its nodes.
      phase_[pool] = "waiting for a node (" + s.message() + ")";
    }
    return s;
  }

  // Each held request: forwarded once its model is ready; failed when its pool's wake was
  // refused or its wait is over; else told how it goes, every progress_every.
  void Settle(const std::map<std::string, std::string>& refused) EXCLUDES(mu_) {
    const auto now = Clock::now();
    std::vector<std::pair<PendingPtr, std::string>> failed;    // with why
    std::vector<std::pair<PendingPtr, std::string>> progress;  // with the phase
    {
      MutexLock lock(mu_);
      for (auto it = held_.begin(); it != held_.end();) {
        const PendingPtr& p = *it;
        const std::string up = ReadyUpstream(p->pool, p->req.model);
        auto why = refused.find(p->pool);
        if (!up.empty() && jobs_.size() + forwarding_ < static_cast<size_t>(o_.max_in_flight)) {
          EnqueueLocked(p, up);
        } else if (why != refused.end()) {
          ++stats_.refused_wake;
          failed.emplace_back(p, "pool " + p->pool + " was not woken: " + why->second);
        } else if (now >= p->deadline) {
          ++stats_.refused_wait;
          failed.emplace_back(p, "model " + p->req.model + " was not ready within " +
                                     std::to_string(o_.max_wait.count() / 1000) + " s (" +
                                     PhaseLocked(p->pool) + "); try again");
        } else {
          if (p->begun && now >= p->next_progress) {
            p->next_progress = now + o_.progress_every;
            progress.emplace_back(p, PhaseLocked(p->pool));
          }
          ++it;
          continue;
        }
        it = held_.erase(it);
      }
    }
    for (auto& [p, why] : failed) Fail(*p, 503, why, refused.count(p->pool) ? nullptr : kRetryWait);
    for (auto& [p, phase] : progress)
      p->stream->Write(ProgressLine(p->dialect, p->req, p->pool, phase,
                                    std::chrono::duration_cast<seconds>(now - p->admitted),
                                    std::chrono::system_clock::now()));
  }

  std::string PhaseLocked(const std::string& pool) REQUIRES(mu_) {
    auto it = phase_.find(pool);
    return it == phase_.end() ? "waking the pool" : it->second;
  }

  enum { kPreloading, kPreloaded, kPreloadFailed };
  struct Preloading {
    std::string key;                           // "<upstream> <model>"
    std::shared_ptr<std::atomic<int>> result;  // set by its thread
    std::thread thread;
    Clock::time_point finished;
  };

  const GatewayOptions o_;
  std::map<std::string, std::string> pool_of_model_;  // immutable after construction
  std::map<std::string, std::string> keep_alive_;     // by pool
  std::vector<std::string> models_;
  std::unique_ptr<control_plane::HttpServer> server_;
  std::atomic<bool> cancel_{false};  // ends every exchange (Stop)

  Mutex mu_;
  CondVar pump_cv_;  // held_ or stopping_ changed
  CondVar jobs_cv_;  // jobs_ or stopping_ changed
  std::deque<PendingPtr> held_ GUARDED_BY(mu_);
  std::deque<std::pair<PendingPtr, std::string>> jobs_ GUARDED_BY(mu_);  // with the upstream
  size_t forwarding_ GUARDED_BY(mu_) = 0;
  std::map<std::string, int> in_flight_ GUARDED_BY(mu_);  // forwards by pool
  // Requests queued or being forwarded, by upstream; draining_: the upstreams of nodes about to
  // stop (Drain), which get no new request.
  std::map<std::string, int> to_upstream_ GUARDED_BY(mu_);
  std::set<std::string> draining_ GUARDED_BY(mu_);
  CondVar drained_cv_;  // to_upstream_ lost an upstream, or stopping_
  // pool -> model -> the node's Ollama where it was seen loaded (while the node runs).
  std::map<std::string, std::map<std::string, std::string>> ready_ GUARDED_BY(mu_);
  std::map<std::string, std::string> phase_ GUARDED_BY(mu_);  // how a held pool's wake goes
  std::map<std::string, Clock::time_point> wake_asked_ GUARDED_BY(mu_);
  GatewayStats stats_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;

  std::thread pump_;
  std::vector<std::thread> forwarders_;
  std::vector<Preloading> preloads_;  // the pump thread's (and Stop's, after it ends)
};

Result<std::unique_ptr<Gateway>> Gateway::Start(GatewayOptions options) {
  if (!options.backends) return Status::InvalidArgument("gateway: no backends");
  if (options.max_held == 0 || options.max_in_flight < 1 || options.max_wait.count() <= 0 ||
      options.poll.count() <= 0 || options.progress_every.count() <= 0)
    return Status::InvalidArgument(
        "gateway: max_held, max_in_flight, max_wait, poll and progress_every must be positive");
  auto impl = std::make_unique<Impl>(std::move(options));
  CARRIERARR_RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<Gateway>(new Gateway(std::move(impl)));
}

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Gateway::~Gateway() { Stop(); }
int Gateway::port() const { return impl_->port(); }
GatewayStats Gateway::Stats() const { return impl_->Stats(); }
void Gateway::Stop() { impl_->Stop(); }
bool Gateway::Drain(const std::string& upstream, milliseconds timeout) {
  return impl_->Drain(upstream, timeout);
}
void Gateway::Undrain(const std::string& upstream) { impl_->Undrain(upstream); }

std::string Gateway::PrometheusText() const {
  const GatewayStats s = Stats();
  std::string out;
  auto counter = [&out](const char* name, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name +
           " " + std::to_string(v) + "\n";
  };
  counter("carrierarr_gateway_forwarded_total", "Requests the gateway sent to a node.",
          s.forwarded);
  counter("carrierarr_gateway_held_total", "Requests held while their pool woke.", s.held);
  counter("carrierarr_gateway_wakes_asked_total", "Wakes the gateway asked for.", s.wakes_asked);
  out +=
      "# HELP carrierarr_gateway_refused_total Requests answered 503, by reason.\n"
      "# TYPE carrierarr_gateway_refused_total counter\n";
  for (auto [reason, v] :
       {std::pair{"full", s.refused_full}, {"wait", s.refused_wait}, {"wake", s.refused_wake}})
    out += std::string("carrierarr_gateway_refused_total{reason=\"") + reason + "\"} " +
           std::to_string(v) + "\n";
  counter("carrierarr_gateway_upstream_errors_total", "Exchanges with a node that failed.",
          s.upstream_errors);
  out +=
      "# HELP carrierarr_gateway_holding Requests waiting for a wake now.\n"
      "# TYPE carrierarr_gateway_holding gauge\ncarrierarr_gateway_holding " +
      std::to_string(s.holding) +
      "\n# HELP carrierarr_gateway_ready_models Models loaded on a running node, as the "
      "gateway last saw them.\n# TYPE carrierarr_gateway_ready_models gauge\n"
      "carrierarr_gateway_ready_models " +
      std::to_string(s.ready_models) + "\n";
  return out;
}

}  // namespace carrierarr::gateway
