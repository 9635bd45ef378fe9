#include "admission/auth_lockout.hpp"

#include <gtest/gtest.h>

namespace postern::admission {
namespace {

using namespace std::chrono_literals;
using Clock = AuthLockout::Clock;

TEST(AuthLockout, LocksAfterFailuresWithinTheWindow) {
  AuthLockout l;
  AuthLockout::Limits limits{3, 600s, 900s};
  auto t = Clock::now();
  EXPECT_FALSE(l.record_failure("192.0.2.1", t, limits));
  EXPECT_FALSE(l.record_failure("192.0.2.1", t + 1s, limits));
  EXPECT_FALSE(l.locked("192.0.2.1", t + 2s));
  EXPECT_TRUE(l.record_failure("192.0.2.1", t + 2s, limits));
  EXPECT_TRUE(l.locked("192.0.2.1", t + 3s));
  EXPECT_FALSE(l.locked("192.0.2.2", t + 3s));  // per address
  EXPECT_TRUE(l.locked("192.0.2.1", t + 2s + 899s));
  EXPECT_FALSE(l.locked("192.0.2.1", t + 2s + 900s));
}

TEST(AuthLockout, OldFailuresLeaveTheWindow) {
  AuthLockout l;
  AuthLockout::Limits limits{3, 60s, 900s};
  auto t = Clock::now();
  l.record_failure("::1", t, limits);
  l.record_failure("::1", t + 10s, limits);
  EXPECT_FALSE(l.record_failure("::1", t + 61s, limits));  // the first one expired
  EXPECT_FALSE(l.locked("::1", t + 62s));
  EXPECT_TRUE(l.record_failure("::1", t + 62s, limits));
}

TEST(AuthLockout, ZeroFailuresMeansOff) {
  AuthLockout l;
  auto t = Clock::now();
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(l.record_failure("192.0.2.1", t, {0, 600s, 900s}));
  EXPECT_FALSE(l.locked("192.0.2.1", t));
  EXPECT_EQ(l.size(), 0u);
}

TEST(AuthLockout, MemoryIsBounded) {
  AuthLockout l;
  AuthLockout::Limits limits{3, 60s, 60s};
  auto t = Clock::now();
  for (int i = 0; i < 5000; ++i) l.record_failure("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), t, limits);
  // Two minutes later everything is stale and pruned as new addresses come.
  for (int i = 0; i < 5000; ++i) l.record_failure("10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256), t + 120s, limits);
  EXPECT_LT(l.size(), 8000u);
}

}  // namespace
}  // namespace postern::admission
