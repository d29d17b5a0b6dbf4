#include "testing/fake_ollama.h"

#include <utility>

namespace carrierarr::testing {

FakeOllama::FakeOllama() {
  auto& s = server_.server();
  s.Get("/api/tags", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    res.set_content(tags_, "application/json");
  });
  s.Get("/api/ps", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    res.set_content(ps_, "application/json");
  });
  // Ollama's own answers, errors included (status and message as its API documents them).
  s.Post("/api/pull", [this](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back("/api/pull " + req.body);
    if (req.body.find("nosuch") != std::string::npos) {
      res.status = 500;
      res.set_content(R"({"error":"pull model manifest: file does not exist"})",
                      "application/json");
      return;
    }
    res.set_content(R"({"status":"success"})", "application/json");
  });
  s.Post("/api/generate", [this](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back("/api/generate " + req.body);
    if (req.body.find("nosuch") != std::string::npos) {
      res.status = 404;
      res.set_content(R"({"error":"model \"nosuch\" not found, try pulling it first"})",
                      "application/json");
      return;
    }
    res.set_content(R"({"model":"llama3:8b","done":true,"done_reason":"unload"})",
                    "application/json");
  });
  server_.Start();
}

void FakeOllama::set_tags(std::string json) {
  std::lock_guard<std::mutex> lock(mu_);
  tags_ = std::move(json);
}

void FakeOllama::set_ps(std::string json) {
  std::lock_guard<std::mutex> lock(mu_);
  ps_ = std::move(json);
}

std::vector<std::string> FakeOllama::requests() {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

}  // namespace carrierarr::testing
