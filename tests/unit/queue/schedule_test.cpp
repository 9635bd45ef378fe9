#include "queue/schedule.hpp"

#include <gtest/gtest.h>

#include "queue/route.hpp"

namespace postern::queue {
namespace {

using namespace std::chrono;
using std::chrono::seconds;

Schedule make(seconds initial, seconds max, seconds lifetime) {
  config::Queue q;
  q.retry_initial = initial;
  q.retry_max = max;
  q.lifetime = lifetime;
  return Schedule::from(q);
}

// A fake clock: a fixed arrival and "now" moved by the test.
const Clock::time_point t0 = Clock::from_time_t(1800000000);

TEST(Schedule, ExponentialBackoffCappedWithoutJitterAtMidpoint) {
  auto s = make(minutes(5), hours(1), hours(24 * 5));
  struct Case {
    unsigned failures;
    seconds want;
  } cases[] = {{1, minutes(5)}, {2, minutes(10)}, {3, minutes(20)}, {4, minutes(40)}, {5, hours(1)}, {30, hours(1)}};
  for (auto& c : cases) {
    auto got = s.next_attempt(c.failures, "451 4.3.0 try later", t0, t0, 0.5) - t0;
    EXPECT_EQ(duration_cast<seconds>(got), c.want) << "failures=" << c.failures;
  }
}

TEST(Schedule, JitterStaysWithinTwentyPercent) {
  auto s = make(seconds(100), hours(1), hours(24));
  auto low = duration_cast<seconds>(s.next_attempt(1, "", t0, t0, 0.0) - t0);
  auto high = duration_cast<seconds>(s.next_attempt(1, "", t0, t0, 0.999999) - t0);
  EXPECT_EQ(low, seconds(80));
  EXPECT_EQ(high, seconds(120));
}

TEST(Schedule, JitterNeverExceedsMax) {
  auto s = make(seconds(100), seconds(150), hours(24));
  auto got = duration_cast<seconds>(s.next_attempt(5, "", t0, t0, 0.999) - t0);
  EXPECT_LE(got, seconds(150));
}

TEST(Schedule, HintIsHonouredWithinBounds) {
  auto s = make(minutes(5), hours(1), hours(24 * 5));
  // Shorter than the step: honoured (plus a second, to arrive just after).
  auto got = duration_cast<seconds>(
      s.next_attempt(1, "450 4.2.0 Greylisted, try again in 30 seconds", t0, t0, 0.5) - t0);
  EXPECT_EQ(got, seconds(31));
  // Longer than retry_max: capped.
  got = duration_cast<seconds>(s.next_attempt(1, "450 4.2.0 Greylisted, try again in 7200 seconds", t0, t0, 0.5) - t0);
  EXPECT_EQ(got, hours(1));
  // Zero: raised to the minimum.
  got = duration_cast<seconds>(s.next_attempt(1, "450 try again in 0 seconds", t0, t0, 0.5) - t0);
  EXPECT_GE(got, seconds(1));
}

TEST(Schedule, NeverPastLifetime) {
  auto s = make(minutes(5), hours(1), minutes(12));
  auto now = t0 + minutes(10);
  auto got = s.next_attempt(3, "", t0, now, 0.5);
  EXPECT_EQ(got, t0 + minutes(12));  // one last attempt at the end of the lifetime
  EXPECT_FALSE(s.expired(t0, now));
  EXPECT_TRUE(s.expired(t0, t0 + minutes(12)));
  // Already past: still at least a second ahead, never in the past.
  got = s.next_attempt(4, "", t0, t0 + minutes(20), 0.5);
  EXPECT_GE(got, t0 + minutes(20) + seconds(1));
}

TEST(Schedule, ShortConfigValues) {
  auto s = make(seconds(1), seconds(2), seconds(5));
  EXPECT_EQ(duration_cast<seconds>(s.next_attempt(1, "", t0, t0, 0.5) - t0), seconds(1));
  EXPECT_EQ(duration_cast<seconds>(s.next_attempt(2, "", t0, t0, 0.5) - t0), seconds(2));
  EXPECT_EQ(duration_cast<seconds>(s.next_attempt(9, "", t0, t0, 0.5) - t0), seconds(2));
}

TEST(Route, Order) {
  config::Relay relay;
  relay.routes["special.test"] = "10.0.0.1:2525";
  auto r = route_for(relay, "Special.TEST", 25);
  EXPECT_EQ(r.kind, Route::Kind::route);
  EXPECT_EQ(r.host, "10.0.0.1");
  EXPECT_EQ(r.port, 2525);
  r = route_for(relay, "other.test", 2526);
  EXPECT_EQ(r.kind, Route::Kind::mx);
  EXPECT_EQ(r.host, "other.test");
  EXPECT_EQ(r.port, 2526);
  EXPECT_EQ(r.key, "mx:other.test");
  relay.smarthost = "relay.example.net:587";
  r = route_for(relay, "other.test", 25);
  EXPECT_EQ(r.kind, Route::Kind::smarthost);
  EXPECT_EQ(r.host, "relay.example.net");
  EXPECT_EQ(r.port, 587);
  r = route_for(relay, "special.test", 25);  // a route wins over the smarthost
  EXPECT_EQ(r.kind, Route::Kind::route);
}

TEST(Route, ParseHostPort) {
  struct Case {
    const char* in;
    bool ok;
    const char* host;
    int port;
  } cases[] = {
      {"mx.example.net:2525", true, "mx.example.net", 2525},
      {"mx.example.net", true, "mx.example.net", 25},
      {"[::1]:587", true, "::1", 587},
      {"[::1]", true, "::1", 25},
      {"::1", false, "", 0},
      {"host:0", false, "", 0},
      {"host:65536", false, "", 0},
      {"host:12x", false, "", 0},
      {":25", false, "", 0},
      {"", false, "", 0},
      {"[]:25", false, "", 0},
      {"a b:25", false, "", 0},
  };
  for (auto& c : cases) {
    auto got = parse_host_port(c.in);
    EXPECT_EQ(got.has_value(), c.ok) << c.in;
    if (got && c.ok) {
      EXPECT_EQ(got->first, c.host) << c.in;
      EXPECT_EQ(got->second, c.port) << c.in;
    }
  }
}

TEST(Route, DomainOf) {
  EXPECT_EQ(domain_of("bob@Remote.TEST"), "remote.test");
  EXPECT_EQ(domain_of("\"a@b\"@c.test"), "c.test");
  EXPECT_EQ(domain_of("postmaster"), "");
}

TEST(Schedule, LocalMailboxesRetryOnASecondDoublingToAMinute) {
  auto s = make(minutes(5), hours(1), hours(24));
  const seconds want[] = {seconds(1), seconds(2), seconds(4), seconds(8), seconds(16), seconds(32), seconds(60),
                          seconds(60)};
  for (unsigned f = 1; f <= 8; ++f)
    EXPECT_EQ(duration_cast<seconds>(s.next_local_attempt(f, t0, t0) - t0), want[f - 1]) << "failures=" << f;
  EXPECT_EQ(duration_cast<seconds>(s.next_local_attempt(1000, t0, t0) - t0), seconds(60));
  // Never after the message's expiry.
  auto short_life = make(minutes(5), hours(1), seconds(10));
  EXPECT_EQ(short_life.next_local_attempt(7, t0, t0 + seconds(5)), t0 + seconds(10));
}

}  // namespace
}  // namespace postern::queue
