// What reading fleet.yaml is made of, for the parser and for the providers' own parts of the
// file: FleetReader checks values and collects every problem as "FILE:LINE:COLUMN: message"
// (never stopping at the first), and ProviderRules is what a provider adds to the file (its
// `providers.<name>` section, checks of the nodes placed on it). spec declares the interface
// and knows no provider: the providers implement it and the caller hands them to ParseFleet.
#ifndef CARRIERARR_SPEC_FLEET_READER_H_
#define CARRIERARR_SPEC_FLEET_READER_H_

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ipv4.h"
#include "spec/fleet.h"
#include "spec/fleet_parser.h"

namespace carrierarr::spec {

class FleetReader {
 public:
  explicit FleetReader(std::string file) : file_(std::move(file)) {}

  void Error(const YAML::Mark& mark, const std::string& message);
  const std::vector<std::string>& errors() const { return errors_; }

  // Where a value was read, by its dotted key ("mesh.cidr"), for checks across fields that
  // run after the document was read. A key never remembered has the unknown mark (line 1).
  void Remember(const std::string& key, const YAML::Mark& mark) { marks_[key] = mark; }
  bool Remembered(const std::string& key) const { return marks_.count(key) != 0; }
  YAML::Mark MarkOf(const std::string& key) const {
    auto it = marks_.find(key);
    return it == marks_.end() ? YAML::Mark() : it->second;
  }

  // Checks that `node` is a mapping whose keys are all in `allowed` and appear once. Returns
  // the values by key (absent keys are missing from the map).
  std::map<std::string, YAML::Node> Map(const YAML::Node& node, const std::string& where,
                                        const std::vector<std::string>& allowed);

  // Each reads `node` as `what` into `out`; false (with the problem reported) when it is not.
  bool Scalar(const YAML::Node& node, const std::string& what, std::string* out);
  bool Int(const YAML::Node& node, const std::string& what, int64_t min, int64_t max, int64_t* out);
  bool Port(const YAML::Node& node, const std::string& what, uint16_t* out);
  bool Cidr(const YAML::Node& node, const std::string& what, Ipv4Net* out);
  bool Address(const YAML::Node& node, const std::string& what, uint32_t* out);
  bool Duration(const YAML::Node& node, const std::string& what, std::chrono::nanoseconds* out);
  bool Name(const YAML::Node& node, const std::string& what, size_t max_len, std::string* out);
  bool Groups(const YAML::Node& node, const std::string& what, std::vector<std::string>* out);
  bool Bool(const YAML::Node& node, const std::string& what, bool* out);
  // A scalar that matches `ok`, else an error saying what it should look like.
  bool Checked(const YAML::Node& node, const std::string& what, const std::string& shape,
               const std::function<bool(const std::string&)>& ok, std::string* out);

 private:
  template <typename Parse>
  bool Parsed(const YAML::Node& node, const std::string& what, Parse parse);

  std::string file_;
  std::vector<std::string> errors_;
  std::map<std::string, YAML::Mark> marks_;
};

// A provider's part of fleet.yaml. Every method reports through the reader; none throws.
class ProviderRules {
 public:
  virtual ~ProviderRules() = default;
  // As fleet.yaml writes it: `provider: <name>` and `providers.<name>`.
  virtual std::string_view name() const = 0;
  // The `providers.<name>` section, into this provider's part of the model.
  virtual void ReadSettings(FleetReader& reader, const YAML::Node& section,
                            FleetSpec& fleet) const = 0;
  // The lighthouse is on this provider and fleet.yaml sets its size (`size`, read as `value`).
  virtual void CheckLighthouseSize(FleetReader& /*reader*/, const YAML::Node& /*size*/,
                                   const std::string& /*value*/) const {}
  // A pool is on this provider: its keys as written and what was read of them. `where` names
  // it in messages ("pool 'gpu'").
  virtual void CheckPool(FleetReader& /*reader*/, const std::map<std::string, YAML::Node>& /*keys*/,
                         const PoolSpec& /*pool*/, const std::string& /*where*/) const {}
  // The list price of one node of `instance_type` on this provider, per hour (a scaled pool's
  // price when fleet.yaml's `prices` has none); nullopt when the provider has no list.
  virtual std::optional<MicroUsd> ListPrice(const std::string& /*instance_type*/) const {
    return std::nullopt;
  }
  // Rules across fields, once the whole document read without a problem (whether or not the
  // fleet uses this provider: its settings have defaults that must still fit the mesh).
  virtual void Validate(FleetReader& /*reader*/, const FleetSpec& /*fleet*/) const {}
};

}  // namespace carrierarr::spec

#endif  // CARRIERARR_SPEC_FLEET_READER_H_
