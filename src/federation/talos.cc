#include "federation/talos.h"

#include <yaml-cpp/yaml.h>

#include <vector>

namespace carrierarr::federation {
namespace {

// Block scalars for multi-line text (certificates, the Nebula config): readable, and exactly
// the bytes given.
void Emit(YAML::Emitter& out, const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      out << YAML::BeginMap;
      for (const auto& kv : node) {
        out << YAML::Key << kv.first.as<std::string>() << YAML::Value;
        Emit(out, kv.second);
      }
      out << YAML::EndMap;
      return;
    case YAML::NodeType::Sequence:
      out << YAML::BeginSeq;
      for (const auto& item : node) Emit(out, item);
      out << YAML::EndSeq;
      return;
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (s.find('\n') != std::string::npos) {
        out << YAML::Literal << s;
      } else if (node.Tag() == "!") {
        out << YAML::DoubleQuoted << s;  // a quoted scalar stays a string
      } else {
        out << s;
      }
      return;
    }
    default:
      out << YAML::Null;
  }
}

std::string Dump(const std::vector<YAML::Node>& docs) {
  std::string out;
  for (const YAML::Node& doc : docs) {
    YAML::Emitter e;
    Emit(e, doc);
    out += "---\n" + std::string(e.c_str()) + "\n";
  }
  return out;
}

// Maps merged key by key; lists extended with what they lack; anything else replaced.
void Merge(YAML::Node into, const YAML::Node& from) {
  for (const auto& kv : from) {
    const std::string key = kv.first.as<std::string>();
    YAML::Node have = into[key];
    if (have.IsMap() && kv.second.IsMap()) {
      Merge(have, kv.second);
    } else if (have.IsSequence() && kv.second.IsSequence()) {
      for (const auto& item : kv.second) {
        bool present = false;
        for (const auto& h : have) present = present || YAML::Dump(h) == YAML::Dump(item);
        if (!present) have.push_back(YAML::Clone(item));
      }
    } else {
      into[key] = YAML::Clone(kv.second);
    }
  }
}

bool IsNebulaService(const YAML::Node& doc) {
  return doc.IsMap() && doc["kind"] &&
         doc["kind"].as<std::string>("") == "ExtensionServiceConfig" && doc["name"] &&
         doc["name"].as<std::string>("") == "nebula";
}

YAML::Node File(const std::string& path, const std::string& content) {
  YAML::Node f;
  f["content"] = content;
  f["mountPath"] = path;
  return f;
}

}  // namespace

Result<std::string> RenderTalosPatch(const spec::FleetSpec& fleet, const TalosNode& node) {
  const std::string dir = kTalosNebulaDir;
  YAML::Node config;
  try {
    config = YAML::Load(node.nebula_config);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("the Nebula config of " + node.name +
                                   " is not YAML: " + e.what());
  }
  config["pki"]["ca"] = dir + "/ca.crt";
  config["pki"]["cert"] = dir + "/host.crt";
  config["pki"]["key"] = dir + "/host.key";
  YAML::Emitter nebula;
  Emit(nebula, config);

  YAML::Node machine;
  machine["machine"]["certSANs"].push_back(node.mesh_ip);
  machine["machine"]["kubelet"]["nodeIP"]["validSubnets"].push_back(
      fleet.mesh.cidr.Masked().ToString());
  if (node.control_plane) machine["cluster"]["apiServer"]["certSANs"].push_back(node.mesh_ip);

  YAML::Node service;
  service["apiVersion"] = "v1alpha1";
  service["kind"] = "ExtensionServiceConfig";
  service["name"] = "nebula";
  service["configFiles"].push_back(File(dir + "/config.yml", std::string(nebula.c_str()) + "\n"));
  service["configFiles"].push_back(File(dir + "/ca.crt", node.ca_crt));
  service["configFiles"].push_back(File(dir + "/host.crt", node.host_crt));
  service["configFiles"].push_back(File(dir + "/host.key", node.host_key));
  return "# Talos machine-config patch for " + node.name + " (written by carrierarr): the " +
         "kubelet on the mesh and Nebula as the siderolabs/nebula extension. Holds the node's " +
         "Nebula key.\n" + Dump({machine, service});
}

Result<std::string> MergeTalosConfig(const std::string& machine_config, const std::string& file,
                                     const std::string& patch, bool control_plane,
                                     const std::string& talos_version) {
  std::vector<YAML::Node> docs, extra;
  try {
    docs = YAML::LoadAll(machine_config);
    extra = YAML::LoadAll(patch);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                                   std::to_string(e.mark.column + 1) + ": " + e.msg +
                                   " (expected talosctl gen config's machine config)");
  }
  const std::string want = control_plane ? "controlplane" : "worker";
  YAML::Node* v1 = nullptr;
  for (YAML::Node& doc : docs)
    if (doc.IsMap() && doc["version"] && doc["version"].as<std::string>("") == "v1alpha1")
      v1 = &doc;
  if (v1 == nullptr || !(*v1)["machine"].IsMap()) {
    return Status::InvalidArgument(file + " has no Talos machine config (a document with " +
                                   "'version: v1alpha1' and 'machine:'); pass the " + want +
                                   ".yaml that 'talosctl gen config' wrote for the homelab");
  }
  const std::string type = (*v1)["machine"]["type"].as<std::string>("");
  if (type != want) {
    return Status::InvalidArgument(file + " is a '" + type + "' machine config, and this node " +
                                   "joins as '" + want + "'; pass " + want + ".yaml");
  }
  const std::string image = (*v1)["machine"]["install"]["image"].as<std::string>("");
  const size_t colon = image.rfind(':');
  if (colon != std::string::npos && image.find('/', colon) == std::string::npos &&
      image.substr(colon + 1) != talos_version) {
    return Status::InvalidArgument(file + " installs " + image +
                                   ", and federation.direct.talos_version is " + talos_version +
                                   ": generate it with talosctl " + talos_version +
                                   " (or set talos_version to the homelab's release)");
  }
  std::vector<YAML::Node> out;
  for (const YAML::Node& doc : docs)
    if (!IsNebulaService(doc)) out.push_back(doc);
  for (const YAML::Node& doc : extra) {
    if (doc.IsMap() && doc["machine"]) {
      for (YAML::Node& o : out)
        if (o.IsMap() && o["version"] && o["version"].as<std::string>("") == "v1alpha1")
          Merge(o, doc);
    } else if (doc.IsMap()) {
      out.push_back(doc);
    }
  }
  return Dump(out);
}

}  // namespace carrierarr::federation
