#include "gateway/dialect.h"

#include <ctime>
#include <nlohmann/json.hpp>

namespace carrierarr::gateway {
namespace {

using nlohmann::json;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string Rfc3339(std::chrono::system_clock::time_point t) {
  const std::time_t s = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

}  // namespace

std::optional<ModelRequest> ParseModelRequest(Dialect d, const std::string& path,
                                              const std::string& body, std::string* error) {
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    *error = "the request body is not a JSON object";
    return std::nullopt;
  }
  auto model = j.find("model");
  if (model == j.end() || !model->is_string() || model->get<std::string>().empty()) {
    *error = "the request names no model (\"model\": \"<name>\")";
    return std::nullopt;
  }
  ModelRequest r;
  r.model = model->get<std::string>();
  r.chat = path == "/api/chat";
  const bool embeddings = path.find("embed") != std::string::npos;
  // Ollama streams unless told not to; OpenAI only when asked; embeddings never.
  auto stream = j.find("stream");
  const bool asked = stream != j.end() && stream->is_boolean();
  r.stream = !embeddings && (asked ? stream->get<bool>() : d == Dialect::kOllama);
  return r;
}

std::string ErrorBody(Dialect d, const std::string& message, const std::string& type) {
  if (d == Dialect::kOllama) return Dump({{"error", message}}) + "\n";
  return Dump({{"error", {{"message", message}, {"type", type}, {"code", nullptr}}}}) + "\n";
}

std::string StreamContentType(Dialect d) {
  return d == Dialect::kOllama ? "application/x-ndjson" : "text/event-stream";
}

std::string ProgressLine(Dialect d, const ModelRequest& r, const std::string& pool,
                         const std::string& phase, std::chrono::seconds waited,
                         std::chrono::system_clock::time_point now) {
  const std::string text = "carrierarr: " + phase + " (pool " + pool + ", model " + r.model + ", " +
                           std::to_string(waited.count()) + " s)";
  if (d == Dialect::kOpenAi) {
    std::string line = ": ";
    for (char c : text) line += c == '\n' || c == '\r' ? ' ' : c;
    return line + "\n\n";
  }
  json j{{"model", r.model},
         {"created_at", Rfc3339(now)},
         {"done", false},
         {"carrierarr", {{"pool", pool}, {"phase", phase}, {"waited_seconds", waited.count()}}}};
  if (r.chat)
    j["message"] = {{"role", "assistant"}, {"content", ""}};
  else
    j["response"] = "";
  return Dump(j) + "\n";
}

std::string StreamErrorLine(Dialect d, const std::string& message) {
  if (d == Dialect::kOllama) return Dump({{"error", message}}) + "\n";
  return "data: " + Dump({{"error", {{"message", message}, {"type", "server_error"}}}}) + "\n\n";
}

std::string ModelList(Dialect d, const std::vector<std::string>& models) {
  json list = json::array();
  for (const std::string& m : models) {
    if (d == Dialect::kOllama)
      list.push_back({{"name", m}, {"model", m}});
    else
      list.push_back({{"id", m}, {"object", "model"}, {"owned_by", "carrierarr"}});
  }
  if (d == Dialect::kOllama) return Dump({{"models", list}}) + "\n";
  return Dump({{"object", "list"}, {"data", list}}) + "\n";
}

}  // namespace carrierarr::gateway
