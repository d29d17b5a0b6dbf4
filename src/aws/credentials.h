// Credentials and region, found in the order the AWS CLI uses (../shared/spec/aws-wire.md):
// environment -> shared credentials file -> credential_process -> config file -> container
// credentials -> instance metadata (IMDSv2). Everything it reads from the process (variables,
// home directory) comes in through Environment, so tests run the whole chain on temporary files
// and a loopback metadata server without touching the real ones.
#ifndef CARRIERARR_AWS_CREDENTIALS_H_
#define CARRIERARR_AWS_CREDENTIALS_H_

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "aws/http.h"
#include "aws/sigv4.h"
#include "core/environment.h"
#include "core/process_runner.h"
#include "core/status.h"
#include "core/time_source.h"

namespace carrierarr::aws {

// What the user chose on the command line (empty: not given).
struct AwsSelection {
  std::string profile;  // --profile; else AWS_PROFILE; else "default"
  std::string region;   // --region; else AWS_REGION, AWS_DEFAULT_REGION, the profile's, IMDS
};

// Where credentials come from; the client asks before every request. Thread-safe.
class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  virtual Result<Credentials> Get() = 0;
};

// Fixed credentials (tests, and `down` given explicit keys).
class StaticCredentials final : public CredentialSource {
 public:
  explicit StaticCredentials(Credentials c) : c_(std::move(c)) {}
  Result<Credentials> Get() override { return c_; }

 private:
  Credentials c_;
};

// The AWS CLI's chain. Resolves lazily on the first Get() (so `plan` needs no credentials),
// caches the answer and refreshes temporary credentials 5 minutes before they expire.
// `metadata` is the transport for the container and instance metadata endpoints (may be null:
// those steps are then skipped); `clock` decides expiry; `processes` runs credential_process
// (not owned; outlive the chain).
class CredentialChain final : public CredentialSource {
 public:
  CredentialChain(Environment env, AwsSelection selection, HttpTransport* metadata,
                  const TimeSource* clock, ProcessRunner* processes = RealProcessRunner::Get());
  Result<Credentials> Get() override;
  // The region by the same rules; an error that says how to set one when none is found.
  Result<std::string> Region();
  // The profile in force ("default" when none is named).
  std::string Profile() const;

 private:
  Result<Credentials> Resolve();
  Environment env_;
  AwsSelection selection_;
  HttpTransport* metadata_;
  const TimeSource* clock_;
  ProcessRunner* processes_;
  std::mutex mu_;
  std::optional<Credentials> cached_;  // guarded by mu_
};

// INI files as the AWS CLI reads them: "[name]" / "[profile name]" sections, "key = value",
// '#' and ';' comments; nested (indented) keys are ignored. Section -> key -> value.
using IniFile = std::map<std::string, std::map<std::string, std::string>>;
Result<IniFile> ParseIni(const std::string& text, const std::string& path_for_errors);

// Splits a credential_process command line the way the AWS CLI does (shell-like quoting,
// no expansion): the program then runs with argv, never through a shell.
Result<std::vector<std::string>> SplitCommandLine(const std::string& command);

}  // namespace carrierarr::aws

#endif  // CARRIERARR_AWS_CREDENTIALS_H_
