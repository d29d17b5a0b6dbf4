// The fleet's recorded state: what carrierarr has made, so that `up` can resume and `down` can
// clean up after any crash. Lives in <fleet dir>/.carrierarr/state.json (mode 0600, rewritten
// atomically after every step) and is guarded by an exclusive lock on .carrierarr/lock, so two
// runs on one fleet can never interleave.
#ifndef CARRIERARR_PROVISION_STATE_STORE_H_
#define CARRIERARR_PROVISION_STATE_STORE_H_

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "mesh/address_plan.h"

namespace carrierarr::provision {

// A new phase goes last, and in the table in state_store.cc that checks it ends at the last one.
enum class Phase {
  kCreating,  // intent recorded before acting: the resource may exist partly
  kReady,     // created and read back
  kDeleting,  // delete started
};
std::string_view PhaseName(Phase phase);

// clang-tidy's bugprone-exception-escape flags the implicit (noexcept) default constructor: it
// reaches nlohmann::json's noexcept default constructor, which delegates to json_value(value_t),
// whose throw cannot happen for value_t::null. nlohmann suppresses the same finding on that
// constructor itself.
// NOLINTNEXTLINE(bugprone-exception-escape)
struct ResourceRecord {
  std::string kind;  // selects the deleter, e.g. "netns", "nebula", "file"
  Phase phase = Phase::kCreating;
  std::string hash;               // digest of the inputs it was made from
  std::vector<std::string> deps;  // ids it depends on, for reverse-order deletion
  nlohmann::json attrs;           // what is needed to find and delete it (names, paths, pid)
};

struct FleetState {
  int version = 1;
  std::string fleet;                                // fleet name at first `up`
  mesh::Assignments addresses;                      // node -> mesh IP, for every node that exists
  std::map<std::string, ResourceRecord> resources;  // by resource id
};

// Owns the lock for its lifetime. Mutators are thread-safe (the engine applies steps in
// parallel); each call that changes the state persists it before returning.
class StateStore {
 public:
  // Creates <dir>/.carrierarr (0700) when missing, takes the lock (failing at once with a clear
  // message when another run holds it) and loads state.json if present.
  static Result<std::unique_ptr<StateStore>> Open(const std::string& fleet_dir);
  ~StateStore();

  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  FleetState Snapshot() const;
  const std::string& state_dir() const { return state_dir_; }

  Status Put(const std::string& id, ResourceRecord record);
  Status SetPhase(const std::string& id, Phase phase);
  Status Remove(const std::string& id);
  Status SetAddresses(const std::string& fleet, const mesh::Assignments& addresses);
  // Removes state.json and the lock file's directory contents we own; for a completed `down`.
  Status Erase();

 private:
  StateStore(std::string state_dir, int lock_fd, FleetState state);
  Status SaveLocked();  // requires mu_

  const std::string state_dir_;
  const int lock_fd_;
  mutable std::mutex mu_;
  FleetState state_;  // guarded by mu_
};

// (De)serialisation, exposed for tests.
nlohmann::json StateToJson(const FleetState& state);
Result<FleetState> StateFromJson(const nlohmann::json& j);

}  // namespace carrierarr::provision

#endif  // CARRIERARR_PROVISION_STATE_STORE_H_
