// Ollama's local HTTP API as the agent uses it, on 127.0.0.1: /api/tags and /api/ps answer what
// the test set (no models by default); /api/pull and /api/generate (an unload) are recorded and
// answer as Ollama does, with its errors for a model named "nosuch".
#ifndef CARRIERARR_TESTS_TESTING_FAKE_OLLAMA_H_
#define CARRIERARR_TESTS_TESTING_FAKE_OLLAMA_H_

#include <mutex>
#include <string>
#include <vector>

#include "testing/loopback_server.h"

namespace carrierarr::testing {

class FakeOllama {
 public:
  FakeOllama();  // serving once constructed

  std::string url() const { return server_.url(); }

  // The JSON bodies that GET /api/tags (installed models) and GET /api/ps (loaded models) return.
  void set_tags(std::string json);
  void set_ps(std::string json);

  // "<path> <body>" of every POST, in the order they came.
  std::vector<std::string> requests();

 private:
  LoopbackServer server_;
  std::mutex mu_;
  std::string tags_ = R"({"models":[]})";
  std::string ps_ = R"({"models":[]})";
  std::vector<std::string> requests_;
};

}  // namespace carrierarr::testing

#endif  // CARRIERARR_TESTS_TESTING_FAKE_OLLAMA_H_
