#include "store/maildir.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <regex>
#include <set>

#include "store/durable_file.hpp"
#include "test_util.hpp"

namespace postern::store {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  return out;
}

TEST(Maildir, UniqueNameFollowsTheSpec) {
  auto name = maildir_unique_name(1234);
  std::regex re(R"(^\d+\.M\d+P\d+Q\d+\.[^/:]+,S=1234$)");
  EXPECT_TRUE(std::regex_match(name, re)) << name;
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(seen.insert(maildir_unique_name(1)).second);
}

TEST(Maildir, DeliverWritesIntoNew) {
  TempDir t;
  auto root = t.path / "mail" / "example.org" / "alice";
  const std::string msg = "Return-Path: <a@b>\r\nSubject: x\r\n\r\nbody\r\n";
  auto p = maildir_deliver(root, msg);
  EXPECT_EQ(p.parent_path(), root / "new");
  EXPECT_EQ(read_file(p), msg);
  EXPECT_TRUE(fs::is_directory(root / "cur"));
  EXPECT_TRUE(fs::is_empty(root / "tmp"));
  EXPECT_NE(p.filename().string().find(",S=" + std::to_string(msg.size())), std::string::npos);
  EXPECT_EQ(maildir_size(root), msg.size());
  EXPECT_EQ(fs::status(root / "new").permissions() & fs::perms::others_all, fs::perms::none);
}

int fail_fsync(int) {
  errno = EIO;
  return -1;
}
int fail_rename(const char*, const char*) {
  errno = ENOSPC;
  return -1;
}

TEST(Maildir, FailuresLeaveNothingInTmpOrNew) {
  for (int which = 0; which < 2; ++which) {
    TempDir t;
    auto root = t.path / "box";
    ensure_maildir(root);
    auto s = real_syscalls();
    if (which == 0) s.fsync = fail_fsync;
    else s.rename = fail_rename;
    SyscallOverride o(s);
    EXPECT_THROW(maildir_deliver(root, "x"), IoError);
    EXPECT_TRUE(files_in(root / "tmp").empty()) << which;
    EXPECT_TRUE(files_in(root / "new").empty()) << which;
  }
}

}  // namespace
}  // namespace postern::store
