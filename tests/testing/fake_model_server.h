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
#include <set>
#include <string>
#include <vector>

namespace carrierarr::testing {

struct FakeModelOptions {
  std::vector<std::string> models;  // installed; empty: any model asked for is installed
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

 private:
  bool Installed(const std::string& model) const;
  // Loads `model` unless loaded; concurrent callers wait for the one load.
  void Load(const std::string& model);
  void Generate(const httplib::Request& req, httplib::Response& res, const std::string& kind);

  const FakeModelOptions o_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> loaded_, loading_;
  int loads_ = 0, requests_ = 0;
};

}  // namespace carrierarr::testing

#endif  // CARRIERARR_TESTS_TESTING_FAKE_MODEL_SERVER_H_
