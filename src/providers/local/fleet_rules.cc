// fleet.yaml's part for the local provider: providers.local.underlay (and that it fits the
// mesh) and providers.local.ollama.
#include "providers/local/local_provider.h"
#include "spec/fleet_reader.h"

namespace carrierarr::local {
namespace {

class Rules final : public spec::ProviderRules {
 public:
  std::string_view name() const override { return kName; }
  void ReadSettings(spec::FleetReader& reader, const YAML::Node& section,
                    spec::FleetSpec& fleet) const override {
    auto m = reader.Map(section, "providers.local", {"underlay", "ollama"});
    if (m.count("underlay") &&
        reader.Cidr(m["underlay"], "providers.local.underlay", &fleet.local.underlay)) {
      reader.Remember("providers.local.underlay", m["underlay"].Mark());
    }
    if (m.count("ollama") &&
        reader.Scalar(m["ollama"], "providers.local.ollama", &fleet.local.ollama) &&
        !fleet.local.ollama.empty() && fleet.local.ollama[0] != '/') {
      reader.Error(m["ollama"].Mark(),
                   "providers.local.ollama '" + fleet.local.ollama +
                       "' must be an absolute path, e.g. /usr/local/bin/ollama");
    }
  }
  // A local node is a network namespace of this machine: it boots no image.
  void CheckPool(spec::FleetReader& reader, const std::map<std::string, YAML::Node>& keys,
                 const spec::PoolSpec& pool, const std::string& where) const override {
    auto image = keys.find("image");
    if (image == keys.end() || pool.image.empty()) return;
    reader.Error(image->second.Mark(), where +
                                           ".image is for pools that boot a machine image "
                                           "(aws); a local pool's nodes are network "
                                           "namespaces here: remove it");
  }
  void Validate(spec::FleetReader& reader, const spec::FleetSpec& f) const override {
    const Ipv4Net& mesh = f.mesh.cidr;
    const Ipv4Net& underlay = f.local.underlay;
    if (mesh.Overlaps(underlay)) {
      reader.Error(
          reader.MarkOf(reader.Remembered("providers.local.underlay") ? "providers.local.underlay"
                                                                      : "mesh.cidr"),
          "mesh.cidr " + mesh.ToString() + " overlaps providers.local.underlay " +
              underlay.ToString() + "; the overlay and the underlay must be disjoint");
    }
    // A node's underlay address is the underlay network plus the low 16 bits of its mesh
    // address; a narrower underlay would give two nodes the same underlay address.
    if (underlay.PrefixLength() > 16) {
      reader.Error(reader.MarkOf("providers.local.underlay"),
                   "providers.local.underlay " + underlay.ToString() +
                       " is narrower than /16: "
                       "each node's underlay address is this network plus the low 16 bits of its "
                       "mesh address; use a /16 or wider, e.g. 198.18.0.0/15");
    }
  }
};

// Constant-initialized, so it is there before any dynamic initializer asks for it.
constinit const Rules kRules;

}  // namespace

const spec::ProviderRules& LocalFleetRules() { return kRules; }

}  // namespace carrierarr::local
