// The model gateway of `carrierarr serve`: one Ollama- and OpenAI-compatible endpoint for the
// models of the fleet's pools (fleet.yaml's `models`). A request for a model that a running node
// has loaded is forwarded to that node's Ollama at once and its answer streamed back as it
// comes. A request for a model whose pool is at zero is held while the pool wakes: bounded
// (max_held requests in all, max_wait each; beyond either, 503 with Retry-After), streamed
// requests get progress lines meanwhile, and once a node's Ollama lists the model loaded (the
// gateway asks it to load it) the held requests go. A burst of requests makes one wake (the
// controller coalesces). Every request touches its pool: the controller's idle clock.
//
// Thread safety: every public method may be called from any thread. Inside, the HTTP server's
// threads admit requests, one pump thread watches the pools with held requests, and
// max_in_flight threads forward.
#ifndef CARRIERARR_GATEWAY_GATEWAY_H_
#define CARRIERARR_GATEWAY_GATEWAY_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "control_plane/http_server.h"
#include "core/status.h"
#include "spec/fleet.h"

namespace carrierarr::gateway {

// Where a pool's requests may go and how to wake it: in serve, the node registry and the burst
// controller; in tests, fakes. Called from the gateway's threads.
class Backends {
 public:
  virtual ~Backends() = default;
  // The Ollama base URLs ("http://10.42.2.1:11434") of the pool's nodes that run now.
  virtual std::vector<std::string> Upstreams(const std::string& pool) = 0;
  // Asks for the pool to be woken (idempotent; a burst makes one wake). ResourceExhausted with
  // the figures when a budget refuses it: the held requests get that answer.
  virtual Status Wake(const std::string& pool, const std::string& reason) = 0;
  // A request for the pool came or ended: it is not idle.
  virtual void Touch(const std::string& pool) = 0;
  // What the gateway saw of the pool's wake, at `at`: "model_loaded" (a held request's model
  // became ready on a woken node), "first_byte" (a held request's answer began).
  virtual void WakePhase(const std::string& /*pool*/, const std::string& /*phase*/,
                         std::chrono::system_clock::time_point /*at*/) {}
};

struct GatewayOptions {
  std::string host = "127.0.0.1";
  int port = 11434;  // Ollama's: clients point OLLAMA_HOST here unchanged; 0 picks one
  std::vector<spec::PoolSpec> pools;  // their `models` are served
  Backends* backends = nullptr;       // not owned; outlives the gateway
  size_t max_held = 256;              // requests waiting for a wake, in all
  std::chrono::milliseconds max_wait{std::chrono::minutes(10)};  // per held request
  int max_in_flight = 32;  // requests forwarded at once (one thread each)
  std::chrono::milliseconds progress_every{std::chrono::seconds(5)};
  std::chrono::milliseconds poll{200};  // how often a held pool's nodes are looked at
  std::chrono::milliseconds upstream_idle_timeout{std::chrono::minutes(5)};
  // Room for a chat's images (base64 in the body), and the time to send them.
  control_plane::HttpLimits limits = [] {
    control_plane::HttpLimits l;
    l.max_body_bytes = 16 << 20;
    l.request_timeout = std::chrono::seconds(30);
    return l;
  }();
};

// Counts since start, for /metrics and tests.
struct GatewayStats {
  uint64_t forwarded = 0;     // requests sent to a node
  uint64_t held = 0;          // of those, and of the refused, the ones that waited for a wake
  uint64_t wakes_asked = 0;   // calls of Backends::Wake
  uint64_t refused_full = 0;  // 503: max_held or max_in_flight reached
  uint64_t refused_wait = 0;  // 503: max_wait passed
  uint64_t refused_wake = 0;  // the wake was refused (budget)
  uint64_t upstream_errors = 0;
  size_t holding = 0;       // held now
  size_t ready_models = 0;  // (pool, model) seen loaded on a node that runs
};

class Gateway {
 public:
  // Listens at once; InvalidArgument for options that cannot work.
  static Result<std::unique_ptr<Gateway>> Start(GatewayOptions options);
  ~Gateway();  // Stop()
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  int port() const;
  GatewayStats Stats() const;
  // carrierarr_gateway_* counters and the held gauge, in Prometheus text.
  std::string PrometheusText() const;
  // Answers the held requests 503, ends the forwards and joins every thread. Idempotent.
  void Stop();
  // `upstream` (a node's Ollama base URL) is about to stop: nothing new is sent there from now
  // on (its pool's requests are held, and wake the pool, as if it had stopped); returns once
  // the requests queued or in flight to it are answered (true), or after `timeout` (false).
  // Blocks: call it off the gateway's threads. Undrain: it may take requests again (started
  // again, or its stop failed).
  bool Drain(const std::string& upstream, std::chrono::milliseconds timeout);
  void Undrain(const std::string& upstream);

  class Impl;  // gateway.cc

 private:
  explicit Gateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace carrierarr::gateway

#endif  // CARRIERARR_GATEWAY_GATEWAY_H_
