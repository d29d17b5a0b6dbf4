#include "aws/credentials.h"

#include <pwd.h>
#include <unistd.h>

#include <ctime>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/file_util.h"
#include "core/strings.h"
#include "core/subprocess.h"

extern char** environ;

namespace carrierarr::aws {
namespace {

using Json = nlohmann::json;

constexpr int64_t kRefreshBeforeMs = 5 * 60 * 1000;  // refresh temporary credentials early

// "2026-11-22T10:00:00Z" (also with fractional seconds or +00:00).
std::optional<std::chrono::system_clock::time_point> ParseIso8601(const std::string& s) {
  std::tm tm{};
  if (strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

Result<Credentials> FromJson(const std::string& text, const std::string& source) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Status::DataLoss(source + " did not answer with a JSON object");
  Credentials c;
  c.access_key_id = j.value("AccessKeyId", "");
  c.secret_access_key = j.value("SecretAccessKey", "");
  c.session_token = j.value("SessionToken", j.value("Token", ""));
  if (j.contains("Expiration") && j["Expiration"].is_string())
    c.expiration = ParseIso8601(j["Expiration"]);
  c.source = source;
  if (c.access_key_id.empty() || c.secret_access_key.empty())
    return Status::DataLoss(source + " gave no AccessKeyId/SecretAccessKey");
  return c;
}

std::string PathOr(const Environment& env, const char* var, const std::string& fallback) {
  std::string v = env.Get(var);
  return v.empty() ? env.home + fallback : v;
}

// A missing file is an empty one; an unreadable or malformed one is an error.
Result<IniFile> LoadIni(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok() && text.status().code() == StatusCode::kNotFound) return IniFile{};
  if (!text.ok()) return text.status();
  return ParseIni(*text, path);
}

}  // namespace

Environment Environment::FromProcess() {
  Environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string_view::npos)
      env.vars[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  env.home = env.Get("HOME");
  if (env.home.empty()) {
    if (const passwd* pw = getpwuid(getuid())) env.home = pw->pw_dir;
  }
  return env;
}

Result<IniFile> ParseIni(const std::string& text, const std::string& path_for_errors) {
  IniFile out;
  std::string section;
  std::istringstream in(text);
  std::string raw;
  for (int line_no = 1; std::getline(in, raw); ++line_no) {
    if (!raw.empty() && (raw[0] == ' ' || raw[0] == '\t')) continue;  // nested keys
    std::string_view line = TrimSpace(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      if (line.back() != ']')
        return Status::InvalidArgument(path_for_errors + ":" + std::to_string(line_no) +
                                       ": a section header must end with ']'");
      section = std::string(TrimSpace(line.substr(1, line.size() - 2)));
      out[section];
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string_view::npos || section.empty())
      return Status::InvalidArgument(path_for_errors + ":" + std::to_string(line_no) +
                                     ": expected 'key = value' inside a [section]");
    out[section][std::string(TrimSpace(line.substr(0, eq)))] =
        std::string(TrimSpace(line.substr(eq + 1)));
  }
  return out;
}

Result<std::vector<std::string>> SplitCommandLine(const std::string& command) {
  std::vector<std::string> argv;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < command.size(); ++i) {
    char c = command[i];
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else if (c == '\\' && quote == '"' && i + 1 < command.size() &&
                 (command[i + 1] == '"' || command[i + 1] == '\\')) {
        word += command[++i];
      } else {
        word += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < command.size()) {
      word += command[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) argv.push_back(word);
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != 0) return Status::InvalidArgument("credential_process has an unclosed quote");
  if (in_word) argv.push_back(word);
  if (argv.empty()) return Status::InvalidArgument("credential_process is empty");
  return argv;
}

CredentialChain::CredentialChain(Environment env, AwsSelection selection, HttpTransport* metadata,
                                 const Clock* clock)
    : env_(std::move(env)), selection_(std::move(selection)), metadata_(metadata), clock_(clock) {}

std::string CredentialChain::Profile() const {
  if (!selection_.profile.empty()) return selection_.profile;
  std::string p = env_.Get("AWS_PROFILE");
  return p.empty() ? "default" : p;
}

Result<Credentials> CredentialChain::Get() {
  std::lock_guard<std::mutex> lock(mu_);
  if (cached_ && (!cached_->expiration || std::chrono::duration_cast<std::chrono::milliseconds>(
                                              cached_->expiration->time_since_epoch())
                                                      .count() -
                                                  clock_->NowMs() >
                                              kRefreshBeforeMs)) {
    return *cached_;
  }
  auto c = Resolve();
  if (c.ok()) cached_ = *c;
  return c;
}

Result<Credentials> CredentialChain::Resolve() {
  std::vector<std::string> tried;
  const std::string profile = Profile();
  const bool named = !selection_.profile.empty();

  if (!named && !env_.Get("AWS_ACCESS_KEY_ID").empty()) {
    if (env_.Get("AWS_SECRET_ACCESS_KEY").empty())
      return Status::InvalidArgument("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    return Credentials{.access_key_id = env_.Get("AWS_ACCESS_KEY_ID"),
                       .secret_access_key = env_.Get("AWS_SECRET_ACCESS_KEY"),
                       .session_token = env_.Get("AWS_SESSION_TOKEN"),
                       .source = "environment"};
  }
  tried.push_back("environment");

  const std::string creds_path = PathOr(env_, "AWS_SHARED_CREDENTIALS_FILE", "/.aws/credentials");
  const std::string config_path = PathOr(env_, "AWS_CONFIG_FILE", "/.aws/config");
  auto creds_file = LoadIni(creds_path);
  if (!creds_file.ok()) return creds_file.status();
  auto config_file = LoadIni(config_path);
  if (!config_file.ok()) return config_file.status();
  const std::string config_section = profile == "default" ? "default" : "profile " + profile;
  auto creds_it = creds_file->find(profile);
  auto config_it = config_file->find(config_section);
  if (named && creds_it == creds_file->end() && config_it == config_file->end()) {
    return Status::NotFound("AWS profile '" + profile + "' is in neither " + creds_path + " nor " +
                            config_path + "; run 'aws configure --profile " + profile + "'");
  }
  auto from_section = [&](const std::map<std::string, std::string>& s,
                          const std::string& where) -> std::optional<Credentials> {
    auto k = s.find("aws_access_key_id");
    auto v = s.find("aws_secret_access_key");
    if (k == s.end() || v == s.end()) return std::nullopt;
    auto t = s.find("aws_session_token");
    return Credentials{.access_key_id = k->second,
                       .secret_access_key = v->second,
                       .session_token = t == s.end() ? "" : t->second,
                       .source = where};
  };
  if (creds_it != creds_file->end()) {
    if (auto c = from_section(creds_it->second, creds_path + " [" + profile + "]")) return *c;
  }
  tried.push_back(creds_path + " [" + profile + "]");

  if (config_it != config_file->end()) {
    auto process = config_it->second.find("credential_process");
    if (process != config_it->second.end()) {
      auto argv = SplitCommandLine(process->second);
      if (!argv.ok()) return argv.status().WithPrefix(config_path + " [" + config_section + "]");
      auto run = Run(*argv, {.timeout = std::chrono::seconds(60)});
      if (!run.ok()) return run.status().WithPrefix("credential_process");
      if (run->exit_code != 0)
        return Status::PermissionDenied("credential_process " + (*argv)[0] + " failed (exit " +
                                        std::to_string(run->exit_code) +
                                        "): " + std::string(TrimSpace(run->err)));
      return FromJson(run->out, "credential_process of profile " + profile);
    }
    tried.push_back("credential_process");
    if (auto c = from_section(config_it->second, config_path + " [" + config_section + "]"))
      return *c;
  }
  tried.push_back(config_path + " [" + config_section + "]");

  if (metadata_ != nullptr) {
    std::string relative = env_.Get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    std::string full = env_.Get("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (!relative.empty() || !full.empty()) {
      HttpRequest r{.method = "GET",
                    .url = full.empty() ? "http://169.254.170.2" + relative : full,
                    .timeout = std::chrono::seconds(2),
                    .connect_timeout = std::chrono::seconds(1)};
      if (std::string auth = env_.Get("AWS_CONTAINER_AUTHORIZATION_TOKEN"); !auth.empty())
        r.headers.emplace_back("Authorization", auth);
      auto answer = metadata_->Send(r);
      if (!answer.ok()) return answer.status().WithPrefix("container credentials");
      if (answer->status != 200)
        return Status::PermissionDenied("container credentials: HTTP " +
                                        std::to_string(answer->status));
      return FromJson(answer->body, "container credentials");
    }
    tried.push_back("container credentials");
    if (env_.Get("AWS_EC2_METADATA_DISABLED") != "true") {
      std::string base = env_.Get("AWS_EC2_METADATA_SERVICE_ENDPOINT");
      if (base.empty()) base = "http://169.254.169.254";
      while (!base.empty() && base.back() == '/') base.pop_back();
      auto token = metadata_->Send({.method = "PUT",
                                    .url = base + "/latest/api/token",
                                    .headers = {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}},
                                    .timeout = std::chrono::seconds(1),
                                    .connect_timeout = std::chrono::seconds(1)});
      if (token.ok() && token->status == 200) {
        const Headers auth{{"X-aws-ec2-metadata-token", token->body}};
        const std::string roles_url = base + "/latest/meta-data/iam/security-credentials/";
        auto role = metadata_->Send({.method = "GET",
                                     .url = roles_url,
                                     .headers = auth,
                                     .timeout = std::chrono::seconds(1),
                                     .connect_timeout = std::chrono::seconds(1)});
        if (role.ok() && role->status == 200) {
          std::string name(TrimSpace(role->body.substr(0, role->body.find('\n'))));
          auto creds = metadata_->Send({.method = "GET",
                                        .url = roles_url + name,
                                        .headers = auth,
                                        .timeout = std::chrono::seconds(1),
                                        .connect_timeout = std::chrono::seconds(1)});
          if (creds.ok() && creds->status == 200)
            return FromJson(creds->body, "instance profile " + name);
        }
      }
    }
    tried.push_back("instance metadata (IMDSv2)");
  }
  std::string list;
  for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t;
  return Status::PermissionDenied("no AWS credentials found (tried " + list +
                                  "): run 'aws configure', set AWS_PROFILE, or export "
                                  "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
}

Result<std::string> CredentialChain::Region() {
  if (!selection_.region.empty()) return selection_.region;
  for (const char* var : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (std::string r = env_.Get(var); !r.empty()) return r;
  }
  const std::string profile = Profile();
  const std::string config_path = PathOr(env_, "AWS_CONFIG_FILE", "/.aws/config");
  auto config = LoadIni(config_path);
  if (!config.ok()) return config.status();
  auto it = config->find(profile == "default" ? "default" : "profile " + profile);
  if (it != config->end()) {
    if (auto r = it->second.find("region"); r != it->second.end() && !r->second.empty())
      return r->second;
  }
  if (metadata_ != nullptr && env_.Get("AWS_EC2_METADATA_DISABLED") != "true") {
    std::string base = env_.Get("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (base.empty()) base = "http://169.254.169.254";
    while (!base.empty() && base.back() == '/') base.pop_back();
    auto token = metadata_->Send({.method = "PUT",
                                  .url = base + "/latest/api/token",
                                  .headers = {{"X-aws-ec2-metadata-token-ttl-seconds", "60"}},
                                  .timeout = std::chrono::seconds(1),
                                  .connect_timeout = std::chrono::seconds(1)});
    if (token.ok() && token->status == 200) {
      auto region = metadata_->Send({.method = "GET",
                                     .url = base + "/latest/meta-data/placement/region",
                                     .headers = {{"X-aws-ec2-metadata-token", token->body}},
                                     .timeout = std::chrono::seconds(1),
                                     .connect_timeout = std::chrono::seconds(1)});
      if (region.ok() && region->status == 200) return std::string(TrimSpace(region->body));
    }
  }
  return Status::InvalidArgument(
      "no AWS region: tried --region, AWS_REGION, AWS_DEFAULT_REGION, "
      "the region of profile '" +
      profile + "' in " + config_path + " and instance metadata");
}

}  // namespace carrierarr::aws
