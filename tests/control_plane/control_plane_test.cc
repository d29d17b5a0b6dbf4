// The control plane over real gRPC (port 0 on loopback) and a real store: every test runs on
// SQLite and on a PostgreSQL server the suite starts itself. The test plays the agent with the
// generated stubs, so it sees exactly what goes over the wire.
#include "control_plane/control_plane.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <thread>

#include "carrierarr/v1/fleet.grpc.pb.h"
#include "control_plane/server.h"
#include "ec2agent/v1/agent.grpc.pb.h"
#include "testing/postgres_server.h"
#include "testing/tools.h"

namespace carrierarr::control_plane {
namespace {

using ec2agent::v1::AgentControl;
using ec2agent::v1::AgentMessage;
using ec2agent::v1::ControlMessage;
using ec2agent::v1::RegisterRequest;
using ec2agent::v1::RegisterResponse;

enum class Backend { kSqlite, kPostgres };

class ControlPlaneTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kSqlite) {
      db_ = dir_ / "fleet.db";
    } else {
      static int n = 0;
      db_ = testing::SharedPostgresServer().CreateDatabase("cp_" + std::to_string(getpid()) + "_" +
                                                           std::to_string(++n));
    }
    StartServer();
  }

  void StartServer() {
    ServeOptions o;
    o.db = db_;
    o.state_dir = dir_ / "state";
    o.grpc_listen = {"127.0.0.1:0"};
    o.http_listen = "";
    o.status_interval = std::chrono::seconds(30);
    o.batch_delay = std::chrono::milliseconds(5);
    o.allow_exec = allow_exec_;
    auto s = Server::Start(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                   grpc::InsecureChannelCredentials());
    agent_ = AgentControl::NewStub(channel_);
    admin_ = carrierarr::v1::Fleet::NewStub(channel_);
  }

  void RestartServer() {
    server_->Shutdown();
    server_.reset();
    StartServer();
  }

  // A token for node `node`, or (when it is empty) for the nodes named "n-*".
  std::string NewToken(int max_uses = 1, int64_t ttl = 3600, const std::string& node = "") {
    carrierarr::v1::CreateTokenRequest req;
    req.set_max_uses(max_uses);
    req.set_ttl_seconds(ttl);
    req.set_name("test");
    if (node.empty())
      req.set_pool("n");
    else
      req.set_node_id(node);
    auto r = server_->control_plane().CreateToken(req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r->secret();
  }

  static std::unique_ptr<grpc::ClientContext> Ctx(const std::string& secret) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!secret.empty()) ctx->AddMetadata("authorization", "Bearer " + secret);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return ctx;
  }

  grpc::Status Register(const std::string& secret, const std::string& node_id,
                        RegisterResponse* response) {
    RegisterRequest req;
    req.set_node_id(node_id);
    req.set_node_type(ec2agent::v1::NODE_TYPE_GPU_WORKER);
    req.set_nebula_ip("10.42.2.1");
    req.set_region("local");
    req.mutable_capabilities()->set_gpu_count(2);
    (*req.mutable_labels())["pool"] = "gpu";
    return agent_->Register(Ctx(secret).get(), req, response);
  }

  std::string Enroll(const std::string& node_id) {
    RegisterResponse resp;
    grpc::Status s = Register(NewToken(1, 3600, node_id), node_id, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.node_credential();
  }

  // Reads stream messages until `pred` holds (bounded).
  template <typename Pred>
  static bool ReadUntil(grpc::ClientReaderWriter<AgentMessage, ControlMessage>* stream,
                        ControlMessage* out, Pred pred) {
    for (int i = 0; i < 20; ++i) {
      if (!stream->Read(out)) return false;
      if (pred(*out)) return true;
    }
    return false;
  }

  carrierarr::v1::CommandRecord SendCommand(const std::string& node,
                                            ec2agent::v1::CommandType type) {
    carrierarr::v1::SendCommandRequest req;
    req.set_node_id(node);
    req.set_type(type);
    req.add_argv("/bin/echo");
    req.add_argv("a b");
    (*req.mutable_args())["model"] = "llama3";
    (*req.mutable_args())["service"] = "nebula";
    carrierarr::v1::CommandRecord rec;
    grpc::Status s = admin_->SendCommand(Ctx(server_->admin_token()).get(), req, &rec);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return rec;
  }

  testing::ScratchDir dir_;
  std::string db_;
  bool allow_exec_ = true;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<AgentControl::Stub> agent_;
  std::unique_ptr<carrierarr::v1::Fleet::Stub> admin_;
};

TEST_P(ControlPlaneTest, RegisterWithAGoodTokenGivesANodeCredential) {
  RegisterResponse resp;
  grpc::Status s = Register(NewToken(1, 3600, "gpu-1"), "gpu-1", &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(resp.accepted());
  EXPECT_EQ(resp.assigned_id(), "gpu-1");
  EXPECT_EQ(resp.status_interval_sec(), 30);
  EXPECT_EQ(resp.node_credential().rfind("cnc_", 0), 0u);
  auto stored = server_->control_plane().store().GetNode("gpu-1");
  ASSERT_TRUE(stored.ok());
  RegisterRequest reg;
  ASSERT_TRUE(reg.ParseFromString(stored->registration));
  EXPECT_EQ(reg.nebula_ip(), "10.42.2.1");
  EXPECT_EQ(reg.labels().at("pool"), "gpu");
  // Only hashes are stored.
  EXPECT_EQ(stored->credential_hash.find(resp.node_credential()), std::string::npos);
  EXPECT_EQ(stored->credential_hash.size(), 64u);

  // The credential re-registers the node without a new credential.
  RegisterResponse again;
  ASSERT_TRUE(Register(resp.node_credential(), "gpu-1", &again).ok());
  EXPECT_TRUE(again.node_credential().empty());
  // ... but not as another node.
  grpc::Status other = Register(resp.node_credential(), "gpu-2", &again);
  EXPECT_EQ(other.error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_P(ControlPlaneTest, RegisterRefusesMissingUnknownReusedAndExpiredTokens) {
  RegisterResponse resp;
  grpc::Status none = Register("", "n-1", &resp);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(none.error_message().find("authorization"), std::string::npos);

  grpc::Status unknown = Register("cet_" + std::string(64, 'a'), "n-1", &resp);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(unknown.error_message().find("not recognised"), std::string::npos);

  std::string once = NewToken(1);
  ASSERT_TRUE(Register(once, "n-1", &resp).ok());
  grpc::Status reused = Register(once, "n-2", &resp);
  EXPECT_EQ(reused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(reused.error_message().find("already used"), std::string::npos);

  std::string expiring = NewToken(0, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  grpc::Status expired = Register(expiring, "n-3", &resp);
  EXPECT_EQ(expired.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(expired.error_message().find("expired"), std::string::npos);

  // A reusable token enrolls several nodes.
  std::string reusable = NewToken(0, 3600);
  EXPECT_TRUE(Register(reusable, "n-4", &resp).ok());
  EXPECT_TRUE(Register(reusable, "n-5", &resp).ok());
  EXPECT_EQ(server_->control_plane().ListNodes().size(), 3u);  // n-1, n-4, n-5
}

TEST_P(ControlPlaneTest, StatusFlowsToTheStoreUnderTheCredentialsNodeId) {
  std::string cred = Enroll("gpu-1");
  auto ctx = Ctx(cred);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = agent_->Connect(ctx.get());
  ControlMessage in;
  ASSERT_TRUE(stream->Read(&in));
  ASSERT_TRUE(in.has_config()) << "the first message is the configuration";
  EXPECT_EQ(in.config().status_interval_sec(), 30);

  AgentMessage out;
  auto* st = out.mutable_status();
  st->set_node_id("someone-else");  // ignored: the credential says who this is
  *st->mutable_timestamp() = google::protobuf::util::TimeUtil::GetCurrentTime();
  st->mutable_resources()->set_cpu_percent(42.5);
  st->set_health(ec2agent::v1::HEALTH_STATE_HEALTHY);
  st->add_gpus()->set_name("NVIDIA H100");
  ASSERT_TRUE(stream->Write(out));

  NodeRecord stored;
  // The batch is written within batch_delay; its send->commit latency is recorded just after the
  // commit, so wait for both.
  for (int i = 0; i < 200; ++i) {
    auto r = server_->control_plane().store().GetNode("gpu-1");
    ASSERT_TRUE(r.ok());
    stored = *r;
    if (!stored.last_status.empty() && server_->control_plane().store_latency().count() >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ec2agent::v1::NodeStatus got;
  ASSERT_TRUE(got.ParseFromString(stored.last_status));
  EXPECT_EQ(got.node_id(), "gpu-1");
  EXPECT_DOUBLE_EQ(got.resources().cpu_percent(), 42.5);
  EXPECT_EQ(got.gpus(0).name(), "NVIDIA H100");
  EXPECT_GE(server_->control_plane().store_latency().count(), 1u);

  ec2agent::v1::FleetStatusResponse fleet;
  ASSERT_TRUE(agent_->GetFleetStatus(Ctx(cred).get(), {}, &fleet).ok());
  ASSERT_EQ(fleet.nodes_size(), 1);
  EXPECT_TRUE(fleet.nodes(0).connected());
  EXPECT_EQ(fleet.summary().healthy_nodes(), 1);
  EXPECT_EQ(fleet.summary().total_gpus(), 2);
  stream->WritesDone();
}

// A node's credential shows that node alone; the admin token shows the fleet.
TEST_P(ControlPlaneTest, GetFleetStatusShowsANodeOnlyItself) {
  std::string gpu = Enroll("gpu-1");
  Enroll("gpu-2");
  ec2agent::v1::FleetStatusResponse fleet;
  ASSERT_TRUE(agent_->GetFleetStatus(Ctx(gpu).get(), {}, &fleet).ok());
  ASSERT_EQ(fleet.nodes_size(), 1);
  EXPECT_EQ(fleet.nodes(0).node_id(), "gpu-1");
  EXPECT_EQ(fleet.summary().total_nodes(), 1);
  ASSERT_TRUE(agent_->GetFleetStatus(Ctx(server_->admin_token()).get(), {}, &fleet).ok());
  EXPECT_EQ(fleet.nodes_size(), 2);
  EXPECT_EQ(fleet.summary().total_nodes(), 2);
  EXPECT_EQ(agent_->GetFleetStatus(Ctx("").get(), {}, &fleet).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_P(ControlPlaneTest, CommandsReachTheAgentAndResultsAreStoredAndAcked) {
  std::string cred = Enroll("gpu-1");
  auto ctx = Ctx(cred);
  auto stream = agent_->Connect(ctx.get());
  ControlMessage in;
  ASSERT_TRUE(stream->Read(&in));  // config
  for (int type = 1; type <= 8; ++type) {
    auto rec = SendCommand("gpu-1", static_cast<ec2agent::v1::CommandType>(type));
    ASSERT_TRUE(
        ReadUntil(stream.get(), &in, [](const ControlMessage& m) { return m.has_command(); }));
    EXPECT_EQ(in.command().command_id(), rec.command_id());
    EXPECT_EQ(static_cast<int>(in.command().type()), type);
    if (type == ec2agent::v1::COMMAND_TYPE_EXEC) {
      ASSERT_EQ(in.command().argv_size(), 2);
      EXPECT_EQ(in.command().argv(1), "a b");  // unsplit
    }
    AgentMessage result;
    result.mutable_command_result()->set_command_id(rec.command_id());
    result.mutable_command_result()->set_success(type % 2 == 0);
    result.mutable_command_result()->set_exit_code(type % 2 == 0 ? 0 : 3);
    result.mutable_command_result()->set_stdout("out " + std::to_string(type));
    ASSERT_TRUE(stream->Write(result));
    ASSERT_TRUE(ReadUntil(stream.get(), &in, [](const ControlMessage& m) { return m.has_ack(); }));
    EXPECT_EQ(in.ack().message_id(), rec.command_id());

    carrierarr::v1::GetCommandRequest get;
    get.set_command_id(rec.command_id());
    carrierarr::v1::CommandRecord done;
    ASSERT_TRUE(admin_->GetCommand(Ctx(server_->admin_token()).get(), get, &done).ok());
    EXPECT_EQ(done.state(), type % 2 == 0 ? "succeeded" : "failed");
    EXPECT_EQ(done.result().stdout(), "out " + std::to_string(type));
  }
  stream->WritesDone();
}

TEST_P(ControlPlaneTest, ExecIsRefusedUnlessTheFleetAllowsIt) {
  server_->Shutdown();
  server_.reset();
  allow_exec_ = false;
  StartServer();
  Enroll("gpu-1");
  carrierarr::v1::SendCommandRequest req;
  req.set_node_id("gpu-1");
  req.set_type(ec2agent::v1::COMMAND_TYPE_EXEC);
  req.add_argv("/bin/true");
  carrierarr::v1::CommandRecord rec;
  grpc::Status s = admin_->SendCommand(Ctx(server_->admin_token()).get(), req, &rec);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("--allow-exec"), std::string::npos);
}

TEST_P(ControlPlaneTest, ARestartLosesNoNodeTokenCommandOrResult) {
  std::string cred = Enroll("gpu-1");
  std::string spare = NewToken(1, 3600, "gpu-2");
  std::string done_id, queued_id;
  {
    auto ctx = Ctx(cred);
    auto stream = agent_->Connect(ctx.get());
    ControlMessage in;
    ASSERT_TRUE(stream->Read(&in));
    auto rec = SendCommand("gpu-1", ec2agent::v1::COMMAND_TYPE_REBOOT);
    done_id = rec.command_id();
    ASSERT_TRUE(
        ReadUntil(stream.get(), &in, [](const ControlMessage& m) { return m.has_command(); }));
    AgentMessage result;
    result.mutable_command_result()->set_command_id(done_id);
    result.mutable_command_result()->set_success(true);
    ASSERT_TRUE(stream->Write(result));
    ASSERT_TRUE(ReadUntil(stream.get(), &in, [](const ControlMessage& m) { return m.has_ack(); }));
    stream->WritesDone();
    stream->Finish();
  }
  queued_id = SendCommand("gpu-1", ec2agent::v1::COMMAND_TYPE_SHUTDOWN).command_id();
  RestartServer();

  EXPECT_EQ(server_->control_plane().ListNodes().size(), 1u);
  auto tokens = server_->control_plane().ListTokens();
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(tokens->size(), 2u);
  auto done = server_->control_plane().GetCommand(done_id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state(), "succeeded");
  // The spare token still works, once.
  RegisterResponse resp;
  EXPECT_TRUE(Register(spare, "gpu-2", &resp).ok());
  // The node's credential still works, and the queued command is delivered on reconnect.
  auto ctx = Ctx(cred);
  auto stream = agent_->Connect(ctx.get());
  ControlMessage in;
  ASSERT_TRUE(
      ReadUntil(stream.get(), &in, [](const ControlMessage& m) { return m.has_command(); }));
  EXPECT_EQ(in.command().command_id(), queued_id);
  stream->WritesDone();
}

TEST_P(ControlPlaneTest, MalformedAndOversizedMessagesAreRefused) {
  std::string cred = Enroll("gpu-1");
  {  // no credential on the stream
    auto ctx = Ctx("");
    auto stream = agent_->Connect(ctx.get());
    ControlMessage in;
    EXPECT_FALSE(stream->Read(&in));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {  // too many GPUs
    auto ctx = Ctx(cred);
    auto stream = agent_->Connect(ctx.get());
    AgentMessage out;
    for (int i = 0; i < 65; ++i) out.mutable_status()->add_gpus();
    stream->Write(out);
    ControlMessage in;
    while (stream->Read(&in)) {
    }
    grpc::Status s = stream->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("GPUs"), std::string::npos);
  }
  {  // an empty AgentMessage
    auto ctx = Ctx(cred);
    auto stream = agent_->Connect(ctx.get());
    stream->Write(AgentMessage());
    ControlMessage in;
    while (stream->Read(&in)) {
    }
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {  // over the 1 MiB limit
    auto ctx = Ctx(cred);
    auto stream = agent_->Connect(ctx.get());
    AgentMessage out;
    out.mutable_log()->set_message(std::string(2 << 20, 'x'));
    stream->Write(out);
    ControlMessage in;
    while (stream->Read(&in)) {
    }
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  {  // bytes that are not a RegisterRequest
    grpc::GenericStub generic(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    const char garbage[] = "\xff\xff\xff\xff\x0f not protobuf";
    grpc::Slice slice(garbage, sizeof garbage - 1);
    grpc::ByteBuffer request(&slice, 1), response;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    grpc::Status status;
    generic.UnaryCall(&ctx, "/ec2agent.v1.AgentControl/Register", grpc::StubOptions(), &request,
                      &response, [&](grpc::Status s) {
                        std::lock_guard lock(mu);
                        status = s;
                        done = true;
                        cv.notify_all();
                      });
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return done; }));
    EXPECT_FALSE(status.ok());
  }
  // The control plane is still fine.
  EXPECT_EQ(server_->control_plane().ListNodes().size(), 1u);
}

TEST_P(ControlPlaneTest, CancelCommandStopsASentCommandThroughTheAgent) {
  std::string cred = Enroll("gpu-1");
  auto ctx = Ctx(cred);
  auto stream = agent_->Connect(ctx.get());
  ControlMessage in;
  ASSERT_TRUE(stream->Read(&in));  // config
  auto rec = SendCommand("gpu-1", ec2agent::v1::COMMAND_TYPE_EXEC);
  ASSERT_TRUE(
      ReadUntil(stream.get(), &in, [](const ControlMessage& m) { return m.has_command(); }));
  carrierarr::v1::CancelCommandRequest cancel;
  cancel.set_command_id(rec.command_id());
  carrierarr::v1::CommandRecord cancelling;
  grpc::Status s = admin_->CancelCommand(Ctx(server_->admin_token()).get(), cancel, &cancelling);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(cancelling.state(), "cancelling");
  // The agent is told, in a command of its own.
  ASSERT_TRUE(
      ReadUntil(stream.get(), &in, [](const ControlMessage& m) { return m.has_command(); }));
  EXPECT_EQ(in.command().type(), ec2agent::v1::COMMAND_TYPE_CANCEL);
  EXPECT_EQ(in.command().args().at("command_id"), rec.command_id());
  AgentMessage result;
  result.mutable_command_result()->set_command_id(rec.command_id());
  result.mutable_command_result()->set_error("cancelled");
  result.mutable_command_result()->set_exit_code(-1);
  ASSERT_TRUE(stream->Write(result));
  ASSERT_TRUE(ReadUntil(stream.get(), &in, [](const ControlMessage& m) { return m.has_ack(); }));
  carrierarr::v1::GetCommandRequest get;
  get.set_command_id(rec.command_id());
  carrierarr::v1::CommandRecord done;
  ASSERT_TRUE(admin_->GetCommand(Ctx(server_->admin_token()).get(), get, &done).ok());
  EXPECT_EQ(done.state(), "cancelled");
  // Finished now: a second cancel says so.
  s = admin_->CancelCommand(Ctx(server_->admin_token()).get(), cancel, &cancelling);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("already finished"), std::string::npos);
  cancel.set_command_id("cmd_nosuchthing");
  s = admin_->CancelCommand(Ctx(server_->admin_token()).get(), cancel, &cancelling);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  // Admin only.
  s = admin_->CancelCommand(Ctx(cred).get(), cancel, &cancelling);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  stream->WritesDone();
}

TEST_P(ControlPlaneTest, AFetchedKubeconfigGoesToTheWaitingOperatorOnlyNeverToTheStore) {
  const std::string kubeconfig =
      "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0EtREFUQQ==\n"
      "    server: https://127.0.0.1:6443\n  name: default\nusers:\n- name: default\n  user:\n"
      "    client-key-data: U0VDUkVULUFETUlOLUtFWQ==\n";
  const std::string secret = "U0VDUkVULUFETUlOLUtFWQ==";
  std::string cred = Enroll("lighthouse");
  auto ctx = Ctx(cred);
  auto stream = agent_->Connect(ctx.get());
  ControlMessage in;
  ASSERT_TRUE(stream->Read(&in));  // config

  // The operator queues it and waits (as 'carrierarr kubeconfig' does).
  carrierarr::v1::CommandRecord waited;
  grpc::Status waited_status;
  std::thread op([&] {
    carrierarr::v1::SendCommandRequest req;
    req.set_node_id("lighthouse");
    req.set_type(ec2agent::v1::COMMAND_TYPE_FETCH_KUBECONFIG);
    req.set_timeout_seconds(30);
    req.set_wait(true);
    waited_status = admin_->SendCommand(Ctx(server_->admin_token()).get(), req, &waited);
  });
  ASSERT_TRUE(
      ReadUntil(stream.get(), &in, [](const ControlMessage& m) { return m.has_command(); }));
  EXPECT_EQ(in.command().type(), ec2agent::v1::COMMAND_TYPE_FETCH_KUBECONFIG);
  const std::string id = in.command().command_id();
  AgentMessage result;
  result.mutable_command_result()->set_command_id(id);
  result.mutable_command_result()->set_success(true);
  result.mutable_command_result()->set_stdout(kubeconfig);
  ASSERT_TRUE(stream->Write(result));
  ASSERT_TRUE(ReadUntil(stream.get(), &in, [](const ControlMessage& m) { return m.has_ack(); }));
  op.join();
  ASSERT_TRUE(waited_status.ok()) << waited_status.error_message();
  EXPECT_EQ(waited.state(), "succeeded");
  EXPECT_EQ(waited.result().stdout(), kubeconfig);

  // Anyone asking later (the same operator too) gets the placeholder: it was handed out once.
  const std::string placeholder =
      "[kubeconfig: " + std::to_string(kubeconfig.size()) + " bytes, kept in memory only]";
  carrierarr::v1::GetCommandRequest get;
  get.set_command_id(id);
  carrierarr::v1::CommandRecord later;
  ASSERT_TRUE(admin_->GetCommand(Ctx(server_->admin_token()).get(), get, &later).ok());
  EXPECT_EQ(later.state(), "succeeded");
  EXPECT_EQ(later.result().stdout(), placeholder);

  // What the store holds (read with a connection of its own): the placeholder, in the command
  // and nowhere in the events.
  auto store = OpenStore(db_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto stored = (*store)->GetCommand(id);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->state, "succeeded");
  EXPECT_EQ(stored->result.find(secret), std::string::npos);
  EXPECT_EQ(stored->result.find("Q0EtREFUQQ=="), std::string::npos);
  ec2agent::v1::CommandResult stored_result;
  ASSERT_TRUE(stored_result.ParseFromString(stored->result));
  EXPECT_EQ(stored_result.stdout(), placeholder);
  auto events = (*store)->ListEvents(0, 1000);
  ASSERT_TRUE(events.ok());
  EXPECT_FALSE(events->empty());
  for (const auto& e : *events) EXPECT_EQ(e.message.find(secret), std::string::npos) << e.message;
  stream->WritesDone();
}

TEST_P(ControlPlaneTest, AdminApiNeedsTheAdminToken) {
  carrierarr::v1::ListNodesResponse nodes;
  EXPECT_EQ(admin_->ListNodes(Ctx("").get(), {}, &nodes).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  std::string cred = Enroll("gpu-1");
  EXPECT_EQ(admin_->ListNodes(Ctx(cred).get(), {}, &nodes).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // Nor may a node queue a command (FETCH_KUBECONFIG would hand it the cluster's admin key).
  carrierarr::v1::SendCommandRequest fetch;
  fetch.set_node_id("gpu-1");
  fetch.set_type(ec2agent::v1::COMMAND_TYPE_FETCH_KUBECONFIG);
  carrierarr::v1::CommandRecord rec;
  EXPECT_EQ(admin_->SendCommand(Ctx(cred).get(), fetch, &rec).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(admin_->ListNodes(Ctx(server_->admin_token()).get(), {}, &nodes).ok());
  EXPECT_EQ(nodes.nodes_size(), 1);
  // The admin token file is 0600 and the same token is used after a restart.
  EXPECT_EQ(testing::ModeOf(dir_ / "state/admin.token"), 0600u);
  std::string token = server_->admin_token();
  RestartServer();
  EXPECT_EQ(server_->admin_token(), token);
}

INSTANTIATE_TEST_SUITE_P(Stores, ControlPlaneTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& param_info) {
                           return param_info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
                         });

// Lifecycle on a simulated clock: no sleeping.
TEST(ControlPlaneLifecycleTest, ConnectedThenStaleThenDeadWithEvents) {
  testing::ScratchDir dir;
  auto store = OpenSqliteStore(dir / "fleet.db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  SimulatedTimeSource clock;
  ControlPlaneOptions o{.status_interval = std::chrono::seconds(10),
                        .dead_after = std::chrono::seconds(300),
                        .clock = &clock,
                        .background_threads = false};
  auto cp = ControlPlane::Create(std::move(*store), o);
  ASSERT_TRUE(cp.ok());
  carrierarr::v1::CreateTokenRequest treq;
  treq.set_max_uses(1);
  treq.set_node_id("w1");
  auto token = (*cp)->CreateToken(treq);
  ASSERT_TRUE(token.ok());
  RegisterRequest req;
  req.set_node_id("w1");
  auto reg = (*cp)->Register({token->secret()}, req);
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  auto lifecycle = [&] { return (*cp)->GetNode("w1")->lifecycle(); };
  EXPECT_EQ(lifecycle(), "connected");
  clock.Advance(std::chrono::seconds(19));
  (*cp)->Sweep();
  EXPECT_EQ(lifecycle(), "connected");
  clock.Advance(std::chrono::seconds(2));  // 21 s > 2 x 10 s
  (*cp)->Sweep();
  EXPECT_EQ(lifecycle(), "stale");
  clock.Advance(std::chrono::seconds(280));
  (*cp)->Sweep();
  EXPECT_EQ(lifecycle(), "dead");
  (*cp)->OnHeartbeat("w1");
  EXPECT_EQ(lifecycle(), "connected");
  auto events = (*cp)->Events(0, 100, std::chrono::milliseconds(0));
  ASSERT_TRUE(events.ok());
  std::vector<std::string> kinds;
  for (const auto& e : *events)
    if (e.node_id() == "w1") kinds.push_back(e.kind());
  EXPECT_EQ(kinds, (std::vector<std::string>{"registered", "stale", "dead", "connected"}));
  auto stored = (*cp)->store().GetNode("w1");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->lifecycle, "dead");  // the sweep recorded it; the heartbeat's in the batch
}

TEST(ControlPlaneLifecycleTest, CommandsWithoutAResultTimeOut) {
  testing::ScratchDir dir;
  auto store = OpenSqliteStore(dir / "fleet.db");
  ASSERT_TRUE(store.ok());
  SimulatedTimeSource clock;
  ControlPlaneOptions o{
      .command_grace = std::chrono::seconds(30), .clock = &clock, .background_threads = false};
  auto cp = ControlPlane::Create(std::move(*store), o);
  ASSERT_TRUE(cp.ok());
  carrierarr::v1::CreateTokenRequest treq;
  treq.set_max_uses(1);
  treq.set_node_id("w1");
  auto token = (*cp)->CreateToken(treq);
  RegisterRequest req;
  req.set_node_id("w1");
  ASSERT_TRUE((*cp)->Register({token->secret()}, req).ok());
  carrierarr::v1::SendCommandRequest c;
  c.set_node_id("w1");
  c.set_type(ec2agent::v1::COMMAND_TYPE_REBOOT);
  c.set_timeout_seconds(10);
  auto rec = (*cp)->SendCommand(c);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->state(), "queued");  // no stream: waits for the node
  clock.Advance(std::chrono::seconds(39));
  (*cp)->Sweep();
  EXPECT_EQ((*cp)->GetCommand(rec->command_id())->state(), "queued");
  clock.Advance(std::chrono::seconds(2));
  (*cp)->Sweep();
  EXPECT_EQ((*cp)->GetCommand(rec->command_id())->state(), "timed_out");
}

}  // namespace
}  // namespace carrierarr::control_plane

namespace carrierarr::control_plane {
namespace {

// A control plane on a simulated clock with one registered node, no threads: the test drives
// Flush() and Sweep().
class SimulatedControlPlane : public ::testing::Test {
 protected:
  void SetUp() override { Start({}); }

  void Start(ControlPlaneOptions o) {
    cp_.reset();
    auto store = OpenSqliteStore(dir_ / ("fleet" + std::to_string(++starts_) + ".db"));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    o.clock = &clock_;
    o.background_threads = false;
    o.allow_exec = true;
    auto cp = ControlPlane::Create(std::move(*store), o);
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    cp_ = std::move(*cp);
    carrierarr::v1::CreateTokenRequest treq;
    treq.set_max_uses(1);
    treq.set_node_id("w1");
    auto token = cp_->CreateToken(treq);
    ASSERT_TRUE(token.ok()) << token.status().ToString();
    RegisterRequest req;
    req.set_node_id("w1");
    req.set_node_type(ec2agent::v1::NODE_TYPE_GPU_WORKER);
    ASSERT_TRUE(cp_->Register({token->secret()}, req).ok());
  }

  carrierarr::v1::SendCommandRequest Request(ec2agent::v1::CommandType type) {
    carrierarr::v1::SendCommandRequest c;
    c.set_node_id("w1");
    c.set_type(type);
    return c;
  }

  ec2agent::v1::Command StoredCommand(const std::string& id) {
    ec2agent::v1::Command command;
    EXPECT_TRUE(command.ParseFromString(cp_->store().GetCommand(id)->command));
    return command;
  }

  std::vector<carrierarr::v1::Event> EventsOf(const std::string& node, const std::string& kind) {
    std::vector<carrierarr::v1::Event> out;
    auto events = cp_->Events(0, 100000, std::chrono::milliseconds(0));
    EXPECT_TRUE(events.ok());
    for (auto& e : *events)
      if (e.node_id() == node && e.kind() == kind) out.push_back(e);
    return out;
  }

  testing::ScratchDir dir_;
  int starts_ = 0;
  SimulatedTimeSource clock_;
  std::unique_ptr<ControlPlane> cp_;
};

TEST_F(SimulatedControlPlane, ACommandOverTheAgentsReceiveLimitIsRefusedWhenQueued) {
  auto c = Request(ec2agent::v1::COMMAND_TYPE_EXEC);
  c.add_argv("/bin/echo");
  c.add_argv(std::string(1 << 20, 'x'));
  auto refused = cp_->SendCommand(c);
  ASSERT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("1048576-byte receive limit"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find(" bytes serialized"), std::string::npos);
  EXPECT_TRUE(cp_->store().ListCommands("w1", false)->empty());  // nothing queued
  // Just under the limit goes.
  c.set_argv(1, std::string((1 << 20) - 100, 'x'));
  auto under = cp_->SendCommand(c);
  EXPECT_TRUE(under.ok()) << under.status().ToString();
}

TEST_F(SimulatedControlPlane, CancelFinishesACommandNotYetSentWithoutSendingIt) {
  auto rec = cp_->SendCommand(Request(ec2agent::v1::COMMAND_TYPE_REBOOT));  // no stream: queued
  ASSERT_TRUE(rec.ok());
  auto cancelled = cp_->CancelCommand(rec->command_id());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().ToString();
  EXPECT_EQ(cancelled->state(), "cancelled");
  EXPECT_GT(cancelled->finished_unix_ms(), 0);
  // No CANCEL was queued for the node: the reboot is all it ever had.
  EXPECT_EQ(cp_->store().ListCommands("w1", false)->size(), 1u);
  auto again = cp_->CancelCommand(rec->command_id());
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(cp_->CancelCommand("cmd_000000000000").status().code(), StatusCode::kNotFound);
}

TEST_F(SimulatedControlPlane, CancelIsNotACommandOfItsOwn) {
  auto c = Request(ec2agent::v1::COMMAND_TYPE_CANCEL);
  (*c.mutable_args())["command_id"] = "cmd_x";
  auto refused = cp_->SendCommand(c);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("carrierarr command cancel"), std::string::npos);
}

TEST_F(SimulatedControlPlane, ExecAlsoCarriesTheCommandLineForTheOriginalAgent) {
  auto c = Request(ec2agent::v1::COMMAND_TYPE_EXEC);
  for (const char* a : {"/bin/echo", "hello", "world"}) c.add_argv(a);
  auto plain = cp_->SendCommand(c);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(StoredCommand(plain->command_id()).args().at("cmd"), "/bin/echo hello world");
  EXPECT_EQ(StoredCommand(plain->command_id()).argv_size(), 3);
  // Words that whitespace splitting would not give back: argv only.
  for (const char* odd : {"a b", "", "tab\there", "caf\xC3\xA9"}) {
    auto o = Request(ec2agent::v1::COMMAND_TYPE_EXEC);
    o.add_argv("/bin/echo");
    o.add_argv(odd);
    auto rec = cp_->SendCommand(o);
    ASSERT_TRUE(rec.ok());
    EXPECT_EQ(StoredCommand(rec->command_id()).args().count("cmd"), 0u) << odd;
  }
}

TEST_F(SimulatedControlPlane, UnloadModelWithoutAModelUnloadsThemAll) {
  auto rec = cp_->SendCommand(Request(ec2agent::v1::COMMAND_TYPE_UNLOAD_MODEL));
  EXPECT_TRUE(rec.ok()) << rec.status().ToString();
  auto pull = cp_->SendCommand(Request(ec2agent::v1::COMMAND_TYPE_PULL_MODEL));
  EXPECT_EQ(pull.status().code(), StatusCode::kInvalidArgument);  // a pull needs its model
}

TEST_F(SimulatedControlPlane, AnIdleTimeLongerThanTheUptimeNeverShutsANodeDown) {
  Start({.idle_shutdown_minutes = 10});
  AgentMessage m;
  m.mutable_status()->set_idle_seconds(9'223'372'036);  // the original, before its first request
  m.mutable_status()->set_uptime_seconds(3600);
  ASSERT_TRUE(cp_->OnAgentMessage("w1", m).ok());
  cp_->Sweep();
  EXPECT_TRUE(cp_->store().ListCommands("w1", false)->empty());
  m.mutable_status()->set_idle_seconds(3000);  // measured: shut down
  ASSERT_TRUE(cp_->OnAgentMessage("w1", m).ok());
  cp_->Sweep();
  EXPECT_EQ(cp_->store().ListCommands("w1", false)->size(), 1u);
}

TEST_F(SimulatedControlPlane, LoadedModelsCountsThoseInMemory) {
  AgentMessage m;
  for (auto [name, loaded] : {std::pair{"llama3", true}, {"mistral", false}, {"phi3", false}}) {
    auto* model = m.mutable_status()->add_loaded_models();
    model->set_name(name);
    model->set_currently_loaded(loaded);
  }
  ASSERT_TRUE(cp_->OnAgentMessage("w1", m).ok());
  auto fleet = cp_->FleetStatus({});
  ASSERT_EQ(fleet.nodes_size(), 1);
  EXPECT_EQ(fleet.nodes(0).loaded_models(), 1);
  EXPECT_EQ(cp_->Metrics().models_loaded, 1u);
  EXPECT_EQ(cp_->Metrics().models_listed, 3u);
  EXPECT_NE(cp_->PrometheusText().find("carrierarr_models_loaded 1"), std::string::npos);
}

TEST_F(SimulatedControlPlane, LongStatusStringsAreCutOnACharacterBoundaryWithAnEvent) {
  AgentMessage m;
  std::string long_text;
  for (int i = 0; i < 200; ++i) long_text += "\xC3\xA9";  // 400 bytes of e-acute
  m.mutable_status()->mutable_ollama()->set_message(long_text);
  m.mutable_status()->add_gpus()->set_name(long_text);
  m.mutable_status()->add_loaded_models()->set_name(long_text);
  ASSERT_TRUE(cp_->OnAgentMessage("w1", m).ok());
  auto node = cp_->GetNode("w1");
  ASSERT_TRUE(node.ok());
  const auto& s = node->last_status();
  for (const std::string* text :
       {&s.ollama().message(), &s.gpus(0).name(), &s.loaded_models(0).name()}) {
    EXPECT_EQ(text->size(), 256u);
    EXPECT_EQ(*text, long_text.substr(0, 256));
  }
  cp_->Flush();
  auto notices = EventsOf("w1", "invalid");
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_NE(notices[0].message().find("3 strings longer than 256 bytes"), std::string::npos);
  // Lists over their bounds still refuse the status, with an event.
  AgentMessage many;
  for (int i = 0; i < 65; ++i) many.mutable_status()->add_gpus();
  EXPECT_EQ(cp_->OnAgentMessage("w1", many).code(), StatusCode::kInvalidArgument);
  cp_->Flush();
  EXPECT_EQ(EventsOf("w1", "invalid").size(), 2u);
}

TEST_F(SimulatedControlPlane, RegistrationLabelsAreBounded) {
  carrierarr::v1::CreateTokenRequest treq;
  treq.set_max_uses(10);
  treq.set_ttl_seconds(3600);
  treq.set_node_id("w2");
  auto token = cp_->CreateToken(treq);
  ASSERT_TRUE(token.ok());
  RegisterRequest many;
  many.set_node_id("w2");
  for (int i = 0; i < 65; ++i) (*many.mutable_labels())["k" + std::to_string(i)] = "v";
  auto refused = cp_->Register({token->secret()}, many);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("more than 64 labels"), std::string::npos);
  RegisterRequest long_label;
  long_label.set_node_id("w2");
  (*long_label.mutable_labels())["pool"] = std::string(257, 'x');
  refused = cp_->Register({token->secret()}, long_label);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("label is too long"), std::string::npos);
}

TEST_F(SimulatedControlPlane, AFloodOfWarningsIsRateLimitedAndCutOnACharacterBoundary) {
  AgentMessage m;
  m.mutable_log()->set_level(ec2agent::v1::LOG_LEVEL_WARN);
  m.mutable_log()->set_source("disk");
  std::string message = std::string(1023, 'x') + "\xC3\xA9";  // the cut falls inside the e
  m.mutable_log()->set_message(message);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(cp_->OnAgentMessage("w1", m).ok());
  cp_->Flush();
  auto logs = EventsOf("w1", "log");
  EXPECT_EQ(logs.size(), 50u);  // the burst
  ASSERT_FALSE(logs.empty());
  EXPECT_EQ(logs[0].message(), "LOG_LEVEL_WARN disk: " + std::string(1023, 'x'));
  auto dropped = EventsOf("w1", "dropped");
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_NE(dropped[0].message().find("950 events from node w1 dropped"), std::string::npos);
  EXPECT_EQ(cp_->Metrics().events_dropped, 950u);
}

TEST_F(SimulatedControlPlane, TheSweepPrunesEventsByCountAndAge) {
  // (No lifecycle changes meanwhile: they would add events of their own.)
  Start({.stale_after = std::chrono::hours(100),
         .dead_after = std::chrono::hours(100),
         .event_retention_count = 100,
         .event_retention_age = std::chrono::hours(1)});
  cp_->Sweep();  // prunes at the first sweep, then once a minute
  for (int i = 0; i < 300; ++i)
    cp_->UpdateIntervals(std::chrono::seconds(10), std::chrono::seconds(30));
  auto count = [&] { return cp_->Events(0, 100000, std::chrono::milliseconds(0))->size(); };
  ASSERT_GT(count(), 300u);
  clock_.Advance(std::chrono::seconds(30));
  cp_->Sweep();
  EXPECT_GT(count(), 300u);  // not yet a minute since the last prune
  clock_.Advance(std::chrono::seconds(31));
  cp_->Sweep();
  EXPECT_EQ(count(), 100u);
  clock_.Advance(std::chrono::hours(2));
  cp_->Sweep();
  EXPECT_EQ(count(), 0u);  // all older than an hour
}

TEST(ControlPlaneLifecycleTest, IdleGpuNodesAreShutDownOnce) {
  testing::ScratchDir dir;
  auto store = OpenSqliteStore(dir / "fleet.db");
  ASSERT_TRUE(store.ok());
  SimulatedTimeSource clock;
  ControlPlaneOptions o{.idle_shutdown_minutes = 10, .clock = &clock, .background_threads = false};
  auto cp = ControlPlane::Create(std::move(*store), o);
  ASSERT_TRUE(cp.ok());
  carrierarr::v1::CreateTokenRequest treq;
  treq.set_max_uses(1);
  for (auto [id, type] : {std::pair{"gpu-1", ec2agent::v1::NODE_TYPE_GPU_WORKER},
                          std::pair{"cpu-1", ec2agent::v1::NODE_TYPE_CPU_WORKER}}) {
    treq.set_node_id(id);
    auto token = (*cp)->CreateToken(treq);
    ASSERT_TRUE(token.ok());
    RegisterRequest req;
    req.set_node_id(id);
    req.set_node_type(type);
    ASSERT_TRUE((*cp)->Register({token->secret()}, req).ok());
  }
  auto report_idle = [&](const std::string& id, int64_t seconds) {
    AgentMessage m;
    m.mutable_status()->set_idle_seconds(seconds);
    m.mutable_status()->set_uptime_seconds(seconds + 60);
    EXPECT_TRUE((*cp)->OnAgentMessage(id, m).ok());
  };
  auto shutdowns = [&](const std::string& id) {
    auto commands = (*cp)->store().ListCommands(id, /*unfinished_only=*/false);
    EXPECT_TRUE(commands.ok());
    int n = 0;
    for (const auto& c : *commands) {
      ec2agent::v1::Command command;
      command.ParseFromString(c.command);
      n += command.type() == ec2agent::v1::COMMAND_TYPE_SHUTDOWN ? 1 : 0;
    }
    return n;
  };
  report_idle("gpu-1", 599);
  report_idle("cpu-1", 5000);
  (*cp)->Sweep();
  EXPECT_EQ(shutdowns("gpu-1"), 0);
  report_idle("gpu-1", 600);
  (*cp)->Sweep();
  (*cp)->Sweep();
  EXPECT_EQ(shutdowns("gpu-1"), 1);  // once, not at every sweep
  EXPECT_EQ(shutdowns("cpu-1"), 0);  // only GPU nodes
}

}  // namespace
}  // namespace carrierarr::control_plane
