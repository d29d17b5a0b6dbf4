#include "provision/state_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/enum_table.h"
#include "core/file_util.h"

namespace carrierarr::provision {
namespace {

constexpr char kStateFile[] = "state.json";
constexpr char kLockFile[] = "lock";

// How state.json spells a phase, both ways.
constexpr EnumName<Phase> kPhaseNames[] = {
    {Phase::kCreating, "creating"},
    {Phase::kReady, "ready"},
    {Phase::kDeleting, "deleting"},
};
static_assert(IsEnumTable(kPhaseNames, Phase::kDeleting));

Result<Phase> ParsePhase(const std::string& s) {
  const auto* row = EnumRowNamed(kPhaseNames, s);
  if (row == nullptr) return Status::DataLoss("unknown phase '" + s + "'");
  return row->value;
}

}  // namespace

std::string_view PhaseName(Phase phase) { return EnumNameOr(kPhaseNames, phase, "?"); }

nlohmann::json StateToJson(const FleetState& state) {
  nlohmann::json j;
  j["version"] = state.version;
  j["fleet"] = state.fleet;
  nlohmann::json addresses = nlohmann::json::object();
  for (const auto& [name, ip] : state.addresses) addresses[name] = FormatIpv4(ip);
  j["addresses"] = addresses;
  nlohmann::json resources = nlohmann::json::object();
  for (const auto& [id, r] : state.resources) {
    resources[id] = {{"kind", r.kind},
                     {"phase", PhaseName(r.phase)},
                     {"hash", r.hash},
                     {"deps", r.deps},
                     {"attrs", r.attrs}};
  }
  j["resources"] = resources;
  return j;
}

Result<FleetState> StateFromJson(const nlohmann::json& j) {
  try {
    FleetState state;
    state.version = j.at("version").get<int>();
    if (state.version != 1) {
      return Status::FailedPrecondition("state version " + std::to_string(state.version) +
                                        " is newer than this carrierarr understands; upgrade it");
    }
    state.fleet = j.at("fleet").get<std::string>();
    for (const auto& [name, ip] : j.at("addresses").items()) {
      auto parsed = ParseIpv4(ip.get<std::string>());
      if (!parsed.ok()) return Status::DataLoss("address of " + name + " is not an IPv4 address");
      state.addresses[name] = *parsed;
    }
    for (const auto& [id, r] : j.at("resources").items()) {
      ResourceRecord record;
      record.kind = r.at("kind").get<std::string>();
      auto phase = ParsePhase(r.at("phase").get<std::string>());
      if (!phase.ok()) return phase.status();
      record.phase = *phase;
      record.hash = r.at("hash").get<std::string>();
      record.deps = r.at("deps").get<std::vector<std::string>>();
      record.attrs = r.at("attrs");
      state.resources[id] = std::move(record);
    }
    return state;
  } catch (const nlohmann::json::exception& e) {
    return Status::DataLoss(std::string("malformed state: ") + e.what());
  }
}

StateStore::StateStore(std::string state_dir, int lock_fd, FleetState state)
    : state_dir_(std::move(state_dir)), lock_fd_(lock_fd), state_(std::move(state)) {}

StateStore::~StateStore() {
  ::flock(lock_fd_, LOCK_UN);
  ::close(lock_fd_);
}

Result<std::unique_ptr<StateStore>> StateStore::Open(const std::string& fleet_dir) {
  std::string dir = fleet_dir + "/.carrierarr";
  CARRIERARR_RETURN_IF_ERROR(MakeDirectory(dir, 0700));
  std::string lock_path = dir + "/" + kLockFile;
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return Status::PermissionDenied("cannot open " + lock_path + ": " + ErrnoString(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    std::string holder;
    char buf[32] = {};
    if (::pread(fd, buf, sizeof(buf) - 1, 0) > 0) holder = std::string(" (pid ") + buf + ")";
    ::close(fd);
    return Status::Unavailable("another carrierarr run holds the fleet's lock " + lock_path +
                               holder + "; wait for it to finish, or stop it");
  }
  std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The pid is only a hint for the message above; the flock is what protects.
  }
  FleetState state;
  std::string state_path = dir + "/" + kStateFile;
  if (PathExists(state_path)) {
    auto text = ReadFile(state_path);
    if (!text.ok()) {
      ::close(fd);
      return text.status();
    }
    auto json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    auto parsed = json.is_discarded() ? Result<FleetState>(Status::DataLoss("not JSON"))
                                      : StateFromJson(json);
    if (!parsed.ok()) {
      ::close(fd);
      // A newer format is not corrupt: keep its code and its advice (upgrade), never "remove it".
      if (parsed.status().code() == StatusCode::kFailedPrecondition) {
        return parsed.status().WithPrefix(state_path);
      }
      return Status::DataLoss(state_path + ": " + parsed.status().message() +
                              "; restore it from a backup, or remove it after cleaning up by hand");
    }
    state = std::move(*parsed);
  }
  return std::unique_ptr<StateStore>(new StateStore(dir, fd, std::move(state)));
}

FleetState StateStore::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

Status StateStore::SaveLocked() {
  return WriteFileAtomic(state_dir_ + "/" + kStateFile, StateToJson(state_).dump(2) + "\n", 0600);
}

Status StateStore::Put(const std::string& id, ResourceRecord record) {
  std::lock_guard<std::mutex> lock(mu_);
  state_.resources[id] = std::move(record);
  return SaveLocked();
}

Status StateStore::SetPhase(const std::string& id, Phase phase) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = state_.resources.find(id);
  if (it == state_.resources.end()) return Status::NotFound("no resource " + id + " in state");
  it->second.phase = phase;
  return SaveLocked();
}

Status StateStore::Remove(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  state_.resources.erase(id);
  return SaveLocked();
}

Status StateStore::SetAddresses(const std::string& fleet, const mesh::Assignments& addresses) {
  std::lock_guard<std::mutex> lock(mu_);
  state_.fleet = fleet;
  state_.addresses = addresses;
  return SaveLocked();
}

Status StateStore::Erase() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!state_.resources.empty()) {
    return Status::FailedPrecondition("state still lists " +
                                      std::to_string(state_.resources.size()) +
                                      " resources; not erasing it");
  }
  std::string path = state_dir_ + "/" + kStateFile;
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::Internal("remove " + path + ": " + ErrnoString(errno));
  }
  // A run killed while rewriting the state leaves WriteFileAtomic's temporary file behind
  // ("state.json.tmp-XXXXXX"); it is ours too, and would keep .carrierarr/ from being removed.
  if (DIR* dir = ::opendir(state_dir_.c_str())) {
    const std::string prefix = std::string(kStateFile) + ".tmp-";
    while (const dirent* e = ::readdir(dir)) {
      std::string name = e->d_name;
      if (name.compare(0, prefix.size(), prefix) == 0) {
        ::unlinkat(::dirfd(dir), name.c_str(), 0);
      }
    }
    ::closedir(dir);
  }
  state_ = FleetState{};
  return Status::Ok();
}

}  // namespace carrierarr::provision
