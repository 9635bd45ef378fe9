// The Greylist engine over a real SqliteStore with a manual clock and a
// fake resolver: replies, allow entries (config and run-time), rDNS,
// normalisation reaching the store, and the rate limit's replies.
#include "policy/greylist.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "log/log.hpp"
#include "policy/sqlite_store.hpp"
#include "util/ids.hpp"

namespace postern::policy {
namespace {

using namespace std::chrono_literals;

class GreylistTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::set_enabled(false);
    std::filesystem::create_directories(dir_);
    store_ = std::make_shared<SqliteStore>(dir_ / "postern.db");
    cfg_.delay = 2s;
    cfg_.retry_window = 1h;
    cfg_.max_age = 24h;
    cfg_.auto_allow_after = 0;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Greylist> make() {
    return std::make_unique<Greylist>(cfg_, store_, clock_, [this](const Address& a) -> std::optional<std::string> {
      ++rdns_calls_;
      if (a.str() == "198.51.100.7") return "mx7.partner.example";
      return std::nullopt;
    });
  }

  std::filesystem::path dir_ = std::filesystem::temp_directory_path() / ("postern-gl-" + util::random_hex(6));
  std::shared_ptr<SqliteStore> store_;
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>();
  config::Greylist cfg_;
  int rdns_calls_ = 0;
};

TEST_F(GreylistTest, RepliesWithTimeLeftThenPasses) {
  auto g = make();
  auto o = g->check("192.0.2.10", "alice@example.com", "bob@example.org");
  EXPECT_EQ(o.kind, GreylistOutcome::Kind::greylisted);
  ASSERT_TRUE(o.reply());
  EXPECT_EQ(o.reply()->summary(), "450 4.2.0 Greylisted, try again in 2 seconds");
  EXPECT_EQ(o.triplet, "192.0.2.0/24 <alice@example.com> <bob@example.org>");

  clock_->advance(1500ms);
  o = g->check("192.0.2.99", "alice@EXAMPLE.com", "bob@example.org");  // same /24, same triplet
  EXPECT_EQ(o.reply()->summary(), "450 4.2.0 Greylisted, try again in 1 seconds") << "rounded up, never 0";
  clock_->advance(500ms);
  o = g->check("192.0.2.10", "alice@example.com", "bob@example.org");
  EXPECT_EQ(o.kind, GreylistOutcome::Kind::passed);
  EXPECT_FALSE(o.reply());
  EXPECT_EQ(o.detail, "passes=1");
}

TEST_F(GreylistTest, NormalisedSendersShareATriplet) {
  auto g = make();
  g->check("192.0.2.10", "bounce-1001@lists.example", "bob@example.org");
  clock_->advance(2s);
  EXPECT_TRUE(g->check("192.0.2.10", "bounce-2002@lists.example", "bob@example.org").accepted());
  EXPECT_FALSE(g->check("192.0.2.10", "", "bob@example.org").accepted()) << "null sender is its own triplet";
}

TEST_F(GreylistTest, ConfigAllowEntries) {
  cfg_.allow = {"203.0.113.0/24", "rcpt:postmaster@example.org", "partner.example"};
  auto g = make();
  auto o = g->check("203.0.113.5", "a@b.example", "bob@example.org");
  EXPECT_EQ(o.kind, GreylistOutcome::Kind::allowed);
  EXPECT_EQ(o.detail, "allow=203.0.113.0/24");
  EXPECT_EQ(g->check("192.0.2.1", "a@b.example", "postmaster@example.org").kind, GreylistOutcome::Kind::allowed);
  EXPECT_EQ(rdns_calls_, 0);
  o = g->check("198.51.100.7", "a@b.example", "bob@example.org");
  EXPECT_EQ(o.kind, GreylistOutcome::Kind::allowed);
  EXPECT_EQ(o.detail, "allow=partner.example");
  g->check("198.51.100.7", "a@b.example", "bob@example.org");
  EXPECT_EQ(rdns_calls_, 1) << "the rDNS answer is cached";
  EXPECT_EQ(g->check("198.51.100.8", "a@b.example", "bob@example.org").kind, GreylistOutcome::Kind::greylisted);
  EXPECT_TRUE(store_->list(clock_->now()).size() == 1) << "allowed clients leave no triplets behind";
}

TEST_F(GreylistTest, BadConfigAllowEntryThrows) {
  cfg_.allow = {"10.0.0.0/40"};
  EXPECT_THROW(make(), std::invalid_argument);
}

TEST_F(GreylistTest, RuntimeAllowIsSeenAtTheNextCheck) {
  auto g = make();
  EXPECT_EQ(g->check("192.0.2.10", "a@b.example", "bob@example.org").kind, GreylistOutcome::Kind::greylisted);
  // Another process (postern greylist allow) writes to the same database.
  SqliteStore admin(dir_ / "postern.db");
  admin.add_allow("192.0.2.0/28", clock_->now());
  auto o = g->check("192.0.2.10", "a@b.example", "bob@example.org");
  EXPECT_EQ(o.kind, GreylistOutcome::Kind::allowed);
  EXPECT_EQ(o.detail, "allow=192.0.2.0/28");
  EXPECT_EQ(g->check("192.0.2.20", "a@b.example", "bob@example.org").kind, GreylistOutcome::Kind::greylisted);
  admin.add_allow("rcpt:example.org", clock_->now());
  EXPECT_EQ(g->check("192.0.2.20", "a@b.example", "bob@example.org").kind, GreylistOutcome::Kind::allowed);
}

TEST_F(GreylistTest, AutoAllowedNetwork) {
  cfg_.auto_allow_after = 1;
  auto g = make();
  g->check("192.0.2.10", "a@b.example", "bob@example.org");
  clock_->advance(2s);
  EXPECT_EQ(g->check("192.0.2.10", "a@b.example", "bob@example.org").kind, GreylistOutcome::Kind::passed);
  auto o = g->check("192.0.2.44", "new@c.example", "carol@example.org");
  EXPECT_EQ(o.kind, GreylistOutcome::Kind::allowed);
  EXPECT_EQ(o.detail, "network passes=1");
}

TEST_F(GreylistTest, DisabledAcceptsEverything) {
  cfg_.enabled = false;
  auto g = make();
  EXPECT_TRUE(g->check("192.0.2.10", "a@b.example", "bob@example.org").accepted());
  EXPECT_TRUE(store_->list(clock_->now()).empty());
}

TEST_F(GreylistTest, ExpiredStateIsPurgedWhileServing) {
  cfg_.retry_window = 10s;
  auto g = make();
  g->check("192.0.2.10", "a@b.example", "bob@example.org");  // schedules the first purge
  clock_->advance(11min);
  g->check("192.0.2.10", "x@b.example", "bob@example.org");  // purges the expired triplet, adds this one
  SqliteStore reader(dir_ / "postern.db");
  EXPECT_EQ(reader.purge(clock_->now(), false), 0) << "nothing expired left to purge";
  EXPECT_EQ(reader.list(clock_->now()).size(), 1u);
}

TEST_F(GreylistTest, StoreFailureIs451) {
  // A store that always fails, as an unreachable Redis or a broken database does.
  class Failing : public Store {
   public:
    Decision decide(const Triplet&, const Timing&, Millis, std::int64_t) override { throw StoreError("down"); }
    bool rate_hit(std::string_view, unsigned, Millis, Millis) override { throw StoreError("down"); }
    void add_allow(std::string_view, Millis) override {}
    std::vector<std::string> allow_entries() override { return {}; }
    std::int64_t allow_version() override { return 0; }
    std::vector<Entry> list(Millis) override { return {}; }
    std::vector<NetworkEntry> networks(Millis) override { return {}; }
    std::int64_t purge(Millis, bool) override { return 0; }
    std::string describe() const override { return "failing"; }
  };
  auto failing = std::make_shared<Failing>();
  Greylist g(cfg_, failing, clock_);
  auto o = g.check("192.0.2.10", "a@b.example", "bob@example.org");
  EXPECT_EQ(o.kind, GreylistOutcome::Kind::failed);
  EXPECT_EQ(o.reply()->summary(), "451 4.3.0 Local error in processing, try again later");
  config::Policy p;
  p.max_messages_per_ip = 1;
  RateLimit r(p, failing, clock_);
  EXPECT_EQ(r.check("192.0.2.10")->code, 451);
}

TEST_F(GreylistTest, RateLimitReply) {
  config::Policy p;
  p.max_messages_per_ip = 2;
  p.rate_window = 60s;
  RateLimit r(p, store_, clock_);
  EXPECT_FALSE(r.check("192.0.2.10"));
  EXPECT_FALSE(r.check("192.0.2.10"));
  std::string detail;
  auto reply = r.check("192.0.2.10", &detail);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->summary(), "450 4.7.1 Too many messages, try again later");
  EXPECT_EQ(detail, "over 2 per 60s");
  clock_->advance(60s);
  EXPECT_FALSE(r.check("192.0.2.10"));
  p.max_messages_per_ip = 0;
  RateLimit off(p, store_, clock_);
  EXPECT_FALSE(off.enabled());
}

}  // namespace
}  // namespace postern::policy
