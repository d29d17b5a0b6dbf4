// Command-line flags parsed the way Go's `flag` package does, so that every nebula-cert command
// line in the seeds works unchanged: `-name x`, `--name x`, `-name=x`, `-json`, `-json=false`.
// Parsing stops at the first argument that is not a flag, or after "--".
#ifndef CARRIERARR_CLI_FLAGS_H_
#define CARRIERARR_CLI_FLAGS_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace carrierarr::cli {

class FlagSet {
 public:
  // Targets are owned by the caller and must outlive the FlagSet.
  void String(const std::string& name, std::string* target, const std::string& def,
              const std::string& usage);
  void Bool(const std::string& name, bool* target, bool def, const std::string& usage);
  void Duration(const std::string& name, std::chrono::nanoseconds* target,
                std::chrono::nanoseconds def, const std::string& usage);
  void Int(const std::string& name, int64_t* target, int64_t def, const std::string& usage);
  // A flag that may be given several times (`-trust a -trust b`): each value is appended.
  void StringList(const std::string& name, std::vector<std::string>* target,
                  const std::string& usage);

  // Errors carry Go's wording ("flag provided but not defined: -x", "flag needs an argument:
  // -name", "invalid value \"x\" for flag -duration: parse error"). `-h`, `-help` and `--help`
  // set help() instead of failing.
  Status Parse(const std::vector<std::string>& args);

  bool help() const { return help_; }
  bool WasSet(const std::string& name) const;
  // Arguments left after the flags.
  const std::vector<std::string>& args() const { return args_; }
  // One entry per flag, sorted by name, in Go's PrintDefaults layout.
  std::string Usage() const;

 private:
  enum class Kind { kString, kBool, kDuration, kInt, kStringList };
  struct Flag {
    Kind kind;
    void* target;
    std::string def;  // printable default ("" when none)
    std::string usage;
    bool set = false;
  };
  Status SetValue(const std::string& name, Flag& flag, const std::string& value);

  std::map<std::string, Flag> flags_;
  std::vector<std::string> args_;
  bool help_ = false;
};

// Splits a comma-separated flag value ("a, b,,c") into its items, each trimmed of white space;
// empty items are dropped, as nebula-cert does for -groups, -ips and -subnets.
std::vector<std::string> SplitCommaList(const std::string& csv);

}  // namespace carrierarr::cli

#endif  // CARRIERARR_CLI_FLAGS_H_
