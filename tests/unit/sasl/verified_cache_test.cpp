// The verified-password cache alone (hits, misses, TTL, bound, threads),
// then through the server stepper: a hit skips yescrypt, a changed hash or
// a wrong password does not.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "sasl/client.hpp"
#include "sasl/secrets.hpp"
#include "sasl/server.hpp"
#include "sasl/verified_cache.hpp"

namespace postern::sasl {
namespace {

using namespace std::chrono_literals;

struct FakeClock {
  std::chrono::steady_clock::time_point now = std::chrono::steady_clock::time_point{} + 1000h;
  VerifiedCache::Clock clock() {
    return [this] { return now; };
  }
};

const std::string kHash = "$y$j9T$salt$hashofcorrecthorse";
const std::string kOtherHash = "$y$j9T$salt2$hashofsomethingelse";

TEST(VerifiedCache, HitAfterRemember) {
  FakeClock t;
  VerifiedCache cache(10, t.clock());
  EXPECT_FALSE(cache.contains("alice@example.org", kHash, "correct horse", 1h));
  cache.remember("alice@example.org", kHash, "correct horse");
  EXPECT_TRUE(cache.contains("alice@example.org", kHash, "correct horse", 1h));
  EXPECT_TRUE(cache.contains("alice@example.org", kHash, "correct horse", 1h));
  EXPECT_EQ(cache.size(), 1u);
}

TEST(VerifiedCache, WrongPasswordMissesAndKeepsTheEntry) {
  FakeClock t;
  VerifiedCache cache(10, t.clock());
  cache.remember("alice@example.org", kHash, "correct horse");
  EXPECT_FALSE(cache.contains("alice@example.org", kHash, "correct hors", 1h));
  EXPECT_FALSE(cache.contains("alice@example.org", kHash, "", 1h));
  EXPECT_TRUE(cache.contains("alice@example.org", kHash, "correct horse", 1h));
}

TEST(VerifiedCache, ChangedHashMissesAndDropsTheEntry) {
  FakeClock t;
  VerifiedCache cache(10, t.clock());
  cache.remember("alice@example.org", kHash, "correct horse");
  EXPECT_FALSE(cache.contains("alice@example.org", kOtherHash, "correct horse", 1h));
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_FALSE(cache.contains("alice@example.org", kHash, "correct horse", 1h));
}

TEST(VerifiedCache, BoundToTheUser) {
  FakeClock t;
  VerifiedCache cache(10, t.clock());
  cache.remember("alice@example.org", kHash, "correct horse");
  EXPECT_FALSE(cache.contains("bob@example.org", kHash, "correct horse", 1h));
  // A user whose name ends where another's hash starts: the NUL separators keep them apart.
  using namespace std::string_view_literals;
  cache.remember("a", "b\0c"sv, "pw");
  EXPECT_TRUE(cache.contains("a", "b\0c"sv, "pw", 1h));
  EXPECT_FALSE(cache.contains("a\0b"sv, "c", "pw", 1h));
}

TEST(VerifiedCache, ExpiresAfterTtlFromTheCheck) {
  FakeClock t;
  VerifiedCache cache(10, t.clock());
  cache.remember("alice@example.org", kHash, "correct horse");
  t.now += 59min;
  EXPECT_TRUE(cache.contains("alice@example.org", kHash, "correct horse", 1h));  // a hit does not extend it
  t.now += 1min;
  EXPECT_FALSE(cache.contains("alice@example.org", kHash, "correct horse", 1h));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(VerifiedCache, TtlIsReadAtEachCheck) {
  FakeClock t;
  VerifiedCache cache(10, t.clock());
  cache.remember("alice@example.org", kHash, "correct horse");
  t.now += 10min;
  EXPECT_FALSE(cache.contains("alice@example.org", kHash, "correct horse", 0s));  // 0: off
  cache.remember("alice@example.org", kHash, "correct horse");
  t.now += 10min;
  EXPECT_FALSE(cache.contains("alice@example.org", kHash, "correct horse", 5min));  // a reload shortened it
}

TEST(VerifiedCache, EvictsTheLeastRecentlyUsed) {
  FakeClock t;
  VerifiedCache cache(3, t.clock());
  for (int i = 0; i < 3; ++i) cache.remember("u" + std::to_string(i), kHash, "pw");
  EXPECT_TRUE(cache.contains("u0", kHash, "pw", 1h));  // u1 is now the oldest
  cache.remember("u3", kHash, "pw");
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_FALSE(cache.contains("u1", kHash, "pw", 1h));
  EXPECT_TRUE(cache.contains("u0", kHash, "pw", 1h));
  EXPECT_TRUE(cache.contains("u2", kHash, "pw", 1h));
  EXPECT_TRUE(cache.contains("u3", kHash, "pw", 1h));
  for (int i = 0; i < 1000; ++i) cache.remember("v" + std::to_string(i), kHash, "pw");
  EXPECT_EQ(cache.size(), 3u);
}

TEST(VerifiedCache, ConcurrentUse) {
  VerifiedCache cache(64);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int n = 0; n < 8; ++n)
    threads.emplace_back([&, n] {
      for (int i = 0; i < 2000; ++i) {
        const std::string user = "u" + std::to_string((i * 7 + n) % 100);
        cache.remember(user, kHash, "pw" + user);
        if (cache.contains(user, kHash, "not" + user, 1h)) ++wrong;
        cache.contains(user, kHash, "pw" + user, 1h);  // may have been evicted by another thread
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(cache.size(), 64u);
}

// Through the stepper, against a store whose hash the test can change.
class OneUserStore : public CredentialStore {
 public:
  Credentials user;
  std::optional<Credentials> find(std::string_view authcid) override {
    if (authcid != user.identity) return std::nullopt;
    return user;
  }
};

ServerStepper::Status plain(OneUserStore& store, VerifiedCache& cache, const std::string& user,
                            const std::string& password) {
  ServerOptions options;
  options.verified = &cache;
  options.verified_ttl = 1h;
  ServerStepper stepper(store, std::move(options));
  std::string response = std::string("\0", 1) + user + std::string("\0", 1) + password;
  return stepper.begin(Mechanism::plain, response).status;
}

TEST(VerifiedCacheStepper, RemembersOnlySuccessAndSeesAChangedHash) {
  OneUserStore store;
  store.user.identity = "alice@example.org";
  store.user.password_hash = hash_password("correct horse");
  VerifiedCache cache;
  using S = ServerStepper::Status;
  EXPECT_EQ(plain(store, cache, "alice@example.org", "wrong"), S::failed);
  EXPECT_EQ(cache.size(), 0u);  // failures are not remembered
  EXPECT_EQ(plain(store, cache, "nobody@example.org", "correct horse"), S::failed);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(plain(store, cache, "alice@example.org", "correct horse"), S::done);
  EXPECT_EQ(cache.size(), 1u);

  EXPECT_TRUE(cache.contains("alice@example.org", store.user.password_hash, "correct horse", 1h));
  EXPECT_EQ(plain(store, cache, "alice@example.org", "correct horse"), S::done);
  EXPECT_EQ(plain(store, cache, "alice@example.org", "wrong"), S::failed);

  // `user passwd`: a new hash; the old password fails, the new one passes.
  store.user.password_hash = hash_password("battery staple");
  EXPECT_EQ(plain(store, cache, "alice@example.org", "correct horse"), S::failed);
  EXPECT_EQ(plain(store, cache, "alice@example.org", "battery staple"), S::done);
  EXPECT_TRUE(cache.contains("alice@example.org", store.user.password_hash, "battery staple", 1h));
}

TEST(VerifiedCacheStepper, AHitSkipsYescrypt) {
  OneUserStore store;
  store.user.identity = "alice@example.org";
  // Not a crypt(3) string at all: verify_password() rejects it, so only the cache can say yes.
  store.user.password_hash = "$y$not-a-real-hash";
  VerifiedCache cache;
  using S = ServerStepper::Status;
  EXPECT_EQ(plain(store, cache, "alice@example.org", "pw"), S::failed);
  cache.remember("alice@example.org", store.user.password_hash, "pw");
  EXPECT_EQ(plain(store, cache, "alice@example.org", "pw"), S::done);
  EXPECT_EQ(plain(store, cache, "alice@example.org", "pw2"), S::failed);

  ServerOptions off;  // a TTL of 0: yescrypt alone, which refuses this hash
  off.verified = &cache;
  ServerStepper stepper(store, std::move(off));
  EXPECT_EQ(stepper.begin(Mechanism::plain, std::string("\0alice@example.org\0pw", 21)).status, S::failed);
  EXPECT_FALSE(stepper.verified_by_cache());

  ServerOptions on;
  on.verified = &cache;
  on.verified_ttl = 1h;
  {
    // Turned off, it forgot what it held: nothing verified stays in memory.
    ServerStepper forgotten(store, ServerOptions(on));
    EXPECT_EQ(forgotten.begin(Mechanism::plain, std::string("\0alice@example.org\0pw", 21)).status, S::failed);
  }
  cache.remember("alice@example.org", store.user.password_hash, "pw");
  ServerStepper cached(store, std::move(on));
  EXPECT_EQ(cached.begin(Mechanism::plain, std::string("\0alice@example.org\0pw", 21)).status, S::done);
  EXPECT_TRUE(cached.verified_by_cache());
}


// With password checks deferred (the session runs steps on its I/O thread):
// only a cache hit finishes at once; anything that needs yescrypt stops
// with `blocked`, and run_blocked() gives the answer yescrypt gives.
ServerOptions deferring(VerifiedCache& cache) {
  ServerOptions o;
  o.verified = &cache;
  o.verified_ttl = 1h;
  o.defer_password_checks = true;
  return o;
}

TEST(DeferredPasswordChecks, PlainBlocksOnAMissAndFinishesOnAHit) {
  OneUserStore store;
  store.user.identity = "alice@example.org";
  store.user.password_hash = hash_password("correct horse");
  VerifiedCache cache;
  using S = ServerStepper::Status;
  const std::string good = std::string("\0alice@example.org\0correct horse", 32);
  ServerStepper first(store, deferring(cache));
  EXPECT_EQ(first.begin(Mechanism::plain, good).status, S::blocked);
  EXPECT_EQ(cache.size(), 0u);  // nothing was checked yet
  EXPECT_EQ(first.run_blocked().status, S::done);
  EXPECT_EQ(first.identity(), "alice@example.org");
  EXPECT_FALSE(first.verified_by_cache());
  EXPECT_EQ(first.run_blocked().status, S::failed);  // only once, only after `blocked`

  ServerStepper again(store, deferring(cache));
  EXPECT_EQ(again.begin(Mechanism::plain, good).status, S::done);
  EXPECT_TRUE(again.verified_by_cache());

  ServerStepper wrong(store, deferring(cache));
  EXPECT_EQ(wrong.begin(Mechanism::plain, std::string("\0alice@example.org\0correct hors", 31)).status, S::blocked);
  EXPECT_EQ(wrong.run_blocked().status, S::failed);
  EXPECT_EQ(wrong.reason(), "bad-credentials");

  ServerStepper unknown(store, deferring(cache));
  EXPECT_EQ(unknown.begin(Mechanism::plain, std::string("\0nobody@example.org\0correct horse", 33)).status,
            S::blocked);
  EXPECT_EQ(unknown.run_blocked().status, S::failed);
  EXPECT_EQ(unknown.reason(), "unknown-user");
}

TEST(DeferredPasswordChecks, LoginReplaysItsSteps) {
  OneUserStore store;
  store.user.identity = "alice@example.org";
  store.user.password_hash = hash_password("correct horse");
  VerifiedCache cache;
  using S = ServerStepper::Status;
  for (bool initial : {false, true}) {
    ServerStepper s(store, deferring(cache));
    auto step = initial ? s.begin(Mechanism::login, std::string_view("alice@example.org"))
                        : s.begin(Mechanism::login, std::nullopt);
    if (!initial) {
      ASSERT_EQ(step.status, S::more);
      EXPECT_EQ(step.challenge, "Username:");
      step = s.step("alice@example.org");
    }
    ASSERT_EQ(step.status, S::more);
    EXPECT_EQ(step.challenge, "Password:");
    step = s.step("correct horse");
    if (initial) {
      EXPECT_EQ(step.status, S::done);  // the first round remembered it
      continue;
    }
    ASSERT_EQ(step.status, S::blocked);
    EXPECT_EQ(s.run_blocked().status, S::done);
    EXPECT_EQ(s.identity(), "alice@example.org");
  }
}

TEST(DeferredPasswordChecks, ScramNeverBlocks) {
  OneUserStore store;
  store.user.identity = "alice@example.org";
  store.user.password_hash = hash_password("correct horse");
  store.user.scram_sha256 = make_scram_keys(ScramHash::sha256, "correct horse");
  VerifiedCache cache;
  for (const char* password : {"correct horse", "wrong"}) {
    ServerStepper server(store, deferring(cache));
    ClientStepper client(Mechanism::scram_sha256, ClientCredentials{"alice@example.org", password, ""}, {});
    auto c = client.start();
    auto s = server.begin(Mechanism::scram_sha256, std::string_view(c.response));
    int rounds = 0;
    while (s.status == ServerStepper::Status::more && rounds++ < 5) {
      c = client.step(s.challenge);
      if (c.status != ClientStepper::Status::respond) break;
      s = server.step(c.response);
    }
    EXPECT_NE(s.status, ServerStepper::Status::blocked);
    EXPECT_EQ(s.status == ServerStepper::Status::done, std::string(password) == "correct horse");
  }
}

}  // namespace
}  // namespace postern::sasl
