// original-agent: a stand-in for the original Go agent of the seeds, speaking only the original
// protocol (tests/interop/original/agent.proto), for the tests that run it against
// `carrierarr serve`, on loopback or inside a node's network namespace. As the original does it
// sends no authorization metadata, calls Register on every connect, sends its first NodeStatus
// as soon as the stream opens, and runs EXEC's args["cmd"] split on whitespace (no shell).
//
//   original-agent --control-plane HOST:PORT|unix:PATH --node-id ID [--commands N]
//
// Prints "registered <assigned id>" or "refused <gRPC code> <message>" (exit 3), then, with
// --commands N, answers N commands on the stream, printing "command <type> <id>" for each, and
// exits 0.
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/subprocess.h"
#include "original/agent.grpc.pb.h"

namespace {

namespace original = ::ec2agent::v1;

struct Args {
  std::string control_plane, node_id;
  int commands = 0;
};

bool ParseArgs(int argc, char** argv, Args* a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--control-plane") {
      a->control_plane = value;
    } else if (flag == "--node-id") {
      a->node_id = value;
    } else if (flag == "--commands") {
      a->commands = std::stoi(value);
    } else {
      return false;
    }
  }
  return !a->control_plane.empty() && argc % 2 == 1;
}

std::unique_ptr<grpc::ClientContext> Context(std::chrono::seconds timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();  // no authorization: the original has none
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  return ctx;
}

// What the original does with EXEC: strings.Fields(args["cmd"]) as argv; success with the exit
// code set, and exit code 1 when cmd is missing.
original::CommandResult RunExec(const original::Command& command) {
  original::CommandResult result;
  result.set_command_id(command.command_id());
  std::vector<std::string> words;
  std::istringstream in(command.args().count("cmd") ? command.args().at("cmd") : "");
  for (std::string w; in >> w;) words.push_back(w);
  if (words.empty()) {
    result.set_exit_code(1);
    result.set_error("no cmd");
    return result;
  }
  auto run = carrierarr::Run(words, {.timeout = std::chrono::seconds(30)});
  result.set_success(run.ok());
  result.set_exit_code(run.ok() ? run->exit_code : 1);
  if (run.ok()) {
    result.set_stdout(run->out);
    result.set_stderr(run->err);
  } else {
    result.set_error(run.status().message());
  }
  return result;
}

int Serve(original::AgentControl::Stub& stub, const std::string& node_id, int commands) {
  auto ctx = Context(std::chrono::seconds(60));
  auto stream = stub.Connect(ctx.get());
  original::AgentMessage status;
  status.mutable_status()->set_node_id(node_id);
  *status.mutable_status()->mutable_timestamp() =
      google::protobuf::util::TimeUtil::GetCurrentTime();
  status.mutable_status()->set_health(original::HEALTH_STATE_HEALTHY);
  if (!stream->Write(status)) {
    std::cout << "stream closed " << stream->Finish().error_message() << std::endl;
    return 4;
  }
  original::ControlMessage in;
  for (int answered = 0; answered < commands;) {
    if (!stream->Read(&in)) {
      std::cout << "stream closed " << stream->Finish().error_message() << std::endl;
      return 4;
    }
    if (!in.has_command()) continue;  // acks
    const original::Command& c = in.command();
    std::cout << "command " << original::CommandType_Name(c.type()) << " " << c.command_id()
              << std::endl;
    original::AgentMessage reply;
    if (c.type() == original::COMMAND_TYPE_EXEC) {
      *reply.mutable_command_result() = RunExec(c);
    } else {
      reply.mutable_command_result()->set_command_id(c.command_id());
      reply.mutable_command_result()->set_success(true);
    }
    if (!stream->Write(reply)) return 4;
    ++answered;
  }
  stream->WritesDone();
  ctx->TryCancel();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, &args)) {
    std::cerr << "usage: original-agent --control-plane HOST:PORT|unix:PATH [--node-id ID] "
                 "[--commands N]\n";
    return 2;
  }
  auto channel = grpc::CreateChannel(args.control_plane, grpc::InsecureChannelCredentials());
  auto stub = original::AgentControl::NewStub(channel);
  original::RegisterRequest request;
  request.set_node_id(args.node_id);
  request.set_node_type(original::NODE_TYPE_CPU_WORKER);
  request.set_region("homelab");
  original::RegisterResponse response;
  grpc::Status s = stub->Register(Context(std::chrono::seconds(20)).get(), request, &response);
  if (!s.ok() || !response.accepted()) {
    std::cout << "refused " << s.error_code() << " " << s.error_message() << response.message()
              << std::endl;
    return 3;
  }
  std::cout << "registered " << response.assigned_id() << std::endl;
  return args.commands > 0 ? Serve(*stub, response.assigned_id(), args.commands) : 0;
}
