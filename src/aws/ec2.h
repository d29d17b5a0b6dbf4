// The EC2 actions carrierarr uses, on the Query API (../shared/spec/aws-wire.md): typed requests
// in, parsed XML out. Duplicates and not-found are answered the way an idempotent caller wants
// (see each method). Thread-safe as the AwsApi it is given; does not own it.
#ifndef CARRIERARR_AWS_EC2_H_
#define CARRIERARR_AWS_EC2_H_

#include <optional>
#include <string>
#include <vector>

#include "aws/client.h"
#include "core/status.h"
#include "core/time_source.h"

namespace carrierarr::aws {

struct Tag {
  std::string key, value;
  bool operator==(const Tag&) const = default;
};
using Tags = std::vector<Tag>;

// Filter.N.Name / Filter.N.Value.M
struct Filter {
  std::string name;  // "tag:carrierarr:fleet", "instance-state-name", "group-name"
  std::vector<std::string> values;
};

struct IngressRule {
  std::string protocol;  // "tcp", "udp", "icmp", "-1"
  int from_port = 0;
  int to_port = 0;
  std::string cidr;  // IPv4 "0.0.0.0/0" or IPv6 "::/0" (sent as Ipv6Ranges)
  std::string description;
  bool operator==(const IngressRule&) const = default;
};

struct SecurityGroup {
  std::string id, name, description, vpc_id;
  std::vector<IngressRule> ingress;  // one entry per (protocol, ports, cidr)
  Tags tags;
};

struct KeyPair {
  std::string name, id, fingerprint;
  std::string material;  // the private key: only from CreateKeyPair; never logged
  Tags tags;
};

struct Image {
  std::string id, name, architecture, creation_date, state;
};

struct Instance {
  std::string id, type, image_id, state;  // state: pending, running, stopping, ...
  std::string public_ip, private_ip, launch_time, state_reason;
  std::string owner_id;  // the account, from the reservation: part of the instance's ARN
  bool spot = false;     // instanceLifecycle "spot" (on-demand instances have none)
  Tags tags;
  std::string TagValue(const std::string& key) const;
};

struct Address {
  std::string allocation_id, public_ip, association_id, instance_id;
  Tags tags;
};

struct RunInstancesRequest {
  std::string image_id, instance_type, key_name, security_group_id;
  std::string user_data_base64;      // encoded by the caller; at most 16 KiB before encoding
  std::string client_token;          // <= 64 ASCII: the same token never launches twice
  std::string iam_instance_profile;  // name; optional
  std::string subnet_id;             // optional
  std::string root_device = "/dev/xvda";
  int root_volume_gb = 30;  // gp3, encrypted
  // A second gp3 volume, encrypted, deleted with the instance (kept while it is stopped);
  // 0 = none. The instance sees it at data_device (an NVMe instance: a symlink by that name).
  int data_volume_gb = 0;
  std::string data_device = "/dev/sdf";
  bool spot = false;
  Tags tags;  // on the instance and its volume
};

class Ec2 {
 public:
  // `time` paces the retries of a fresh instance id (eventual consistency). Neither is owned.
  Ec2(AwsApi* api, TimeSource* time) : api_(api), time_(time) {}

  // DescribeVpcs isDefault=true: the default VPC's id; NotFound with how to name one otherwise.
  Result<std::string> DefaultVpc();

  // Returns the new group's id. kAlreadyExists (InvalidGroup.Duplicate) when the name is taken.
  Result<std::string> CreateSecurityGroup(const std::string& name, const std::string& description,
                                          const std::string& vpc_id, const Tags& tags);
  Result<std::vector<SecurityGroup>> DescribeSecurityGroups(const std::vector<Filter>& filters);
  // InvalidPermission.Duplicate counts as success: the rule is there.
  Status AuthorizeIngress(const std::string& group_id, const std::vector<IngressRule>& rules);
  Status RevokeIngress(const std::string& group_id, const std::vector<IngressRule>& rules);
  // InvalidGroup.NotFound counts as success. DependencyViolation comes back as an error.
  Status DeleteSecurityGroup(const std::string& group_id);

  // key_type: "ed25519" or "rsa". kAlreadyExists on InvalidKeyPair.Duplicate.
  Result<KeyPair> CreateKeyPair(const std::string& name, const std::string& key_type,
                                const Tags& tags);
  Result<std::vector<KeyPair>> DescribeKeyPairs(const std::vector<Filter>& filters);
  Status DeleteKeyPair(const std::string& name);  // absent counts as success

  // Owner.1=<owner>; images sorted newest first (by creationDate).
  Result<std::vector<Image>> DescribeImages(const std::string& owner,
                                            const std::vector<Filter>& filters);

  Result<Instance> RunInstance(const RunInstancesRequest& request);
  // By ids (InstanceId.N) and/or filters. InvalidInstanceID.NotFound (normal right after a
  // launch) is retried a few times before it is returned as kNotFound.
  Result<std::vector<Instance>> DescribeInstances(const std::vector<std::string>& ids,
                                                  const std::vector<Filter>& filters);
  Status TerminateInstances(const std::vector<std::string>& ids);  // absent: success
  // Stopped instances keep their EBS volumes (and are not billed for compute); started ones
  // boot again from them. Absent: NotFound.
  Status StopInstances(const std::vector<std::string>& ids);
  Status StartInstances(const std::vector<std::string>& ids);

  Result<Address> AllocateAddress(const Tags& tags);  // Domain=vpc
  Result<std::vector<Address>> DescribeAddresses(const std::vector<Filter>& filters);
  Status AssociateAddress(const std::string& allocation_id, const std::string& instance_id);
  Status DisassociateAddress(const std::string& association_id);  // absent: success
  Status ReleaseAddress(const std::string& allocation_id);        // absent: success

  Status CreateTags(const std::vector<std::string>& resource_ids, const Tags& tags);

 private:
  AwsApi* api_;
  TimeSource* time_;
};

// Retries with these codes are the caller's business; these name them once.
inline constexpr char kDependencyViolation[] = "DependencyViolation";
inline constexpr char kInstanceNotFound[] = "InvalidInstanceID.NotFound";

}  // namespace carrierarr::aws

#endif  // CARRIERARR_AWS_EC2_H_
