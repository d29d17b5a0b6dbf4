#include "core/file_util.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "testing/tools.h"

namespace carrierarr {
namespace {

using ::carrierarr::testing::Entries;
using ::carrierarr::testing::ModeOf;
using ::carrierarr::testing::ScratchDir;
using ::carrierarr::testing::Slurp;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// Sets the process umask for one test and puts the old one back.
class UmaskGuard {
 public:
  explicit UmaskGuard(mode_t mask) : old_(::umask(mask)) {}
  ~UmaskGuard() { ::umask(old_); }
  UmaskGuard(const UmaskGuard&) = delete;
  UmaskGuard& operator=(const UmaskGuard&) = delete;

 private:
  mode_t old_;
};

TEST(WriteFileAtomicTest, ModeIsExactlyAsGivenWhateverTheUmask) {
  ScratchDir dir;
  for (mode_t mask : {mode_t{022}, mode_t{077}, mode_t{0}}) {
    UmaskGuard guard(mask);
    for (mode_t mode : {mode_t{0600}, mode_t{0644}, mode_t{0640}, mode_t{0755}, mode_t{0400}}) {
      const std::string path = dir / ("f" + std::to_string(mask) + "-" + std::to_string(mode));
      SCOPED_TRACE(path);
      ASSERT_TRUE(WriteFileAtomic(path, "data", mode, Overwrite::kNo).ok());
      EXPECT_EQ(ModeOf(path), mode);
      EXPECT_EQ(Slurp(path), "data");  // a read-only mode must not stop the write itself
    }
  }
}

TEST(WriteFileAtomicTest, NoRefusesAnExistingFileAndLeavesItUntouched) {
  ScratchDir dir;
  const std::string path = dir / "ca.key";
  ASSERT_TRUE(WriteFileAtomic(path, "original", 0600, Overwrite::kNo).ok());
  Status s = WriteFileAtomic(path, "replacement", 0644, Overwrite::kNo);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(s.message(), "open " + path + ": file exists");
  EXPECT_EQ(Slurp(path), "original");
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_THAT(Entries(dir.path()), ElementsAre("ca.key"));
}

TEST(WriteFileAtomicTest, NoRefusesDanglingSymlinksAndDirectories) {
  ScratchDir dir;
  const std::string link = dir / "link";
  ASSERT_EQ(::symlink((dir / "target").c_str(), link.c_str()), 0);
  EXPECT_EQ(WriteFileAtomic(link, "x", 0600, Overwrite::kNo).code(), StatusCode::kAlreadyExists);
  // Writing through the link would create the target: it must not exist.
  EXPECT_FALSE(PathExists(dir / "target"));

  ASSERT_EQ(::mkdir((dir / "sub").c_str(), 0700), 0);
  EXPECT_EQ(WriteFileAtomic(dir / "sub", "x", 0600, Overwrite::kNo).code(),
            StatusCode::kAlreadyExists);
  EXPECT_THAT(Entries(dir.path()), UnorderedElementsAre("link", "sub"));
}

TEST(WriteFileAtomicTest, YesReplacesByRename) {
  ScratchDir dir;
  const std::string path = dir / "state";
  ASSERT_TRUE(WriteFileAtomic(path, "old contents", 0644).ok());
  // A reader holding the old file keeps reading the old bytes: the file is replaced, not
  // truncated and rewritten in place.
  int old_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(old_fd, 0);

  ASSERT_TRUE(WriteFileAtomic(path, "new", 0600, Overwrite::kYes).ok());
  EXPECT_EQ(Slurp(path), "new");
  EXPECT_EQ(ModeOf(path), 0600u);
  char buf[64] = {};
  ssize_t n = ::pread(old_fd, buf, sizeof(buf), 0);
  ::close(old_fd);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), "old contents");
  EXPECT_THAT(Entries(dir.path()), ElementsAre("state"));
}

TEST(WriteFileAtomicTest, WritesEmptyAndBinaryData) {
  ScratchDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir / "empty", "", 0600).ok());
  EXPECT_EQ(Slurp(dir / "empty"), "");

  std::string binary(100000, '\0');  // bigger than any single read buffer, with NULs
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>(i * 7 % 256);
  ASSERT_TRUE(WriteFileAtomic(dir / "bin", binary, 0600).ok());
  auto back = ReadFile(dir / "bin");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, binary);
}

TEST(WriteFileAtomicTest, MissingDirectoryFailsCleanly) {
  ScratchDir dir;
  const std::string path = dir / "missing/ca.key";
  for (Overwrite o : {Overwrite::kNo, Overwrite::kYes}) {
    Status s = WriteFileAtomic(path, "secret", 0600, o);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), StatusCode::kNotFound);
    EXPECT_THAT(s.message(), HasSubstr("no such file or directory"));
    EXPECT_THAT(s.message(), HasSubstr(dir / "missing"));
  }
  EXPECT_THAT(Entries(dir.path()), IsEmpty());
}

// The temporary file exists by the time rename fails: it must be removed again.
TEST(WriteFileAtomicTest, FailedRenameLeavesNoTemporaryFile) {
  ScratchDir dir;
  ASSERT_EQ(::mkdir((dir / "taken").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((dir / "taken/child").c_str(), 0700), 0);  // non-empty: no rename over it
  Status s = WriteFileAtomic(dir / "taken", "x", 0600, Overwrite::kYes);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("rename " + (dir / "taken")));
  EXPECT_THAT(Entries(dir.path()), ElementsAre("taken"));
  EXPECT_THAT(Entries(dir / "taken"), ElementsAre("child"));
}

TEST(WriteFileAtomicTest, RelativePathWritesInTheWorkingDirectory) {
  ScratchDir dir;
  const std::string old_cwd = std::filesystem::current_path();
  ASSERT_EQ(::chdir(dir.path().c_str()), 0);
  Status s = WriteFileAtomic("plain", "x", 0600, Overwrite::kNo);
  ASSERT_EQ(::chdir(old_cwd.c_str()), 0);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Slurp(dir / "plain"), "x");
  EXPECT_THAT(Entries(dir.path()), ElementsAre("plain"));
}

// Several writers racing to create the same key: link(2) lets exactly one win, and the file holds
// that writer's bytes whole.
TEST(WriteFileAtomicTest, ConcurrentNoWritersExactlyOneWins) {
  constexpr int kThreads = 8;
  for (int round = 0; round < 20; ++round) {
    ScratchDir dir;
    const std::string path = dir / "ca.key";
    std::vector<Status> results(kThreads);
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        results[t] = WriteFileAtomic(path, "writer " + std::to_string(t), 0600, Overwrite::kNo);
      });
    }
    for (auto& th : threads) th.join();

    int winners = 0, winner = -1;
    for (int t = 0; t < kThreads; ++t) {
      if (results[t].ok()) {
        ++winners;
        winner = t;
      } else {
        EXPECT_EQ(results[t].code(), StatusCode::kAlreadyExists) << results[t].ToString();
      }
    }
    ASSERT_EQ(winners, 1) << "round " << round;
    EXPECT_EQ(Slurp(path), "writer " + std::to_string(winner));
    EXPECT_EQ(ModeOf(path), 0600u);
    EXPECT_THAT(Entries(dir.path()), ElementsAre("ca.key"));
  }
}

TEST(ReadFileTest, ErrorsReadLikeGo) {
  ScratchDir dir;
  const std::string missing = dir / "nope.crt";
  auto r = ReadFile(missing);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "open " + missing + ": no such file or directory");

  auto d = ReadFile(dir.path());
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message(), "read " + dir.path() + ": is a directory");

  auto under_file = ReadFile(dir / "nope.crt/child");
  ASSERT_FALSE(under_file.ok());
  EXPECT_EQ(under_file.status().message(),
            "open " + dir.path() + "/nope.crt/child: no such file or directory");
}

TEST(PathExistsTest, SeesFilesDirectoriesAndDanglingLinks) {
  ScratchDir dir;
  EXPECT_TRUE(PathExists(dir.path()));
  EXPECT_FALSE(PathExists(dir / "nothing"));
  ASSERT_EQ(::symlink("nothing", (dir / "dangling").c_str()), 0);
  EXPECT_TRUE(PathExists(dir / "dangling"));  // a link we would write through counts as taken
}

TEST(ErrnoStringTest, LowercasedLikeGo) {
  EXPECT_EQ(ErrnoString(ENOENT), "no such file or directory");
  EXPECT_EQ(ErrnoString(EACCES), "permission denied");
  EXPECT_EQ(ErrnoString(EEXIST), "file exists");
}

}  // namespace
}  // namespace carrierarr
