#include "delivery/mbox.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "store/durable_file.hpp"
#include "../store/test_util.hpp"

namespace postern::delivery {
namespace {

namespace fs = std::filesystem;
using namespace store;
using store::testing::TempDir;
using Clock = std::chrono::system_clock;

const auto when = Clock::time_point(std::chrono::seconds(1700000000));  // Tue Nov 14 22:13:20 2023 UTC

TEST(Mbox, EntryFormatAndQuoting) {
  struct Case {
    const char* name;
    std::string sender, message, want;
  } cases[] = {
      {"plain", "a@b", "Subject: x\r\n\r\nhello\r\n", "From a@b Tue Nov 14 22:13:20 2023\nSubject: x\n\nhello\n\n"},
      {"null sender", "", "x\r\n", "From MAILER-DAEMON Tue Nov 14 22:13:20 2023\nx\n\n"},
      {"from quoting", "a@b", "\r\nFrom me\r\n>From you\r\n>>From them\r\nFromage\r\n From x\r\n",
       "From a@b Tue Nov 14 22:13:20 2023\n\n>From me\n>>From you\n>>>From them\nFromage\n From x\n\n"},
      {"no final newline", "a@b", "x", "From a@b Tue Nov 14 22:13:20 2023\nx\n\n"},
      {"lf input", "a@b", "a\nFrom b\n", "From a@b Tue Nov 14 22:13:20 2023\na\n>From b\n\n"},
  };
  for (const auto& c : cases) EXPECT_EQ(mbox_entry(c.sender, c.message, when), c.want) << c.name;
}

TEST(Mbox, AppendsMessages) {
  TempDir t;
  auto file = t.path / "mail" / "example.org" / "alice";
  EXPECT_EQ(mbox_deliver(file, "a@b", "one\r\n", when), MboxResult::delivered);
  EXPECT_EQ(mbox_deliver(file, "a@b", "two\r\n", when), MboxResult::delivered);
  EXPECT_EQ(read_file(file), mbox_entry("a@b", "one\r\n", when) + mbox_entry("a@b", "two\r\n", when));
  EXPECT_FALSE(fs::exists(file.string() + ".lock"));
  EXPECT_FALSE(mbox_locked(file));
}

TEST(Mbox, FreshDotlockBlocksStaleOneIsBroken) {
  TempDir t;
  auto file = t.path / "box";
  auto lock = fs::path(file.string() + ".lock");
  write_durably(lock, "12345\n");
  EXPECT_TRUE(mbox_locked(file));
  EXPECT_EQ(mbox_deliver(file, "a@b", "x\r\n", when), MboxResult::locked);
  EXPECT_TRUE(fs::exists(lock)) << "someone else's lock must not be removed";
  EXPECT_FALSE(fs::exists(file) && fs::file_size(file) > 0);
  // Make it old: stale after 300 s.
  struct timespec times[2] = {{std::time(nullptr) - 600, 0}, {std::time(nullptr) - 600, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, lock.c_str(), times, 0), 0);
  EXPECT_FALSE(mbox_locked(file));
  EXPECT_EQ(mbox_deliver(file, "a@b", "x\r\n", when), MboxResult::delivered);
  EXPECT_FALSE(fs::exists(lock));
}

TEST(Mbox, FcntlLockHeldByAnotherProcessBlocks) {
  TempDir t;
  auto file = t.path / "box";
  write_durably(file, "");
  int to_child[2], to_parent[2];
  ASSERT_EQ(::pipe(to_child), 0);
  ASSERT_EQ(::pipe(to_parent), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int fd = ::open(file.c_str(), O_RDWR);
    struct flock fl{};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fd < 0 || ::fcntl(fd, F_SETLK, &fl) != 0) ::_exit(1);
    char c = 'l';
    (void)!::write(to_parent[1], &c, 1);
    (void)!::read(to_child[0], &c, 1);  // hold until told
    ::_exit(0);
  }
  char c;
  ASSERT_EQ(::read(to_parent[0], &c, 1), 1);
  EXPECT_TRUE(mbox_locked(file));
  EXPECT_EQ(mbox_deliver(file, "a@b", "x\r\n", when), MboxResult::locked);
  EXPECT_FALSE(fs::exists(file.string() + ".lock")) << "our dotlock is released when fcntl fails";
  EXPECT_EQ(fs::file_size(file), 0u);
  ASSERT_EQ(::write(to_child[1], "x", 1), 1);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_FALSE(mbox_locked(file));
  EXPECT_EQ(mbox_deliver(file, "a@b", "x\r\n", when), MboxResult::delivered);
  for (int fd : {to_child[0], to_child[1], to_parent[0], to_parent[1]}) ::close(fd);
}

ssize_t fail_write(int, const void*, size_t) {
  errno = ENOSPC;
  return -1;
}

TEST(Mbox, WriteFailureTruncatesBack) {
  TempDir t;
  auto file = t.path / "box";
  ASSERT_EQ(mbox_deliver(file, "a@b", "one\r\n", when), MboxResult::delivered);
  auto before = read_file(file);
  {
    auto s = real_syscalls();
    s.write = fail_write;
    SyscallOverride o(s);
    EXPECT_THROW(mbox_deliver(file, "a@b", "two\r\n", when), IoError);
  }
  EXPECT_EQ(read_file(file), before);
  EXPECT_FALSE(fs::exists(file.string() + ".lock"));
}

// A repeat after a crash (appended, not yet marked delivered) is found
// near the end of the file; only a line start counts, and only the last
// few MiB are read, so a repeat behind more than that is a second copy.
TEST(Mbox, RepeatedEntryIsAppendedOnce) {
  TempDir t;
  auto file = t.path / "alice";
  const std::string m1 = "Received: id 1\r\n\r\none\r\n", m2 = "Received: id 2\r\n\r\ntwo\r\n";
  ASSERT_EQ(mbox_deliver(file, "a@b", m1, when), MboxResult::delivered);
  ASSERT_EQ(mbox_deliver(file, "a@b", m2, when), MboxResult::delivered);
  ASSERT_EQ(mbox_deliver(file, "a@b", m1, when), MboxResult::delivered);
  ASSERT_EQ(mbox_deliver(file, "a@b", m2, when), MboxResult::delivered);
  EXPECT_EQ(read_file(file), mbox_entry("a@b", m1, when) + mbox_entry("a@b", m2, when));
  // Another message quoting ours whole is not ours: it is not at a line start.
  const std::string quoted = "x" + mbox_entry("a@b", "Received: id 3\r\n\r\nthree\r\n", when);
  ASSERT_EQ(mbox_deliver(file, "c@d", quoted, when), MboxResult::delivered);
  ASSERT_EQ(mbox_deliver(file, "a@b", "Received: id 3\r\n\r\nthree\r\n", when), MboxResult::delivered);
  EXPECT_NE(read_file(file).find("\nFrom a@b Tue Nov 14 22:13:20 2023\nReceived: id 3\n"), std::string::npos);
  // Behind 5 MiB of later mail: not looked for, written again (never lost).
  ASSERT_EQ(mbox_deliver(file, "c@d", std::string(5 << 20, 'y'), when), MboxResult::delivered);
  ASSERT_EQ(mbox_deliver(file, "a@b", m1, when), MboxResult::delivered);
  const auto all = read_file(file);
  EXPECT_NE(all.find(mbox_entry("a@b", m1, when)), all.rfind(mbox_entry("a@b", m1, when)));
}

}  // namespace
}  // namespace postern::delivery
