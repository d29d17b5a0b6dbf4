#include "testing/tools.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "core/file_util.h"

namespace carrierarr::testing {

ScratchDir::ScratchDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/carrierarr-test-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << tmpl << ": " << ErrnoString(errno);
  }
  path_ = tmpl;
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string CarrierarrBinary() { return std::string(CARRIERARR_BINARY_DIR) + "/bin/carrierarr"; }

std::string RequireProgram(const std::string& program, const std::string& debian_package) {
  if (auto path = FindProgram(program)) return *path;
  ADD_FAILURE() << "this test needs `" << program << "` (Debian package " << debian_package
                << "); run scripts/setup.sh";
  return "";
}

RunResult RunIn(const std::string& dir, const std::vector<std::string>& argv,
                const std::string& stdin_data) {
  RunOptions options;
  options.working_dir = dir;
  options.stdin_data = stdin_data;
  auto result = Run(argv, options);
  if (!result.ok()) {
    ADD_FAILURE() << "cannot run " << argv[0] << ": " << result.status().ToString();
    return {};
  }
  return *result;
}

std::string Kustomize(const std::string& dir) {
  std::string kubectl = RequireProgram("kubectl", "kubernetes-client");
  if (kubectl.empty()) return "";
  RunResult r = RunIn(".", {kubectl, "kustomize", dir});
  EXPECT_EQ(r.exit_code, 0) << "kubectl kustomize " << dir << ":\n" << r.err;
  return r.exit_code == 0 ? r.out : "";
}

RunResult SchemaCheck(const std::string& yaml) {
  if (::access("/usr/bin/python3", X_OK) != 0) {
    ADD_FAILURE() << "the schema check needs /usr/bin/python3 with the Debian packages "
                     "python3-kubernetes and python3-yaml; run scripts/setup.sh";
    return {};
  }
  RunResult r = RunIn(
      ".", {"/usr/bin/python3", CARRIERARR_SOURCE_DIR "/tests/providers/kube_schema_check.py", "-"},
      yaml);
  EXPECT_NE(r.exit_code, 2) << "kube_schema_check.py could not run (exit 2): " << r.err;
  return r;
}

std::string HclCheckBinary(const std::string& dir) {
  const std::string go = RequireProgram("go", "golang-go and golang-github-hashicorp-hcl-v2-dev");
  if (go.empty()) return "";
  const std::string out = dir + "/hcl_check";
  // GOPATH mode over Debian's Go sources: offline, no module download.
  RunResult r = RunIn(
      CARRIERARR_SOURCE_DIR "/tests/tools/hcl_check",
      {"/usr/bin/env", "GO111MODULE=off", "GOENV=off", "GOPATH=/usr/share/gocode",
       "GOCACHE=" CARRIERARR_BINARY_DIR "/go-cache", "GOFLAGS=", go, "build", "-o", out, "."});
  if (r.exit_code != 0) {
    ADD_FAILURE() << "cannot build tests/tools/hcl_check (needs the Debian packages golang-go and "
                     "golang-github-hashicorp-hcl-v2-dev; run scripts/setup.sh):\n"
                  << r.err;
    return "";
  }
  return out;
}

std::string Slurp(const std::string& path) {
  auto data = ReadFile(path);
  if (!data.ok()) {
    ADD_FAILURE() << data.status().ToString();
    return "";
  }
  return *data;
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    ADD_FAILURE() << "stat " << path << ": " << ErrnoString(errno);
    return 0;
  }
  return st.st_mode & 07777;
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace carrierarr::testing
