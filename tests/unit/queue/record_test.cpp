// Recording outcomes in batches: every state as record() would leave it,
// and one directory fsync for all the entries the batch finishes.
#include "queue/record.hpp"

#include <gtest/gtest.h>

#include "log/log.hpp"
#include "util/ids.hpp"

namespace postern::queue {
namespace {

namespace fs = std::filesystem;
using store::RecipientStatus;

struct Fixture {
  fs::path dir = fs::temp_directory_path() / ("postern-record-" + util::random_hex(6));
  config::Config config = config::defaults();
  std::unique_ptr<store::Spool> spool;
  std::vector<std::string> dsns;

  Fixture() {
    log::set_enabled(false);
    fs::create_directories(dir);
    config.data_dir = dir;
    spool = std::make_unique<store::Spool>(config.spool_dir());
  }
  ~Fixture() { fs::remove_all(dir); }
  Recorder recorder() {
    return Recorder(*spool, [this](const store::Envelope&, std::string_view m) {
      dsns.emplace_back(m);
      return std::string("dsn");
    });
  }
  store::SpoolEntry put(std::vector<std::string> rcpts) {
    store::Envelope e;
    e.reverse_path = "sender@example.org";
    e.recipients = std::move(rcpts);
    e.received_at = Clock::now();
    return *spool->load(spool->put(e, "Subject: t\r\n\r\nhi\r\n"));
  }
};

Outcome reply(int code, const std::string& enhanced, const std::string& text) {
  return Outcome::from_reply(smtp::Reply(code, enhanced, text), "mx.remote.example");
}

TEST(RecordMany, FinishedEntriesShareOneDirectorySync) {
  Fixture f;
  auto rec = f.recorder();
  std::vector<store::SpoolEntry> entries;
  for (int i = 0; i < 8; ++i) entries.push_back(f.put({"r" + std::to_string(i) + "@remote.example"}));
  auto deferred = f.put({"later@remote.example", "ok@remote.example"});
  const std::vector<std::size_t> first{0};
  const std::vector<std::size_t> both{0, 1};
  std::vector<Recorder::Attempt> attempts;
  for (auto& e : entries) {
    Recorder::Attempt a;
    a.entry = &e;
    a.rcpts = &first;
    a.outcomes = {reply(250, "2.0.0", "Ok")};
    attempts.push_back(std::move(a));
  }
  Recorder::Attempt mixed;
  mixed.entry = &deferred;
  mixed.rcpts = &both;
  mixed.outcomes = {reply(450, "4.2.1", "busy"), reply(250, "2.0.0", "Ok")};
  attempts.push_back(std::move(mixed));
  const auto syncs = f.spool->dir_syncs();
  const auto schedule = Schedule::from(f.config.queue);
  rec.record_many(f.config, schedule, attempts);
  EXPECT_EQ(f.spool->dir_syncs(), syncs + 1);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    EXPECT_FALSE(attempts[i].states) << i;  // finished: gone
    EXPECT_FALSE(f.spool->load(entries[i].id)) << i;
  }
  ASSERT_TRUE(attempts.back().states);
  EXPECT_EQ((*attempts.back().states)[0].status, RecipientStatus::deferred);
  EXPECT_EQ((*attempts.back().states)[1].status, RecipientStatus::delivered);
  auto stored = f.spool->load(deferred.id);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->recipients[0].status, RecipientStatus::deferred);
  EXPECT_EQ(stored->recipients[0].last_reply, "450 4.2.1 busy");
  EXPECT_GT(stored->recipients[0].next_attempt, Clock::now());
  EXPECT_EQ(rec.delivered(), 9u);
  EXPECT_EQ(rec.deferred(), 1u);
  EXPECT_TRUE(f.dsns.empty());
}

TEST(RecordMany, BouncesGetTheirReportAndDeletedEntriesNoState) {
  Fixture f;
  auto rec = f.recorder();
  auto bounced = f.put({"nobody@remote.example"});
  auto gone = f.put({"x@remote.example"});
  f.spool->remove(gone.id);  // `postern queue delete` meanwhile
  const std::vector<std::size_t> first{0};
  std::vector<Recorder::Attempt> attempts(2);
  attempts[0].entry = &bounced;
  attempts[0].rcpts = &first;
  attempts[0].outcomes = {reply(550, "5.1.1", "No such user")};
  attempts[1].entry = &gone;
  attempts[1].rcpts = &first;
  attempts[1].outcomes = {reply(250, "2.0.0", "Ok")};
  rec.record_many(f.config, Schedule::from(f.config.queue), attempts);
  EXPECT_FALSE(attempts[0].states);
  EXPECT_FALSE(attempts[1].states);
  EXPECT_EQ(f.dsns.size(), 1u);
  EXPECT_FALSE(f.spool->load(bounced.id));
  EXPECT_FALSE(fs::exists(f.config.spool_dir() / (gone.id + ".state")));
}

}  // namespace
}  // namespace postern::queue
