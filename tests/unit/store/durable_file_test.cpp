#include "store/durable_file.hpp"

#include <gtest/gtest.h>
#include <vector>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "util/ids.hpp"

namespace postern::store {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("postern-store-" + util::random_hex(6));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::size_t count_entries(const fs::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

int fail_fsync(int) {
  errno = EIO;
  return -1;
}
int fail_rename(const char*, const char*) {
  errno = EXDEV;
  return -1;
}
ssize_t fail_write(int, const void*, size_t) {
  errno = ENOSPC;
  return -1;
}
// A short write every time: write_all must loop.
ssize_t short_write(int fd, const void* buf, size_t n) { return ::write(fd, buf, n > 3 ? 3 : n); }
int fsync_calls = 0;
int counting_fsync(int fd) {
  ++fsync_calls;
  return ::fsync(fd);
}

TEST(DurableFile, WritesAndReplaces) {
  TempDir t;
  auto target = t.path / "file";
  write_durably(target, "first");
  EXPECT_EQ(read_file(target), "first");
  write_durably(target, "second, longer");
  EXPECT_EQ(read_file(target), "second, longer");
  EXPECT_EQ(count_entries(t.path), 1u);
}

TEST(DurableFile, FsyncsFileAndDirectory) {
  TempDir t;
  Syscalls s = real_syscalls();
  s.fsync = counting_fsync;
  SyscallOverride o(s);
  fsync_calls = 0;
  write_durably(t.path / "f", "x");
  EXPECT_EQ(fsync_calls, 2);
  fsync_calls = 0;
  write_durably(t.path / "g", "x", 0600, false);
  EXPECT_EQ(fsync_calls, 1);
}

std::vector<std::string> opened_dirs;
int recording_open(const char* path, int flags, mode_t mode) {
  if (flags & O_DIRECTORY) opened_dirs.emplace_back(path);
  return ::open(path, flags, mode);
}

// A new mailbox's parents must survive a crash with its first message.
TEST(DurableFile, CreatedDirectoriesAreSyncedInTheirParents) {
  TempDir t;
  Syscalls s = real_syscalls();
  s.open = recording_open;
  s.fsync = counting_fsync;
  SyscallOverride o(s);
  opened_dirs.clear();
  fsync_calls = 0;
  EXPECT_TRUE(create_directories_durably(t.path / "a" / "b" / "c"));
  EXPECT_EQ(opened_dirs, (std::vector<std::string>{t.path.string(), (t.path / "a").string(),
                                                   (t.path / "a" / "b").string()}));
  EXPECT_EQ(fsync_calls, 3);
  opened_dirs.clear();
  EXPECT_FALSE(create_directories_durably(t.path / "a" / "b" / "c"));
  EXPECT_TRUE(opened_dirs.empty()) << "an existing directory costs no fsync";
}

// A data dir is private; the levels above it, made along, stay crossable.
TEST(DurableFile, ParentsGetTheirOwnMode) {
  TempDir t;
  const mode_t old_mask = ::umask(022);
  EXPECT_TRUE(create_directories_durably(t.path / "var" / "lib" / "data", 0700, 0755));
  ::umask(old_mask);
  const auto perms = [](const fs::path& p) { return fs::status(p).permissions() & fs::perms::all; };
  EXPECT_EQ(perms(t.path / "var"), static_cast<fs::perms>(0755));
  EXPECT_EQ(perms(t.path / "var" / "lib"), static_cast<fs::perms>(0755));
  EXPECT_EQ(perms(t.path / "var" / "lib" / "data"), static_cast<fs::perms>(0700));
}

TEST(DurableFile, ShortWritesAreCompleted) {
  TempDir t;
  Syscalls s = real_syscalls();
  s.write = short_write;
  SyscallOverride o(s);
  write_durably(t.path / "f", "hello, world");
  EXPECT_EQ(read_file(t.path / "f"), "hello, world");
}

struct Failure {
  const char* name;
  Syscalls syscalls;
  int want_errno;
};

TEST(DurableFile, FailureLeavesOldContentAndNoTemporary) {
  std::vector<Failure> cases;
  auto s = real_syscalls();
  s.fsync = fail_fsync;
  cases.push_back({"fsync", s, EIO});
  s = real_syscalls();
  s.rename = fail_rename;
  cases.push_back({"rename", s, EXDEV});
  s = real_syscalls();
  s.write = fail_write;
  cases.push_back({"write", s, ENOSPC});
  for (const auto& c : cases) {
    TempDir t;
    auto target = t.path / "file";
    write_durably(target, "old");
    SyscallOverride o(c.syscalls);
    try {
      write_durably(target, "new");
      ADD_FAILURE() << c.name << ": no error";
    } catch (const IoError& e) {
      EXPECT_EQ(e.code().value(), c.want_errno) << c.name;
    }
    EXPECT_EQ(read_file(target), "old") << c.name;
    EXPECT_EQ(count_entries(t.path), 1u) << c.name << ": temporary left behind";
  }
}

TEST(DurableFile, NewSyncedRefusesExisting) {
  TempDir t;
  write_new_synced(t.path / "a", "1");
  EXPECT_THROW(write_new_synced(t.path / "a", "2"), IoError);
  EXPECT_EQ(read_file(t.path / "a"), "1");
}

TEST(DurableFile, ReadMissingIsEnoent) {
  TempDir t;
  try {
    read_file(t.path / "absent");
    FAIL();
  } catch (const IoError& e) {
    EXPECT_EQ(e.code().value(), ENOENT);
  }
}

TEST(DurableFile, DirectoryFsyncFailureIsReported) {
  TempDir t;
  auto s = real_syscalls();
  s.fsync = fail_fsync;
  SyscallOverride o(s);
  EXPECT_THROW(fsync_dir(t.path), IoError);
  EXPECT_THROW(fsync_dir(t.path / "absent"), IoError);
}

TEST(DurableFile, CreateDurablyNeverReplaces) {
  TempDir t;
  auto target = t.path / "secret";
  int fsyncs_before = fsync_calls;
  auto s = real_syscalls();
  s.fsync = counting_fsync;
  SyscallOverride o(s);
  EXPECT_TRUE(create_durably(target, "first"));
  EXPECT_EQ(fsync_calls - fsyncs_before, 2) << "the file, then its directory";
  EXPECT_FALSE(create_durably(target, "second"));
  EXPECT_EQ(read_file(target), "first");
  EXPECT_EQ(count_entries(t.path), 1u) << "no temporary left behind";
}

TEST(DurableFile, CreateDurablyLeavesNothingWhenTheWriteFails) {
  TempDir t;
  auto s = real_syscalls();
  s.write = fail_write;
  SyscallOverride o(s);
  EXPECT_THROW(create_durably(t.path / "secret", "bytes"), IoError);
  EXPECT_EQ(count_entries(t.path), 0u);
}

}  // namespace
}  // namespace postern::store
