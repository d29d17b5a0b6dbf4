// What the agent knows about itself for /ready and /metrics: whether it is connected to the
// control plane (and why not), and a few counters. The client writes, the health server reads.
//
// Thread-safe: every method may be called from any thread.
#ifndef CARRIERARR_AGENT_METRICS_H_
#define CARRIERARR_AGENT_METRICS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace carrierarr::agent {

class AgentMetrics {
 public:
  AgentMetrics() = default;
  AgentMetrics(const AgentMetrics&) = delete;
  AgentMetrics& operator=(const AgentMetrics&) = delete;

  // `reason` says why the agent is not connected ("" when connected).
  void SetConnected(bool connected, std::string reason);
  bool connected() const;
  std::string not_ready_reason() const;

  void CountReconnect() { reconnects_.fetch_add(1, std::memory_order_relaxed); }
  void CountStatusSent() { status_sent_.fetch_add(1, std::memory_order_relaxed); }
  // type: "shutdown", "exec", ...; result: "success", "failure", "duplicate", "rejected".
  void CountCommand(const std::string& type, const std::string& result);

  uint64_t reconnects() const { return reconnects_.load(std::memory_order_relaxed); }
  uint64_t status_sent() const { return status_sent_.load(std::memory_order_relaxed); }
  uint64_t commands(const std::string& type, const std::string& result) const;

  // Prometheus text format 0.0.4, with carrierarr_agent_rss_bytes read at call time.
  std::string RenderPrometheus() const;

 private:
  mutable std::mutex mu_;
  bool connected_ = false;                                            // guarded by mu_
  std::string reason_ = "not connected yet";                          // guarded by mu_
  std::map<std::pair<std::string, std::string>, uint64_t> commands_;  // guarded by mu_
  std::atomic<uint64_t> reconnects_{0};
  std::atomic<uint64_t> status_sent_{0};
};

// This process's resident set size in bytes (/proc/self/statm); 0 when unreadable.
uint64_t CurrentRssBytes();

}  // namespace carrierarr::agent

#endif  // CARRIERARR_AGENT_METRICS_H_
