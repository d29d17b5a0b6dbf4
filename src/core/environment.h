// The process environment as a seam: a snapshot of the variables and the home directory, taken
// once at the program's edge (main) and passed down, so that nothing below the CLI calls
// getenv() and tests describe the environment they want as a value. Immutable once made, so
// thread-safe to share.
#ifndef CARRIERARR_CORE_ENVIRONMENT_H_
#define CARRIERARR_CORE_ENVIRONMENT_H_

#include <map>
#include <string>

namespace carrierarr {

struct Environment {
  std::map<std::string, std::string> vars;
  std::string home;  // $HOME, else the passwd entry's home directory

  // The variable's value; "" when unset (an empty value reads the same, as the AWS CLI and Go
  // programs treat it).
  std::string Get(const std::string& name) const {
    auto it = vars.find(name);
    return it == vars.end() ? "" : it->second;
  }
  bool Has(const std::string& name) const { return vars.count(name) != 0; }

  // environ and $HOME (or the passwd entry) of this process, as they are now.
  static Environment FromProcess();
};

}  // namespace carrierarr

#endif  // CARRIERARR_CORE_ENVIRONMENT_H_
