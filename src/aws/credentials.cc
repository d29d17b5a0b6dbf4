// The AWS CLI's credential and region chain (../shared/spec/aws-wire.md). Every message names
// what was tried and how to fix it; none carries a secret (keys, tokens, file or answer bodies).
#include "aws/credentials.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "core/file_util.h"
#include "core/strings.h"
#include "core/subprocess.h"

namespace carrierarr::aws {
namespace {

using Json = nlohmann::json;

// Temporary credentials are replaced this long before they expire, as the AWS CLI does, so a
// request signed now is still valid when AWS receives it.
constexpr std::chrono::minutes kRefreshBefore{5};
// Instance metadata answers in microseconds on EC2; off EC2 nothing answers at all. One short
// attempt keeps `plan` and `up` fast on a laptop.
constexpr std::chrono::seconds kMetadataTimeout{1};
constexpr std::chrono::seconds kContainerTimeout{2};
// credential_process may open an SSO session cache or call STS: generous, but bounded.
constexpr std::chrono::seconds kProcessTimeout{60};
constexpr char kImdsDefaultEndpoint[] = "http://169.254.169.254";
constexpr char kContainerHost[] = "http://169.254.170.2";

std::string Lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

// "2026-11-22T10:00:00Z", with optional fractional seconds and a "Z", "+HH:MM" or "+HHMM" zone.
std::optional<std::chrono::system_clock::time_point> ParseIso8601(const std::string& text) {
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return std::nullopt;
  if (*rest == '.') {
    ++rest;
    while (*rest >= '0' && *rest <= '9') ++rest;  // fractional seconds: below our precision
  }
  int64_t offset_seconds = 0;
  std::string_view zone(rest);
  if (zone == "Z" || zone == "z" || zone.empty()) {
    // UTC
  } else if ((zone[0] == '+' || zone[0] == '-') && (zone.size() == 6 || zone.size() == 5)) {
    std::string digits(zone.substr(1));
    std::erase(digits, ':');
    if (digits.size() != 4 || !std::all_of(digits.begin(), digits.end(), ::isdigit))
      return std::nullopt;
    offset_seconds =
        (int64_t{std::stoi(digits.substr(0, 2))} * 60 + std::stoi(digits.substr(2))) * 60;
    if (zone[0] == '-') offset_seconds = -offset_seconds;
  } else {
    return std::nullopt;
  }
  return std::chrono::system_clock::from_time_t(timegm(&tm) - offset_seconds);
}

// {"AccessKeyId", "SecretAccessKey", "SessionToken" or "Token", "Expiration"}: the answer of
// credential_process (with "Version": 1), of the container endpoint and of instance metadata.
// Errors name the source, never the body.
Result<Credentials> CredentialsFromJson(const std::string& text, const std::string& source,
                                        bool require_version_1) {
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Status::DataLoss(source + " did not answer with a JSON object");
  auto string_field = [&](const char* name) -> std::string {
    auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get<std::string>() : "";
  };
  if (require_version_1 && (!j.contains("Version") || j["Version"] != 1))
    return Status::DataLoss(source +
                            " must print JSON with \"Version\": 1 (see 'aws configure "
                            "export-credentials --format process')");
  if (auto code = string_field("Code"); !code.empty() && code != "Success")
    return Status::Unavailable(source + " answered Code " + code);
  Credentials c;
  c.access_key_id = string_field("AccessKeyId");
  c.secret_access_key = string_field("SecretAccessKey");
  c.session_token = string_field("SessionToken");
  if (c.session_token.empty()) c.session_token = string_field("Token");
  c.source = source;
  if (c.access_key_id.empty() || c.secret_access_key.empty())
    return Status::DataLoss(source + " gave no AccessKeyId and SecretAccessKey");
  if (const std::string expiration = string_field("Expiration"); !expiration.empty()) {
    c.expiration = ParseIso8601(expiration);
    if (!c.expiration)
      return Status::DataLoss(source + " gave an Expiration that is not ISO 8601: " + expiration);
  }
  return c;
}

// A file named by `var`, else ~/<fallback>; `display` is how messages show it.
struct ConfigPath {
  std::string path;
  std::string display;
};

ConfigPath PathFor(const Environment& env, const char* var, const std::string& fallback) {
  if (std::string path = env.Get(var); !path.empty()) return {path, path};
  return {env.home + "/" + fallback, "~/" + fallback};
}

// A missing file reads as empty; an unreadable or malformed one is an error.
Result<IniFile> LoadIni(const ConfigPath& file) {
  auto text = ReadFile(file.path);
  if (!text.ok() && text.status().code() == StatusCode::kNotFound) return IniFile{};
  if (!text.ok()) return text.status();
  return ParseIni(*text, file.display);
}

using Section = std::map<std::string, std::string>;

// The config file names a profile "[profile name]" (any run of blanks after "profile"), and the
// default one "[default]" or "[profile default]".
const Section* ConfigProfile(const IniFile& config, const std::string& profile) {
  if (profile == "default") {
    if (auto it = config.find("default"); it != config.end()) return &it->second;
  }
  for (const auto& [name, section] : config) {
    if (name.size() > 7 && name.starts_with("profile") && (name[7] == ' ' || name[7] == '\t') &&
        TrimSpace(std::string_view{name}.substr(7)) == profile)
      return &section;
  }
  return nullptr;
}

std::string Value(const Section* section, const std::string& key) {
  if (section == nullptr) return "";
  auto it = section->find(key);
  return it == section->end() ? "" : it->second;
}

// Keys in a credentials or config file section; nullopt when the section holds none.
Result<std::optional<Credentials>> KeysIn(const Section* section, const std::string& where) {
  const std::string id = Value(section, "aws_access_key_id");
  const std::string secret = Value(section, "aws_secret_access_key");
  if (id.empty() && secret.empty()) return std::optional<Credentials>();
  if (id.empty() || secret.empty())
    return Status::InvalidArgument(where +
                                   " has only one of aws_access_key_id and "
                                   "aws_secret_access_key: set both (aws configure)");
  return std::optional<Credentials>(
      Credentials{.access_key_id = id,
                  .secret_access_key = secret,
                  .session_token = Value(section, "aws_session_token"),
                  .source = where});
}

Result<Credentials> RunCredentialProcess(ProcessRunner& processes, const std::string& command,
                                         const std::string& where) {
  auto argv = SplitCommandLine(command);
  if (!argv.ok()) return argv.status().WithPrefix("credential_process in " + where);
  const std::string program = argv->front();
  auto run = processes.Run(*argv, {.timeout = kProcessTimeout});
  if (!run.ok())
    return Status::FailedPrecondition("credential_process in " + where + ": cannot run " + program +
                                      ": " + run.status().message());
  if (run->timed_out)
    return Status::DeadlineExceeded("credential_process in " + where + ": " + program +
                                    " did not finish within " +
                                    std::to_string(kProcessTimeout.count()) + " s");
  if (run->signaled || run->exit_code != 0) {
    std::string why(TrimSpace(run->err));
    if (why.size() > 500) why = why.substr(0, 500) + "...";
    return Status::PermissionDenied("credential_process in " + where + ": " + program +
                                    " failed (" +
                                    (run->signaled ? "signal " + std::to_string(run->signal)
                                                   : "exit " + std::to_string(run->exit_code)) +
                                    ")" + (why.empty() ? "" : ": " + why) +
                                    "; run it by hand to see why (an expired SSO "
                                    "session needs 'aws sso login')");
  }
  return CredentialsFromJson(run->out, "credential_process of " + where, true);
}

// AWS_CONTAINER_CREDENTIALS_FULL_URI may only point at this machine or at the ECS/EKS agents
// (or use https): credentials must not be fetched from whatever host a variable names.
bool AllowedContainerUri(const std::string& uri) {
  if (uri.starts_with("https://")) return true;
  if (!uri.starts_with("http://")) return false;
  const std::string_view rest = std::string_view{uri}.substr(7);
  std::string_view host = rest.substr(0, rest.find_first_of("/?#"));
  if (host.starts_with("[")) {
    host = host.substr(0, host.find(']') + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  return host == "localhost" || host.starts_with("127.") || host == "[::1]" ||
         host == "169.254.170.2" || host == "169.254.170.23" || host == "[fd00:ec2::23]";
}

std::string MetadataEndpoint(const Environment& env) {
  std::string base = env.Get("AWS_EC2_METADATA_SERVICE_ENDPOINT");
  if (base.empty()) base = kImdsDefaultEndpoint;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

bool MetadataDisabled(const Environment& env) {
  return Lowercase(env.Get("AWS_EC2_METADATA_DISABLED")) == "true";
}

HttpRequest MetadataRequest(std::string method, std::string url, Headers headers) {
  return {.method = std::move(method),
          .url = std::move(url),
          .headers = std::move(headers),
          .timeout = kMetadataTimeout,
          .connect_timeout = kMetadataTimeout};
}

// An IMDSv2 session token; the reason when there is none (the caller lists it as tried).
Result<std::string> ImdsToken(HttpTransport& transport, const std::string& base) {
  auto answer = transport.Send(MetadataRequest(
      "PUT", base + "/latest/api/token", {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}}));
  if (!answer.ok()) return Status::Unavailable("no answer (not on EC2?)");
  if (answer->status != 200)
    return Status::Unavailable("token request answered HTTP " + std::to_string(answer->status));
  return std::string(TrimSpace(answer->body));
}

Result<std::string> ImdsGet(HttpTransport& transport, const std::string& base,
                            const std::string& token, const std::string& path) {
  auto answer =
      transport.Send(MetadataRequest("GET", base + path, {{"X-aws-ec2-metadata-token", token}}));
  if (!answer.ok()) return Status::Unavailable("no answer for " + path);
  if (answer->status != 200)
    return Status::NotFound(path + " answered HTTP " + std::to_string(answer->status));
  return std::move(answer->body);
}

// Credentials of the instance profile. NotFound / Unavailable mean "not here" (the chain goes on
// and lists the reason); DataLoss means a broken answer.
Result<Credentials> ImdsCredentials(HttpTransport& transport, const std::string& base) {
  auto token = ImdsToken(transport, base);
  if (!token.ok()) return token.status();
  constexpr char kRoles[] = "/latest/meta-data/iam/security-credentials/";
  auto roles = ImdsGet(transport, base, *token, kRoles);
  if (!roles.ok())
    return Status::NotFound("no instance profile (" + roles.status().message() + ")");
  const std::string role(TrimSpace(std::string_view{*roles}.substr(0, roles->find('\n'))));
  if (role.empty()) return Status::NotFound("no instance profile attached");
  auto body = ImdsGet(transport, base, *token, kRoles + role);
  if (!body.ok()) return body.status();
  return CredentialsFromJson(*body, "instance profile " + role + " (instance metadata)", false);
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// One link of the chain: credentials, an error that ends the search, or nullopt to go on (the
// link then adds what it tried to `tried`, for the final message).
using Step = std::optional<Result<Credentials>>;

// 1. The environment, unless --profile chose a profile.
Step FromEnvironment(const Environment& env, const AwsSelection& selection,
                     const std::string& profile, std::vector<std::string>& tried) {
  if (!selection.profile.empty()) {
    tried.push_back("environment (skipped: --profile " + profile + ")");
    return std::nullopt;
  }
  const std::string id = env.Get("AWS_ACCESS_KEY_ID");
  if (id.empty()) {
    tried.push_back("environment (AWS_ACCESS_KEY_ID)");
    return std::nullopt;
  }
  if (env.Get("AWS_SECRET_ACCESS_KEY").empty())
    return Status::InvalidArgument(
        "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: export both, or unset "
        "AWS_ACCESS_KEY_ID to use a profile");
  return Credentials{.access_key_id = id,
                     .secret_access_key = env.Get("AWS_SECRET_ACCESS_KEY"),
                     .session_token = env.Get("AWS_SESSION_TOKEN"),
                     .source = "environment (AWS_ACCESS_KEY_ID)"};
}

// The profile's sections of the shared credentials and config files (empty when absent), and
// how messages name them.
struct ProfileFiles {
  std::string profile;
  ConfigPath config_path;
  Section shared, config;
  std::string shared_where, config_where;
};

Result<ProfileFiles> LoadProfileFiles(const Environment& env, const std::string& profile) {
  const ConfigPath credentials_path =
      PathFor(env, "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
  ProfileFiles f{.profile = profile, .config_path = PathFor(env, "AWS_CONFIG_FILE", ".aws/config")};
  auto credentials_file = LoadIni(credentials_path);
  if (!credentials_file.ok()) return credentials_file.status();
  auto config_file = LoadIni(f.config_path);
  if (!config_file.ok()) return config_file.status();
  const auto shared = credentials_file->find(profile);
  const Section* config = ConfigProfile(*config_file, profile);
  if (profile != "default" && shared == credentials_file->end() && config == nullptr) {
    return Status::NotFound("AWS profile '" + profile + "' is in neither " +
                            credentials_path.display + " nor " + f.config_path.display +
                            ": create it with 'aws configure --profile " + profile +
                            "', or name another with --profile or AWS_PROFILE");
  }
  if (shared != credentials_file->end()) f.shared = shared->second;
  if (config != nullptr) f.config = *config;
  f.shared_where = credentials_path.display + " [" + profile + "]";
  f.config_where = f.config_path.display + " [" +
                   (profile == "default" ? "default" : "profile " + profile) + "]";
  return f;
}

// 2. Keys in the shared credentials file; 3. credential_process (the AWS CLI merges both files'
// sections: the credentials file wins); 4. keys in the config file.
Step FromProfileFiles(ProcessRunner& processes, const ProfileFiles& f,
                      std::vector<std::string>& tried) {
  auto keys = KeysIn(&f.shared, f.shared_where);
  if (!keys.ok()) return keys.status();
  if (*keys) return **keys;
  tried.push_back(f.shared_where);
  if (std::string command = Value(&f.shared, "credential_process"); !command.empty())
    return RunCredentialProcess(processes, command, f.shared_where);
  if (std::string command = Value(&f.config, "credential_process"); !command.empty())
    return RunCredentialProcess(processes, command, f.config_where);
  tried.push_back("credential_process");
  keys = KeysIn(&f.config, f.config_where);
  if (!keys.ok()) return keys.status();
  if (*keys) return **keys;
  tried.push_back(f.config_where);
  return std::nullopt;
}

// 5. Container credentials (ECS task role, EKS pod identity).
Step FromContainer(const Environment& env, HttpTransport& metadata,
                   std::vector<std::string>& tried) {
  const std::string relative = env.Get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  const std::string full = env.Get("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  if (relative.empty() && full.empty()) {
    tried.push_back("container credentials (AWS_CONTAINER_CREDENTIALS_*_URI unset)");
    return std::nullopt;
  }
  const std::string url = !relative.empty() ? kContainerHost + relative : full;
  if (relative.empty() && !AllowedContainerUri(full))
    return Status::InvalidArgument(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI must use https or name this machine (127.0.0.1, "
        "localhost) or the ECS/EKS agent: refusing to fetch credentials from " +
        full);
  HttpRequest request{.method = "GET",
                      .url = url,
                      .timeout = kContainerTimeout,
                      .connect_timeout = kContainerTimeout};
  std::string authorization = env.Get("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  if (std::string file = env.Get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); !file.empty()) {
    auto token = ReadFile(file);
    if (!token.ok()) return token.status().WithPrefix("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    authorization = std::string(TrimSpace(*token));
  }
  if (!authorization.empty()) request.headers.emplace_back("Authorization", authorization);
  auto answer = metadata.Send(request);
  if (!answer.ok()) return answer.status().WithPrefix("container credentials (" + url + ")");
  if (answer->status != 200) {
    const std::string what =
        "container credentials (" + url + ") answered HTTP " + std::to_string(answer->status);
    if (answer->status >= 500) return Status::Unavailable(what + ": try again");
    return Status::PermissionDenied(what +
                                    ": check AWS_CONTAINER_AUTHORIZATION_TOKEN and "
                                    "the task or pod role");
  }
  return CredentialsFromJson(answer->body, "container credentials (" + url + ")", false);
}

// 6. Instance metadata, IMDSv2 only.
Step FromInstanceMetadata(const Environment& env, HttpTransport& metadata,
                          std::vector<std::string>& tried) {
  if (MetadataDisabled(env)) {
    tried.push_back("instance metadata (AWS_EC2_METADATA_DISABLED=true)");
    return std::nullopt;
  }
  const std::string base = MetadataEndpoint(env);
  auto instance = ImdsCredentials(metadata, base);
  if (instance.ok() || instance.status().code() == StatusCode::kDataLoss) return instance;
  tried.push_back("instance metadata at " + base + " (" + instance.status().message() + ")");
  return std::nullopt;
}

// The end of the chain: what was tried, and the likeliest fix.
Status NoCredentials(const ProfileFiles& f, const std::vector<std::string>& tried) {
  std::string hint =
      "run 'aws configure' (or 'aws configure --profile NAME' and --profile), "
      "set AWS_PROFILE, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
  if (!Value(&f.config, "role_arn").empty() || !Value(&f.config, "sso_session").empty() ||
      !Value(&f.config, "sso_start_url").empty()) {
    hint = f.config_where +
           " uses role_arn or SSO, which carrierarr does not resolve itself: add "
           "'credential_process = aws configure export-credentials --profile " +
           f.profile + " --format process' to it";
  }
  return Status::PermissionDenied("no AWS credentials found: tried " + Join(tried) + "; " + hint);
}

}  // namespace

// Python's configparser (which the AWS CLI uses) decides the details: '=' or ':' splits at its
// first occurrence, keys are case-insensitive, whole-line '#'/';' comments only (a '#' inside a
// value is part of it), text after a section's ']' is ignored. Unlike configparser, a repeated
// section or key is not an error: the later value wins.
Result<IniFile> ParseIni(const std::string& text, const std::string& path_for_errors) {
  IniFile out;
  std::string section;
  bool in_section = false;
  std::string_view rest(text);
  if (rest.starts_with("\xEF\xBB\xBF")) rest.remove_prefix(3);  // a UTF-8 byte order mark
  for (int line_number = 1; !rest.empty(); ++line_number) {
    const size_t nl = rest.find('\n');
    const std::string_view raw = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    const std::string_view line = TrimSpace(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    // Indented lines continue the previous value (nested keys such as "s3 =\n  addressing_style
    // = path"): not a setting carrierarr reads.
    if (raw[0] == ' ' || raw[0] == '\t') continue;
    auto error = [&](const std::string& what) {
      return Status::InvalidArgument(path_for_errors + ":" + std::to_string(line_number) + ": " +
                                     what);
    };
    if (line[0] == '[') {
      const size_t close = line.rfind(']');
      if (close == std::string_view::npos || close < 2)
        return error("a section header reads '[name]' or '[profile name]'");
      section = std::string(TrimSpace(line.substr(1, close - 1)));
      out[section];
      in_section = true;
      continue;
    }
    const size_t split = line.find_first_of("=:");
    if (!in_section) return error("a setting before any [section]");
    // The line itself is not quoted: it may hold a secret.
    if (split == std::string_view::npos || split == 0) return error("expected 'key = value'");
    out[section][Lowercase(TrimSpace(line.substr(0, split)))] =
        std::string(TrimSpace(line.substr(split + 1)));
  }
  return out;
}

// POSIX shell words as Python's shlex.split reads them (the AWS CLI's rule): blanks separate,
// '...' is literal, "..." keeps its content with \" and \\ escaped, a backslash outside quotes
// escapes the next character. No variables, globs or comments.
Result<std::vector<std::string>> SplitCommandLine(const std::string& command) {
  std::vector<std::string> argv;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < command.size(); ++i) {
    const char c = command[i];
    if (quote == '\'') {
      if (c == '\'') {
        quote = 0;
      } else {
        word += c;
      }
    } else if (quote == '"') {
      if (c == '"') {
        quote = 0;
      } else if (c == '\\' && i + 1 < command.size() &&
                 (command[i + 1] == '"' || command[i + 1] == '\\')) {
        word += command[++i];
      } else {
        word += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\') {
      if (i + 1 == command.size())
        return Status::InvalidArgument("credential_process ends with a lone backslash");
      word += command[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) argv.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != 0)
    return Status::InvalidArgument(std::string("credential_process has an unclosed ") +
                                   (quote == '"' ? "double" : "single") + " quote");
  if (in_word) argv.push_back(std::move(word));
  if (argv.empty()) return Status::InvalidArgument("credential_process is empty");
  return argv;
}

CredentialChain::CredentialChain(Environment env, AwsSelection selection, HttpTransport* metadata,
                                 const TimeSource* clock, ProcessRunner* processes)
    : env_(std::move(env)),
      selection_(std::move(selection)),
      metadata_(metadata),
      clock_(clock),
      processes_(processes) {}

std::string CredentialChain::Profile() const {
  if (!selection_.profile.empty()) return selection_.profile;
  for (const char* var : {"AWS_PROFILE", "AWS_DEFAULT_PROFILE"}) {
    if (std::string profile = env_.Get(var); !profile.empty()) return profile;
  }
  return "default";
}

Result<Credentials> CredentialChain::Get() {
  std::lock_guard<std::mutex> lock(mu_);
  const auto now =
      std::chrono::system_clock::time_point(std::chrono::milliseconds(clock_->NowMs()));
  if (cached_ && (!cached_->expiration || *cached_->expiration - now > kRefreshBefore))
    return *cached_;
  auto fresh = Resolve();
  if (fresh.ok()) {
    cached_ = *fresh;
    return fresh;
  }
  // A failed early refresh keeps the old credentials while they are still valid.
  if (cached_ && cached_->expiration && *cached_->expiration > now) return *cached_;
  return fresh;
}

Result<Credentials> CredentialChain::Resolve() {
  std::vector<std::string> tried;
  if (Step env = FromEnvironment(env_, selection_, Profile(), tried)) return std::move(*env);
  auto files = LoadProfileFiles(env_, Profile());
  if (!files.ok()) return files.status();
  if (Step shared = FromProfileFiles(*processes_, *files, tried)) return std::move(*shared);
  if (metadata_ != nullptr) {
    if (Step container = FromContainer(env_, *metadata_, tried)) return std::move(*container);
    if (Step instance = FromInstanceMetadata(env_, *metadata_, tried)) return std::move(*instance);
  }
  return NoCredentials(*files, tried);
}

Result<std::string> CredentialChain::Region() {
  if (!selection_.region.empty()) return selection_.region;
  for (const char* var : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (std::string region = env_.Get(var); !region.empty()) return region;
  }
  const std::string profile = Profile();
  const ConfigPath config_path = PathFor(env_, "AWS_CONFIG_FILE", ".aws/config");
  auto config = LoadIni(config_path);
  if (!config.ok()) return config.status();
  if (std::string region = Value(ConfigProfile(*config, profile), "region"); !region.empty())
    return region;
  std::string metadata_note = "instance metadata (no transport)";
  if (metadata_ != nullptr && MetadataDisabled(env_)) {
    metadata_note = "instance metadata (AWS_EC2_METADATA_DISABLED=true)";
  } else if (metadata_ != nullptr) {
    const std::string base = MetadataEndpoint(env_);
    auto token = ImdsToken(*metadata_, base);
    auto region = token.ok()
                      ? ImdsGet(*metadata_, base, *token, "/latest/meta-data/placement/region")
                      : Result<std::string>(token.status());
    if (region.ok() && !TrimSpace(*region).empty()) return std::string(TrimSpace(*region));
    metadata_note = "instance metadata at " + base + " (" +
                    (region.ok() ? "empty answer" : region.status().message()) + ")";
  }
  return Status::InvalidArgument(
      "no AWS region: tried --region, AWS_REGION, AWS_DEFAULT_REGION, 'region' of profile '" +
      profile + "' in " + config_path.display + " and " + metadata_note +
      "; pass --region, set AWS_REGION, or run 'aws configure set region REGION'");
}

}  // namespace carrierarr::aws
