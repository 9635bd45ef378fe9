#include "delivery/local_delivery.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "log/log.hpp"
#include "store/durable_file.hpp"
#include "store/journal.hpp"
#include "delivery/mbox.hpp"
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
    d.start();
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
  d.start();
  d.stop();
  EXPECT_EQ(f.maildir("example.org", "alice").size(), 2u);
  EXPECT_EQ(f.maildir("example.net", "bob").size(), 2u);
  EXPECT_TRUE(f.spool->list().empty());
}

// The recipients' results of one attempt at a spooled entry.
std::vector<LocalDelivery::Result> attempt(Fixture& f, LocalDelivery& d, const std::string& id,
                                           std::vector<std::size_t> rcpts) {
  auto entry = f.spool->load(id);
  EXPECT_TRUE(entry);
  return entry ? d.attempt(*entry, rcpts) : std::vector<LocalDelivery::Result>{};
}

TEST(LocalDelivery, WritesEachMailboxWithReturnPath) {
  Fixture f;
  LocalDelivery d(std::make_shared<const config::Config>(f.config), *f.spool, f.users.get());
  auto id = f.put({"alice@example.org", "Bob@Example.NET"});
  auto r = attempt(f, d, id, {0, 1});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].recipient, 0u);
  EXPECT_EQ(r[0].status, RecipientStatus::delivered);
  EXPECT_EQ(r[0].reply, "250 2.0.0 Delivered");
  EXPECT_EQ(r[1].status, RecipientStatus::delivered);
  auto a = f.maildir("example.org", "alice");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0], "Return-Path: <sender@remote.example>\r\nSubject: t\r\n\r\nhi\r\n");
  EXPECT_EQ(f.maildir("example.net", "bob").size(), 1u) << "canonical mailbox for any case";
  EXPECT_TRUE(f.spool->load(id)) << "the spool state is the scheduler's to record";
}

TEST(LocalDelivery, PostmasterAliasesAreOneCopy) {
  Fixture f;
  LocalDelivery d(std::make_shared<const config::Config>(f.config), *f.spool, f.users.get());
  auto id = f.put({"postmaster", "PostMaster@example.net", "postmaster@example.org"});
  auto r = attempt(f, d, id, {0, 1, 2});
  ASSERT_EQ(r.size(), 3u);
  for (auto& x : r) EXPECT_EQ(x.status, RecipientStatus::delivered);
  EXPECT_EQ(f.maildir("example.org", "postmaster").size(), 1u) << "one copy per mailbox";
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
  EXPECT_FALSE(d.is_local("carol@remote.example"));
  EXPECT_EQ(f.config.final_recipient("PostMaster@example.net"), "admin@elsewhere.example");
  EXPECT_EQ(f.config.final_recipient("postmaster@remote.example"), "postmaster@remote.example");
}

TEST(LocalDelivery, UnknownAndDisabledUsersBounce) {
  Fixture f;
  f.users->set_disabled("bob@example.net", true);
  LocalDelivery d(std::make_shared<const config::Config>(f.config), *f.spool, f.users.get());
  auto id = f.put({"ghost@example.org", "bob@example.net", "alice@example.org"});
  auto r = attempt(f, d, id, {0, 1, 2});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].status, RecipientStatus::bounced);
  EXPECT_EQ(r[0].reply.substr(0, 9), "550 5.1.1");
  EXPECT_EQ(r[1].status, RecipientStatus::bounced);
  EXPECT_EQ(r[1].reply.substr(0, 9), "550 5.2.1");
  EXPECT_EQ(r[2].status, RecipientStatus::delivered);
}

TEST(LocalDelivery, DiskTroubleIsADeferral) {
  Fixture f;
  LocalDelivery d(std::make_shared<const config::Config>(f.config), *f.spool, f.users.get());
  auto id = f.put({"alice@example.org"});
  std::vector<LocalDelivery::Result> r;
  {
    auto s = real_syscalls();
    s.rename = [](const char* a, const char* b) {
      if (std::string_view(b).find("/new/") != std::string_view::npos) {
        errno = EIO;
        return -1;
      }
      return ::rename(a, b);
    };
    SyscallOverride o(s);
    r = attempt(f, d, id, {0});
  }
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, RecipientStatus::deferred);
  EXPECT_EQ(r[0].reply.substr(0, 9), "451 4.3.0");
  EXPECT_TRUE(f.maildir("example.org", "alice").empty());
  r = attempt(f, d, id, {0});
  EXPECT_EQ(r.at(0).status, RecipientStatus::delivered);
  EXPECT_EQ(f.maildir("example.org", "alice").size(), 1u);
}

TEST(LocalDelivery, LockedMboxIsADeferral) {
  Fixture f;
  f.config.mailbox_format = config::MailboxFormat::mbox;
  auto mbox = f.config.mailbox_for("alice", "example.org");
  fs::create_directories(mbox.parent_path());
  write_durably(fs::path(mbox.string() + ".lock"), "1\n");  // someone else's dotlock
  LocalDelivery d(std::make_shared<const config::Config>(f.config), *f.spool, f.users.get());
  auto id = f.put({"alice@example.org"});
  auto r = attempt(f, d, id, {0});
  EXPECT_EQ(r.at(0).status, RecipientStatus::deferred);
  EXPECT_EQ(r.at(0).reply.substr(0, 9), "450 4.2.1");
  fs::remove(mbox.string() + ".lock");
  r = attempt(f, d, id, {0});
  EXPECT_EQ(r.at(0).status, RecipientStatus::delivered);
  EXPECT_EQ(read_file(mbox).find("From sender@remote.example "), 0u);
}

TEST(LocalDelivery, MessageGoneIsNoResult) {
  Fixture f;
  LocalDelivery d(std::make_shared<const config::Config>(f.config), *f.spool, f.users.get());
  auto id = f.put({"alice@example.org"});
  auto entry = f.spool->load(id);
  ASSERT_TRUE(entry);
  f.spool->remove(id);
  EXPECT_TRUE(d.attempt(*entry, {0}).empty());
  EXPECT_TRUE(f.maildir("example.org", "alice").empty());
}

}  // namespace
}  // namespace postern::delivery
