#include "delivery/maildir.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <regex>
#include <set>

#include "store/durable_file.hpp"
#include "../store/test_util.hpp"

namespace postern::delivery {
namespace {

namespace fs = std::filesystem;
using namespace store;
using store::testing::TempDir;

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  return out;
}

Envelope envelope() {
  Envelope e;
  e.received_at = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  return e;
}

TEST(Maildir, FixedNameFollowsTheSpec) {
  auto name = maildir_fixed_name(envelope(), "0123456789abcdef", 2, 1234);
  std::regex re(R"(^1700000000\.Q0123456789abcdefR2\.[^/:]+,S=1234$)");
  EXPECT_TRUE(std::regex_match(name, re)) << name;
  EXPECT_EQ(name.rfind(maildir_fixed_prefix(envelope(), "0123456789abcdef", 2), 0), 0u);
  EXPECT_NE(maildir_fixed_prefix(envelope(), "0123456789abcdef", 1),
            maildir_fixed_prefix(envelope(), "0123456789abcdef", 10).substr(0, 32));
}

// Delivers `msg` once, under the fixed name of recipient 0 of message `id`.
Placed deliver(const fs::path& root, std::string_view msg, const std::string& id = "0123456789abcdef") {
  return maildir_deliver_once(root, maildir_fixed_prefix(envelope(), id, 0),
                              maildir_fixed_name(envelope(), id, 0, msg.size()), "", msg);
}

TEST(Maildir, DeliverWritesIntoNew) {
  TempDir t;
  auto root = t.path / "mail" / "example.org" / "alice";
  const std::string msg = "Return-Path: <a@b>\r\nSubject: x\r\n\r\nbody\r\n";
  EXPECT_EQ(deliver(root, msg), Placed::written);
  ASSERT_EQ(files_in(root / "new").size(), 1u);
  auto p = files_in(root / "new")[0];
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
    EXPECT_THROW(deliver(root, "x"), IoError);
    EXPECT_TRUE(files_in(root / "tmp").empty()) << which;
    EXPECT_TRUE(files_in(root / "new").empty()) << which;
  }
}

TEST(Maildir, DeliverOnceKeepsAnIntactCopyAndReplacesATornOne) {
  TempDir t;
  auto root = t.path / "box";
  const std::string msg = "Subject: x\r\n\r\nbody\r\n";
  EXPECT_EQ(deliver(root, msg), Placed::written);
  EXPECT_EQ(deliver(root, msg), Placed::kept);
  EXPECT_EQ(deliver(root, msg, "fedcba9876543210"), Placed::written) << "another message";
  EXPECT_EQ(files_in(root / "new").size(), 2u);
  const auto first = root / "new" / maildir_fixed_name(envelope(), "0123456789abcdef", 0, msg.size());
  fs::resize_file(first, 3);
  EXPECT_EQ(deliver(root, msg), Placed::written);
  EXPECT_EQ(read_file(first), msg);
  fs::rename(first, root / "cur" / (first.filename().string() + ":2,S"));
  MaildirListing listing = maildir_list(root);
  EXPECT_EQ(maildir_deliver_once(root, maildir_fixed_prefix(envelope(), "0123456789abcdef", 0), first.filename(), "",
                                 msg, &listing),
            Placed::kept);
  EXPECT_EQ(files_in(root / "new").size(), 1u);
}

}  // namespace
}  // namespace postern::delivery
