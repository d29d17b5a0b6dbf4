#include "testing/fake_model_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

namespace carrierarr::testing {
namespace {

using nlohmann::json;

// One piece of an answer in the shape of its API.
std::string Piece(const std::string& kind, const std::string& model, const std::string& token,
                  bool done) {
  if (kind == "openai") {
    if (done) return "data: [DONE]\n\n";
    json j{{"id", "chatcmpl-fake"},
           {"object", "chat.completion.chunk"},
           {"model", model},
           {"choices", {{{"index", 0}, {"delta", {{"content", token}}}}}}};
    return "data: " + j.dump() + "\n\n";
  }
  json j{{"model", model}, {"created_at", "2026-01-01T00:00:00Z"}, {"done", done}};
  if (kind == "chat")
    j["message"] = {{"role", "assistant"}, {"content", token}};
  else
    j["response"] = token;
  if (done) j["done_reason"] = "stop";
  return j.dump() + "\n";
}

}  // namespace

bool FakeModelServer::Installed(const std::string& model) {
  std::lock_guard lock(mu_);
  return (o_.models.empty() && o_.pullable.empty()) ||
         std::find(o_.models.begin(), o_.models.end(), model) != o_.models.end() ||
         std::find(pulled_.begin(), pulled_.end(), model) != pulled_.end();
}

void FakeModelServer::Load(const std::string& model) {
  std::unique_lock lock(mu_);
  while (loading_.count(model)) cv_.wait(lock);
  if (loaded_.count(model)) return;
  loading_.insert(model);
  ++loads_;
  lock.unlock();
  std::this_thread::sleep_for(o_.load_time);
  lock.lock();
  loading_.erase(model);
  loaded_.insert(model);
  cv_.notify_all();
}

void FakeModelServer::Generate(const httplib::Request& req, httplib::Response& res,
                               const std::string& kind) {
  const json body = json::parse(req.body, nullptr, false);
  const std::string model = body.is_object() ? body.value("model", "") : "";
  if (model.empty() || !Installed(model)) {
    res.status = 404;
    res.set_content(
        json{{"error", "model \"" + model + "\" not found, try pulling it first"}}.dump(),
        "application/json");
    return;
  }
  Load(model);
  const bool prompted = kind != "generate" || !body.value("prompt", "").empty();
  if (!prompted) {  // Ollama's preload: load, answer done
    {
      std::lock_guard lock(mu_);
      keep_alive_[model] = body.contains("keep_alive") ? body["keep_alive"] : json();
    }
    res.set_content(
        json{{"model", model}, {"response", ""}, {"done", true}, {"done_reason", "load"}}.dump(),
        "application/json");
    return;
  }
  {
    std::lock_guard lock(mu_);
    ++requests_;
  }
  const bool stream = body.value("stream", kind != "openai");
  if (!stream) {
    std::string all;
    for (const auto& t : o_.tokens) all += t;
    json whole = kind == "openai" ? json{{"object", "chat.completion"},
                                         {"model", model},
                                         {"choices",
                                          {{{"index", 0},
                                            {"message", {{"role", "assistant"}, {"content", all}}},
                                            {"finish_reason", "stop"}}}}}
                                  : json::parse(Piece(kind, model, all, true));
    res.set_content(whole.dump(), "application/json");
    return;
  }
  auto next = std::make_shared<size_t>(0);
  res.set_chunked_content_provider(kind == "openai" ? "text/event-stream" : "application/x-ndjson",
                                   [this, kind, model, next](size_t, httplib::DataSink& sink) {
                                     if (*next > o_.tokens.size()) {
                                       sink.done();
                                       return true;
                                     }
                                     if (*next > 0) std::this_thread::sleep_for(o_.token_gap);
                                     const bool done = *next == o_.tokens.size();
                                     const std::string piece =
                                         Piece(kind, model, done ? "" : o_.tokens[*next], done);
                                     ++*next;
                                     return sink.write(piece.data(), piece.size());
                                   });
}

void FakeModelServer::Install(httplib::Server& s) {
  // As Ollama's Go server does (Go sets TCP_NODELAY on every connection): a head and a body
  // written apart are not held back by Nagle for the client's delayed ACK (40 ms).
  s.set_socket_options([](socket_t sock) {
    httplib::default_socket_options(sock);
    int one = 1;
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  });
  s.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("Ollama is running", "text/plain");
  });
  s.Get("/api/version", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"version":"0.5.7"})", "application/json");
  });
  s.Get("/api/tags", [this](const httplib::Request&, httplib::Response& res) {
    json models = json::array();
    for (const auto& m : o_.models) models.push_back({{"name", m}, {"model", m}});
    res.set_content(json{{"models", models}}.dump(), "application/json");
  });
  s.Get("/api/ps", [this](const httplib::Request&, httplib::Response& res) {
    json models = json::array();
    for (const auto& m : loaded())
      models.push_back({{"name", m}, {"model", m}, {"expires_at", "2318-01-01T00:00:00Z"}});
    res.set_content(json{{"models", models}}.dump(), "application/json");
  });
  s.Post("/api/generate", [this](const httplib::Request& req, httplib::Response& res) {
    Generate(req, res, "generate");
  });
  s.Post("/api/show", [this](const httplib::Request& req, httplib::Response& res) {
    const json body = json::parse(req.body, nullptr, false);
    const std::string model = body.is_object() ? body.value("model", "") : "";
    if (!Installed(model)) {
      res.status = 404;
      res.set_content(json{{"error", "model '" + model + "' not found"}}.dump(),
                      "application/json");
      return;
    }
    res.set_content(json{{"details", {{"format", "gguf"}}}}.dump(), "application/json");
  });
  s.Post("/api/pull", [this](const httplib::Request& req, httplib::Response& res) {
    const json body = json::parse(req.body, nullptr, false);
    const std::string model = body.is_object() ? body.value("model", "") : "";
    if (std::find(o_.pullable.begin(), o_.pullable.end(), model) == o_.pullable.end()) {
      res.status = 500;  // as Ollama answers a name the registry lacks
      res.set_content(json{{"error", "pull model manifest: file does not exist"}}.dump(),
                      "application/json");
      return;
    }
    {
      std::lock_guard lock(mu_);
      pulled_.push_back(model);
    }
    res.set_content(json{{"status", "success"}}.dump(), "application/json");
  });
  s.Post("/api/chat", [this](const httplib::Request& req, httplib::Response& res) {
    Generate(req, res, "chat");
  });
  s.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    Generate(req, res, "openai");
  });
}

std::vector<std::string> FakeModelServer::pulls() {
  std::lock_guard lock(mu_);
  return pulled_;
}
json FakeModelServer::preload_keep_alive(const std::string& model) {
  std::lock_guard lock(mu_);
  auto it = keep_alive_.find(model);
  return it == keep_alive_.end() ? json() : it->second;
}

void FakeModelServer::Unload() {
  std::lock_guard lock(mu_);
  loaded_.clear();
}
int FakeModelServer::loads() {
  std::lock_guard lock(mu_);
  return loads_;
}
int FakeModelServer::requests() {
  std::lock_guard lock(mu_);
  return requests_;
}
std::set<std::string> FakeModelServer::loaded() {
  std::lock_guard lock(mu_);
  return loaded_;
}

}  // namespace carrierarr::testing
