// `carrierarr tokens create|list|revoke`: the enrollment tokens agents register with.
#include <nlohmann/json.hpp>

#include "cli/client_command.h"
#include "cli/client_commands.h"
#include "cli/client_output.h"
#include "core/file_util.h"

namespace carrierarr::cli {
namespace {

using Stub = carrierarr::v1::Fleet::Stub;

using std::chrono::nanoseconds;

constexpr char kTokensUsage[] =
    "Usage: carrierarr tokens create (--node ID [--replace] | --pool NAME) [--uses 1] [--ttl 24h]\n"
    "                                [--name N] [--out FILE] [flags]\n"
    "       carrierarr tokens list [flags]\n"
    "       carrierarr tokens revoke ID [flags]\n\n"
    "Enrollment tokens let agents register (carrierarr-agent --token-file). Each enrols one node\n"
    "(--node gpu-1) or the nodes of one pool (--pool gpu: any id gpu-*), and never a node that is\n"
    "already registered unless it says --replace (or 'carrierarr nodes delete' came first).\n"
    "'create' prints the secret once (or writes it, mode 0600, to --out); only its hash is kept.\n"
    "\nFlags:\n";

std::string TokenState(const carrierarr::v1::Token& t, int64_t now_ms) {
  if (t.revoked()) return "revoked";
  if (t.expires_unix() > 0 && t.expires_unix() * 1000 <= now_ms) return "expired";
  if (t.max_uses() > 0 && t.uses() >= t.max_uses()) return "used up";
  return "active";
}

// "node gpu-1", "pool gpu-*"; "nothing" for a token made before tokens were bound.
std::string TokenEnrols(const carrierarr::v1::Token& t) {
  if (!t.node_id().empty()) return "node " + t.node_id() + (t.replace() ? " (may replace)" : "");
  if (!t.pool().empty()) return "pool " + t.pool() + "-*";
  return "nothing";
}

// "node gpu-1, single use, expires 2026-01-02T03:04:05Z"
std::string TokenTerms(const carrierarr::v1::Token& t) {
  return TokenEnrols(t) + ", " +
         (t.max_uses() == 0   ? std::string("reusable")
          : t.max_uses() == 1 ? "single use"
                              : std::to_string(t.max_uses()) + " uses") +
         (t.expires_unix() > 0 ? ", expires " + UtcTime(t.expires_unix()) : ", never expires");
}

class TokensCommand final : public ClientCommand {
 public:
  CommandSpec Spec() const override { return {"tokens", "", kTokensUsage}; }
  void DeclareFlags(FlagSet& flags) override {
    flags.String("node", &node_, "", "the node id the token enrols (create)");
    flags.String("pool", &pool_, "", "enrol any node named POOL-* instead (create)");
    flags.Bool("replace", &replace_, false,
               "with --node: may replace that node if it is registered (its agent was lost)");
    flags.String("name", &name_, "", "a label for the token (create; default: --node or --pool)");
    flags.Int("uses", &uses_, 1,
              "how many registrations it allows (create; 0 = reusable until -ttl)");
    flags.Duration("ttl", &ttl_, std::chrono::hours(24),
                   "how long it stays valid (create; 0 = ever)");
    flags.String("out", &out_file_, "", "write the secret to this file, mode 0600 (create)");
    flags.Bool("force", &force_, false, "let -out replace an existing file (create)");
  }

  Status Check(const ClientArgs& args) override {
    const auto& pos = args.positional;
    if (pos.empty())
      return Status::InvalidArgument("tokens needs a subcommand: create, list or revoke");
    const std::string& sub = pos[0];
    if (sub == "create") return CheckCreate(pos);
    if (sub == "list") {
      if (pos.size() != 1) return Status::InvalidArgument("unexpected argument \"" + pos[1] + "\"");
      return Status::Ok();
    }
    if (sub == "revoke") {
      if (pos.size() != 2) return Status::InvalidArgument("tokens revoke needs one token ID");
      return Status::Ok();
    }
    return Status::InvalidArgument("unknown tokens subcommand \"" + sub +
                                   "\" (create, list, revoke)");
  }

  int Run(Client& client, const ClientArgs& args, const Invocation& invocation) override {
    const std::string& sub = args.positional[0];
    if (sub == "create") return Create(client, invocation);
    if (sub == "list") return List(client, invocation);
    return Revoke(client, args.positional[1], invocation);
  }

 private:
  Status CheckCreate(const std::vector<std::string>& pos) const {
    if (pos.size() != 1) return Status::InvalidArgument("unexpected argument \"" + pos[1] + "\"");
    if (node_.empty() == pool_.empty())
      return Status::InvalidArgument(
          "tokens create needs --node NAME (the one node it enrols) or --pool NAME (nodes named "
          "NAME-*), one of them");
    if (replace_ && node_.empty())
      return Status::InvalidArgument("--replace needs --node: it lets the token replace that node");
    if (uses_ < 0 || uses_ > 1000000)
      return Status::InvalidArgument("-uses must be between 0 (reusable) and 1000000");
    if (ttl_.count() < 0) return Status::InvalidArgument("-ttl must not be negative");
    // Checked before the token exists, so that a refusal wastes none; the write itself still
    // refuses to replace a file that appeared meanwhile.
    if (!out_file_.empty() && !force_ && PathExists(out_file_))
      return Status::AlreadyExists(out_file_ + " exists; pass --force to replace it");
    return Status::Ok();
  }

  int Create(Client& client, const Invocation& invocation) {
    carrierarr::v1::CreateTokenRequest request;
    request.set_name(!name_.empty() ? name_ : !node_.empty() ? node_ : pool_);
    request.set_node_id(node_);
    request.set_pool(pool_);
    request.set_replace(replace_);
    request.set_max_uses(static_cast<int32_t>(uses_));
    request.set_ttl_seconds(std::chrono::duration_cast<std::chrono::seconds>(ttl_).count());
    if (ttl_.count() > 0 && request.ttl_seconds() == 0) request.set_ttl_seconds(1);
    carrierarr::v1::CreateTokenResponse response;
    if (int failed = client.Call(&Stub::CreateToken, request, &response, invocation.err))
      return failed;
    const auto& t = response.token();
    if (!out_file_.empty()) {
      Status written = WriteFileAtomic(out_file_, response.secret() + "\n", 0600,
                                       force_ ? Overwrite::kYes : Overwrite::kNo);
      if (!written.ok()) {
        // Nobody will ever see this secret: revoke it rather than leave it usable.
        carrierarr::v1::RevokeTokenRequest revoke;
        revoke.set_id(t.id());
        carrierarr::v1::RevokeTokenResponse ignored;
        grpc::Status revoked = client.stub().RevokeToken(client.Context().get(), revoke, &ignored);
        invocation.err << "Error: " << written.message() << " (token " << t.id()
                       << (revoked.ok() ? " revoked again)" : " NOT revoked: revoke it yourself)")
                       << "\n";
        return kExitFailure;
      }
    }
    if (flags().json) {
      invocation.out << (out_file_.empty() ? ProtoJson(response) : ProtoJson(t)) << "\n";
    } else if (out_file_.empty()) {
      // The secret alone on stdout, so that `carrierarr tokens create > f` captures just it.
      invocation.out << response.secret() << "\n";
      invocation.err << "token " << t.id() << " (" << TokenTerms(t)
                     << "); the secret above is shown only once\n";
    } else {
      invocation.out << "token " << t.id() << " (" << TokenTerms(t) << ") written to " << out_file_
                     << "\n";
    }
    return kExitOk;
  }

  int List(Client& client, const Invocation& invocation) {
    carrierarr::v1::ListTokensResponse response;
    if (int failed = client.Call(&Stub::ListTokens, carrierarr::v1::ListTokensRequest(), &response,
                                 invocation.err))
      return failed;
    if (flags().json) {
      invocation.out << ProtoJson(response) << "\n";
      return kExitOk;
    }
    if (response.tokens().empty()) {
      invocation.err << "no tokens (create one with 'carrierarr tokens create')\n";
      return kExitOk;
    }
    const int64_t now_ms = invocation.seams.time->NowMs();
    std::vector<std::vector<std::string>> rows = {
        {"ID", "NAME", "ENROLS", "USES", "STATE", "EXPIRES", "CREATED"}};
    for (const auto& t : response.tokens())
      rows.push_back({t.id(), t.name().empty() ? "-" : t.name(), TokenEnrols(t),
                      std::to_string(t.uses()) + "/" +
                          (t.max_uses() == 0 ? "unlimited" : std::to_string(t.max_uses())),
                      TokenState(t, now_ms),
                      t.expires_unix() > 0 ? UtcTime(t.expires_unix()) : "never",
                      UtcTime(t.created_unix())});
    PrintTable(invocation.out, rows);
    return kExitOk;
  }

  int Revoke(Client& client, const std::string& id, const Invocation& invocation) {
    carrierarr::v1::RevokeTokenRequest request;
    request.set_id(id);
    carrierarr::v1::RevokeTokenResponse response;
    int failed = client.Call(&Stub::RevokeToken, request, &response, invocation.err);
    if (failed == kExitOk) PrintDone(invocation.out, flags().json, "id", id, "revoked", "token");
    return failed;
  }

  std::string name_, node_, pool_, out_file_;
  bool replace_ = false;
  int64_t uses_ = 1;
  nanoseconds ttl_;
  bool force_ = false;
};

}  // namespace

int RunTokens(const Invocation& invocation) { return RunClientCommand<TokensCommand>(invocation); }

}  // namespace carrierarr::cli
