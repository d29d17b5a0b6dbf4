// A blocking HTTP/1.1 client for the pools' Ollama servers: plain HTTP (over the mesh, which
// Nebula encrypts and authenticates), the answer's body handed on as it arrives (a token stream
// is never buffered whole). Connections are kept alive between exchanges (at most 8 idle per
// node, for 30 s), so a warm request costs no connect.
//
// Thread safety: free functions, callable from any thread; an exchange has its connection to
// itself.
#ifndef CARRIERARR_GATEWAY_UPSTREAM_H_
#define CARRIERARR_GATEWAY_UPSTREAM_H_

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>

#include "core/status.h"

namespace carrierarr::gateway {

// Where an answer goes, piece by piece. Either returns false to stop reading.
class UpstreamSink {
 public:
  virtual ~UpstreamSink() = default;
  virtual bool Head(int status, const std::string& content_type) = 0;
  virtual bool Data(std::string_view data) = 0;
};

struct UpstreamCall {
  std::string base_url;  // "http://10.42.2.1:11434"
  std::string method = "POST";
  std::string path;  // "/api/generate"
  std::string body;
  std::string content_type = "application/json";
  std::chrono::milliseconds connect_timeout{3000};
  // The longest wait for the next byte of the answer (a model may think a while).
  std::chrono::milliseconds idle_timeout{300000};
  // Set (by another thread) to end the exchange within ~50 ms: Aborted.
  const std::atomic<bool>* cancel = nullptr;
};

// Sends the call and hands its answer to `sink`. Unavailable when it could not connect or send
// (nothing reached the sink then: the caller may go elsewhere); Aborted when the sink stopped;
// Internal for a broken answer after its head.
Status Exchange(const UpstreamCall& call, UpstreamSink& sink);

// The same, keeping a body of at most `max_bytes` (larger: ResourceExhausted).
struct UpstreamAnswer {
  int status = 0;
  std::string body;
};
Result<UpstreamAnswer> Fetch(const UpstreamCall& call, size_t max_bytes);

}  // namespace carrierarr::gateway

#endif  // CARRIERARR_GATEWAY_UPSTREAM_H_
