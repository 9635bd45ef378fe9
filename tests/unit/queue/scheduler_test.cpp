// The scheduler with the local transport, on a real spool and real
// mailboxes (no network: every recipient is local).
#include "queue/scheduler.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "log/log.hpp"
#include "store/durable_file.hpp"
#include "util/ids.hpp"

namespace postern::queue {
namespace {

namespace fs = std::filesystem;
using store::RecipientStatus;

struct Fixture {
  fs::path dir = fs::temp_directory_path() / ("postern-scheduler-" + util::random_hex(6));
  config::Config config;
  std::unique_ptr<store::Spool> spool;
  std::unique_ptr<store::UserDb> users;
  std::mutex mutex;
  std::vector<std::pair<store::Envelope, std::string>> dsns;  // what was injected

  Fixture() {
    log::set_enabled(false);
    fs::create_directories(dir);
    config = config::defaults();
    config.data_dir = dir;
    config.local_domains = {"example.org"};
    config.postmaster = "postmaster@example.org";
    spool = std::make_unique<store::Spool>(config.spool_dir());
    users = std::make_unique<store::UserDb>(config.database_path());
    users->ensure("alice@example.org");
    users->ensure("postmaster@example.org");
  }
  ~Fixture() { fs::remove_all(dir); }

  std::string put(std::vector<std::string> rcpts) {
    store::Envelope e;
    e.reverse_path = "sender@remote.example";
    e.recipients = std::move(rcpts);
    e.received_at = Clock::now();
    return spool->put(e, "Subject: t\r\n\r\nhi\r\n");
  }
  std::size_t maildir(const std::string& local) {
    auto d = dir / "mail" / "example.org" / local / "new";
    if (!fs::exists(d)) return 0;
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(d), fs::directory_iterator()));
  }
  Scheduler::Inject inject() {
    return [this](const store::Envelope& e, std::string_view m) {
      std::lock_guard lock(mutex);
      dsns.emplace_back(e, std::string(m));
      return std::string("dsn") + std::to_string(dsns.size());
    };
  }
  // mbox delivery, and someone else holds alice's dotlock.
  std::filesystem::path lock_alices_mbox() {
    config.mailbox_format = config::MailboxFormat::mbox;
    const auto mbox = config.mailbox_for("alice", "example.org");
    fs::create_directories(mbox.parent_path());
    store::write_durably(fs::path(mbox.string() + ".lock"), "1\n");
    return mbox;
  }
  std::size_t dsn_count() {
    std::lock_guard lock(mutex);
    return dsns.size();
  }
};

// Waits for `done` with a deadline; true when it held in time.
template <class F>
bool eventually(F done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

TEST(Scheduler, DeliversWhatIsSubmittedAndWhatWasSpooledBefore) {
  Fixture f;
  const auto before = f.put({"alice@example.org"});
  auto cfg = std::make_shared<const config::Config>(f.config);
  delivery::LocalDelivery local(cfg, *f.spool, f.users.get());
  Scheduler s(cfg, *f.spool, local, f.inject());
  s.start();
  ASSERT_TRUE(eventually([&] { return !f.spool->load(before); })) << "indexed at start";
  const auto now = f.put({"alice@example.org", "ALICE@example.org"});
  s.submit(now);
  ASSERT_TRUE(eventually([&] { return !f.spool->load(now); }));
  s.stop();
  EXPECT_EQ(f.maildir("alice"), 2u) << "one copy per message, however many RCPTs name the mailbox";
  EXPECT_EQ(s.stats().delivered, 3u);
  EXPECT_EQ(f.dsn_count(), 0u);
}

TEST(Scheduler, LockedMboxIsRetriedAndDeliveredOnceAfterRelease) {
  Fixture f;
  const auto mbox = f.lock_alices_mbox();
  auto cfg = std::make_shared<const config::Config>(f.config);
  delivery::LocalDelivery local(cfg, *f.spool, f.users.get());
  Scheduler s(cfg, *f.spool, local, f.inject());
  s.start();
  const auto id = f.put({"alice@example.org"});
  s.submit(id);
  ASSERT_TRUE(eventually([&] {
    auto e = f.spool->load(id);
    return e && e->recipients[0].status == RecipientStatus::deferred;
  }));
  auto e = f.spool->load(id);
  EXPECT_EQ(e->recipients[0].last_reply.substr(0, 9), "450 4.2.1");
  EXPECT_LE(e->recipients[0].next_attempt, Clock::now() + std::chrono::seconds(2)) << "a local retry is soon";
  fs::remove(mbox.string() + ".lock");
  ASSERT_TRUE(eventually([&] { return !f.spool->load(id); }));
  s.stop();
  auto content = store::read_file(mbox);
  EXPECT_EQ(content.find("From sender@remote.example "), 0u);
  EXPECT_EQ(content.find("From sender@remote.example ", 1), std::string::npos) << "exactly one copy";
}

TEST(Scheduler, UnknownUserBouncesWithOneDsnAndTheEntryGoes) {
  Fixture f;
  auto cfg = std::make_shared<const config::Config>(f.config);
  delivery::LocalDelivery local(cfg, *f.spool, f.users.get());
  Scheduler s(cfg, *f.spool, local, f.inject());
  s.start();
  const auto id = f.put({"ghost@example.org", "alice@example.org"});
  s.submit(id);
  ASSERT_TRUE(eventually([&] { return !f.spool->load(id) && f.dsn_count() == 1; }));
  s.stop();
  EXPECT_EQ(f.maildir("alice"), 1u);
  std::lock_guard lock(f.mutex);
  const auto& [env, dsn] = f.dsns.front();
  EXPECT_EQ(env.reverse_path, "") << "a DSN has the null reverse-path";
  EXPECT_EQ(env.recipients, std::vector<std::string>{"sender@remote.example"});
  EXPECT_NE(dsn.find("Final-Recipient: rfc822; ghost@example.org"), std::string::npos);
  EXPECT_NE(dsn.find("Status: 5.1.1"), std::string::npos);
  EXPECT_EQ(dsn.find("alice@example.org\r\nAction"), std::string::npos) << "only the failed recipient";
}

TEST(Scheduler, DeferralPastTheLifetimeBounces447) {
  Fixture f;
  f.config.queue.lifetime = std::chrono::seconds(1);
  f.lock_alices_mbox();
  auto cfg = std::make_shared<const config::Config>(f.config);
  delivery::LocalDelivery local(cfg, *f.spool, f.users.get());
  Scheduler s(cfg, *f.spool, local, f.inject());
  s.start();
  const auto id = f.put({"alice@example.org"});
  s.submit(id);
  ASSERT_TRUE(eventually([&] { return !f.spool->load(id) && f.dsn_count() == 1; }));
  s.stop();
  std::lock_guard lock(f.mutex);
  EXPECT_NE(f.dsns.front().second.find("Status: 4.4.7"), std::string::npos);
  EXPECT_NE(f.dsns.front().second.find("450 4.2.1"), std::string::npos) << "the last reply is in the report";
  EXPECT_EQ(s.stats().bounced, 1u);
}

TEST(Scheduler, OneDelayWarningPerRecipientThenRetriesGoOn) {
  Fixture f;
  f.config.queue.delay_warning = std::chrono::seconds(1);
  f.lock_alices_mbox();
  auto cfg = std::make_shared<const config::Config>(f.config);
  delivery::LocalDelivery local(cfg, *f.spool, f.users.get());
  Scheduler s(cfg, *f.spool, local, f.inject());
  s.start();
  const auto id = f.put({"alice@example.org"});
  s.submit(id);
  ASSERT_TRUE(eventually([&] { return f.dsn_count() == 1; }));
  // Later attempts (1 s, 2 s, 4 s apart) send no second warning.
  ASSERT_TRUE(eventually([&] {
    auto e = f.spool->load(id);
    return e && e->recipients[0].attempts >= 4;
  }, std::chrono::seconds(20)));
  EXPECT_EQ(f.dsn_count(), 1u);
  EXPECT_TRUE(f.spool->load(id)->recipients[0].delay_warned) << "recorded, so a restart sends none either";
  s.stop();
  std::lock_guard lock(f.mutex);
  const auto& dsn = f.dsns.front().second;
  EXPECT_NE(dsn.find("Action: delayed"), std::string::npos);
  EXPECT_NE(dsn.find("Will-Retry-Until:"), std::string::npos);
  EXPECT_NE(dsn.find("450 4.2.1"), std::string::npos);
}

TEST(Scheduler, AFinishedEntryLeftByACrashIsRemovedAtStart) {
  Fixture f;
  const auto id = f.put({"ghost@example.org"});
  f.spool->update(id, [](std::vector<store::RecipientState>& s) { s[0].status = RecipientStatus::bounced; });
  ASSERT_TRUE(f.spool->load(id));
  auto cfg = std::make_shared<const config::Config>(f.config);
  delivery::LocalDelivery local(cfg, *f.spool, f.users.get());
  Scheduler s(cfg, *f.spool, local, f.inject());
  s.start();
  ASSERT_TRUE(eventually([&] { return !f.spool->load(id); }));
  s.stop();
  EXPECT_EQ(f.dsn_count(), 0u) << "its DSN was stored before it was marked bounced";
}

}  // namespace
}  // namespace postern::queue
