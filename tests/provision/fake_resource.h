// A fault-injecting test double for the provisioning engine's one seam with the outside world:
// provision::Resource (create, read back) and its Deleter. FakeWorld stands for the outside
// system (what exists, and with which inputs); FakeResource and the deleter that
// FakeWorld::RegisterDeleter installs both act on it, so a test can drift reality, inject
// failures and observe call order and concurrency.
//
//   FakeWorld world;
//   KindRegistry kinds;
//   world.RegisterDeleter(kinds);
//   ResourceList desired;
//   desired.push_back(MakeFake(world, "b", {"a"}));
//   world.FailCreate("b", 1);
#ifndef CARRIERARR_TESTS_PROVISION_FAKE_RESOURCE_H_
#define CARRIERARR_TESTS_PROVISION_FAKE_RESOURCE_H_

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "provision/resource.h"

namespace carrierarr::provision::testing {

inline constexpr char kFakeKind[] = "fake";

// The outside system: which ids exist (with the hash they were made from), every call in the
// order it began, and the faults to inject. All methods are thread-safe.
class FakeWorld {
 public:
  using Hook = std::function<void(const std::string& id)>;

  // --- Fault injection ---

  // The next `times` Create() calls of `id` fail with `error` (after the delay and hook).
  void FailCreate(const std::string& id, int times,
                  Status error = Status::Internal("injected create failure")) {
    std::lock_guard<std::mutex> lock(mu_);
    create_faults_[id] = {times, std::move(error)};
  }
  // Every delete of `id` fails with `error` until ClearFaults().
  void FailDelete(const std::string& id,
                  Status error = Status::Internal("injected delete failure")) {
    std::lock_guard<std::mutex> lock(mu_);
    delete_faults_[id] = std::move(error);
  }
  // Exists() of `id` answers `answer` whatever the world holds; nullopt tells the truth again.
  void LieExists(const std::string& id, std::optional<bool> answer) {
    std::lock_guard<std::mutex> lock(mu_);
    if (answer.has_value()) {
      exists_lies_[id] = *answer;
    } else {
      exists_lies_.erase(id);
    }
  }
  // Exists() of `id` fails with `error` (Status::Ok() clears).
  void FailExists(const std::string& id, Status error) {
    std::lock_guard<std::mutex> lock(mu_);
    if (error.ok()) {
      exists_faults_.erase(id);
    } else {
      exists_faults_[id] = std::move(error);
    }
  }
  void ClearFaults() {
    std::lock_guard<std::mutex> lock(mu_);
    create_faults_.clear();
    delete_faults_.clear();
    exists_lies_.clear();
    exists_faults_.clear();
  }
  // Every Create() sleeps this long first, to let parallel steps overlap.
  void set_create_delay(std::chrono::milliseconds delay) {
    std::lock_guard<std::mutex> lock(mu_);
    create_delay_ = delay;
  }
  // Runs inside every Create() on the worker thread, after the delay and before it acts. Set it
  // before Apply() starts.
  void set_on_create(Hook hook) {
    std::lock_guard<std::mutex> lock(mu_);
    on_create_ = std::move(hook);
  }

  // --- Reality, for seeding and drift ---

  void Make(const std::string& id, const std::string& hash) {
    std::lock_guard<std::mutex> lock(mu_);
    things_[id] = hash;
  }
  void Remove(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    things_.erase(id);
  }
  bool Has(const std::string& id) const {
    std::lock_guard<std::mutex> lock(mu_);
    return things_.count(id) != 0;
  }
  std::optional<std::string> HashOf(const std::string& id) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = things_.find(id);
    if (it == things_.end()) return std::nullopt;
    return it->second;
  }

  // --- Observations ---

  // "create:<id>" when a Create() begins, "created:<id>" or "create-failed:<id>" when it returns,
  // "delete:<id>", "exists:<id>".
  std::vector<std::string> Calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  // Position of `call` in Calls(), or -1.
  int IndexOf(const std::string& call) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find(calls_.begin(), calls_.end(), call);
    return it == calls_.end() ? -1 : static_cast<int>(it - calls_.begin());
  }
  int Count(const std::string& call) const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(std::count(calls_.begin(), calls_.end(), call));
  }
  // Waits until `call` has been logged; false on timeout.
  bool WaitForCall(const std::string& call,
                   std::chrono::milliseconds timeout = std::chrono::seconds(5)) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      return std::find(calls_.begin(), calls_.end(), call) != calls_.end();
    });
  }
  // The most Create() calls that were ever in progress at once.
  int max_concurrent_creates() const {
    std::lock_guard<std::mutex> lock(mu_);
    return max_in_flight_;
  }

  // --- The seam: what FakeResource and the deleter call ---

  void RegisterDeleter(KindRegistry& kinds, const std::string& kind = kFakeKind) {
    kinds.Register(kind, [this](const nlohmann::json& attrs) { return Delete(attrs); });
  }

  Result<bool> Exists(const std::string& id, const std::string& hash) const {
    std::lock_guard<std::mutex> lock(mu_);
    Log("exists:" + id);
    if (auto f = exists_faults_.find(id); f != exists_faults_.end()) return f->second;
    if (auto l = exists_lies_.find(id); l != exists_lies_.end()) return l->second;
    auto it = things_.find(id);
    return it != things_.end() && it->second == hash;
  }

  Result<nlohmann::json> Create(const std::string& id, const std::string& hash,
                                nlohmann::json attrs) {
    std::chrono::milliseconds delay;
    Hook hook;
    {
      std::lock_guard<std::mutex> lock(mu_);
      Log("create:" + id);
      max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
      delay = create_delay_;
      hook = on_create_;
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    if (hook) hook(id);
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
    if (auto f = create_faults_.find(id); f != create_faults_.end() && f->second.times > 0) {
      --f->second.times;
      Log("create-failed:" + id);
      return f->second.error;
    }
    things_[id] = hash;
    attrs["serial"] = ++serial_;  // what creation "learnt"
    Log("created:" + id);
    return attrs;
  }

  Status Delete(const nlohmann::json& attrs) {
    std::lock_guard<std::mutex> lock(mu_);
    std::string id = attrs.value("id", "");
    Log("delete:" + id);
    if (auto f = delete_faults_.find(id); f != delete_faults_.end()) return f->second;
    things_.erase(id);  // succeeds when already gone
    return Status::Ok();
  }

 private:
  struct CreateFault {
    int times = 0;
    Status error;
  };

  void Log(std::string call) const {  // requires mu_
    calls_.push_back(std::move(call));
    cv_.notify_all();
  }

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::map<std::string, std::string> things_;
  mutable std::vector<std::string> calls_;
  std::map<std::string, CreateFault> create_faults_;
  std::map<std::string, Status> delete_faults_;
  std::map<std::string, bool> exists_lies_;
  std::map<std::string, Status> exists_faults_;
  std::chrono::milliseconds create_delay_{0};
  Hook on_create_;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
  int serial_ = 0;
};

// A resource that lives in a FakeWorld: it exists when the world holds its id with its hash.
class FakeResource final : public Resource {
 public:
  FakeResource(FakeWorld& world, std::string id, std::vector<std::string> deps = {},
               std::string hash = "v1", std::string kind = kFakeKind)
      : world_(world),
        id_(std::move(id)),
        deps_(std::move(deps)),
        hash_(std::move(hash)),
        kind_(std::move(kind)) {}

  std::string id() const override { return id_; }
  std::string kind() const override { return kind_; }
  std::string summary() const override { return "fake " + id_ + " " + hash_; }
  std::vector<std::string> deps() const override { return deps_; }
  std::string hash() const override { return hash_; }
  nlohmann::json attrs() const override { return {{"id", id_}}; }
  Result<bool> Exists() const override { return world_.Exists(id_, hash_); }
  Result<nlohmann::json> Create() override { return world_.Create(id_, hash_, attrs()); }

 private:
  FakeWorld& world_;
  const std::string id_;
  const std::vector<std::string> deps_;
  const std::string hash_;
  const std::string kind_;
};

inline std::unique_ptr<Resource> MakeFake(FakeWorld& world, const std::string& id,
                                          std::vector<std::string> deps = {},
                                          const std::string& hash = "v1",
                                          const std::string& kind = kFakeKind) {
  return std::make_unique<FakeResource>(world, id, std::move(deps), hash, kind);
}

}  // namespace carrierarr::provision::testing

#endif  // CARRIERARR_TESTS_PROVISION_FAKE_RESOURCE_H_
