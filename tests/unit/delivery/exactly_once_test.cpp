// A spooled message's local delivery repeated after a crash (the mailbox
// was written, the spool had not yet recorded it) leaves exactly one copy:
// the attempt is run, the "crash" drops its result, a fresh LocalDelivery
// (the restart) runs it again.
#include <gtest/gtest.h>
#include <unistd.h>

#include "log/log.hpp"
#include "store/durable_file.hpp"
#include "delivery/local_delivery.hpp"
#include "delivery/maildir.hpp"
#include "../store/test_util.hpp"

namespace postern::delivery {
namespace {

namespace fs = std::filesystem;
using namespace store;
using store::testing::TempDir;
using Clock = std::chrono::system_clock;

struct Fixture {
  TempDir t;
  config::Config config;
  std::unique_ptr<Spool> spool;
  std::unique_ptr<UserDb> users;
  explicit Fixture(config::MailboxFormat format = config::MailboxFormat::maildir) {
    log::set_enabled(false);
    config = config::defaults();
    config.data_dir = t.path;
    config.local_domains = {"example.org"};
    config.postmaster = "postmaster@example.org";
    config.mailbox_format = format;
    spool = std::make_unique<Spool>(config.spool_dir());
    users = std::make_unique<UserDb>(config.database_path());
    users->ensure("postmaster@example.org");
    users->ensure("alice@example.org");
    users->ensure("bob@example.org");
  }
  std::string put(std::vector<std::string> rcpts, const std::string& msg) {
    Envelope e;
    e.reverse_path = "sender@remote.example";
    e.recipients = std::move(rcpts);
    e.received_at = Clock::now();
    return spool->put(e, msg);
  }
  // One attempt by a process that "crashes" before the scheduler records
  // the result: every call is a fresh LocalDelivery, as after a restart.
  std::vector<LocalDelivery::Result> attempt(const std::string& id, std::vector<std::size_t> rcpts) {
    LocalDelivery d(std::make_shared<const config::Config>(config), *spool, users.get());
    auto entry = spool->load(id);
    EXPECT_TRUE(entry);
    return entry ? d.attempt(*entry, rcpts) : std::vector<LocalDelivery::Result>{};
  }
  fs::path box(const std::string& local) { return config.mailbox_for(local, "example.org"); }
  std::vector<fs::path> files(const std::string& local, const char* sub) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (auto it = fs::directory_iterator(box(local) / sub, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
      out.push_back(it->path());
    return out;
  }
};

std::size_t count(std::string_view haystack, std::string_view needle) {
  std::size_t n = 0;
  for (auto p = haystack.find(needle); p != std::string_view::npos; p = haystack.find(needle, p + 1)) ++n;
  return n;
}

void all_delivered(const std::vector<LocalDelivery::Result>& r, std::size_t n) {
  ASSERT_EQ(r.size(), n);
  for (const auto& x : r) EXPECT_EQ(x.status, RecipientStatus::delivered) << x.reply;
}

TEST(ExactlyOnce, MaildirRepeatKeepsTheFirstCopy) {
  Fixture f;
  const auto id = f.put({"alice@example.org", "bob@example.org"}, "Subject: once\r\n\r\nhi\r\n");
  all_delivered(f.attempt(id, {0, 1}), 2);
  all_delivered(f.attempt(id, {0, 1}), 2);  // after the crash
  all_delivered(f.attempt(id, {1}), 1);
  ASSERT_EQ(f.files("alice", "new").size(), 1u);
  ASSERT_EQ(f.files("bob", "new").size(), 1u);
  EXPECT_EQ(read_file(f.files("alice", "new")[0]), "Return-Path: <sender@remote.example>\r\nSubject: once\r\n\r\nhi\r\n");
  EXPECT_TRUE(f.files("alice", "tmp").empty());
}

TEST(ExactlyOnce, MaildirCopyAReaderMovedToCurIsKept) {
  Fixture f;
  const auto id = f.put({"alice@example.org"}, "Subject: read\r\n\r\nhi\r\n");
  all_delivered(f.attempt(id, {0}), 1);
  const auto first = f.files("alice", "new").at(0);
  fs::rename(first, f.box("alice") / "cur" / (first.filename().string() + ":2,S"));
  all_delivered(f.attempt(id, {0}), 1);
  EXPECT_TRUE(f.files("alice", "new").empty());
  EXPECT_EQ(f.files("alice", "cur").size(), 1u);
}

TEST(ExactlyOnce, MaildirTornCopyIsWrittenAgain) {
  Fixture f;
  const auto id = f.put({"alice@example.org"}, "Subject: torn\r\n\r\nhi\r\n");
  all_delivered(f.attempt(id, {0}), 1);
  fs::resize_file(f.files("alice", "new").at(0), 10);  // what a power loss may leave
  all_delivered(f.attempt(id, {0}), 1);
  ASSERT_EQ(f.files("alice", "new").size(), 1u);
  EXPECT_EQ(read_file(f.files("alice", "new")[0]), "Return-Path: <sender@remote.example>\r\nSubject: torn\r\n\r\nhi\r\n");
}

TEST(ExactlyOnce, DifferentMessagesAreNeverTakenForARepeat) {
  Fixture f;
  const auto a = f.put({"alice@example.org"}, "Subject: same\r\n\r\nhi\r\n");
  const auto b = f.put({"alice@example.org"}, "Subject: same\r\n\r\nhi\r\n");
  all_delivered(f.attempt(a, {0}), 1);
  all_delivered(f.attempt(b, {0}), 1);
  EXPECT_EQ(f.files("alice", "new").size(), 2u);
}

TEST(ExactlyOnce, MboxRepeatIsNotAppendedAgain) {
  Fixture f(config::MailboxFormat::mbox);
  const auto a = f.put({"alice@example.org"}, "Subject: first\r\n\r\nhi\r\n");
  const auto b = f.put({"alice@example.org"}, "Subject: second\r\n\r\nhi\r\n");
  all_delivered(f.attempt(a, {0}), 1);
  all_delivered(f.attempt(b, {0}), 1);  // appended after a's copy before the repeat
  all_delivered(f.attempt(a, {0}), 1);
  all_delivered(f.attempt(b, {0}), 1);
  const auto mbox = read_file(f.box("alice"));
  EXPECT_EQ(count(mbox, "Subject: first\n"), 1u);
  EXPECT_EQ(count(mbox, "Subject: second\n"), 1u);
  EXPECT_EQ(count(mbox, "\nFrom sender@remote.example ") + (mbox.rfind("From ", 0) == 0), 2u);
}

// Every message Postern accepts carries a Received: field naming its
// queue id, so equal texts are still different entries.
TEST(ExactlyOnce, MboxEqualTextsOfTwoMessagesAreBothAppended) {
  Fixture f(config::MailboxFormat::mbox);
  const auto a = f.put({"alice@example.org"}, "Received: by mx id 1\r\nSubject: same\r\n\r\nhi\r\n");
  const auto b = f.put({"alice@example.org"}, "Received: by mx id 2\r\nSubject: same\r\n\r\nhi\r\n");
  all_delivered(f.attempt(a, {0}), 1);
  all_delivered(f.attempt(b, {0}), 1);
  EXPECT_EQ(count(read_file(f.box("alice")), "Subject: same\n"), 2u);
}

// The spool entry, once every recipient is delivered, is deleted durably:
// a crash right after cannot bring it back to be delivered again.
TEST(ExactlyOnce, FinishedEntryIsRemovedWithADirectorySync) {
  Fixture f;
  const auto id = f.put({"alice@example.org"}, "Subject: gone\r\n\r\nhi\r\n");
  const auto before = f.spool->dir_syncs();
  f.spool->update(id, [](std::vector<RecipientState>& s) { s[0].status = RecipientStatus::delivered; });
  EXPECT_FALSE(f.spool->load(id));
  EXPECT_GT(f.spool->dir_syncs(), before);
  const auto id2 = f.put({"alice@example.org"}, "Subject: removed\r\n\r\nhi\r\n");
  const auto before_remove = f.spool->dir_syncs();
  f.spool->remove(id2);
  EXPECT_GT(f.spool->dir_syncs(), before_remove);
}

}  // namespace
}  // namespace postern::delivery
