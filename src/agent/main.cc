// carrierarr-agent: the worker agent on every node of a carrierarr fleet. Detects its identity,
// serves health checks, and keeps a stream to the control plane (agent/client.h) until SIGTERM.
//
// Signals are blocked in every thread and taken by sigwait in main, so no handler ever runs
// code that is not async-signal-safe.
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "agent/client.h"
#include "agent/collectors.h"
#include "agent/health_server.h"
#include "agent/metrics.h"
#include "agent/options.h"
#include "core/seams.h"
#include "core/version.h"

namespace carrierarr::agent {
namespace {

// What a SHUTDOWN/REBOOT in -power-mode exit asked for; main acts on it after SIGUSR1.
enum PowerAction : int { kNone = 0, kShutdown = 1, kReboot = 2 };
std::atomic<int> g_power_action{kNone};

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

// Overwrites the value of -token in our argv so that it does not stay readable in
// /proc/PID/cmdline (the kernel shows the live argv memory). Only narrows the window: the
// token was visible until now, hence -token-file.
void ScrubTokenFromArgv(int argc, char** argv) {
  auto scrub = [](char* p) {
    for (; *p != '\0'; ++p) *p = 'x';
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") break;
    if ((a == "-token" || a == "--token") && i + 1 < argc) {
      scrub(argv[++i]);
    } else if (a.rfind("-token=", 0) == 0 || a.rfind("--token=", 0) == 0) {
      scrub(argv[i] + a.find('=') + 1);
    }
  }
}

// Blocks the signals that main takes with sigwait. Before any thread starts, so that every
// thread inherits the mask.
sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// Fills in what the flags left open from the host: node id, mesh IP, EC2 identity, region.
// False (after saying why) when the agent cannot start without it.
bool DetectIdentity(const std::string& host, AgentOptions& o) {
  if (o.node_id.empty()) o.node_id = host;
  if (o.node_id.empty()) {
    std::cerr << "carrierarr-agent: cannot read the host name: pass -node-id\n";
    return false;
  }
  if (o.nebula_ip.empty()) {
    if (auto ip = DetectMeshIp(o.nebula_dev)) {
      o.nebula_ip = *ip;
    } else {
      LogToStderr("no up interface named " + o.nebula_dev +
                  "* with an IPv4 address: reporting no mesh IP (pass -nebula-ip)");
    }
  }
  if (o.imds) {
    // Off EC2 nothing answers at the link-local address: a short, quiet timeout.
    if (auto ec2 = QueryImds(o.imds_endpoint, std::chrono::milliseconds(1000))) {
      if (o.instance_id.empty()) o.instance_id = ec2->instance_id;
      if (o.region.empty()) o.region = ec2->region;
      if (o.az.empty()) o.az = ec2->availability_zone;
      if (o.public_ip.empty()) o.public_ip = ec2->public_ip;
    }
  }
  if (o.region.empty()) o.region = "homelab";
  return true;
}

ClientOptions MakeClientOptions(const AgentOptions& o, const std::string& host,
                                const Seams& seams) {
  ClientOptions c;
  c.control_plane = o.control_plane;
  auto& id = c.identity;
  id.set_node_id(o.node_id);
  id.set_node_type(o.node_type_set ? o.node_type : ec2agent::v1::NODE_TYPE_UNSPECIFIED);
  id.set_instance_id(o.instance_id);
  id.set_nebula_ip(o.nebula_ip);
  id.set_public_ip(o.public_ip);
  id.set_region(o.region);
  id.set_availability_zone(o.az);
  for (const auto& [k, v] : o.labels) (*id.mutable_labels())[k] = v;
  c.token = o.token;
  c.token_file = o.token_file;
  c.state_dir = o.state_dir;
  c.tls_ca = o.tls_ca;
  c.tls_server_name = o.tls_server_name;
  c.backoff_initial = o.backoff_initial;
  c.backoff_max = o.backoff_max;
  c.status_interval = o.status_interval;
  c.heartbeat_interval = o.heartbeat_interval;
  c.collector.nvidia_smi = o.nvidia_smi;
  c.collector.ollama_url = o.ollama_url;
  c.collector.kubectl = o.kubectl;
  c.collector.k3s_kubeconfig = o.k3s_kubeconfig;
  c.runner.allow_exec = o.allow_exec;
  c.runner.power_mode = o.power_mode;
  c.runner.kubectl = o.kubectl;
  c.runner.systemctl = o.systemctl;
  c.runner.k3s_kubeconfig = o.k3s_kubeconfig;
  c.runner.allow_kubeconfig_fetch = o.allow_kubeconfig_fetch;
  c.runner.ollama_url = o.ollama_url;
  c.runner.node_name = host.empty() ? o.node_id : host;
  // Only called in -power-mode exit: hand the action to main, which stops cleanly first.
  c.hooks.power = [](bool reboot) {
    g_power_action = reboot ? kReboot : kShutdown;
    kill(getpid(), SIGUSR1);
  };
  c.time = seams.time;
  c.processes = seams.processes;
  c.version = kVersion;
  c.log = LogToStderr;
  return c;
}

// Until SIGTERM or SIGINT, or the SIGUSR1 of a power action.
void WaitForStop(const sigset_t& signals) {
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGUSR1 && g_power_action == kNone) continue;  // not ours
    if (sig != SIGUSR1) {
      LogToStderr(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
                  ", stopping");
    }
    return;
  }
}

// After the client and the health server stopped: restart (re-exec) or exit, as asked.
int Exit(const std::vector<std::string>& saved_argv, size_t commands_in_flight) {
  if (g_power_action == kReboot) {
    LogToStderr("restarting (power mode exit)");
    std::vector<char*> args;
    args.reserve(saved_argv.size() + 1);
    for (const auto& a : saved_argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    // The signal mask survives execv: the new image blocks the same signals anyway.
    execv("/proc/self/exe", args.data());
    LogToStderr(std::string("restart failed: execv: ") + std::strerror(errno));
    return 1;
  }
  if (g_power_action == kShutdown) LogToStderr("shutting down (power mode exit)");
  if (commands_in_flight > 0) {
    // Their threads still use gRPC and the runner: leave without running static destructors.
    LogToStderr("exiting with " + std::to_string(commands_in_flight) + " command(s) still running");
    std::fflush(stderr);
    std::_Exit(0);
  }
  return 0;
}

int Main(int argc, char** argv) {
  // Fewer malloc arenas: a handful of threads, each would otherwise get its own (RSS).
  mallopt(M_ARENA_MAX, 2);
  const std::vector<std::string> saved_argv(argv, argv + argc);  // for a restart (re-exec)
  const sigset_t signals = BlockStopSignals();
  // A health probe or the control plane hanging up must not kill us.
  signal(SIGPIPE, SIG_IGN);
  const Seams seams = Seams::FromProcess();

  auto parsed = ParseAgentOptions({argv + 1, argv + argc}, seams.environment);
  ScrubTokenFromArgv(argc, argv);
  if (!parsed.ok()) {
    std::cerr << "carrierarr-agent: " << parsed.status().message() << "\n"
              << "Run 'carrierarr-agent -h' for the flags.\n";
    return 2;
  }
  AgentOptions& o = *parsed;
  if (o.help) {
    std::cout << AgentUsage();
    return 0;
  }
  if (o.version) {
    std::cout << "carrierarr-agent " << kVersion << "\n";
    return 0;
  }
  const std::string host = HostName();
  if (!DetectIdentity(host, o)) return 2;

  auto metrics = std::make_shared<AgentMetrics>();
  HealthServer health({.addr = o.health_addr, .port = o.health_port, .version = kVersion}, metrics);
  if (Status s = health.Start(); !s.ok()) {
    std::cerr << "carrierarr-agent: " << s.message() << "\n";
    return 1;
  }
  AgentClient client(MakeClientOptions(o, host, seams), metrics);
  if (Status s = client.Start(); !s.ok()) {
    std::cerr << "carrierarr-agent: " << s.message() << "\n";
    return 1;
  }
  LogToStderr("carrierarr-agent " + std::string(kVersion) + " started: node " + o.node_id +
              ", control plane " + o.control_plane + ", health on " + o.health_addr + ":" +
              std::to_string(health.port()) +
              (o.nebula_ip.empty() ? "" : ", mesh IP " + o.nebula_ip) + ", region " + o.region);

  WaitForStop(signals);
  client.Stop();
  health.Stop();  // frees the port before a restart binds it again
  return Exit(saved_argv, client.commands_in_flight());
}

}  // namespace
}  // namespace carrierarr::agent

int main(int argc, char** argv) { return carrierarr::agent::Main(argc, argv); }
