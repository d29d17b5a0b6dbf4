#include "spec/fleet_reader.h"

#include <algorithm>
#include <set>

#include "core/duration.h"

namespace carrierarr::spec {
namespace {

// Levenshtein distance, for "did you mean" hints on misspelt keys.
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

bool IsDnsLabel(const std::string& s) {
  if (s.empty() || !(s[0] >= 'a' && s[0] <= 'z') || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

}  // namespace

void FleetReader::Error(const YAML::Mark& mark, const std::string& message) {
  // yaml-cpp marks are 0-based; an unknown position (-1) still prints as line 1.
  int line = mark.line >= 0 ? mark.line + 1 : 1;
  int column = mark.column >= 0 ? mark.column + 1 : 1;
  errors_.push_back(file_ + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
                    message);
}

// Checks that `node` is a mapping whose keys are all in `allowed` and appear once. Returns
// the values by key (absent keys are missing from the map).
std::map<std::string, YAML::Node> FleetReader::Map(const YAML::Node& node, const std::string& where,
                                                   const std::vector<std::string>& allowed) {
  std::map<std::string, YAML::Node> out;
  if (!node.IsMap()) {
    Error(node.Mark(), where + " must be a mapping of keys to values");
    return out;
  }
  for (const auto& entry : node) {
    const YAML::Node key_node = entry.first;
    if (!key_node.IsScalar()) {
      Error(key_node.Mark(), "keys in " + where + " must be plain words");
      continue;
    }
    const std::string& key = key_node.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string hint;
      size_t best = 3;
      for (const auto& a : allowed) {
        size_t d = EditDistance(key, a);
        if (d < best) {
          best = d;
          hint = " (did you mean '" + a + "'?)";
        }
      }
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      Error(key_node.Mark(), "unknown key '" + key + "' in " + where + hint + "; allowed: " + list);
      continue;
    }
    if (out.count(key) != 0) {
      Error(key_node.Mark(), "duplicate key '" + key + "' in " + where + "; keep one");
      continue;
    }
    out[key] = entry.second;
  }
  return out;
}

bool FleetReader::Scalar(const YAML::Node& node, const std::string& what, std::string* out) {
  if (!node.IsScalar()) {
    Error(node.Mark(), what + " must be a single value");
    return false;
  }
  *out = node.Scalar();
  return true;
}

// Reads a scalar and hands it to `parse`, which stores the value and returns "", or returns the
// problem to report at `node`.
template <typename Parse>
bool FleetReader::Parsed(const YAML::Node& node, const std::string& what, Parse parse) {
  std::string s;
  if (!Scalar(node, what, &s)) return false;
  const std::string problem = parse(s);
  if (problem.empty()) return true;
  Error(node.Mark(), problem);
  return false;
}

bool FleetReader::Int(const YAML::Node& node, const std::string& what, int64_t min, int64_t max,
                      int64_t* out) {
  return Parsed(node, what, [&](const std::string& s) -> std::string {
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(s, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != s.size() || v < min || v > max) {
      return what + " must be a whole number from " + std::to_string(min) + " to " +
             std::to_string(max) + ", not '" + s + "'";
    }
    *out = v;
    return "";
  });
}

bool FleetReader::Port(const YAML::Node& node, const std::string& what, uint16_t* out) {
  int64_t v;
  if (!Int(node, what, 1, 65535, &v)) return false;
  *out = static_cast<uint16_t>(v);
  return true;
}

bool FleetReader::Cidr(const YAML::Node& node, const std::string& what, Ipv4Net* out) {
  return Parsed(node, what, [&](const std::string& s) -> std::string {
    auto net = ParseCidr(s);
    if (!net.ok()) {
      return what + ": " + net.status().message() + "; write it as A.B.C.D/N, e.g. 10.42.0.0/16";
    }
    if (net->ip != net->Network()) {
      return what + " " + s + " has host bits set; did you mean " + net->Masked().ToString() + "?";
    }
    *out = *net;
    return "";
  });
}

bool FleetReader::Address(const YAML::Node& node, const std::string& what, uint32_t* out) {
  return Parsed(node, what, [&](const std::string& s) -> std::string {
    auto ip = ParseIpv4(s);
    if (!ip.ok()) return what + " '" + s + "' is not an IPv4 address (A.B.C.D, no mask)";
    *out = *ip;
    return "";
  });
}

bool FleetReader::Duration(const YAML::Node& node, const std::string& what,
                           std::chrono::nanoseconds* out) {
  return Parsed(node, what, [&](const std::string& s) -> std::string {
    auto d = ParseGoDuration(s);
    if (!d.ok() || *d <= std::chrono::nanoseconds(0)) {
      return what + " '" + s + "' is not a positive duration; write e.g. 8760h or 90m";
    }
    *out = *d;
    return "";
  });
}

bool FleetReader::Name(const YAML::Node& node, const std::string& what, size_t max_len,
                       std::string* out) {
  return Parsed(node, what, [&](const std::string& s) -> std::string {
    if (!IsDnsLabel(s) || s.size() > max_len) {
      return what + " '" + s + "' must be 1-" + std::to_string(max_len) +
             " lowercase letters, digits or '-', starting with a letter";
    }
    *out = s;
    return "";
  });
}

bool FleetReader::Groups(const YAML::Node& node, const std::string& what,
                         std::vector<std::string>* out) {
  if (!node.IsSequence()) {
    Error(node.Mark(), what + " must be a list, e.g. [workers, gpu-compute]");
    return false;
  }
  std::vector<std::string> groups;
  std::set<std::string> seen;
  for (const auto& item : node) {
    std::string g;
    if (!Scalar(item, what + " entry", &g)) continue;
    if (g.empty() || g.find_first_of(", \t") != std::string::npos) {
      Error(item.Mark(), what + " entry '" + g + "' must be one word without commas or spaces");
      continue;
    }
    if (!seen.insert(g).second) {
      Error(item.Mark(), "group '" + g + "' is listed twice in " + what);
      continue;
    }
    groups.push_back(g);
  }
  *out = groups;
  return true;
}

bool FleetReader::Bool(const YAML::Node& node, const std::string& what, bool* out) {
  return Parsed(node, what, [&](const std::string& s) -> std::string {
    if (s == "true" || s == "yes") {
      *out = true;
    } else if (s == "false" || s == "no") {
      *out = false;
    } else {
      return what + " must be true or false, not '" + s + "'";
    }
    return "";
  });
}

// A scalar that matches `ok`, else an error saying what it should look like.
bool FleetReader::Checked(const YAML::Node& node, const std::string& what, const std::string& shape,
                          const std::function<bool(const std::string&)>& ok, std::string* out) {
  return Parsed(node, what, [&](const std::string& s) -> std::string {
    if (!ok(s)) return what + " '" + s + "' must be " + shape;
    *out = s;
    return "";
  });
}

}  // namespace carrierarr::spec
