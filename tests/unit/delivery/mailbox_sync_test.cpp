#include "delivery/mailbox_sync.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <set>
#include <string>

#include "delivery/maildir.hpp"
#include "store/durable_file.hpp"
#include "../store/test_util.hpp"

namespace postern::delivery {
namespace {

namespace fs = std::filesystem;
using store::testing::TempDir;

// Which paths were synced, through the fsync seam (set by the test).
std::set<std::string>* synced = nullptr;
int recording_fsync(int fd) {
  char link[64], path[4096];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const auto n = ::readlink(link, path, sizeof path - 1);
  if (n > 0 && synced) synced->insert(std::string(path, static_cast<std::size_t>(n)));
  return store::real_syscalls().fsync(fd);
}
int failing_fsync(int) {
  errno = EIO;
  return -1;
}

void put(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

TEST(MailboxSync, SyncsEachFileAndTheDirectoriesThatNameThem) {
  TempDir t;
  const auto a = t.path / "a", b = t.path / "b";
  ensure_maildir(a);
  ensure_maildir(b);
  put(a / "new" / "1.Q1R0.h,S=3", "one");
  put(a / "new" / "2.Q2R0.h,S=3", "two");
  put(b / "new" / "1.Q1R1.h,S=3", "one");
  std::set<std::string> seen;
  synced = &seen;
  store::Syscalls calls = store::real_syscalls();
  calls.fsync = recording_fsync;
  {
    store::SyscallOverride over(calls);
    sync_mailbox_files({{a, "1.Q1R0.h,S=3"}, {a, "2.Q2R0.h,S=3"}, {b, "1.Q1R1.h,S=3"}});
  }
  synced = nullptr;
  const auto real = [](const fs::path& p) { return fs::canonical(p).string(); };
  EXPECT_TRUE(seen.count(real(a / "new" / "1.Q1R0.h,S=3")));
  EXPECT_TRUE(seen.count(real(a / "new" / "2.Q2R0.h,S=3")));
  EXPECT_TRUE(seen.count(real(b / "new" / "1.Q1R1.h,S=3")));
  EXPECT_TRUE(seen.count(real(a / "new")));
  EXPECT_TRUE(seen.count(real(b / "new")));
  EXPECT_FALSE(seen.count(real(a / "cur")));
  EXPECT_EQ(seen.size(), 5u);
}

TEST(MailboxSync, AFileAReaderMovedToCurIsSyncedThereAndAnExpungedOneIsSkipped) {
  TempDir t;
  const auto a = t.path / "a";
  ensure_maildir(a);
  put(a / "cur" / "1.Q1R0.h,S=3:2,S", "one");
  put(a / "cur" / "1.Q1R0.h,S=30:2,S", "not this one: another name that shares the start");
  std::set<std::string> seen;
  synced = &seen;
  store::Syscalls calls = store::real_syscalls();
  calls.fsync = recording_fsync;
  {
    store::SyscallOverride over(calls);
    sync_mailbox_files({{a, "1.Q1R0.h,S=3"}, {a, "9.Q9R0.h,S=3"}});
  }
  synced = nullptr;
  EXPECT_TRUE(seen.count(fs::canonical(a / "cur" / "1.Q1R0.h,S=3:2,S").string()));
  EXPECT_TRUE(seen.count(fs::canonical(a / "cur").string()));
  EXPECT_EQ(seen.size(), 2u);
}

TEST(MailboxSync, AReaderThatSeparatesTheInfoWithSemicolonOrBangIsFollowedToo) {
  TempDir t;
  const auto a = t.path / "a";
  ensure_maildir(a);
  put(a / "cur" / "1.Q1R0.h,S=3;2,S", "one");
  put(a / "cur" / "2.Q2R0.h,S=3!2,S", "two");
  put(a / "cur" / "3.Q3R0.h,S=3x2,S", "not a separator");
  std::set<std::string> seen;
  synced = &seen;
  store::Syscalls calls = store::real_syscalls();
  calls.fsync = recording_fsync;
  {
    store::SyscallOverride over(calls);
    sync_mailbox_files({{a, "1.Q1R0.h,S=3"}, {a, "2.Q2R0.h,S=3"}, {a, "3.Q3R0.h,S=3"}});
  }
  synced = nullptr;
  EXPECT_TRUE(seen.count(fs::canonical(a / "cur" / "1.Q1R0.h,S=3;2,S").string()));
  EXPECT_TRUE(seen.count(fs::canonical(a / "cur" / "2.Q2R0.h,S=3!2,S").string()));
  EXPECT_EQ(seen.size(), 3u);  // the two files and cur/
}

TEST(MailboxSync, AFailedSyncThrows) {
  TempDir t;
  const auto a = t.path / "a";
  ensure_maildir(a);
  put(a / "new" / "1.Q1R0.h,S=3", "one");
  store::Syscalls calls = store::real_syscalls();
  calls.fsync = failing_fsync;
  store::SyscallOverride over(calls);
  try {
    sync_mailbox_files({{a, "1.Q1R0.h,S=3"}});
    FAIL() << "no error";
  } catch (const store::IoError& e) {
    EXPECT_EQ(e.code().value(), EIO);
  }
}

TEST(MailboxSync, NothingToSyncIsFine) { EXPECT_NO_THROW(sync_mailbox_files({})); }

}  // namespace
}  // namespace postern::delivery
