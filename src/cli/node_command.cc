#include "cli/node_command.h"

#include "cli/client_output.h"

namespace carrierarr::cli {
namespace {

using std::chrono::nanoseconds;
using std::chrono::seconds;

// Beyond a waited command's own timeout: the control plane's grace before it marks the command
// timed_out (30 s), and some slack for the RPC itself.
constexpr seconds kWaitSlack{45};

bool Finished(const carrierarr::v1::CommandRecord& r) {
  return r.state() != "queued" && r.state() != "sent" && r.state() != "cancelling";
}

int ExitCode(const carrierarr::v1::SendCommandRequest& request,
             const carrierarr::v1::CommandRecord& record, bool exec_style) {
  if (!request.wait()) return kExitOk;
  if (!Finished(record) || record.state() == "timed_out") return kExitFailure;
  if (!exec_style) return record.state() == "succeeded" ? kExitOk : kExitFailure;
  int code = record.result().exit_code();
  if (code < 0 || code > 255) code = kExitFailure;  // a shell's exit code is 8 bits
  if (code == 0 && !record.result().success()) code = kExitFailure;
  return code;
}

// The text report of a record that came back (`code` is its exit code).
int PrintRecord(const carrierarr::v1::SendCommandRequest& request,
                const carrierarr::v1::CommandRecord& record, bool exec_style, int code,
                std::ostream& out, std::ostream& err) {
  if (!request.wait()) {
    out << record.command_id() << " " << record.state() << "\n";
    err << "(queued " << CommandTypeName(record.type()) << " for " << record.node_id()
        << "; its result shows in 'carrierarr events')\n";
    return kExitOk;
  }
  if (!Finished(record)) {
    err << "Error: no result from " << record.node_id() << " yet (command " << record.command_id()
        << " is " << record.state()
        << "); the node may be offline: it gets the command when it reconnects\n";
    return kExitFailure;
  }
  if (record.state() == "timed_out") {
    err << "Error: command " << record.command_id() << " timed out: " << record.node_id()
        << " sent no result within " << request.timeout_seconds() << "s plus the grace period\n";
    return kExitFailure;
  }
  // The program's own output goes out as it is (it is the user's, as over ssh); the lines
  // around it, built from what the agent says, are escaped.
  const auto& result = record.result();
  out << result.stdout();
  err << result.stderr();
  if (!result.error().empty()) err << "Error: " << Printable(result.error()) << "\n";
  if (!exec_style) {
    if (!result.stdout().empty() && result.stdout().back() != '\n') out << "\n";
    err << CommandTypeName(record.type()) << " on " << Printable(record.node_id()) << ": "
        << record.state()
        << (result.exit_code() != 0 ? " (exit " + std::to_string(result.exit_code()) + ")" : "")
        << " in " << result.duration_ms() << " ms\n";
  }
  return code;
}

}  // namespace

void NodeCommand::DeclareFlags(FlagSet& flags) {
  flags.Duration("timeout", &timeout_, options_.default_timeout, options_.timeout_usage);
  flags.Bool("no-wait", &no_wait_, false, "queue it and print the command id; do not wait");
}

bool NodeCommand::TimeoutSeconds(int32_t* seconds) const {
  return cli::TimeoutSeconds(timeout_, seconds);
}

void NodeCommand::StartRequest(const std::string& node, ec2agent::v1::CommandType type) {
  request_.set_node_id(node);
  request_.set_type(type);
  request_.set_wait(!no_wait_);
}

int NodeCommand::Run(Client& client, const ClientArgs& /*args*/, const Invocation& invocation) {
  const nanoseconds deadline =
      request_.wait()
          ? nanoseconds(
                seconds(request_.timeout_seconds() > 0 ? request_.timeout_seconds() : 3600) +
                kWaitSlack)
          : seconds(30);
  carrierarr::v1::CommandRecord record;
  grpc::Status st = client.stub().SendCommand(client.Context(deadline).get(), request_, &record);
  if (!st.ok()) return client.Fail(st, invocation.err);
  const int code = ExitCode(request_, record, options_.exec_style);
  if (flags().json) {
    invocation.out << ProtoJson(record) << "\n";
    return code;
  }
  return PrintRecord(request_, record, options_.exec_style, code, invocation.out, invocation.err);
}

}  // namespace carrierarr::cli
