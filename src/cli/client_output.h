// How the control-plane clients print: proto3 JSON, aligned tables, times and the names of the
// agent protocol's enums as people write them.
#ifndef CARRIERARR_CLI_CLIENT_OUTPUT_H_
#define CARRIERARR_CLI_CLIENT_OUTPUT_H_

#include <google/protobuf/message.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "ec2agent/v1/agent.pb.h"

namespace carrierarr::cli {

// Proto3 JSON with the proto field names and every primitive field, "{}" should it fail.
std::string ProtoJson(const google::protobuf::Message& message);

// What a command prints once it has changed one object: {"<id_key>": id, "<done>": true} with
// --json, else "<done> <noun> <id>" (e.g. "deleted node n1").
void PrintDone(std::ostream& out, bool json, const std::string& id_key, const std::string& id,
               const std::string& done, std::string_view noun);

// Text from an agent (or stored from one), made safe to print on a terminal, one line: control
// characters (newlines, ESC sequences, C1 controls) become \n, \r, \t or \xNN / \u0085,
// bytes that are not UTF-8 become \xNN, and a backslash becomes \\ so nothing is ambiguous.
// Printable UTF-8 stays as it is. Not for a program's own output (exec prints that raw).
std::string Printable(std::string_view text);

// Columns padded to their widest cell, two spaces apart.
void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows);

// "42s ago", "5m ago", "3h ago", "2d ago" from `now_ms`; "never" for 0.
std::string Ago(int64_t unix_ms, int64_t now_ms);
// "2026-01-02T03:04:05Z"; "-" for 0.
std::string UtcTime(int64_t unix_seconds);
// No decimals: "42".
std::string Percent(double v);

std::string NodeTypeName(ec2agent::v1::NodeType t);             // "gpu-worker"
std::string CommandTypeName(ec2agent::v1::CommandType t);       // "pull-model"
std::string HealthText(ec2agent::v1::HealthState h);            // "healthy", "unknown"
std::string ServiceText(const ec2agent::v1::ServiceStatus& s);  // "running (message)"
std::string MemPercent(const ec2agent::v1::ResourceUsage& r);   // "-" without a total
int LoadedModels(const ec2agent::v1::NodeStatus& s);            // in memory (currently_loaded)
// The MODELS cell of `nodes`: "LOADED/LISTED" (in memory / on the node, on disk included).
std::string ModelCounts(const ec2agent::v1::NodeStatus& s);

}  // namespace carrierarr::cli

#endif  // CARRIERARR_CLI_CLIENT_OUTPUT_H_
