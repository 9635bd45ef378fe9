// The greylist state machine and the rate limit, run identically against
// SqliteStore (a temporary postern.db) and RedisStore (a real redis-server
// started for this binary), with a manual clock.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <thread>

#include "policy/redis_store.hpp"
#include "policy/sqlite_store.hpp"
#include "redis_server.hpp"
#include "util/ids.hpp"

namespace postern::policy {
namespace {

using namespace std::chrono_literals;

test::RedisServer* redis = nullptr;

class RedisEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { redis = new test::RedisServer(); }
  void TearDown() override {
    delete redis;
    redis = nullptr;
  }
};
const auto* env = ::testing::AddGlobalTestEnvironment(new RedisEnvironment);

struct TempDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() / ("postern-policy-" + util::random_hex(6));
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
};

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sqlite") {
      store_ = std::make_shared<SqliteStore>(dir_.path / "postern.db");
    } else {
      ASSERT_NE(redis, nullptr);
      store_ = std::make_shared<RedisStore>(redis->url(), "t" + util::random_hex(4) + ":");
    }
    version_ = store_->allow_version();
  }
  // A second handle on the same state, as another node or process would have.
  std::shared_ptr<Store> reopen() {
    if (GetParam() == "sqlite") return std::make_shared<SqliteStore>(dir_.path / "postern.db");
    return store_;  // (the Redis prefix is per test; the server is the shared part)
  }
  Decision decide(const Triplet& t) { return store_->decide(t, timing_, clock_.now(), version_); }

  TempDir dir_;
  std::shared_ptr<Store> store_;
  ManualClock clock_;
  Timing timing_{300'000, 3'600'000, 86'400'000, 2};
  std::int64_t version_ = 0;
  Triplet t_{"192.0.2.0/24", "alice@example.com", "bob@example.org"};
};

TEST_P(StoreTest, LifeCycle) {
  Millis start = clock_.now();
  auto d = decide(t_);
  EXPECT_EQ(d.verdict, Verdict::greylisted);
  EXPECT_EQ(d.wait, 300'000);

  clock_.advance(100s);
  d = decide(t_);
  EXPECT_EQ(d.verdict, Verdict::greylisted);
  EXPECT_EQ(d.wait, 200'000) << "N is the time left, counted from first sight";

  clock_.advance(199'999ms);
  d = decide(t_);
  EXPECT_EQ(d.verdict, Verdict::greylisted);
  EXPECT_EQ(d.wait, 1);

  clock_.advance(1ms);
  d = decide(t_);
  EXPECT_EQ(d.verdict, Verdict::passed);
  EXPECT_EQ(d.passes, 1);

  clock_.advance(1h);
  d = decide(t_);
  EXPECT_EQ(d.verdict, Verdict::passed);
  EXPECT_EQ(d.passes, 2);

  auto entries = store_->list(clock_.now());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].triplet.key(), t_.key());
  EXPECT_EQ(entries[0].first_seen, start);
  EXPECT_EQ(entries[0].passes, 2);
  EXPECT_TRUE(entries[0].passed);
  EXPECT_EQ(entries[0].expires, clock_.now() + timing_.max_age);

  // Remembered for max_age after the last pass, then forgotten: greylisted again.
  clock_.advance(std::chrono::milliseconds(timing_.max_age - 1));
  EXPECT_EQ(decide(t_).verdict, Verdict::passed);
  clock_.advance(std::chrono::milliseconds(timing_.max_age));
  d = decide(t_);
  EXPECT_EQ(d.verdict, Verdict::greylisted);
  EXPECT_EQ(d.wait, 300'000);
}

TEST_P(StoreTest, NoRetryWithinWindowStartsOver) {
  EXPECT_EQ(decide(t_).verdict, Verdict::greylisted);
  clock_.advance(std::chrono::milliseconds(timing_.retry_window));
  auto d = decide(t_);
  EXPECT_EQ(d.verdict, Verdict::greylisted);
  EXPECT_EQ(d.wait, 300'000) << "a retry after retry_window counts as first sight";
  clock_.advance(299s);
  EXPECT_EQ(decide(t_).verdict, Verdict::greylisted);
  clock_.advance(1s);
  EXPECT_EQ(decide(t_).verdict, Verdict::passed);
}

TEST_P(StoreTest, RetryJustInsideWindowPasses) {
  EXPECT_EQ(decide(t_).verdict, Verdict::greylisted);
  clock_.advance(std::chrono::milliseconds(timing_.retry_window - 1));
  EXPECT_EQ(decide(t_).verdict, Verdict::passed);
}

TEST_P(StoreTest, TripletsAreIndependent) {
  Triplet other_rcpt{t_.network, t_.sender, "carol@example.org"};
  Triplet other_net{"198.51.100.0/24", t_.sender, t_.recipient};
  Triplet null_sender{t_.network, "<>", t_.recipient};
  EXPECT_EQ(decide(t_).verdict, Verdict::greylisted);
  clock_.advance(300s);
  EXPECT_EQ(decide(t_).verdict, Verdict::passed);
  EXPECT_EQ(decide(other_rcpt).verdict, Verdict::greylisted);
  EXPECT_EQ(decide(other_net).verdict, Verdict::greylisted);
  EXPECT_EQ(decide(null_sender).verdict, Verdict::greylisted) << "the null sender is greylisted like any other";
  EXPECT_EQ(store_->list(clock_.now()).size(), 4u);
}

TEST_P(StoreTest, AutoAllowAfterPassedTriplets) {
  Triplet a{t_.network, "a@x.example", "r@example.org"};
  Triplet b{t_.network, "b@x.example", "r@example.org"};
  Triplet c{t_.network, "c@x.example", "r@example.org"};
  decide(a);
  decide(b);
  clock_.advance(300s);
  EXPECT_EQ(decide(a).verdict, Verdict::passed);
  EXPECT_EQ(decide(a).verdict, Verdict::passed);  // passing again does not count twice
  auto nets = store_->networks(clock_.now());
  ASSERT_EQ(nets.size(), 1u);
  EXPECT_EQ(nets[0].passes, 1);
  EXPECT_EQ(decide(c).verdict, Verdict::greylisted);
  EXPECT_EQ(decide(b).verdict, Verdict::passed);
  auto d = decide(Triplet{t_.network, "new@y.example", "other@example.org"});
  EXPECT_EQ(d.verdict, Verdict::network_allowed);
  EXPECT_EQ(d.passes, 2);
  EXPECT_EQ(decide(Triplet{"203.0.113.0/24", "new@y.example", "other@example.org"}).verdict, Verdict::greylisted);
  // The network is remembered for max_age after its last pass.
  clock_.advance(std::chrono::milliseconds(timing_.max_age));
  EXPECT_EQ(decide(Triplet{t_.network, "later@y.example", "other@example.org"}).verdict, Verdict::greylisted);
}

TEST_P(StoreTest, AutoAllowOff) {
  timing_.auto_allow_after = 0;
  for (int i = 0; i < 5; ++i) decide(Triplet{t_.network, "s" + std::to_string(i) + "@x.example", "r@example.org"});
  clock_.advance(300s);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(decide(Triplet{t_.network, "s" + std::to_string(i) + "@x.example", "r@example.org"}).verdict,
              Verdict::passed);
  EXPECT_EQ(decide(t_).verdict, Verdict::greylisted);
}

TEST_P(StoreTest, AllowVersionMakesDecisionStaleWithoutWriting) {
  store_->add_allow("192.0.2.0/24", clock_.now());
  auto d = decide(t_);
  EXPECT_EQ(d.verdict, Verdict::stale_allow);
  EXPECT_GT(d.allow_version, version_);
  EXPECT_TRUE(store_->list(clock_.now()).empty()) << "a stale decision writes nothing";
  version_ = d.allow_version;
  EXPECT_EQ(store_->allow_version(), version_);
  EXPECT_EQ(decide(t_).verdict, Verdict::greylisted);
  store_->add_allow("192.0.2.0/24", clock_.now());  // already there: the version stays
  EXPECT_EQ(store_->allow_version(), version_);
  store_->add_allow("rcpt:example.org", clock_.now());
  auto entries = store_->allow_entries();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0], "192.0.2.0/24");
  EXPECT_EQ(entries[1], "rcpt:example.org");
}

TEST_P(StoreTest, PurgeExpiredAndAll) {
  Triplet old{t_.network, "old@x.example", "r@example.org"};
  decide(old);
  clock_.advance(std::chrono::milliseconds(timing_.retry_window));
  decide(t_);
  store_->add_allow("rcpt:example.org", clock_.now());
  EXPECT_EQ(store_->purge(clock_.now(), false), 1);
  auto left = store_->list(clock_.now());
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].triplet.sender, "alice@example.com");
  EXPECT_TRUE(store_->rate_hit("192.0.2.1", 5, 60'000, clock_.now()));
  EXPECT_GE(store_->purge(clock_.now(), true), 2);
  EXPECT_TRUE(store_->list(clock_.now()).empty());
  EXPECT_EQ(store_->allow_entries().size(), 1u) << "allow entries survive purge --all";
}

TEST_P(StoreTest, RateLimitSlidingWindow) {
  const Millis window = 60'000;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(store_->rate_hit("192.0.2.1", 3, window, clock_.now())) << i;
    clock_.advance(10s);
  }
  EXPECT_FALSE(store_->rate_hit("192.0.2.1", 3, window, clock_.now()));
  EXPECT_TRUE(store_->rate_hit("192.0.2.2", 3, window, clock_.now())) << "per client";
  clock_.advance(29'999ms);  // the first event is 59.999 s old: still inside
  EXPECT_FALSE(store_->rate_hit("192.0.2.1", 3, window, clock_.now()));
  clock_.advance(1ms);  // now exactly 60 s old: out of the window
  EXPECT_TRUE(store_->rate_hit("192.0.2.1", 3, window, clock_.now()));
  EXPECT_FALSE(store_->rate_hit("192.0.2.1", 3, window, clock_.now()));
}

TEST_P(StoreTest, StateSurvivesReopen) {
  decide(t_);
  auto second = reopen();
  clock_.advance(300s);
  EXPECT_EQ(second->decide(t_, timing_, clock_.now(), version_).verdict, Verdict::passed);
}

TEST_P(StoreTest, ConcurrentDecisionsAreAtomic) {
  decide(t_);
  clock_.advance(300s);
  // Many threads pass the same triplet at once: each pass is counted once,
  // and the network's count goes up exactly once (one first pass).
  constexpr int threads = 8, per_thread = 25;
  std::atomic<int> passed{0};
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&] {
      for (int j = 0; j < per_thread; ++j)
        if (store_->decide(t_, timing_, clock_.now(), version_).verdict == Verdict::passed) ++passed;
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(passed.load(), threads * per_thread);
  auto entries = store_->list(clock_.now());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].passes, threads * per_thread);
  auto nets = store_->networks(clock_.now());
  ASSERT_EQ(nets.size(), 1u);
  EXPECT_EQ(nets[0].passes, 1);
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values("sqlite", "redis"),
                         [](const auto& info) { return info.param; });

TEST(RedisUrl, Parses) {
  auto u = RedisUrl::parse("redis://10.1.2.3:6380/2");
  EXPECT_EQ(u.host, "10.1.2.3");
  EXPECT_EQ(u.port, 6380);
  EXPECT_EQ(u.db, 2);
  u = RedisUrl::parse("redis://[::1]:7000");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 7000);
  EXPECT_EQ(u.db, 0);
  u = RedisUrl::parse("redis://:s3cret@cache.example/1");
  EXPECT_EQ(u.host, "cache.example");
  EXPECT_EQ(u.password, "s3cret");
  EXPECT_EQ(u.port, 6379);
  for (const char* bad : {"http://x", "redis://h:99999", "redis://h:x", "redis://h/x", "redis://[::1", "redis://h:/0"})
    EXPECT_THROW(RedisUrl::parse(bad), StoreError) << bad;
}

TEST(RedisStore, UnreachableServerIsAStoreError) {
  int port = test::free_port();
  EXPECT_THROW(RedisStore("redis://127.0.0.1:" + std::to_string(port) + "/0"), StoreError);
}

TEST(RedisStore, SurvivesScriptFlush) {
  RedisStore store(redis->url(), "flush" + util::random_hex(4) + ":");
  ManualClock clock;
  Timing timing{1000, 10'000, 100'000, 0};
  Triplet t{"192.0.2.0/24", "a@b.example", "c@d.example"};
  EXPECT_EQ(store.decide(t, timing, clock.now(), 0).verdict, Verdict::greylisted);
  RedisStore other(redis->url(), "other:");
  // SCRIPT FLUSH through a raw connection: the next EVALSHA gets NOSCRIPT and falls back to EVAL.
  {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(redis->port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    std::string cmd = "*2\r\n$6\r\nSCRIPT\r\n$5\r\nFLUSH\r\n";
    ASSERT_EQ(write(fd, cmd.data(), cmd.size()), static_cast<ssize_t>(cmd.size()));
    char buf[16];
    ASSERT_GT(read(fd, buf, sizeof buf), 0);
    close(fd);
  }
  clock.advance(1s);
  EXPECT_EQ(store.decide(t, timing, clock.now(), 0).verdict, Verdict::passed);
}

TEST(SqliteStore, UnusablePathIsAStoreError) {
  EXPECT_THROW(SqliteStore("/nonexistent-dir/x/postern.db"), StoreError);
}

}  // namespace
}  // namespace postern::policy
