// Shared test helpers: scratch directories, and the real programs tests run (our `carrierarr`
// binary, and the Debian `nebula`/`nebula-cert`). A missing program is a test failure, never a
// silent skip: install it with scripts/setup.sh.
#ifndef CARRIERARR_TESTS_TESTING_TOOLS_H_
#define CARRIERARR_TESTS_TESTING_TOOLS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/subprocess.h"

namespace carrierarr::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Absolute path of the carrierarr binary built alongside the tests.
std::string CarrierarrBinary();

// Absolute path of `program` in PATH; fails the current test (ADD_FAILURE) and returns "" when
// it is not installed, naming the Debian package that provides it.
std::string RequireProgram(const std::string& program, const std::string& debian_package);

// Runs argv in `dir` and returns its result; a failure to start fails the test.
RunResult RunIn(const std::string& dir, const std::vector<std::string>& argv,
                const std::string& stdin_data = "");

// The objects of kustomize directory `dir` as `kubectl kustomize` builds them; fails the test
// when it refuses (or kubectl is missing) and returns "".
std::string Kustomize(const std::string& dir);

// tests/providers/kube_schema_check.py (the strict core-API check) over a YAML stream, run by
// Debian's /usr/bin/python3 (the one with python3-kubernetes; a pyenv python3 in PATH lacks it).
// Exit 0 clean, 1 findings on stderr; a checker that cannot run fails the test, naming the
// Debian packages.
RunResult SchemaCheck(const std::string& yaml);

// tests/tools/hcl_check (HashiCorp's HCL parser, from Debian's golang-github-hashicorp-hcl-v2-dev)
// built with Debian's Go as `dir`/hcl_check (a directory of the caller's: parallel tests never
// write one file; Go's build cache in the build tree is shared safely); "" (and a failed test
// naming the packages) when it cannot be. It prints the files' structure as JSON, and syntax
// errors as FILE:LINE:COL.
std::string HclCheckBinary(const std::string& dir);

// Reads a whole file, failing the test if it cannot.
std::string Slurp(const std::string& path);

// The permission bits of `path` (e.g. 0600); fails the test if it cannot stat it.
mode_t ModeOf(const std::string& path);

// The names in `dir`, sorted: to prove that no stray or temporary file was left behind.
std::vector<std::string> Entries(const std::string& dir);

}  // namespace carrierarr::testing

#endif  // CARRIERARR_TESTS_TESTING_TOOLS_H_
