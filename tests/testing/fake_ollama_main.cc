// carrierarr-fake-ollama: FakeModelServer (fake_model_server.h) as a program that starts as
// `ollama serve` does, so that the local provider runs it where a node would run Ollama:
//
//   carrierarr-fake-ollama serve
//
// Listens on $OLLAMA_HOST (HOST:PORT; default 127.0.0.1:11434). $FAKE_OLLAMA_MODELS (comma
// separated; unset: any), $FAKE_OLLAMA_LOAD_MS (a model's load time), $FAKE_OLLAMA_TOKEN_GAP_MS
// shape it. Runs until SIGINT or SIGTERM.
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "testing/fake_model_server.h"

namespace {

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::string(argv[1]) != "serve") {
    std::cerr << "usage: carrierarr-fake-ollama serve  (listens on $OLLAMA_HOST)\n";
    return 2;
  }
  carrierarr::testing::FakeModelOptions o;
  std::stringstream models(Env("FAKE_OLLAMA_MODELS", ""));
  for (std::string m; std::getline(models, m, ',');)
    if (!m.empty()) o.models.push_back(m);
  o.load_time = std::chrono::milliseconds(std::stoll(Env("FAKE_OLLAMA_LOAD_MS", "0")));
  o.token_gap = std::chrono::milliseconds(std::stoll(Env("FAKE_OLLAMA_TOKEN_GAP_MS", "0")));
  const std::string listen = Env("OLLAMA_HOST", "127.0.0.1:11434");
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "carrierarr-fake-ollama: OLLAMA_HOST " << listen << ": want HOST:PORT\n";
    return 2;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // every thread: sigwait below takes them

  carrierarr::testing::FakeModelServer models_server(o);
  httplib::Server server;
  models_server.Install(server);
  if (!server.bind_to_port(listen.substr(0, colon), std::stoi(listen.substr(colon + 1)))) {
    std::cerr << "carrierarr-fake-ollama: cannot listen on " << listen << "\n";
    return 1;
  }
  std::thread serving([&] { server.listen_after_bind(); });
  std::cout << "ready " << listen << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  server.stop();
  serving.join();
  return 0;
}
