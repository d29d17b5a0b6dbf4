#include "agent/collectors.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>

#include "agent/http_client.h"
#include "core/file_util.h"
#include "core/strings.h"
#include "core/subprocess.h"

namespace carrierarr::agent {
namespace {

using ec2agent::v1::GPUStatus;
using ec2agent::v1::OllamaModel;
using ec2agent::v1::ServiceStatus;

// Status must never wait on Ollama for long: it answers on loopback in milliseconds when it is up.
constexpr std::chrono::milliseconds kOllamaQueryTimeout(500);
constexpr std::chrono::seconds kNvidiaSmiTimeout(10);
constexpr int64_t kMiB = int64_t{1024} * 1024;

// Small files only (/proc entries, a few hundred bytes): nothing big is ever held.
std::optional<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<std::string> ReadLink(const std::string& path) {
  char buf[256];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
  if (n <= 0 || static_cast<size_t>(n) >= sizeof(buf)) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

template <typename T>
std::optional<T> ParseInt(std::string_view s) {
  T v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<double> ParseDouble(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::string copy(s);  // strtod needs a terminator
  char* end = nullptr;
  double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// nvidia-smi writes "[N/A]", "[Not Supported]" (or plain "N/A") where a GPU lacks a sensor.
bool IsNotAvailable(std::string_view v) { return v.empty() || v.front() == '[' || v == "N/A"; }

template <typename T>
std::optional<T> CsvInt(std::string_view v) {
  if (IsNotAvailable(v)) return T{0};
  if (auto i = ParseInt<T>(v)) return i;
  // Some drivers print fractional values (e.g. temperature); round rather than reject.
  if (auto d = ParseDouble(v)) return static_cast<T>(std::llround(*d));
  return std::nullopt;
}

std::optional<double> CsvDouble(std::string_view v) {
  if (IsNotAvailable(v)) return 0.0;
  return ParseDouble(v);
}

// "http://host:port/" -> "http://host:port", as messages show it.
std::string StripSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

Status HttpFailure(const std::string& base_url, const std::string& path, const Status& why) {
  return Status::Unavailable("ollama at " + base_url + " did not answer " + path + ": " +
                             why.message());
}

Result<http::Endpoint> OllamaEndpoint(const std::string& base_url) {
  auto endpoint = http::ParseHttpUrl(base_url);
  if (!endpoint.ok()) {
    return Status::InvalidArgument("bad ollama URL: " + endpoint.status().message());
  }
  return endpoint;
}

// Ollama reports failures as {"error": "..."}; fall back to the raw body.
Status OllamaError(const std::string& path, const http::Response& res) {
  std::string message;
  auto body = nlohmann::json::parse(res.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_object() && body.contains("error") && body["error"].is_string()) {
    message = body["error"].get<std::string>();
  } else {
    message = std::string(TrimSpace(res.body.substr(0, 512)));
  }
  std::string text = "ollama " + path + " answered HTTP " + std::to_string(res.status);
  if (!message.empty()) text += ": " + message;
  if (res.status == 404) return Status::NotFound(text);
  if (res.status >= 400 && res.status < 500) return Status::InvalidArgument(text);
  return Status::Unavailable(text);
}

std::string JsonString(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

// /api/tags and /api/ps. `ps_marks` (optional) receives "name expires_at" of every loaded model:
// Ollama moves expires_at forward on each request, so a new mark means the model was used.
Result<std::vector<OllamaModel>> FetchModels(const std::string& base_url,
                                             std::chrono::milliseconds timeout,
                                             std::set<std::string>* ps_marks) {
  auto endpoint = OllamaEndpoint(base_url);
  if (!endpoint.ok()) return endpoint.status();
  const http::CallOptions call{.connect_timeout = timeout, .timeout = timeout};
  auto tags = http::Call(*endpoint, {.method = "GET", .path = "/api/tags"}, call);
  if (!tags.ok()) return HttpFailure(base_url, "/api/tags", tags.status());
  if (tags->status != 200) return OllamaError("/api/tags", *tags);
  auto tags_json = nlohmann::json::parse(tags->body, nullptr, false);
  if (!tags_json.is_object()) return Status::DataLoss("ollama /api/tags: not a JSON object");

  std::set<std::string> loaded;
  // Older Ollama lacks /api/ps: then nothing counts as loaded.
  auto ps = http::Call(*endpoint, {.method = "GET", .path = "/api/ps"}, call);
  if (ps.ok() && ps->status == 200) {
    auto ps_json = nlohmann::json::parse(ps->body, nullptr, false);
    if (ps_json.is_object() && ps_json.contains("models") && ps_json["models"].is_array()) {
      for (const auto& m : ps_json["models"]) {
        std::string name = JsonString(m, "name");
        if (name.empty()) name = JsonString(m, "model");
        if (name.empty()) continue;
        if (ps_marks != nullptr) ps_marks->insert(name + " " + JsonString(m, "expires_at"));
        loaded.insert(std::move(name));
      }
    }
  }

  std::vector<OllamaModel> models;
  if (tags_json.contains("models") && tags_json["models"].is_array()) {
    for (const auto& m : tags_json["models"]) {
      std::string name = JsonString(m, "name");
      if (name.empty()) name = JsonString(m, "model");
      if (name.empty()) continue;
      OllamaModel& out = models.emplace_back();
      out.set_currently_loaded(loaded.count(name) > 0);
      out.set_name(std::move(name));
      if (m.contains("size") && m["size"].is_number_integer()) {
        out.set_size_bytes(m["size"].get<int64_t>());
      }
    }
  }
  return models;
}

Status OllamaPost(const std::string& base_url, const std::string& path, const nlohmann::json& body,
                  std::chrono::seconds timeout, const CancelSignal* cancel) {
  auto endpoint = OllamaEndpoint(base_url);
  if (!endpoint.ok()) return endpoint.status();
  // The connection is local and quick; the answer to a pull may take as long as the download.
  const http::CallOptions call{
      .connect_timeout = std::min<std::chrono::milliseconds>(timeout, std::chrono::seconds(5)),
      .timeout = timeout,
      .cancel_fd = cancel != nullptr ? cancel->fd() : -1};
  auto res = http::Call(*endpoint,
                        {.method = "POST",
                         .path = path,
                         .headers = {{"Content-Type", "application/json"}},
                         .body = body.dump()},
                        call);
  if (!res.ok()) return HttpFailure(base_url, path, res.status());
  if (res->status != 200) return OllamaError(path, *res);
  return Status::Ok();
}

// /proc/PID/stat field 22 (starttime, in clock ticks after boot). The command name (field 2)
// may hold spaces and parentheses, so fields are counted after its last ')'.
std::optional<uint64_t> ProcessStartTicks(const std::string& stat) {
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream in(stat.substr(paren + 1));
  std::string field;
  // After ')' come field 3 (state) ... field 22 (starttime): 20 fields, the last is ours.
  for (int i = 3; i <= 22; ++i) {
    if (!(in >> field)) return std::nullopt;
  }
  return ParseInt<uint64_t>(field);
}

std::optional<double> ReadUptime(const std::string& proc_root) {
  auto text = ReadSmallFile(proc_root + "/uptime");
  if (!text) return std::nullopt;
  std::string_view s = TrimSpace(*text);
  return ParseDouble(s.substr(0, s.find(' ')));
}

// MemTotal and MemAvailable (kB) from meminfo; used is what is not available.
void ReadMemory(const std::string& proc_root, ec2agent::v1::ResourceUsage& usage) {
  auto meminfo = ReadSmallFile(proc_root + "/meminfo");
  if (!meminfo) return;
  int64_t total_kb = -1, available_kb = -1;
  std::istringstream in(*meminfo);
  std::string line, key;
  int64_t value = 0;
  while (std::getline(in, line) && (total_kb < 0 || available_kb < 0)) {
    std::istringstream fields(line);
    if (!(fields >> key >> value)) continue;
    if (key == "MemTotal:") total_kb = value;
    if (key == "MemAvailable:") available_kb = value;
  }
  if (total_kb < 0) return;
  usage.set_memory_total_mb(total_kb / 1024);
  if (available_kb >= 0) usage.set_memory_used_mb((total_kb - available_kb) / 1024);
}

void ReadDisk(const std::string& path, ec2agent::v1::ResourceUsage& usage) {
  struct statvfs fs;
  if (::statvfs(path.c_str(), &fs) != 0) return;
  const auto frsize = static_cast<int64_t>(fs.f_frsize);
  usage.set_disk_total_mb(static_cast<int64_t>(fs.f_blocks) * frsize / kMiB);
  usage.set_disk_used_mb(static_cast<int64_t>(fs.f_blocks - fs.f_bfree) * frsize / kMiB);
}

struct Found {
  pid_t pid = 0;
  uint64_t start_ticks = 0;
  bool found = false;
};

struct FoundServices {
  Found nebula, k3s, ollama, liqo;
};

// Where a process named `comm` is counted, or null when it is none of the services.
Found* SlotOf(std::string_view comm, FoundServices& found) {
  if (comm == "nebula") return &found.nebula;
  if (comm == "k3s" || comm == "k3s-server" || comm == "k3s-agent") return &found.k3s;
  if (comm == "ollama") return &found.ollama;
  if (comm == "liqonet" || comm.substr(0, 5) == "liqo-") return &found.liqo;
  return nullptr;
}

ServiceStatus StateOf(const Found& f, const char* program, std::optional<double> host_uptime) {
  ServiceStatus s;
  if (f.found) {
    s.set_state(ec2agent::v1::SERVICE_STATE_RUNNING);
    s.set_message("pid " + std::to_string(f.pid));
    static const int64_t ticks_per_second = ::sysconf(_SC_CLK_TCK);
    if (host_uptime && ticks_per_second > 0) {
      double started = static_cast<double>(f.start_ticks) / static_cast<double>(ticks_per_second);
      s.set_uptime_seconds(std::max<int64_t>(0, static_cast<int64_t>(*host_uptime - started)));
    }
  } else if (FindProgram(program)) {
    s.set_state(ec2agent::v1::SERVICE_STATE_STOPPED);
    s.set_message("not running");
  } else {
    s.set_state(ec2agent::v1::SERVICE_STATE_NOT_INSTALLED);
    s.set_message(std::string(program) + " not found in PATH");
  }
  return s;
}

}  // namespace

std::optional<std::string> DetectMeshIp(const std::string& device_prefix) {
  ifaddrs* addrs = nullptr;
  if (::getifaddrs(&addrs) != 0) return std::nullopt;
  std::optional<std::string> ip;
  for (ifaddrs* a = addrs; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    if ((a->ifa_flags & IFF_UP) == 0) continue;
    if (std::string_view(a->ifa_name).substr(0, device_prefix.size()) != device_prefix) continue;
    char buf[INET_ADDRSTRLEN];
    const auto* sin = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
    if (::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)) != nullptr) {
      ip = buf;
      break;
    }
  }
  ::freeifaddrs(addrs);
  return ip;
}

std::optional<Ec2Identity> QueryImds(const std::string& endpoint,
                                     std::chrono::milliseconds timeout) {
  auto imds = http::ParseHttpUrl(endpoint);
  if (!imds.ok()) return std::nullopt;
  const http::CallOptions call{.connect_timeout = timeout, .timeout = timeout};
  // IMDSv2: a session token first. An instance that requires v2 refuses plain GETs.
  auto token = http::Call(*imds,
                          {.method = "PUT",
                           .path = "/latest/api/token",
                           .headers = {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}}},
                          call);
  if (!token.ok() || token->status != 200 || TrimSpace(token->body).empty()) return std::nullopt;
  const http::Headers auth{{"X-aws-ec2-metadata-token", std::string(TrimSpace(token->body))}};

  // nullopt: no answer or an error; "" for a 404 (the item does not exist on this instance).
  auto get = [&](const std::string& item) -> std::optional<std::string> {
    auto r = http::Call(
        *imds, {.method = "GET", .path = "/latest/meta-data/" + item, .headers = auth}, call);
    if (!r.ok()) return std::nullopt;
    if (r->status == 404) return std::string();
    if (r->status != 200) return std::nullopt;
    return std::string(TrimSpace(r->body));
  };
  Ec2Identity id;
  auto instance_id = get("instance-id");
  if (!instance_id || instance_id->empty()) return std::nullopt;
  id.instance_id = *instance_id;
  id.availability_zone = get("placement/availability-zone").value_or("");
  id.region = get("placement/region").value_or("");
  if (id.region.empty() && id.availability_zone.size() > 1) {
    // Older IMDS lacks placement/region: "us-east-1a" lies in "us-east-1".
    id.region = id.availability_zone.substr(0, id.availability_zone.size() - 1);
  }
  id.public_ip = get("public-ipv4").value_or("");
  id.instance_type = get("instance-type").value_or("");
  return id;
}

std::vector<GPUStatus> ParseNvidiaSmiCsv(const std::string& csv) {
  std::vector<GPUStatus> gpus;
  std::istringstream lines(csv);
  std::string line;
  while (std::getline(lines, line)) {
    std::vector<std::string_view> raw;
    std::string_view rest = line;
    while (true) {
      size_t comma = rest.find(',');
      raw.push_back(rest.substr(0, comma));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    if (raw.size() < 6) continue;
    std::vector<std::string_view> f;
    f.reserve(raw.size());
    for (auto r : raw) f.push_back(TrimSpace(r));
    // A name with a comma in it splits into several fields: the numbers are the last four.
    std::string name(raw[1]);
    for (size_t i = 2; i + 4 < raw.size(); ++i) name += "," + std::string(raw[i]);
    const size_t n = f.size();
    auto index = ParseInt<int32_t>(f[0]);
    auto used = CsvInt<int64_t>(f[n - 4]);
    auto total = CsvInt<int64_t>(f[n - 3]);
    auto util = CsvDouble(f[n - 2]);
    auto temp = CsvInt<int32_t>(f[n - 1]);
    if (!index || !used || !total || !util || !temp) continue;
    GPUStatus& g = gpus.emplace_back();
    g.set_index(*index);
    g.set_name(std::string(TrimSpace(name)));
    g.set_memory_used_mb(*used);
    g.set_memory_total_mb(*total);
    g.set_utilization_percent(*util);
    g.set_temperature_c(*temp);
  }
  return gpus;
}

std::vector<GPUStatus> QueryGpus(const std::string& nvidia_smi, std::string* error,
                                 ProcessRunner* processes) {
  if (error != nullptr) error->clear();
  auto path = FindProgram(nvidia_smi);
  if (!path) return {};  // no NVIDIA driver: a CPU node, not an error
  RunOptions options;
  options.timeout = kNvidiaSmiTimeout;
  auto run = processes->Run({*path,
                             "--query-gpu=index,name,memory.used,memory.total,utilization.gpu,"
                             "temperature.gpu",
                             "--format=csv,noheader,nounits"},
                            options);
  if (!run.ok()) {
    if (error != nullptr) *error = run.status().message();
    return {};
  }
  if (run->timed_out || run->signaled || run->exit_code != 0) {
    if (error != nullptr) {
      std::string why = run->timed_out  ? "timed out"
                        : run->signaled ? "killed by signal " + std::to_string(run->signal)
                                        : "exit " + std::to_string(run->exit_code);
      std::string_view said = TrimSpace(run->err.empty() ? run->out : run->err);
      *error = "nvidia-smi failed (" + why + ")";
      if (!said.empty()) *error += ": " + std::string(said.substr(0, 512));
    }
    return {};
  }
  return ParseNvidiaSmiCsv(run->out);
}

Result<std::vector<K3sNodeReport>> QueryK3sNodes(const std::string& kubectl,
                                                 const std::string& kubeconfig,
                                                 ProcessRunner* processes) {
  RunOptions options;
  options.timeout = kKubectlNodesTimeout;
  options.max_output_bytes = kMaxKubectlNodesOutputBytes;
  options.new_process_group = true;  // a timeout kills what kubectl started too
  auto run =
      processes->Run({kubectl, "--kubeconfig", kubeconfig, "get", "nodes", "-o", "json"}, options);
  if (!run.ok()) return Status::Unavailable("kubectl: " + run.status().message());
  if (run->timed_out || run->signaled || run->exit_code != 0) {
    std::string why = run->timed_out
                          ? "timed out after " + std::to_string(kKubectlNodesTimeout.count()) + "s"
                      : run->signaled ? "killed by signal " + std::to_string(run->signal)
                                      : "exit " + std::to_string(run->exit_code);
    std::string said(TrimSpace(run->err));
    said = TruncateUtf8(said.substr(0, said.find('\n')), 512);
    return Status::Unavailable("kubectl get nodes failed (" + why + ")" +
                               (said.empty() ? "" : ": " + said));
  }
  if (run->out_dropped > 0) {
    return Status::ResourceExhausted("kubectl get nodes wrote over " +
                                     std::to_string(kMaxKubectlNodesOutputBytes) + " bytes");
  }
  return ParseKubectlNodes(run->out);
}

void StatusCollector::CollectK3sNodes(ec2agent::v1::NodeStatus& status) {
  if (options_.k3s_kubeconfig.empty() || !PathExists(options_.k3s_kubeconfig)) {
    k3s_error_.clear();  // not (or no longer) the k3s server node: nothing to report
    return;
  }
  std::string error;
  auto nodes = QueryK3sNodes(options_.kubectl, options_.k3s_kubeconfig, options_.processes);
  if (nodes.ok())
    SetK3sClusterNodes(*nodes, &status);
  else
    error = nodes.status().message();
  if (error != k3s_error_ && options_.log) {
    options_.log(error.empty()
                     ? "the cloud cluster's nodes are reported again"
                     : "cannot report the cloud cluster's nodes (until this changes): " + error);
  }
  k3s_error_ = std::move(error);
}

Result<std::vector<OllamaModel>> OllamaClient::Models() const {
  return FetchModels(StripSlash(base_url_), kOllamaQueryTimeout, nullptr);
}

Status OllamaClient::Pull(const std::string& model, std::chrono::seconds timeout,
                          const CancelSignal* cancel) const {
  // "name" for the Ollama releases that predate "model"; newer ones accept either.
  return OllamaPost(StripSlash(base_url_), "/api/pull",
                    {{"name", model}, {"model", model}, {"stream", false}}, timeout, cancel);
}

Status OllamaClient::Unload(const std::string& model, std::chrono::seconds timeout,
                            const CancelSignal* cancel) const {
  return OllamaPost(StripSlash(base_url_), "/api/generate", {{"model", model}, {"keep_alive", 0}},
                    timeout, cancel);
}

ResourceSampler::ResourceSampler(std::string proc_root, std::string disk_path)
    : proc_root_(std::move(proc_root)), disk_path_(std::move(disk_path)) {}

ec2agent::v1::ResourceUsage ResourceSampler::Sample() {
  ec2agent::v1::ResourceUsage usage;

  // "cpu  user nice system idle iowait irq softirq steal guest guest_nice" (in ticks). guest
  // time is already part of user, so only the first eight count; idle and iowait are not busy.
  // Only the first line: the rest of /proc/stat (per-CPU lines, interrupts) can be long.
  std::ifstream stat_file(proc_root_ + "/stat");
  std::string stat_line;
  if (std::getline(stat_file, stat_line)) {
    std::istringstream in(stat_line);
    std::string label;
    in >> label;
    uint64_t v[8] = {};
    int got = 0;
    while (got < 8 && in >> v[got]) ++got;
    if (label == "cpu" && got >= 4) {
      uint64_t total = 0;
      for (int i = 0; i < got; ++i) total += v[i];
      uint64_t busy = total - v[3] - (got > 4 ? v[4] : 0);
      std::lock_guard<std::mutex> lock(mu_);
      if (last_total_ != 0 && total > last_total_ && busy >= last_busy_) {
        double percent = 100.0 * static_cast<double>(busy - last_busy_) /
                         static_cast<double>(total - last_total_);
        usage.set_cpu_percent(std::min(100.0, percent));
      }
      last_busy_ = busy;
      last_total_ = total;
    }
  }

  ReadMemory(proc_root_, usage);
  ReadDisk(disk_path_, usage);
  return usage;
}

ec2agent::v1::NodeCapabilities ResourceSampler::Capabilities() const {
  ec2agent::v1::NodeCapabilities caps;
  int cores = 0;
  if (auto cpuinfo = ReadSmallFile(proc_root_ + "/cpuinfo")) {
    std::istringstream in(*cpuinfo);
    std::string line;
    while (std::getline(in, line)) {
      std::string_view l = line;
      if (l.substr(0, 9) == "processor" && TrimSpace(l.substr(9)).substr(0, 1) == ":") ++cores;
    }
  }
  if (cores == 0) cores = static_cast<int>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
  caps.set_cpu_cores(cores);

  ec2agent::v1::ResourceUsage usage;
  ReadMemory(proc_root_, usage);
  ReadDisk(disk_path_, usage);
  caps.set_memory_mb(usage.memory_total_mb());
  caps.set_disk_mb(usage.disk_total_mb());
  return caps;
}

int64_t ResourceSampler::UptimeSeconds() const {
  auto up = ReadUptime(proc_root_);
  return up ? static_cast<int64_t>(*up) : 0;
}

ServiceStates ProbeServices(const std::string& proc_root) {
  FoundServices found;
  // Without our own namespace to compare with, no process can be attributed to this node.
  const std::optional<std::string> own_net = ReadLink(proc_root + "/self/ns/net");
  if (DIR* dir = own_net ? ::opendir(proc_root.c_str()) : nullptr) {
    while (dirent* e = ::readdir(dir)) {
      auto pid = ParseInt<pid_t>(e->d_name);
      if (!pid) continue;
      const std::string base = proc_root + "/" + e->d_name;
      auto comm = ReadSmallFile(base + "/comm");
      if (!comm) continue;  // the process exited meanwhile
      Found* slot = SlotOf(TrimSpace(*comm), found);
      if (slot == nullptr) continue;
      // Local-fleet nodes share the PID namespace but not the network one: another node's
      // nebula is not ours. An unreadable link (another user's process) cannot be attributed.
      if (ReadLink(base + "/ns/net") != own_net) continue;
      auto stat = ReadSmallFile(base + "/stat");
      uint64_t start = stat ? ProcessStartTicks(*stat).value_or(0) : 0;
      // Several matches (k3s forks, liqo has many parts): the oldest one says how long it is up.
      if (!slot->found || start < slot->start_ticks) *slot = Found{*pid, start, true};
    }
    ::closedir(dir);
  }
  const auto up = ReadUptime(proc_root);
  ServiceStates states;
  states.nebula = StateOf(found.nebula, "nebula", up);
  states.k3s = StateOf(found.k3s, "k3s", up);
  states.ollama = StateOf(found.ollama, "ollama", up);
  // liqo runs in pods; its CLI marks it installed.
  states.liqo = StateOf(found.liqo, "liqoctl", up);
  return states;
}

StatusCollector::StatusCollector(CollectorOptions options)
    : options_(std::move(options)),
      sampler_(options_.proc_root, options_.disk_path),
      ollama_(options_.ollama_url) {
  NoteActivity();
}

void StatusCollector::NoteActivity() {
  last_activity_ticks_.store(options_.time->MonotonicNow().time_since_epoch().count(),
                             std::memory_order_relaxed);
}

void SetTimestamp(std::chrono::system_clock::time_point t, google::protobuf::Timestamp* ts) {
  const auto since_epoch = t.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  ts->set_seconds(seconds.count());
  ts->set_nanos(static_cast<int32_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds).count()));
}

ec2agent::v1::NodeStatus StatusCollector::Collect(const std::string& node_id) {
  ec2agent::v1::NodeStatus status;
  status.set_node_id(node_id);
  SetTimestamp(options_.time->SystemNow(), status.mutable_timestamp());

  ServiceStates services = ProbeServices(options_.proc_root);
  *status.mutable_resources() = sampler_.Sample();
  for (auto& gpu : QueryGpus(options_.nvidia_smi, nullptr, options_.processes))
    *status.add_gpus() = std::move(gpu);

  std::set<std::string> marks;
  auto models = FetchModels(StripSlash(ollama_.base_url()), kOllamaQueryTimeout, &marks);
  if (models.ok()) {
    // Every installed model, those in memory marked, as the original agent reports them.
    for (auto& m : *models) *status.add_loaded_models() = std::move(m);
    // A model whose expiry moved (or that was just loaded) served a request since last time.
    // The first answer is only a baseline: the agent cannot tell how old those requests are.
    if (ps_seen_ && std::any_of(marks.begin(), marks.end(),
                                [&](const std::string& m) { return ps_marks_.count(m) == 0; })) {
      NoteActivity();
    }
    ps_marks_ = std::move(marks);
    ps_seen_ = true;
  }

  CollectK3sNodes(status);
  status.set_uptime_seconds(sampler_.UptimeSeconds());
  const auto idle = options_.time->MonotonicNow() -
                    std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(
                        last_activity_ticks_.load(std::memory_order_relaxed)));
  status.set_idle_seconds(
      std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(idle).count()));

  using ec2agent::v1::SERVICE_STATE_ERROR;
  using ec2agent::v1::SERVICE_STATE_RUNNING;
  using ec2agent::v1::SERVICE_STATE_STOPPED;
  bool degraded = false;
  for (const ServiceStatus* s :
       {&services.nebula, &services.k3s, &services.ollama, &services.liqo}) {
    if (s->state() == SERVICE_STATE_ERROR || s->state() == SERVICE_STATE_STOPPED) degraded = true;
  }
  if (services.nebula.state() != SERVICE_STATE_RUNNING) {
    status.set_health(ec2agent::v1::HEALTH_STATE_UNHEALTHY);
  } else if (degraded) {
    status.set_health(ec2agent::v1::HEALTH_STATE_DEGRADED);
  } else {
    status.set_health(ec2agent::v1::HEALTH_STATE_HEALTHY);
  }
  *status.mutable_nebula() = std::move(services.nebula);
  *status.mutable_k3s() = std::move(services.k3s);
  *status.mutable_ollama() = std::move(services.ollama);
  *status.mutable_liqo() = std::move(services.liqo);
  LimitNodeStatus(status);
  return status;
}

void LimitNodeStatus(ec2agent::v1::NodeStatus& status) {
  for (auto* s : {status.mutable_nebula(), status.mutable_k3s(), status.mutable_ollama(),
                  status.mutable_liqo()}) {
    if (s->message().size() > kMaxStatusStringBytes) {
      s->set_message(TruncateUtf8(s->message(), kMaxStatusStringBytes));
    }
  }
  auto* gpus = status.mutable_gpus();
  if (gpus->size() > kMaxStatusGpus)
    gpus->DeleteSubrange(kMaxStatusGpus, gpus->size() - kMaxStatusGpus);
  for (auto& g : *gpus) {
    if (g.name().size() > kMaxStatusStringBytes)
      g.set_name(TruncateUtf8(g.name(), kMaxStatusStringBytes));
  }
  auto* models = status.mutable_loaded_models();
  if (models->size() > kMaxStatusModels) {
    // The models in memory matter most: they go first, so that the cut drops models on disk.
    std::stable_partition(models->begin(), models->end(),
                          [](const ec2agent::v1::OllamaModel& m) { return m.currently_loaded(); });
    models->DeleteSubrange(kMaxStatusModels, models->size() - kMaxStatusModels);
  }
  for (auto& m : *models) {
    if (m.name().size() > kMaxStatusStringBytes)
      m.set_name(TruncateUtf8(m.name(), kMaxStatusStringBytes));
  }
}

ec2agent::v1::NodeCapabilities StatusCollector::Capabilities() {
  ec2agent::v1::NodeCapabilities caps = sampler_.Capabilities();
  auto gpus = QueryGpus(options_.nvidia_smi, nullptr, options_.processes);
  caps.set_has_gpu(!gpus.empty());
  caps.set_gpu_count(static_cast<int32_t>(gpus.size()));
  if (!gpus.empty()) caps.set_gpu_model(TruncateUtf8(gpus.front().name(), kMaxStatusStringBytes));
  int64_t memory = 0;
  for (const auto& g : gpus) memory += g.memory_total_mb();
  caps.set_gpu_memory_mb(memory);
  return caps;
}

}  // namespace carrierarr::agent
