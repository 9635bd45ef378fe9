#include "store/local_delivery.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "log/log.hpp"
#include "store/durable_file.hpp"
#include "store/journal.hpp"
#include "store/mbox.hpp"
#include "test_util.hpp"

namespace postern::store {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using Clock = std::chrono::system_clock;

struct Fixture {
  TempDir t;
  config::Config config;
  std::unique_ptr<Spool> spool;
  std::unique_ptr<UserDb> users;
  Fixture() {
    log::set_enabled(false);
    config = config::defaults();
    config.data_dir = t.path;
    config.local_domains = {"example.org", "example.net"};
    config.postmaster = "postmaster@example.org";
    spool = std::make_unique<Spool>(config.spool_dir());
    users = std::make_unique<UserDb>(config.database_path());
    users->ensure("postmaster@example.org");
    users->ensure("alice@example.org");
    users->ensure("bob@example.net");
  }
  std::string put(std::vector<std::string> rcpts, std::string msg = "Subject: t\r\n\r\nhi\r\n") {
    Envelope e;
    e.reverse_path = "sender@remote.example";
    e.recipients = std::move(rcpts);
    e.received_at = Clock::now();
    return spool->put(e, msg);
  }
  std::vector<std::string> maildir(const std::string& domain, const std::string& local) {
    std::vector<std::string> out;
    auto dir = t.path / "mail" / domain / local / "new";
    if (!fs::exists(dir)) return out;
    for (auto& e : fs::directory_iterator(dir)) out.push_back(read_file(e.path()));
    return out;
  }
};

// Two RCPTs naming one mailbox give one copy, before the 250 and again
// when a journal left by a crash is completed at start-up.
TEST(LocalDelivery, OneCopyPerMailboxDirectlyAndAfterRecovery) {
  Fixture f;
  Envelope e;
  e.reverse_path = "sender@remote.example";
  e.recipients = {"alice@example.org", "ALICE@example.org", "bob@example.net"};
  e.received_at = Clock::now();
  {
    LocalDelivery d(std::make_shared<const config::Config>(f.config), *f.spool, f.users.get());
    d.start(1);
    EXPECT_TRUE(d.deliver_now(Spool::new_id(), e, "Subject: direct\r\n\r\nhi\r\n"));
    d.stop();
  }
  EXPECT_EQ(f.maildir("example.org", "alice").size(), 1u);
  EXPECT_EQ(f.maildir("example.net", "bob").size(), 1u);
  {
    Journal j(f.config.spool_dir() / "journal");
    j.recover();
    j.append(Spool::new_id(), e, "Subject: crashed\r\n\r\nhi\r\n");  // never retired: the crash
  }
  LocalDelivery d(std::make_shared<const config::Config>(f.config), *f.spool, f.users.get());
  d.start(1);
  d.stop();
  EXPECT_EQ(f.maildir("example.org", "alice").size(), 2u);
  EXPECT_EQ(f.maildir("example.net", "bob").size(), 2u);
  EXPECT_TRUE(f.spool->list().empty());
}

TEST(LocalDelivery, DeliversAndRemovesEntry) {
  Fixture f;
  LocalDelivery d(std::make_shared<const config::Config>(f.config), *f.spool, f.users.get());
  auto id = f.put({"alice@example.org", "Bob@Example.NET"});
  EXPECT_FALSE(d.deliver(id));
  auto a = f.maildir("example.org", "alice");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0], "Return-Path: <sender@remote.example>\r\nSubject: t\r\n\r\nhi\r\n");
  EXPECT_EQ(f.maildir("example.net", "bob").size(), 1u) << "canonical mailbox for any case";
  EXPECT_FALSE(f.spool->load(id)) << "nothing left: entry removed";
  EXPECT_TRUE(f.spool->list().empty());
}

TEST(LocalDelivery, PostmasterAliases) {
  Fixture f;
  LocalDelivery d(std::make_shared<const config::Config>(f.config), *f.spool, f.users.get());
  auto id = f.put({"postmaster", "PostMaster@example.net", "postmaster@example.org"});
  d.deliver(id);
  EXPECT_EQ(f.maildir("example.org", "postmaster").size(), 1u) << "one copy per mailbox";
  EXPECT_FALSE(f.spool->load(id));
}

// postmaster = a remote address: local delivery leaves postmaster@<local>
// to the queue (it used to claim it and then skip it, so it stayed forever).
TEST(LocalDelivery, RemotePostmasterIsTheQueues) {
  Fixture f;
  f.config.postmaster = "admin@elsewhere.example";
  LocalDelivery d(std::make_shared<const config::Config>(f.config), *f.spool, f.users.get());
  EXPECT_FALSE(d.is_local("postmaster@example.org"));
  EXPECT_FALSE(d.is_local("postmaster"));
  EXPECT_TRUE(d.is_local("alice@example.org"));
  EXPECT_EQ(f.config.final_recipient("PostMaster@example.net"), "admin@elsewhere.example");
  EXPECT_EQ(f.config.final_recipient("postmaster@remote.example"), "postmaster@remote.example");
}

TEST(LocalDelivery, RemoteRecipientsLeftForQueue) {
  Fixture f;
  LocalDelivery d(std::make_shared<const config::Config>(f.config), *f.spool, f.users.get());
  auto id = f.put({"alice@example.org", "carol@remote.example"});
  d.deliver(id);
  auto e = f.spool->load(id);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->recipients[0].status, RecipientStatus::delivered);
  EXPECT_EQ(e->recipients[1].status, RecipientStatus::pending);
  // Delivering again does not duplicate.
  d.deliver(id);
  EXPECT_EQ(f.maildir("example.org", "alice").size(), 1u);
}

TEST(LocalDelivery, UnknownAndDisabledUsersBounce) {
  Fixture f;
  f.users->set_disabled("bob@example.net", true);
  LocalDelivery d(std::make_shared<const config::Config>(f.config), *f.spool, f.users.get());
  auto id = f.put({"ghost@example.org", "bob@example.net", "alice@example.org"});
  d.deliver(id);
  auto e = f.spool->load(id);
  ASSERT_TRUE(e) << "bounces stay for the DSN writer";
  EXPECT_EQ(e->recipients[0].status, RecipientStatus::bounced);
  EXPECT_EQ(e->recipients[0].last_reply.substr(0, 9), "550 5.1.1");
  EXPECT_EQ(e->recipients[1].status, RecipientStatus::bounced);
  EXPECT_EQ(e->recipients[1].last_reply.substr(0, 9), "550 5.2.1");
  EXPECT_EQ(e->recipients[2].status, RecipientStatus::delivered);
}

TEST(LocalDelivery, DiskTroubleDefersThenDelivers) {
  Fixture f;
  LocalDelivery d(std::make_shared<const config::Config>(f.config), *f.spool, f.users.get());
  auto id = f.put({"alice@example.org"});
  std::optional<Clock::time_point> next;
  {
    auto s = real_syscalls();
    s.rename = [](const char* a, const char* b) {
      // The spool state file must still be writable: only Maildir renames fail.
      if (std::string_view(b).find("/new/") != std::string_view::npos) {
        errno = EIO;
        return -1;
      }
      return ::rename(a, b);
    };
    SyscallOverride o(s);
    next = d.deliver(id);
  }
  ASSERT_TRUE(next);
  auto e = f.spool->load(id);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->recipients[0].status, RecipientStatus::deferred);
  EXPECT_EQ(e->recipients[0].attempts, 1u);
  EXPECT_EQ(e->recipients[0].last_reply.substr(0, 9), "451 4.3.0");
  EXPECT_TRUE(f.maildir("example.org", "alice").empty());
  // Not yet due: nothing happens.
  EXPECT_TRUE(d.deliver(id));
  EXPECT_TRUE(f.spool->load(id));
  std::this_thread::sleep_until(*next + std::chrono::milliseconds(10));
  EXPECT_FALSE(d.deliver(id));
  EXPECT_EQ(f.maildir("example.org", "alice").size(), 1u);
  EXPECT_FALSE(f.spool->load(id));
}

TEST(LocalDelivery, MboxLockedDefersAndWorkerDeliversOnceAfterRelease) {
  Fixture f;
  f.config.mailbox_format = config::MailboxFormat::mbox;
  auto mbox = f.config.mailbox_for("alice", "example.org");
  fs::create_directories(mbox.parent_path());
  write_durably(fs::path(mbox.string() + ".lock"), "1\n");  // someone else's dotlock
  LocalDelivery d(std::make_shared<const config::Config>(f.config), *f.spool, f.users.get());
  auto id = f.put({"alice@example.org"});
  d.start(2);
  d.submit(id);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto e = f.spool->load(id);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->recipients[0].status, RecipientStatus::deferred);
  EXPECT_EQ(e->recipients[0].last_reply.substr(0, 9), "450 4.2.1");
  EXPECT_FALSE(fs::exists(mbox) && fs::file_size(mbox) > 0);
  fs::remove(mbox.string() + ".lock");
  for (int i = 0; i < 100 && f.spool->load(id); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  d.stop();
  EXPECT_FALSE(f.spool->load(id));
  auto content = read_file(mbox);
  EXPECT_EQ(content.find("From sender@remote.example "), 0u);
  EXPECT_EQ(content.find("From sender@remote.example ", 1), std::string::npos) << "exactly one copy";
  EXPECT_NE(content.find("Return-Path: <sender@remote.example>\nSubject: t\n\nhi\n\n"), std::string::npos);
}

TEST(LocalDelivery, WorkerPicksUpSpoolAtStart) {
  Fixture f;
  auto id1 = f.put({"alice@example.org"});
  auto id2 = f.put({"bob@example.net"});
  LocalDelivery d(std::make_shared<const config::Config>(f.config), *f.spool, f.users.get());
  d.start(1);
  for (int i = 0; i < 200 && !f.spool->list().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  d.stop();
  EXPECT_TRUE(f.spool->list().empty());
  EXPECT_EQ(f.maildir("example.org", "alice").size(), 1u);
  EXPECT_EQ(f.maildir("example.net", "bob").size(), 1u);
}

TEST(LocalDelivery, RetryDelay) {
  EXPECT_EQ(LocalDelivery::retry_delay(1).count(), 1);
  EXPECT_EQ(LocalDelivery::retry_delay(2).count(), 2);
  EXPECT_EQ(LocalDelivery::retry_delay(6).count(), 32);
  EXPECT_EQ(LocalDelivery::retry_delay(7).count(), 60);
  EXPECT_EQ(LocalDelivery::retry_delay(1000).count(), 60);
}

}  // namespace
}  // namespace postern::store
