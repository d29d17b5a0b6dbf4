// FakeAws: a stateful test double of the three AWS APIs carrierarr uses (EC2's Query API,
// Secrets Manager and Service Quotas), speaking real HTTP on 127.0.0.1 with AWS's documented
// XML/JSON shapes and error documents. It verifies every request's SigV4 signature, so the real
// client (libcurl, signing, retries, the credential chain) is what gets tested. AWS cannot run
// here: this is the one fake for it, behind the same wire the real endpoint speaks.
//
// Behaviour worth knowing: a new instance is "pending" for `pending_describes` describes that
// include it, then "running"; a terminated one is "shutting-down" for `terminating_describes`,
// then "terminated" (and stays visible, as on AWS); a stopped one is "stopping" as long, then
// "stopped", and a started one "pending" again. RunInstances honours ClientToken. Deleting a
// security group that a live instance uses fails with DependencyViolation. A secret's resource
// policy (PutResourcePolicy) is evaluated on GetSecretValue: its Deny statements (Principal "*",
// conditions ArnEquals, ArnNotEquals, StringEquals, StringNotEquals on ec2:SourceInstanceARN)
// refuse with AccessDeniedException; the caller's own IAM policy is taken to allow the read.
// An instance launched with an instance profile gets role credentials (RoleCredentials), as
// IMDS would hand them out: requests signed with them carry that instance's ARN.
//
// Thread-safe. The server runs on its own threads until Stop() or destruction.
#ifndef CARRIERARR_TESTS_TESTING_FAKE_AWS_H_
#define CARRIERARR_TESTS_TESTING_FAKE_AWS_H_

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace carrierarr::testing {

class FakeAws {
 public:
  struct Options {
    std::string access_key_id = "AKIDCARRIERARRTEST";
    std::string secret_access_key = "carrierarr-test-secret";
    std::string region = "us-east-1";
    std::chrono::milliseconds latency{0};  // added before every answer
    // Up to this much more, at random, both before the answer is made and after it is made (it
    // travels while the account changes, as on a real network): races between calls show.
    std::chrono::milliseconds jitter{0};
    int pending_describes = 1;
    int terminating_describes = 1;
    std::map<std::string, double> quotas;  // quota code -> value; others: 64
    // false: every spot launch fails as when the zone has no spot capacity
    // (InsufficientInstanceCapacity, HTTP 500, as EC2 answers it).
    bool spot_capacity = true;
    uint16_t port = 0;  // 0: any free port
  };

  struct Rule {
    std::string protocol;
    int from_port = 0, to_port = 0;
    std::string cidr, description;
  };

  // An EBS volume of a BlockDeviceMapping. It stays with the instance while it is stopped.
  struct Volume {
    std::string device, type;
    int size_gb = 0;
    bool encrypted = false, delete_on_termination = false;
  };

  // What RunInstances was asked for, and where the instance is now.
  struct Instance {
    std::string id, type, image_id, key_name, security_group_id, subnet_id;
    // user_data: as the node's cloud-init reads it (base64 decoded, then gunzipped when it is
    // gzip, as cloud-init does); user_data_gzipped: it was.
    std::string iam_instance_profile, http_tokens, client_token, user_data;
    bool user_data_gzipped = false;
    int root_volume_gb = 0;
    std::vector<Volume> volumes;          // the root's first
    int http_put_response_hop_limit = 0;  // MetadataOptions.HttpPutResponseHopLimit
    bool root_encrypted = false, spot = false;
    std::string state, public_ip, private_ip;
    std::vector<std::pair<std::string, std::string>> tags;
    int describes = 0;          // how often a describe included it since its last state change
    int stops = 0, starts = 0;  // StopInstances and StartInstances that changed its state
    std::string TagValue(const std::string& key) const;
  };

  // What IMDS would give `instance_id`'s role: temporary credentials (with a session token)
  // whose requests carry ec2:SourceInstanceARN = the instance's ARN. NotFound for an unknown or
  // terminated instance, FailedPrecondition for one without an instance profile.
  struct RoleCredentials {
    std::string access_key_id, secret_access_key, session_token, instance_arn;
  };
  Result<RoleCredentials> InstanceRoleCredentials(const std::string& instance_id);

  static Result<std::unique_ptr<FakeAws>> Start(Options options);
  ~FakeAws();
  void Stop();

  std::string endpoint() const;  // "http://127.0.0.1:PORT"

  // The next `times` calls of `action` fail with this AWS error.
  void FailNext(const std::string& action, int http_status, const std::string& code,
                const std::string& message, int times = 1);

  int calls() const;
  std::map<std::string, int> CallsByAction() const;
  int max_in_flight() const;  // most requests handled at once

  // Everything that still exists tagged carrierarr:fleet=<fleet>, one line each:
  // "instance i-...", "security-group sg-...", "key-pair NAME", "address eipalloc-...",
  // "secret NAME" (instances count until terminated).
  std::vector<std::string> Live(const std::string& fleet) const;
  std::vector<Instance> Instances(const std::string& fleet) const;  // not terminated
  std::vector<Rule> IngressRules(const std::string& fleet) const;   // of the fleet's groups
  // A secret's resource policy as put ("" = none) and its value; "" for an unknown secret.
  std::string SecretPolicy(const std::string& name) const;
  std::string SecretValue(const std::string& name) const;

  struct State;  // the fake account (fake_aws.cc)

 private:
  FakeAws() = default;
  std::unique_ptr<State> state_;
};

}  // namespace carrierarr::testing

#endif  // CARRIERARR_TESTS_TESTING_FAKE_AWS_H_
