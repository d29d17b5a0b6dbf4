// The two APIs the gateway speaks (serialization only, no I/O): Ollama's (/api/...) and OpenAI's
// (/v1/...), as clients of either send them and expect their answers, errors and progress.
#ifndef CARRIERARR_GATEWAY_DIALECT_H_
#define CARRIERARR_GATEWAY_DIALECT_H_

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace carrierarr::gateway {

enum class Dialect { kOllama, kOpenAi };

// What the gateway needs of a model request's JSON body.
struct ModelRequest {
  std::string model;
  bool stream = false;  // the answer comes as a stream (Ollama's default, OpenAI's "stream":true)
  bool chat = false;    // /api/chat (progress lines carry a message, not a response)
};

// The model request of `body` on `path` (a route of Dialect `d`); nullopt with `error` set
// when the body is not JSON or names no model.
std::optional<ModelRequest> ParseModelRequest(Dialect d, const std::string& path,
                                              const std::string& body, std::string* error);

// An error body in the dialect's shape: Ollama {"error": message}; OpenAI {"error": {"message",
// "type", "code"}}. `type` is OpenAI's ("invalid_request_error", "server_error", ...).
std::string ErrorBody(Dialect d, const std::string& message, const std::string& type);

// The content type of a streamed answer: NDJSON (Ollama) or server-sent events (OpenAI).
std::string StreamContentType(Dialect d);

// A line a waiting streamed request gets while its pool wakes, valid in the stream's format and
// ignored by its clients: an SSE comment (OpenAI); an NDJSON chunk with an empty response,
// done false, and a "carrierarr" object with the figures (Ollama).
std::string ProgressLine(Dialect d, const ModelRequest& r, const std::string& pool,
                         const std::string& phase, std::chrono::seconds waited,
                         std::chrono::system_clock::time_point now);
// The stream's last line when it ends in an error after it began: Ollama's {"error": ...} line;
// an SSE event whose data is OpenAI's error object.
std::string StreamErrorLine(Dialect d, const std::string& message);

// GET /api/tags and GET /v1/models: the models the gateway serves.
std::string ModelList(Dialect d, const std::vector<std::string>& models);

}  // namespace carrierarr::gateway

#endif  // CARRIERARR_GATEWAY_DIALECT_H_
