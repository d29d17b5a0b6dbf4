// `carrierarr init`: writes a commented fleet.yaml to start from.
#include "cli/commands.h"
#include "cli/fleet_command.h"
#include "core/file_util.h"
#include "providers/registry.h"
#include "spec/fleet_parser.h"

namespace carrierarr::cli {
namespace {

class InitCommand final : public FleetCommand {
 public:
  CommandSpec Spec() const override {
    return {"init", "Writes a commented fleet.yaml (it refuses to overwrite one).",
            "carrierarr init [-f fleet.yaml] [-name NAME]"};
  }
  Preamble preamble() const override { return {.load_fleet = false}; }
  void DeclareFlags(FlagSet& flags) override {
    flags.String("name", &name_, "demo", "fleet name: 1-12 lowercase letters, digits or '-'");
  }

  Status CheckFlags() override {
    yaml_ = spec::InitTemplate(name_);
    // The template must parse: this also validates -name with fleet.yaml's own rules.
    if (!spec::ParseFleet(yaml_, "-name", providers::FleetRules()).ok()) {
      return Status::InvalidArgument("-name '" + name_ +
                                     "' is not a valid fleet name: 1-12 lowercase letters, "
                                     "digits or '-', starting with a letter");
    }
    return Status::Ok();
  }

  int Run(ops::FleetContext* /*ctx*/, const Invocation& invocation) override {
    Status s = WriteFileAtomic(fleet_file(), yaml_, 0644, Overwrite::kNo);
    if (s.code() == StatusCode::kAlreadyExists) {
      invocation.err << "Error: " << fleet_file()
                     << " already exists; edit it, or pass -f to write another file\n";
      return kExitFailure;
    }
    if (!s.ok()) return Fail(invocation.err, s);
    invocation.out << "wrote " << fleet_file() << " (fleet '" << name_
                   << "'): a lighthouse, the homelab node, one GPU and one CPU worker on the "
                      "local provider.\nNext: 'carrierarr plan' to see what 'carrierarr up' "
                      "would make.\n";
    return kExitOk;
  }

 private:
  std::string name_, yaml_;
};

}  // namespace

int RunInit(const Invocation& invocation) { return RunFleetCommand<InitCommand>(invocation); }

}  // namespace carrierarr::cli
