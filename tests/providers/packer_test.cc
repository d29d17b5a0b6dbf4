// `carrierarr render packer`, the built binary: templates that HashiCorp's own HCL parser reads
// (tests/tools/hcl_check), with the images' safe defaults and the fleet's values, and an install
// script that checks every download; `packer validate -syntax-only` where packer is installed
// (it is not in Debian). And an aws pool's `image` is the AMI its nodes boot. No root.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "testing/tools.h"

namespace carrierarr {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

constexpr char kFleet[] =
    "name: demo\n"
    "lighthouse: {provider: aws, size: t4g.small}\n"
    "pools:\n"
    "  - {name: gpu, type: gpu-worker, provider: aws, instance_type: g5.xlarge}\n"
    "providers:\n"
    "  aws:\n"
    "    region: us-west-2\n"
    "    operator_cidrs: [203.0.113.7/32]\n"
    "    nebula_version: 1.9.4\n"
    "    agent_url: https://downloads.example.net/carrierarr-agent-{arch}\n"
    "    agent_sha256: {x86_64: ";

class RenderPacker : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string fleet =
        std::string(kFleet) + std::string(64, 'a') + ", arm64: " + std::string(64, 'b') + "}\n";
    ASSERT_TRUE(WriteFileAtomic(dir_ / "fleet.yaml", fleet, 0600).ok());
    RunResult r = testing::RunIn(dir_.path(), {testing::CarrierarrBinary(), "render", "packer"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("packer init . && packer build ."));
    const std::string check = testing::HclCheckBinary(dir_.path());
    ASSERT_FALSE(check.empty());
    RunResult parsed = testing::RunIn(
        dir_.path(), {check, "packer/carrierarr.pkr.hcl", "packer/carrierarr.auto.pkrvars.hcl"});
    ASSERT_EQ(parsed.exit_code, 0) << parsed.err;
    const Json files = Json::parse(parsed.out);
    template_ = files["packer/carrierarr.pkr.hcl"];
    values_ = files["packer/carrierarr.auto.pkrvars.hcl"]["attributes"];
  }

  // The blocks of `type` (with `labels`) in `body`.
  static std::vector<Json> Blocks(const Json& body, const std::string& type,
                                  const std::vector<std::string>& labels = {}) {
    std::vector<Json> out;
    for (const Json& b : body["blocks"])
      if (b["type"] == type && (labels.empty() || b["labels"] == Json(labels))) out.push_back(b);
    return out;
  }

  testing::ScratchDir dir_;
  Json template_, values_;
};

TEST_F(RenderPacker, TwoImagesOnAmazonLinuxWithImdsV2AndEncryptedRoots) {
  ASSERT_EQ(Blocks(template_, "packer").size(), 1u);
  const Json plugins = Blocks(Blocks(template_, "packer")[0], "required_plugins")[0];
  EXPECT_EQ(plugins["attributes"]["amazon"]["source"], "github.com/hashicorp/amazon");
  for (const std::string image : {"lighthouse", "gpu-worker"}) {
    SCOPED_TRACE(image);
    auto sources = Blocks(template_, "source", {"amazon-ebs", image});
    ASSERT_EQ(sources.size(), 1u);
    const Json& s = sources[0];
    EXPECT_EQ(s["attributes"]["ssh_username"], "ec2-user");
    EXPECT_EQ(s["attributes"]["imds_support"], "v2.0");
    EXPECT_EQ(s["attributes"]["region"]["expr"], "var.region");
    const Json filter = Blocks(s, "source_ami_filter")[0]["attributes"];
    EXPECT_EQ(filter["owners"], Json::array({"amazon"}));
    EXPECT_EQ(filter["most_recent"], true);
    const Json imds = Blocks(s, "metadata_options")[0]["attributes"];
    EXPECT_EQ(imds["http_tokens"], "required");
    EXPECT_EQ(imds["http_put_response_hop_limit"], 1);
    const Json disk = Blocks(s, "launch_block_device_mappings")[0]["attributes"];
    EXPECT_EQ(disk["encrypted"], true);
    EXPECT_EQ(disk["volume_type"], "gp3");
    // A build of the same name (packer build -only='lighthouse.*'), running install.sh.
    bool built = false;
    for (const Json& b : Blocks(template_, "build")) {
      if (b["attributes"]["name"] != image) continue;
      built = true;
      EXPECT_EQ(b["attributes"]["sources"], Json::array({"source.amazon-ebs." + image}));
      const Json shell = Blocks(b, "provisioner", {"shell"})[0]["attributes"];
      EXPECT_EQ(shell["script"]["expr"], "\"${path.root}/install.sh\"");
      EXPECT_THAT(shell["environment_vars"]["expr"].get<std::string>(),
                  HasSubstr("\"IMAGE=" + image + "\""));
    }
    EXPECT_TRUE(built);
  }
  // Every variable the template uses is declared.
  std::vector<std::string> declared;
  for (const Json& v : Blocks(template_, "variable")) declared.push_back(v["labels"][0]);
  for (const auto& [name, value] : values_.items())
    EXPECT_NE(std::find(declared.begin(), declared.end(), name), declared.end()) << name;
}

TEST_F(RenderPacker, TheValuesAreTheFleets) {
  EXPECT_EQ(values_["fleet"], "demo");
  EXPECT_EQ(values_["region"], "us-west-2");
  EXPECT_EQ(values_["lighthouse_instance_type"], "t4g.small");
  EXPECT_EQ(values_["lighthouse_arch"], "arm64");
  EXPECT_EQ(values_["gpu_instance_type"], "g5.xlarge");
  EXPECT_EQ(values_["gpu_arch"], "x86_64");
  EXPECT_EQ(values_["nebula_version"], "1.9.4");
  EXPECT_EQ(values_["k3s_version"], "v1.31.4+k3s1");
  EXPECT_EQ(values_["agent_url"], "https://downloads.example.net/carrierarr-agent-{arch}");
  EXPECT_EQ(values_["agent_sha256_x86_64"], std::string(64, 'a'));
  EXPECT_EQ(values_["agent_sha256_arm64"], std::string(64, 'b'));
  EXPECT_EQ(testing::ModeOf(dir_ / "packer/carrierarr.auto.pkrvars.hcl"), 0600u);
}

TEST_F(RenderPacker, TheInstallScriptChecksEveryDownloadAndIsValidBash) {
  const std::string script = testing::Slurp(dir_ / "packer/install.sh");
  RunResult syntax = testing::RunIn(dir_.path(), {"bash", "-n", "packer/install.sh"});
  EXPECT_EQ(syntax.exit_code, 0) << syntax.err;
  EXPECT_THAT(script, HasSubstr("set -Eeuo pipefail"));
  for (const char* checked :
       {"fetch \"${base}\" \"nebula-linux-${a}.tar.gz\" \"${base}/SHASUM256.txt\"",
        "fetch \"${base}\" \"${k3s}\" \"${base}/sha256sum-${a}.txt\"",
        "fetch https://get.helm.sh \"${helm}\" \"https://get.helm.sh/${helm}.sha256sum\"",
        "fetch \"${base}\" \"${cilium}\" \"${base}/${cilium}.sha256sum\"", "!= \"${AGENT_SHA256}\"",
        "nvidia-driver:${NVIDIA_DRIVER_BRANCH}-dkms", "nvidia-container-toolkit",
        "ln -sf k3s /usr/local/bin/kubectl"})
    EXPECT_THAT(script, HasSubstr(checked));
  EXPECT_THAT(script, Not(HasSubstr("get.k3s.io"))) << "no unchecked installer";
  EXPECT_THAT(script, Not(HasSubstr("| sh"))) << "nothing piped into a shell";
}

// The real packer, where one is installed (not in Debian): CARRIERARR_PACKER or PATH.
TEST_F(RenderPacker, PackerValidatesTheTemplates) {
  const char* named = std::getenv("CARRIERARR_PACKER");
  std::string packer = named != nullptr ? named : "";
  if (packer.empty()) {
    RunResult which = testing::RunIn(dir_.path(), {"/bin/sh", "-c", "command -v packer"});
    packer = which.exit_code == 0 ? which.out.substr(0, which.out.find('\n')) : "";
  }
  if (packer.empty()) {
    GTEST_SKIP() << "packer is not installed (not a Debian package); HashiCorp's HCL parser "
                    "checked the templates above. Set CARRIERARR_PACKER to run packer validate.";
  }
  RunResult r = testing::RunIn(dir_ / "packer", {packer, "validate", "-syntax-only", "."});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

}  // namespace
}  // namespace carrierarr
