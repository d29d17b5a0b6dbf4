// A model server that behaves as Ollama does for the gateway (tests/gateway, the burst e2e and
// bench/gateway_bench): models load once (taking `load_time`, shared by concurrent requests),
// stay loaded, and answer with a stream of tokens (Ollama's NDJSON for /api/generate and
// /api/chat, server-sent events for OpenAI's /v1/chat/completions) or whole when "stream" is
// false. /api/ps lists what is loaded; a request without a prompt only loads (Ollama's preload).
// As a program: carrierarr-fake-ollama (fake_ollama_main.cc), which reads OLLAMA_HOST as
// `ollama serve` does.
#ifndef CARRIERARR_TESTS_TESTING_FAKE_MODEL_SERVER_H_
#define CARRIERARR_TESTS_TESTING_FAKE_MODEL_SERVER_H_

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace carrierarr::testing {

struct FakeModelOptions {
  std::vector<std::string> models;  // installed; empty (and no pullable): any model is installed
  // What /api/pull can fetch (Ollama's registry); a pulled model is installed. /api/show answers
  // 200 for an installed model, 404 else.
  std::vector<std::string> pullable;
  std::chrono::milliseconds load_time{0};
  std::vector<std::string> tokens{"Hel", "lo", ",", " world"};
  std::chrono::milliseconds token_gap{0};  // between two tokens of a stream
};

class FakeModelServer {
 public:
  explicit FakeModelServer(FakeModelOptions options) : o_(std::move(options)) {}
  // Its routes on `server` (which must outlive nothing of this object's: stop it first).
  void Install(httplib::Server& server);

  // Forgets every loaded model, as a restarted Ollama would.
  void Unload();
  int loads();     // model loads so far (a warm request loads nothing)
  int requests();  // prompts answered
  std::set<std::string> loaded();
  std::vector<std::string> pulls();  // models pulled, in order
  // The keep_alive of the latest preload of `model` (null: none seen).
  nlohmann::json preload_keep_alive(const std::string& model);

 private:
  bool Installed(const std::string& model);
  // Loads `model` unless loaded; concurrent callers wait for the one load.
  void Load(const std::string& model);
  void Generate(const httplib::Request& req, httplib::Response& res, const std::string& kind);

  const FakeModelOptions o_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> loaded_, loading_;
  std::vector<std::string> pulled_;
  std::map<std::string, nlohmann::json> keep_alive_;
  int loads_ = 0, requests_ = 0;
};

}  // namespace carrierarr::testing

#endif  // CARRIERARR_TESTS_TESTING_FAKE_MODEL_SERVER_H_
