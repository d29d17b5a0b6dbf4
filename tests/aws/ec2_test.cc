// Every EC2 action carrierarr uses: the exact request body (golden, as FormEncode puts it on the
// wire with Action and Version first) and the parsing of answers in AWS's documented shape
// (namespaced XML, <item> lists), plus how the idempotent callers see duplicates and absences.
#include "aws/ec2.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>

namespace carrierarr::aws {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Records each call's wire body and answers from a script (an error: a Status whose message has
// the client's "<service> <Action>: <Code>: ..." form).
class RecordingApi final : public AwsApi {
 public:
  struct Call {
    std::string service, action, body;
  };
  std::vector<Call> calls;
  std::deque<Result<std::string>> answers;

  Result<std::string> Query(const std::string& service, const std::string& action,
                            const QueryParams& params) override {
    QueryParams all{{"Action", action}, {"Version", "2016-11-15"}};
    all.insert(all.end(), params.begin(), params.end());
    calls.push_back({service, action, FormEncode(all)});
    return Next();
  }
  Result<std::string> Json(const std::string& service, const std::string& target,
                           const std::string& body) override {
    calls.push_back({service, target, body});
    return Next();
  }
  void Answer(std::string body) { answers.push_back(std::move(body)); }
  void Fail(StatusCode code, const std::string& action, const std::string& aws_code) {
    answers.push_back(Status(code, "ec2 " + action + ": " + aws_code + ": message; advice"));
  }

 private:
  Result<std::string> Next() {
    if (answers.empty())
      return std::string("<ok xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"/>");
    auto a = answers.front();
    answers.pop_front();
    return a;
  }
};

std::string Ec2Xml(const std::string& action, const std::string& inner) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<" + action +
         "Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>59dbff89-35bd"
         "</requestId>" +
         inner + "</" + action + "Response>";
}

const Tags kTags = {{"Name", "demo-sg"}, {"carrierarr:fleet", "demo"}};

class Ec2Test : public ::testing::Test {
 protected:
  RecordingApi api;
  SimulatedTimeSource time;
  Ec2 ec2{&api, &time};
  const std::string& Body() const { return api.calls.back().body; }
};

TEST_F(Ec2Test, DefaultVpc) {
  api.Answer(Ec2Xml("DescribeVpcs",
                    "<vpcSet><item><vpcId>vpc-1a2b</vpcId><isDefault>true</isDefault></item>"
                    "</vpcSet>"));
  EXPECT_EQ(*ec2.DefaultVpc(), "vpc-1a2b");
  EXPECT_EQ(Body(),
            "Action=DescribeVpcs&Version=2016-11-15&Filter.1.Name=isDefault&Filter.1.Value.1=true");
  api.Answer(Ec2Xml("DescribeVpcs", "<vpcSet/>"));
  auto none = ec2.DefaultVpc();
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(none.status().message(), HasSubstr("providers.aws.vpc_id"));
}

TEST_F(Ec2Test, SecurityGroupActions) {
  api.Answer(Ec2Xml("CreateSecurityGroup", "<return>true</return><groupId>sg-0abc</groupId>"));
  EXPECT_EQ(*ec2.CreateSecurityGroup("demo-sg", "Nebula from anywhere", "vpc-1", kTags), "sg-0abc");
  EXPECT_EQ(Body(),
            "Action=CreateSecurityGroup&Version=2016-11-15&GroupName=demo-sg&GroupDescription="
            "Nebula+from+anywhere&VpcId=vpc-1&TagSpecification.1.ResourceType=security-group&"
            "TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=demo-sg&"
            "TagSpecification.1.Tag.2.Key=carrierarr%3Afleet&TagSpecification.1.Tag.2.Value=demo");

  std::vector<IngressRule> rules{{"udp", 4242, 4242, "0.0.0.0/0", "Nebula"},
                                 {"tcp", 22, 22, "10.42.0.0/16", ""}};
  ASSERT_TRUE(ec2.AuthorizeIngress("sg-0abc", rules).ok());
  EXPECT_EQ(Body(),
            "Action=AuthorizeSecurityGroupIngress&Version=2016-11-15&GroupId=sg-0abc&"
            "IpPermissions.1.IpProtocol=udp&IpPermissions.1.FromPort=4242&IpPermissions.1.ToPort="
            "4242&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0%2F0&IpPermissions.1.IpRanges.1."
            "Description=Nebula&IpPermissions.2.IpProtocol=tcp&IpPermissions.2.FromPort=22&"
            "IpPermissions.2.ToPort=22&IpPermissions.2.IpRanges.1.CidrIp=10.42.0.0%2F16");
  api.Fail(StatusCode::kAlreadyExists, "AuthorizeSecurityGroupIngress",
           "InvalidPermission.Duplicate");
  EXPECT_TRUE(ec2.AuthorizeIngress("sg-0abc", rules).ok()) << "a duplicate rule is there";

  ASSERT_TRUE(ec2.RevokeIngress("sg-0abc", {{"tcp", 22, 22, "::/0", ""}}).ok());
  EXPECT_EQ(Body(),
            "Action=RevokeSecurityGroupIngress&Version=2016-11-15&GroupId=sg-0abc&"
            "IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=22&IpPermissions.1.ToPort=22&"
            "IpPermissions.1.Ipv6Ranges.1.CidrIpv6=%3A%3A%2F0");

  api.Answer(Ec2Xml(
      "DescribeSecurityGroups",
      "<securityGroupInfo><item><ownerId>1</ownerId><groupId>sg-0abc</groupId><groupName>"
      "demo-sg</groupName><groupDescription>d</groupDescription><vpcId>vpc-1</vpcId>"
      "<ipPermissions><item><ipProtocol>udp</ipProtocol><fromPort>4242</fromPort><toPort>4242"
      "</toPort><groups/><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp><description>Nebula"
      "</description></item></ipRanges><ipv6Ranges/></item></ipPermissions>"
      "<tagSet><item><key>carrierarr:fleet</key><value>demo</value></item></tagSet>"
      "</item></securityGroupInfo>"));
  auto groups = ec2.DescribeSecurityGroups({{"tag:carrierarr:fleet", {"demo"}}});
  ASSERT_TRUE(groups.ok());
  ASSERT_EQ(groups->size(), 1u);
  EXPECT_EQ((*groups)[0].id, "sg-0abc");
  EXPECT_THAT((*groups)[0].ingress,
              ElementsAre(IngressRule{"udp", 4242, 4242, "0.0.0.0/0", "Nebula"}));
  EXPECT_EQ((*groups)[0].tags, (Tags{{"carrierarr:fleet", "demo"}}));
  EXPECT_EQ(Body(),
            "Action=DescribeSecurityGroups&Version=2016-11-15&Filter.1.Name=tag%3Acarrierarr%3A"
            "fleet&Filter.1.Value.1=demo");

  ASSERT_TRUE(ec2.DeleteSecurityGroup("sg-0abc").ok());
  EXPECT_EQ(Body(), "Action=DeleteSecurityGroup&Version=2016-11-15&GroupId=sg-0abc");
  api.Fail(StatusCode::kNotFound, "DeleteSecurityGroup", "InvalidGroup.NotFound");
  EXPECT_TRUE(ec2.DeleteSecurityGroup("sg-0abc").ok());
  api.Fail(StatusCode::kFailedPrecondition, "DeleteSecurityGroup", "DependencyViolation");
  Status dep = ec2.DeleteSecurityGroup("sg-0abc");
  EXPECT_TRUE(HasAwsCode(dep, kDependencyViolation));
}

TEST_F(Ec2Test, KeyPairActions) {
  api.Answer(Ec2Xml("CreateKeyPair",
                    "<keyName>k</keyName><keyFingerprint>ab:cd</keyFingerprint><keyMaterial>"
                    "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----"
                    "</keyMaterial><keyPairId>key-0123</keyPairId>"));
  auto key = ec2.CreateKeyPair("k", "ed25519", {{"carrierarr:fleet", "demo"}});
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->id, "key-0123");
  EXPECT_THAT(key->material, HasSubstr("BEGIN OPENSSH PRIVATE KEY"));
  EXPECT_EQ(Body(),
            "Action=CreateKeyPair&Version=2016-11-15&KeyName=k&KeyType=ed25519&"
            "TagSpecification.1.ResourceType=key-pair&TagSpecification.1.Tag.1.Key=carrierarr%3A"
            "fleet&TagSpecification.1.Tag.1.Value=demo");
  api.Answer(Ec2Xml("DescribeKeyPairs",
                    "<keySet><item><keyPairId>key-0123</keyPairId><keyName>k</keyName>"
                    "<keyFingerprint>ab:cd</keyFingerprint></item></keySet>"));
  auto keys = ec2.DescribeKeyPairs({{"key-name", {"k"}}});
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].name, "k");
  EXPECT_TRUE((*keys)[0].material.empty());
  ASSERT_TRUE(ec2.DeleteKeyPair("k").ok());
  EXPECT_EQ(Body(), "Action=DeleteKeyPair&Version=2016-11-15&KeyName=k");
}

TEST_F(Ec2Test, ImagesNewestFirst) {
  api.Answer(Ec2Xml(
      "DescribeImages",
      "<imagesSet><item><imageId>ami-old</imageId><name>al2023-ami-2023.1</name><architecture>"
      "x86_64</architecture><creationDate>2023-03-01T00:00:00.000Z</creationDate><imageState>"
      "available</imageState></item><item><imageId>ami-new</imageId><name>al2023-ami-2023.6"
      "</name><architecture>x86_64</architecture><creationDate>2024-11-01T00:00:00.000Z"
      "</creationDate></item></imagesSet>"));
  auto images = ec2.DescribeImages("amazon", {{"name", {"al2023-ami-2023*-x86_64"}}});
  ASSERT_EQ(images->size(), 2u);
  EXPECT_EQ((*images)[0].id, "ami-new");
  EXPECT_EQ(Body(),
            "Action=DescribeImages&Version=2016-11-15&Owner.1=amazon&Filter.1.Name=name&"
            "Filter.1.Value.1=al2023-ami-2023%2A-x86_64");
}

const char kInstance[] =
    "<item><instanceId>i-0f1e</instanceId><imageId>ami-new</imageId><instanceState><code>0</code>"
    "<name>pending</name></instanceState><privateIpAddress>172.31.1.5</privateIpAddress>"
    "<instanceType>g4dn.xlarge</instanceType><tagSet><item><key>carrierarr:resource</key>"
    "<value>instance/gpu-1</value></item></tagSet></item>";

TEST_F(Ec2Test, RunInstanceWithEverySafeDefault) {
  api.Answer(Ec2Xml("RunInstances",
                    "<reservationId>r-1</reservationId><ownerId>111122223333</ownerId>"
                    "<instancesSet>" +
                        std::string(kInstance) + "</instancesSet>"));
  auto i = ec2.RunInstance({.image_id = "ami-new",
                            .instance_type = "g4dn.xlarge",
                            .key_name = "k",
                            .security_group_id = "sg-0abc",
                            .user_data_base64 = "I2Nsb3VkLWNvbmZpZwo=",
                            .client_token = "tok-1",
                            .iam_instance_profile = "node",
                            .root_volume_gb = 100,
                            .data_volume_gb = 64,
                            .spot = true,
                            .tags = {{"carrierarr:resource", "instance/gpu-1"}}});
  ASSERT_TRUE(i.ok()) << i.status().ToString();
  EXPECT_EQ(i->id, "i-0f1e");
  EXPECT_EQ(i->state, "pending");
  EXPECT_EQ(i->owner_id, "111122223333") << "the account, for the instance's ARN";
  EXPECT_EQ(i->TagValue("carrierarr:resource"), "instance/gpu-1");
  EXPECT_EQ(Body(),
            "Action=RunInstances&Version=2016-11-15&ImageId=ami-new&InstanceType=g4dn.xlarge&"
            "MinCount=1&MaxCount=1&KeyName=k&SecurityGroupId.1=sg-0abc&UserData="
            "I2Nsb3VkLWNvbmZpZwo%3D&ClientToken=tok-1&IamInstanceProfile.Name=node&"
            "MetadataOptions.HttpTokens=required&MetadataOptions.HttpEndpoint=enabled&"
            "MetadataOptions.HttpPutResponseHopLimit=1&"
            "BlockDeviceMapping.1.DeviceName=%2Fdev%2Fxvda&BlockDeviceMapping.1.Ebs.VolumeSize="
            "100&BlockDeviceMapping.1.Ebs.VolumeType=gp3&BlockDeviceMapping.1.Ebs.Encrypted=true&"
            "BlockDeviceMapping.1.Ebs.DeleteOnTermination=true&"
            "BlockDeviceMapping.2.DeviceName=%2Fdev%2Fsdf&BlockDeviceMapping.2.Ebs.VolumeSize=64&"
            "BlockDeviceMapping.2.Ebs.VolumeType=gp3&BlockDeviceMapping.2.Ebs.Encrypted=true&"
            "BlockDeviceMapping.2.Ebs.DeleteOnTermination=true&InstanceMarketOptions.MarketType="
            "spot&TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key="
            "carrierarr%3Aresource&TagSpecification.1.Tag.1.Value=instance%2Fgpu-1&"
            "TagSpecification.2.ResourceType=volume&TagSpecification.2.Tag.1.Key=carrierarr%3A"
            "resource&TagSpecification.2.Tag.1.Value=instance%2Fgpu-1");
}

TEST_F(Ec2Test, DescribeInstancesRetriesAFreshIdAndParsesReservations) {
  api.Fail(StatusCode::kNotFound, "DescribeInstances", "InvalidInstanceID.NotFound");
  api.Answer(Ec2Xml("DescribeInstances",
                    "<reservationSet><item><reservationId>r-1</reservationId><instancesSet>" +
                        std::string(kInstance) + "</instancesSet></item></reservationSet>"));
  auto found = ec2.DescribeInstances({"i-0f1e"}, {{"instance-state-name", {"pending", "running"}}});
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].private_ip, "172.31.1.5");
  EXPECT_EQ(api.calls.size(), 2u);
  EXPECT_EQ(time.slept(), std::chrono::milliseconds(200));  // one pause, on the simulated clock
  EXPECT_EQ(Body(),
            "Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-0f1e&Filter.1.Name="
            "instance-state-name&Filter.1.Value.1=pending&Filter.1.Value.2=running");
  ASSERT_TRUE(ec2.TerminateInstances({"i-0f1e"}).ok());
  EXPECT_EQ(Body(), "Action=TerminateInstances&Version=2016-11-15&InstanceId.1=i-0f1e");
  api.Fail(StatusCode::kNotFound, "TerminateInstances", "InvalidInstanceID.NotFound");
  EXPECT_TRUE(ec2.TerminateInstances({"i-0f1e"}).ok()) << "already gone";
}

TEST_F(Ec2Test, ElasticIpActions) {
  api.Answer(Ec2Xml("AllocateAddress",
                    "<publicIp>198.51.100.7</publicIp><domain>vpc</domain><allocationId>"
                    "eipalloc-1</allocationId>"));
  auto a = ec2.AllocateAddress({{"Name", "demo-lighthouse"}});
  EXPECT_EQ(a->public_ip, "198.51.100.7");
  EXPECT_EQ(Body(),
            "Action=AllocateAddress&Version=2016-11-15&Domain=vpc&TagSpecification.1."
            "ResourceType=elastic-ip&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1."
            "Value=demo-lighthouse");
  api.Answer(Ec2Xml("DescribeAddresses",
                    "<addressesSet><item><publicIp>198.51.100.7</publicIp><allocationId>"
                    "eipalloc-1</allocationId><domain>vpc</domain><instanceId>i-0f1e</instanceId>"
                    "<associationId>eipassoc-1</associationId></item></addressesSet>"));
  auto found = ec2.DescribeAddresses({{"allocation-id", {"eipalloc-1"}}});
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].instance_id, "i-0f1e");
  EXPECT_EQ((*found)[0].association_id, "eipassoc-1");
  ASSERT_TRUE(ec2.AssociateAddress("eipalloc-1", "i-0f1e").ok());
  EXPECT_EQ(Body(),
            "Action=AssociateAddress&Version=2016-11-15&InstanceId=i-0f1e&AllocationId=eipalloc-1");
  ASSERT_TRUE(ec2.DisassociateAddress("eipassoc-1").ok());
  EXPECT_EQ(Body(), "Action=DisassociateAddress&Version=2016-11-15&AssociationId=eipassoc-1");
  ASSERT_TRUE(ec2.ReleaseAddress("eipalloc-1").ok());
  EXPECT_EQ(Body(), "Action=ReleaseAddress&Version=2016-11-15&AllocationId=eipalloc-1");
  api.Fail(StatusCode::kNotFound, "ReleaseAddress", "InvalidAllocationID.NotFound");
  EXPECT_TRUE(ec2.ReleaseAddress("eipalloc-1").ok());
}

TEST_F(Ec2Test, NotXmlIsDataLoss) {
  api.Answer("<<<");
  EXPECT_EQ(ec2.DefaultVpc().status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace carrierarr::aws
