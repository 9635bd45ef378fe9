#include "delivery/maildir_stream.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <fstream>

#include "delivery/maildir.hpp"
#include "store/durable_file.hpp"
#include "../store/test_util.hpp"

namespace postern::delivery {
namespace {

namespace fs = std::filesystem;
using namespace store;
using store::testing::TempDir;

Envelope envelope() {
  Envelope e;
  e.reverse_path = "sender@remote.example";
  e.recipients = {"alice@example.org", "bob@example.org", "carol@example.org"};
  e.client_address = "192.0.2.7";
  e.received_at = std::chrono::system_clock::now();
  return e;
}

const std::string id = "0000000bbbbbbbbb";
const std::string head = "Return-Path: <sender@remote.example>\r\n";

struct Boxes {
  TempDir t;
  std::vector<MaildirStream::Target> targets{
      {t.path / "mail" / "alice", 0}, {t.path / "mail" / "bob", 1}, {t.path / "mail" / "carol", 2}};
  std::vector<std::string> files(const fs::path& box, const char* sub) const {
    std::vector<std::string> out;
    if (!fs::exists(box / sub)) return out;
    for (auto& e : fs::directory_iterator(box / sub)) out.push_back(e.path().filename().string());
    return out;
  }
  bool all_empty(const char* sub) const {
    for (const auto& t : targets)
      if (!files(t.mailbox, sub).empty()) return false;
    return true;
  }
};

// A body of `pieces` pieces of 64 KiB, streamed as a session would.
std::string stream_body(MaildirStream& s, int pieces) {
  std::string all;
  for (int i = 0; i < pieces; ++i) {
    std::string piece(64 * 1024, static_cast<char>('a' + i % 26));
    piece.replace(0, 2, "\r\n");
    s.append(piece);
    all += piece;
  }
  return all;
}

TEST(MaildirStream, WritesOnceAndLinksIntoEveryMailbox) {
  Boxes b;
  const auto e = envelope();
  MaildirStream s(e, id, head, b.targets);
  // Growing in tmp/ of the first mailbox only, under the fixed name without its size.
  ASSERT_EQ(b.files(b.targets[0].mailbox, "tmp").size(), 1u);
  EXPECT_EQ(b.files(b.targets[0].mailbox, "tmp")[0], maildir_fixed_prefix(e, id, 0) + maildir_host());
  EXPECT_TRUE(b.all_empty("new"));
  const std::string body = stream_body(s, 40);
  EXPECT_EQ(s.size(), body.size());
  EXPECT_EQ(s.read(100, 10), body.substr(100, 10));
  s.commit();
  const std::size_t size = head.size() + body.size();
  struct stat first{};
  for (const auto& t : b.targets) {
    const auto names = b.files(t.mailbox, "new");
    ASSERT_EQ(names.size(), 1u) << t.mailbox;
    EXPECT_EQ(names[0], maildir_fixed_name(e, id, t.recipient, size));
    EXPECT_EQ(s.final_path(t), t.mailbox / "new" / names[0]);
    EXPECT_EQ(read_file(t.mailbox / "new" / names[0]), head + body);
    struct stat st{};
    ASSERT_EQ(::stat((t.mailbox / "new" / names[0]).c_str(), &st), 0);
    if (t.recipient == 0) first = st;
    EXPECT_EQ(st.st_ino, first.st_ino);
    EXPECT_EQ(st.st_nlink, 3u);
  }
  EXPECT_TRUE(b.all_empty("tmp"));
}

TEST(MaildirStream, OneMailbox) {
  Boxes b;
  b.targets.resize(1);
  MaildirStream s(envelope(), id, head, b.targets);
  s.append("Subject: x\r\n\r\nbody\r\n");
  s.commit();
  const auto names = b.files(b.targets[0].mailbox, "new");
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(read_file(b.targets[0].mailbox / "new" / names[0]), head + "Subject: x\r\n\r\nbody\r\n");
  EXPECT_TRUE(b.files(b.targets[0].mailbox, "tmp").empty());
}

int exdev_link(const char*, const char*) {
  errno = EXDEV;
  return -1;
}

TEST(MaildirStream, CopiesWhereLinkCannotReach) {
  Boxes b;
  const auto e = envelope();
  SyscallOverride no_links([] {
    auto s = real_syscalls();
    s.link = exdev_link;
    return s;
  }());
  MaildirStream s(e, id, head, b.targets);
  const std::string body = stream_body(s, 20);
  s.commit();
  for (const auto& t : b.targets) {
    const auto names = b.files(t.mailbox, "new");
    ASSERT_EQ(names.size(), 1u);
    EXPECT_EQ(names[0], maildir_fixed_name(e, id, t.recipient, head.size() + body.size()));
    EXPECT_EQ(read_file(t.mailbox / "new" / names[0]), head + body);
    struct stat st{};
    ASSERT_EQ(::stat((t.mailbox / "new" / names[0]).c_str(), &st), 0);
    EXPECT_EQ(st.st_nlink, 1u);  // a copy of its own
  }
  EXPECT_TRUE(b.all_empty("tmp"));
}

TEST(MaildirStream, DroppedBeforeCommitLeavesNothing) {
  Boxes b;
  {
    MaildirStream s(envelope(), id, head, b.targets);
    stream_body(s, 3);
  }
  EXPECT_TRUE(b.all_empty("tmp"));
  EXPECT_TRUE(b.all_empty("new"));
}

int refused_link(const char*, const char*) {
  errno = EACCES;
  return -1;
}

TEST(MaildirStream, AFailedLinkUndoesEverythingAndKeepsTheMessageReadable) {
  Boxes b;
  SyscallOverride no_links([] {
    auto s = real_syscalls();
    s.link = refused_link;
    return s;
  }());
  MaildirStream s(envelope(), id, head, b.targets);
  const std::string body = stream_body(s, 5);
  try {
    s.commit();
    FAIL() << "commit succeeded";
  } catch (const IoError& err) {
    EXPECT_EQ(err.code().value(), EACCES);
  }
  EXPECT_TRUE(b.all_empty("new"));
  // What it held can still go to the spool.
  std::string back;
  for (std::uint64_t at = 0; at < s.size();) {
    auto piece = s.read(at, 100000);
    ASSERT_FALSE(piece.empty());
    at += piece.size();
    back += piece;
  }
  EXPECT_EQ(back, body);
}

int failing_fsync(int) {
  errno = EIO;
  return -1;
}

TEST(MaildirStream, AFailedFsyncNamesNothing) {
  Boxes b;
  MaildirStream s(envelope(), id, head, b.targets);
  stream_body(s, 2);
  {
    SyscallOverride no_sync([] {
      auto sc = real_syscalls();
      sc.fsync = failing_fsync;
      return sc;
    }());
    EXPECT_THROW(s.commit(), IoError);
  }
  EXPECT_TRUE(b.all_empty("new"));
}

ssize_t full_disk_write(int, const void*, size_t) {
  errno = ENOSPC;
  return -1;
}

TEST(MaildirStream, AFailedAppendKeepsWhatWasWritten) {
  Boxes b;
  MaildirStream s(envelope(), id, head, b.targets);
  s.append("first\r\n");
  {
    SyscallOverride full([] {
      auto sc = real_syscalls();
      sc.write = full_disk_write;
      return sc;
    }());
    try {
      s.append("second\r\n");
      FAIL() << "append succeeded";
    } catch (const IoError& err) {
      EXPECT_EQ(err.code().value(), ENOSPC);
    }
  }
  EXPECT_EQ(s.size(), 7u);
  EXPECT_EQ(s.read(0, 100), "first\r\n");
}

TEST(MaildirStream, AMailboxThatIsNotAMaildirRefusesAtOnce) {
  Boxes b;
  fs::create_directories(b.targets[2].mailbox.parent_path());
  std::ofstream(b.targets[2].mailbox) << "a file\n";
  EXPECT_THROW(MaildirStream(envelope(), id, head, b.targets), IoError);
  EXPECT_TRUE(b.files(b.targets[0].mailbox, "tmp").empty());
}

}  // namespace
}  // namespace postern::delivery
