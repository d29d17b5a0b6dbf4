#include "aws/ec2.h"

#include <algorithm>
#include <pugixml.hpp>
#include <type_traits>

namespace carrierarr::aws {
namespace {

constexpr char kService[] = "ec2";

// Children by local name: EC2's answers carry a default namespace; pugixml keeps prefixes, so
// matching by local name is robust to either form.
std::string_view Local(const char* name) {
  std::string_view n(name);
  size_t colon = n.find(':');
  return colon == std::string_view::npos ? n : n.substr(colon + 1);
}
pugi::xml_node Child(pugi::xml_node node, std::string_view name) {
  for (pugi::xml_node c : node.children())
    if (Local(c.name()) == name) return c;
  return {};
}
std::string Text(pugi::xml_node node, std::string_view name) {
  return Child(node, name).text().as_string();
}
// <name><item>..</item>...</name>
std::vector<pugi::xml_node> Items(pugi::xml_node node, std::string_view name) {
  std::vector<pugi::xml_node> out;
  for (pugi::xml_node c : Child(node, name).children())
    if (Local(c.name()) == "item") out.push_back(c);
  return out;
}

Result<pugi::xml_node> Parse(pugi::xml_document& doc, const Result<std::string>& body,
                             const char* action) {
  if (!body.ok()) return body.status();
  if (!doc.load_buffer(body->data(), body->size()))
    return Status::DataLoss(std::string("ec2 ") + action + ": the answer is not XML");
  return doc.document_element();
}

// Runs one EC2 Query action and parses its answer into `doc`; `action` also names the call in
// the error when the answer is not XML.
Result<pugi::xml_node> Call(AwsApi& api, pugi::xml_document& doc, const char* action,
                            const QueryParams& params) {
  return Parse(doc, api.Query(kService, action, params), action);
}

Tags ParseTags(pugi::xml_node node) {
  Tags tags;
  for (auto item : Items(node, "tagSet")) tags.push_back({Text(item, "key"), Text(item, "value")});
  return tags;
}

// <prefix>.1, <prefix>.2, ...: the Query API's lists.
void AddList(QueryParams& p, const std::string& prefix, const std::vector<std::string>& values) {
  for (size_t i = 0; i < values.size(); ++i)
    p.emplace_back(prefix + "." + std::to_string(i + 1), values[i]);
}

void AddFilters(QueryParams& p, const std::vector<Filter>& filters) {
  for (size_t i = 0; i < filters.size(); ++i) {
    std::string f = "Filter." + std::to_string(i + 1);
    p.emplace_back(f + ".Name", filters[i].name);
    AddList(p, f + ".Value", filters[i].values);
  }
}

void AddTagSpec(QueryParams& p, int n, const std::string& type, const Tags& tags) {
  if (tags.empty()) return;
  std::string t = "TagSpecification." + std::to_string(n);
  p.emplace_back(t + ".ResourceType", type);
  for (size_t i = 0; i < tags.size(); ++i) {
    p.emplace_back(t + ".Tag." + std::to_string(i + 1) + ".Key", tags[i].key);
    p.emplace_back(t + ".Tag." + std::to_string(i + 1) + ".Value", tags[i].value);
  }
}

void AddPermissions(QueryParams& p, const std::vector<IngressRule>& rules) {
  for (size_t i = 0; i < rules.size(); ++i) {
    std::string k = "IpPermissions." + std::to_string(i + 1);
    const IngressRule& r = rules[i];
    p.emplace_back(k + ".IpProtocol", r.protocol);
    p.emplace_back(k + ".FromPort", std::to_string(r.from_port));
    p.emplace_back(k + ".ToPort", std::to_string(r.to_port));
    bool v6 = r.cidr.find(':') != std::string::npos;
    std::string range = k + (v6 ? ".Ipv6Ranges.1." : ".IpRanges.1.");
    p.emplace_back(range + (v6 ? "CidrIpv6" : "CidrIp"), r.cidr);
    if (!r.description.empty()) p.emplace_back(range + "Description", r.description);
  }
}

SecurityGroup ParseSecurityGroup(pugi::xml_node n) {
  SecurityGroup g;
  g.id = Text(n, "groupId");
  g.name = Text(n, "groupName");
  g.description = Text(n, "groupDescription");
  g.vpc_id = Text(n, "vpcId");
  g.tags = ParseTags(n);
  for (auto perm : Items(n, "ipPermissions")) {
    const IngressRule base{.protocol = Text(perm, "ipProtocol"),
                           .from_port = Child(perm, "fromPort").text().as_int(),
                           .to_port = Child(perm, "toPort").text().as_int()};
    for (auto [set, cidr] :
         {std::pair{"ipRanges", "cidrIp"}, std::pair{"ipv6Ranges", "cidrIpv6"}}) {
      for (auto range : Items(perm, set)) {
        IngressRule r = base;
        r.cidr = Text(range, cidr);
        r.description = Text(range, "description");
        g.ingress.push_back(r);
      }
    }
  }
  return g;
}

// A key pair or an address as DescribeKeyPairs and DescribeAddresses list it; the Create answers
// have the same fields at their root.
KeyPair ParseKeyPair(pugi::xml_node n) {
  return KeyPair{.name = Text(n, "keyName"),
                 .id = Text(n, "keyPairId"),
                 .fingerprint = Text(n, "keyFingerprint"),
                 .tags = ParseTags(n)};
}

Address ParseAddress(pugi::xml_node n) {
  return Address{.allocation_id = Text(n, "allocationId"),
                 .public_ip = Text(n, "publicIp"),
                 .association_id = Text(n, "associationId"),
                 .instance_id = Text(n, "instanceId"),
                 .tags = ParseTags(n)};
}

Instance ParseInstance(pugi::xml_node n) {
  Instance i;
  i.id = Text(n, "instanceId");
  i.type = Text(n, "instanceType");
  i.image_id = Text(n, "imageId");
  i.state = Text(Child(n, "instanceState"), "name");
  i.public_ip = Text(n, "ipAddress");
  i.private_ip = Text(n, "privateIpAddress");
  i.launch_time = Text(n, "launchTime");
  i.state_reason = Text(Child(n, "stateReason"), "message");
  i.spot = Text(n, "instanceLifecycle") == "spot";
  i.tags = ParseTags(n);
  return i;
}

// Runs a Describe* action with `filters` added to `params` and maps each <item> of the answer's
// `set` with `map`.
template <typename Map>
auto Describe(AwsApi& api, const char* action, QueryParams params,
              const std::vector<Filter>& filters, std::string_view set, Map map)
    -> Result<std::vector<std::invoke_result_t<Map, pugi::xml_node>>> {
  AddFilters(params, filters);
  pugi::xml_document doc;
  auto root = Call(api, doc, action, params);
  if (!root.ok()) return root.status();
  std::vector<std::invoke_result_t<Map, pugi::xml_node>> out;
  for (auto item : Items(*root, set)) out.push_back(map(item));
  return out;
}

// "absent" answers that an idempotent delete treats as done.
Status AbsentIsDone(const Result<std::string>& r, std::initializer_list<const char*> codes) {
  if (r.ok()) return Status::Ok();
  for (const char* c : codes)
    if (HasAwsCode(r.status(), c)) return Status::Ok();
  return r.status();
}

}  // namespace

std::string Instance::TagValue(const std::string& key) const {
  for (const auto& t : tags)
    if (t.key == key) return t.value;
  return "";
}

Result<std::string> Ec2::DefaultVpc() {
  auto vpcs = Describe(*api_, "DescribeVpcs", {}, {{"isDefault", {"true"}}}, "vpcSet",
                       [](pugi::xml_node item) { return Text(item, "vpcId"); });
  if (!vpcs.ok()) return vpcs.status();
  if (!vpcs->empty()) return vpcs->front();
  return Status::NotFound("this region has no default VPC: name one with providers.aws.vpc_id");
}

Result<std::string> Ec2::CreateSecurityGroup(const std::string& name,
                                             const std::string& description,
                                             const std::string& vpc_id, const Tags& tags) {
  QueryParams p{{"GroupName", name}, {"GroupDescription", description}};
  if (!vpc_id.empty()) p.emplace_back("VpcId", vpc_id);
  AddTagSpec(p, 1, "security-group", tags);
  pugi::xml_document doc;
  auto root = Call(*api_, doc, "CreateSecurityGroup", p);
  if (!root.ok()) return root.status();
  return Text(*root, "groupId");
}

Result<std::vector<SecurityGroup>> Ec2::DescribeSecurityGroups(const std::vector<Filter>& filters) {
  return Describe(*api_, "DescribeSecurityGroups", {}, filters, "securityGroupInfo",
                  ParseSecurityGroup);
}

Status Ec2::AuthorizeIngress(const std::string& group_id, const std::vector<IngressRule>& rules) {
  QueryParams p{{"GroupId", group_id}};
  AddPermissions(p, rules);
  return AbsentIsDone(api_->Query(kService, "AuthorizeSecurityGroupIngress", p),
                      {"InvalidPermission.Duplicate"});
}

Status Ec2::RevokeIngress(const std::string& group_id, const std::vector<IngressRule>& rules) {
  QueryParams p{{"GroupId", group_id}};
  AddPermissions(p, rules);
  return AbsentIsDone(api_->Query(kService, "RevokeSecurityGroupIngress", p),
                      {"InvalidPermission.NotFound"});
}

Status Ec2::DeleteSecurityGroup(const std::string& group_id) {
  return AbsentIsDone(api_->Query(kService, "DeleteSecurityGroup", {{"GroupId", group_id}}),
                      {"InvalidGroup.NotFound"});
}

Result<KeyPair> Ec2::CreateKeyPair(const std::string& name, const std::string& key_type,
                                   const Tags& tags) {
  QueryParams p{{"KeyName", name}, {"KeyType", key_type}};
  AddTagSpec(p, 1, "key-pair", tags);
  pugi::xml_document doc;
  auto root = Call(*api_, doc, "CreateKeyPair", p);
  if (!root.ok()) return root.status();
  KeyPair key = ParseKeyPair(*root);
  key.material = Text(*root, "keyMaterial");
  key.tags = tags;
  return key;
}

Result<std::vector<KeyPair>> Ec2::DescribeKeyPairs(const std::vector<Filter>& filters) {
  return Describe(*api_, "DescribeKeyPairs", {}, filters, "keySet", ParseKeyPair);
}

Status Ec2::DeleteKeyPair(const std::string& name) {
  return AbsentIsDone(api_->Query(kService, "DeleteKeyPair", {{"KeyName", name}}),
                      {"InvalidKeyPair.NotFound"});
}

Result<std::vector<Image>> Ec2::DescribeImages(const std::string& owner,
                                               const std::vector<Filter>& filters) {
  auto images = Describe(*api_, "DescribeImages", {{"Owner.1", owner}}, filters, "imagesSet",
                         [](pugi::xml_node item) {
                           return Image{.id = Text(item, "imageId"),
                                        .name = Text(item, "name"),
                                        .architecture = Text(item, "architecture"),
                                        .creation_date = Text(item, "creationDate"),
                                        .state = Text(item, "imageState")};
                         });
  if (!images.ok()) return images.status();
  // ISO 8601 dates sort as text.
  std::sort(images->begin(), images->end(),
            [](const Image& a, const Image& b) { return a.creation_date > b.creation_date; });
  return images;
}

Result<Instance> Ec2::RunInstance(const RunInstancesRequest& r) {
  QueryParams p{{"ImageId", r.image_id},
                {"InstanceType", r.instance_type},
                {"MinCount", "1"},
                {"MaxCount", "1"}};
  if (!r.key_name.empty()) p.emplace_back("KeyName", r.key_name);
  if (!r.security_group_id.empty()) p.emplace_back("SecurityGroupId.1", r.security_group_id);
  if (!r.subnet_id.empty()) p.emplace_back("SubnetId", r.subnet_id);
  if (!r.user_data_base64.empty()) p.emplace_back("UserData", r.user_data_base64);
  if (!r.client_token.empty()) p.emplace_back("ClientToken", r.client_token);
  if (!r.iam_instance_profile.empty())
    p.emplace_back("IamInstanceProfile.Name", r.iam_instance_profile);
  p.emplace_back("MetadataOptions.HttpTokens", "required");
  p.emplace_back("MetadataOptions.HttpEndpoint", "enabled");
  // One hop: the instance itself reaches IMDS, a pod behind the node's bridge (one more hop)
  // does not, so no pod reads the userdata or the instance role's credentials.
  p.emplace_back("MetadataOptions.HttpPutResponseHopLimit", "1");
  p.emplace_back("BlockDeviceMapping.1.DeviceName", r.root_device);
  p.emplace_back("BlockDeviceMapping.1.Ebs.VolumeSize", std::to_string(r.root_volume_gb));
  p.emplace_back("BlockDeviceMapping.1.Ebs.VolumeType", "gp3");
  p.emplace_back("BlockDeviceMapping.1.Ebs.Encrypted", "true");
  p.emplace_back("BlockDeviceMapping.1.Ebs.DeleteOnTermination", "true");
  if (r.data_volume_gb > 0) {
    p.emplace_back("BlockDeviceMapping.2.DeviceName", r.data_device);
    p.emplace_back("BlockDeviceMapping.2.Ebs.VolumeSize", std::to_string(r.data_volume_gb));
    p.emplace_back("BlockDeviceMapping.2.Ebs.VolumeType", "gp3");
    p.emplace_back("BlockDeviceMapping.2.Ebs.Encrypted", "true");
    p.emplace_back("BlockDeviceMapping.2.Ebs.DeleteOnTermination", "true");
  }
  if (r.spot) p.emplace_back("InstanceMarketOptions.MarketType", "spot");
  AddTagSpec(p, 1, "instance", r.tags);
  AddTagSpec(p, 2, "volume", r.tags);
  pugi::xml_document doc;
  auto root = Call(*api_, doc, "RunInstances", p);
  if (!root.ok()) return root.status();
  auto items = Items(*root, "instancesSet");
  if (items.empty()) return Status::DataLoss("ec2 RunInstances: no instance in the answer");
  Instance instance = ParseInstance(items.front());
  instance.owner_id = Text(*root, "ownerId");
  return instance;
}

Result<std::vector<Instance>> Ec2::DescribeInstances(const std::vector<std::string>& ids,
                                                     const std::vector<Filter>& filters) {
  QueryParams p;
  AddList(p, "InstanceId", ids);
  AddFilters(p, filters);
  Result<std::string> body = Status::Internal("not called");
  // Right after RunInstances, EC2 may not know the id yet (eventual consistency).
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (attempt > 0) time_->SleepFor(std::chrono::milliseconds(200 * attempt));
    body = api_->Query(kService, "DescribeInstances", p);
    if (body.ok() || ids.empty() || !HasAwsCode(body.status(), kInstanceNotFound)) break;
  }
  pugi::xml_document doc;
  auto root = Parse(doc, body, "DescribeInstances");
  if (!root.ok()) return root.status();
  std::vector<Instance> out;
  for (auto reservation : Items(*root, "reservationSet")) {
    for (auto item : Items(reservation, "instancesSet")) {
      out.push_back(ParseInstance(item));
      out.back().owner_id = Text(reservation, "ownerId");
    }
  }
  return out;
}

Status Ec2::TerminateInstances(const std::vector<std::string>& ids) {
  QueryParams p;
  AddList(p, "InstanceId", ids);
  return AbsentIsDone(api_->Query(kService, "TerminateInstances", p), {kInstanceNotFound});
}

Status Ec2::StopInstances(const std::vector<std::string>& ids) {
  QueryParams p;
  AddList(p, "InstanceId", ids);
  return api_->Query(kService, "StopInstances", p).status();
}

Status Ec2::StartInstances(const std::vector<std::string>& ids) {
  QueryParams p;
  AddList(p, "InstanceId", ids);
  return api_->Query(kService, "StartInstances", p).status();
}

Result<Address> Ec2::AllocateAddress(const Tags& tags) {
  QueryParams p{{"Domain", "vpc"}};
  AddTagSpec(p, 1, "elastic-ip", tags);
  pugi::xml_document doc;
  auto root = Call(*api_, doc, "AllocateAddress", p);
  if (!root.ok()) return root.status();
  Address address = ParseAddress(*root);
  address.tags = tags;
  return address;
}

Result<std::vector<Address>> Ec2::DescribeAddresses(const std::vector<Filter>& filters) {
  return Describe(*api_, "DescribeAddresses", {}, filters, "addressesSet", ParseAddress);
}

Status Ec2::AssociateAddress(const std::string& allocation_id, const std::string& instance_id) {
  auto r = api_->Query(kService, "AssociateAddress",
                       {{"InstanceId", instance_id}, {"AllocationId", allocation_id}});
  return r.ok() ? Status::Ok() : r.status();
}

Status Ec2::DisassociateAddress(const std::string& association_id) {
  return AbsentIsDone(
      api_->Query(kService, "DisassociateAddress", {{"AssociationId", association_id}}),
      {"InvalidAssociationID.NotFound"});
}

Status Ec2::ReleaseAddress(const std::string& allocation_id) {
  return AbsentIsDone(api_->Query(kService, "ReleaseAddress", {{"AllocationId", allocation_id}}),
                      {"InvalidAllocationID.NotFound"});
}

Status Ec2::CreateTags(const std::vector<std::string>& ids, const Tags& tags) {
  QueryParams p;
  AddList(p, "ResourceId", ids);
  for (size_t i = 0; i < tags.size(); ++i) {
    p.emplace_back("Tag." + std::to_string(i + 1) + ".Key", tags[i].key);
    p.emplace_back("Tag." + std::to_string(i + 1) + ".Value", tags[i].value);
  }
  auto r = api_->Query(kService, "CreateTags", p);
  return r.ok() ? Status::Ok() : r.status();
}

}  // namespace carrierarr::aws
