// OpenStore: picks the backend from the URL's form.
#include "control_plane/store.h"

#include <algorithm>
#include <string>
#include <string_view>

namespace carrierarr::control_plane {
namespace {

constexpr std::string_view kAcceptedForms =
    "use postgres://..., postgresql://..., sqlite:PATH or a plain file path";

// True when `url` starts with "scheme://" (RFC 3986 scheme characters).
bool HasUrlScheme(std::string_view url) {
  size_t colon = url.find("://");
  if (colon == std::string_view::npos || colon == 0) return false;
  for (size_t i = 0; i < colon; ++i) {
    char c = url[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    bool other = (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
    if (!alpha && !(i > 0 && other)) return false;
  }
  return true;
}

}  // namespace

Status CheckTokenUsable(const TokenRecord& token, int64_t now_ms) {
  if (token.revoked)
    return Status::PermissionDenied("enrollment token " + token.id + " has been revoked");
  if (token.expires_ms != 0 && now_ms >= token.expires_ms)
    return Status::PermissionDenied("enrollment token " + token.id + " expired; create a new one");
  if (token.max_uses != 0 && token.uses >= token.max_uses)
    return Status::PermissionDenied("enrollment token " + token.id + " already used (" +
                                    std::to_string(token.uses) + " of " +
                                    std::to_string(token.max_uses) + " uses)");
  return Status::Ok();
}

Status PowerActionNotFinished(int64_t id, bool exists) {
  const std::string name = "power action " + std::to_string(id);
  if (!exists) return Status::NotFound("no " + name);
  return Status::FailedPrecondition(name + " is already finished");
}

Status CheckPhaseName(std::string_view phase) {
  const bool ok = !phase.empty() && phase.size() <= 32 &&
                  std::all_of(phase.begin(), phase.end(),
                              [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
  if (ok) return Status::Ok();
  return Status::InvalidArgument("a phase's name is 1-32 of [a-z_], not '" + std::string(phase) +
                                 "'");
}

Result<std::unique_ptr<Store>> OpenStore(std::string_view url) {
  if (url.empty()) {
    return Status::InvalidArgument("empty database URL: " + std::string(kAcceptedForms));
  }
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    return OpenPostgresStore(std::string(url));
  }
  if (url.starts_with("sqlite:")) {
    std::string_view path = url.substr(std::string_view("sqlite:").size());
    if (path.empty()) {
      return Status::InvalidArgument("database URL \"sqlite:\" names no file: use sqlite:PATH");
    }
    return OpenSqliteStore(std::string(path));
  }
  if (HasUrlScheme(url)) {
    std::string_view scheme = url.substr(0, url.find("://"));
    return Status::InvalidArgument("unsupported database URL scheme \"" + std::string(scheme) +
                                   "://\": " + std::string(kAcceptedForms));
  }
  return OpenSqliteStore(std::string(url));
}

}  // namespace carrierarr::control_plane
