#include "core/environment.h"

#include <pwd.h>
#include <unistd.h>

#include <string_view>
#include <vector>

extern char** environ;

namespace carrierarr {

Environment Environment::FromProcess() {
  Environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view kv(*entry);
    const size_t eq = kv.find('=');
    if (eq != std::string_view::npos)
      env.vars.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  env.home = env.Get("HOME");
  if (env.home.empty()) {
    passwd entry{};
    passwd* found = nullptr;
    std::vector<char> buffer(16384);
    if (getpwuid_r(getuid(), &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr)
      env.home = found->pw_dir;
  }
  return env;
}

}  // namespace carrierarr
