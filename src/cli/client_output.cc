#include "cli/client_output.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "core/utf8.h"

namespace carrierarr::cli {
namespace {

// "GPU_WORKER" -> "gpu-worker": how people write it on the command line.
std::string Lower(std::string name, const std::string& prefix) {
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  for (char& c : name) c = c == '_' ? '-' : static_cast<char>(std::tolower(c));
  return name;
}

}  // namespace

void PrintDone(std::ostream& out, bool json, const std::string& id_key, const std::string& id,
               const std::string& done, std::string_view noun) {
  if (json)
    out << nlohmann::ordered_json{{id_key, id}, {done, true}}.dump() << "\n";
  else
    out << done << " " << noun << " " << id << "\n";
}

std::string ProtoJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) return "{}";
  return out;
}

namespace {

void AppendEscaped(std::string& out, const char* format, unsigned value) {
  char buf[8];
  std::snprintf(buf, sizeof buf, format, value);
  out += buf;
}

// One ASCII character of Printable's text.
void AppendAscii(std::string& out, unsigned char c) {
  switch (c) {
    case '\\':
      out += "\\\\";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default:
      if (c < 0x20 || c == 0x7f)
        AppendEscaped(out, "\\x%02x", c);
      else
        out += static_cast<char>(c);
  }
}

}  // namespace

std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t n = Utf8SequenceLength(text, i);
    if (n == 0) {
      AppendEscaped(out, "\\x%02x", c);  // not UTF-8
      ++i;
      continue;
    }
    const auto next = n > 1 ? static_cast<unsigned char>(text[i + 1]) : 0;
    if (n == 1)
      AppendAscii(out, c);
    else if (c == 0xC2 && next < 0xA0)  // C1 controls U+0080..U+009F (U+009B is a CSI)
      AppendEscaped(out, "\\u%04x", next);
    else
      out.append(text.substr(i, n));
    i += n;
  }
  return out;
}

void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

std::string Ago(int64_t unix_ms, int64_t now_ms) {
  if (unix_ms <= 0) return "never";
  int64_t s = std::max<int64_t>(0, (now_ms - unix_ms) / 1000);
  if (s < 120) return std::to_string(s) + "s ago";
  if (s < 7200) return std::to_string(s / 60) + "m ago";
  if (s < 172800) return std::to_string(s / 3600) + "h ago";
  return std::to_string(s / 86400) + "d ago";
}

std::string UtcTime(int64_t unix_seconds) {
  if (unix_seconds <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Percent(double v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

std::string NodeTypeName(ec2agent::v1::NodeType t) {
  return t == ec2agent::v1::NODE_TYPE_UNSPECIFIED
             ? "-"
             : Lower(ec2agent::v1::NodeType_Name(t), "NODE_TYPE_");
}

std::string CommandTypeName(ec2agent::v1::CommandType t) {
  return Lower(ec2agent::v1::CommandType_Name(t), "COMMAND_TYPE_");
}

std::string HealthText(ec2agent::v1::HealthState h) {
  return h == ec2agent::v1::HEALTH_STATE_UNSPECIFIED
             ? "unknown"
             : Lower(ec2agent::v1::HealthState_Name(h), "HEALTH_STATE_");
}

std::string ServiceText(const ec2agent::v1::ServiceStatus& s) {
  std::string text = s.state() == ec2agent::v1::SERVICE_STATE_UNSPECIFIED
                         ? "unknown"
                         : Lower(ec2agent::v1::ServiceState_Name(s.state()), "SERVICE_STATE_");
  if (!s.message().empty()) text += " (" + s.message() + ")";
  return text;
}

std::string MemPercent(const ec2agent::v1::ResourceUsage& r) {
  if (r.memory_total_mb() <= 0) return "-";
  return Percent(100.0 * static_cast<double>(r.memory_used_mb()) /
                 static_cast<double>(r.memory_total_mb()));
}

int LoadedModels(const ec2agent::v1::NodeStatus& s) {
  return static_cast<int>(std::count_if(s.loaded_models().begin(), s.loaded_models().end(),
                                        [](const auto& m) { return m.currently_loaded(); }));
}

std::string ModelCounts(const ec2agent::v1::NodeStatus& s) {
  return std::to_string(LoadedModels(s)) + "/" + std::to_string(s.loaded_models_size());
}

}  // namespace carrierarr::cli
