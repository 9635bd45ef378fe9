#include <gtest/gtest.h>

#include "mta_sts/negative_cache.hpp"

using namespace postern::mta_sts;
using namespace std::chrono_literals;

namespace {
const auto t0 = NegativeCache::Clock::time_point(1000h);
}

TEST(MtaStsNegativeCache, AFailedFetchHoldsForItsIdUntilTheHoldEnds) {
  NegativeCache failures(5min);
  EXPECT_FALSE(failures.fetch_failure("example.org", "id1", t0));
  failures.fetch_failed("example.org", "id1", "https://mta-sts.example.org/: timed out", t0);
  const auto f = failures.fetch_failure("example.org", "id1", t0 + 4min + 59s);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->error, "https://mta-sts.example.org/: timed out");
  EXPECT_EQ(f->until, t0 + 5min);
  EXPECT_FALSE(failures.fetch_failure("example.org", "id1", t0 + 5min));  // §3.3: tried again after the hold
  EXPECT_FALSE(failures.fetch_failure("example.net", "id1", t0));         // per domain
}

TEST(MtaStsNegativeCache, ANewRecordIdIsFetchedAtOnce) {
  NegativeCache failures(5min);
  failures.fetch_failed("example.org", "id1", "HTTP 404", t0);
  EXPECT_FALSE(failures.fetch_failure("example.org", "id2", t0 + 1s));  // §3.3: "per version ID"
  failures.fetch_failed("example.org", "id2", "HTTP 500", t0 + 1s);
  EXPECT_FALSE(failures.fetch_failure("example.org", "id1", t0 + 2s));  // the newer failure replaced it
  EXPECT_EQ(failures.fetch_failure("example.org", "id2", t0 + 2s)->error, "HTTP 500");
  EXPECT_EQ(failures.size(), 1u);
}

TEST(MtaStsNegativeCache, ASuccessfulFetchForgetsTheFailure) {
  NegativeCache failures(5min);
  failures.fetch_failed("example.org", "id1", "HTTP 404", t0);
  failures.fetched("example.org");
  EXPECT_FALSE(failures.fetch_failure("example.org", "id1", t0));
}

TEST(MtaStsNegativeCache, AFailedRecordLookupHoldsApartFromFetches) {
  NegativeCache failures(5min);
  failures.record_failed("example.org", "_mta-sts.example.org: TXT lookup: timeout", t0);
  ASSERT_TRUE(failures.record_failure("example.org", t0 + 1min));
  EXPECT_EQ(failures.record_failure("example.org", t0)->error, "_mta-sts.example.org: TXT lookup: timeout");
  EXPECT_FALSE(failures.fetch_failure("example.org", "id1", t0));
  EXPECT_FALSE(failures.record_failure("example.org", t0 + 5min));
  EXPECT_FALSE(failures.record_failure("example.net", t0));
}

TEST(MtaStsNegativeCache, StaysWithinItsCapacity) {
  NegativeCache failures(5min, 3);
  failures.fetch_failed("a.test", "1", "x", t0);
  failures.fetch_failed("b.test", "1", "x", t0 + 1s);
  failures.fetch_failed("c.test", "1", "x", t0 + 2s);
  failures.fetch_failed("d.test", "1", "x", t0 + 3s);  // full: the one that ends soonest goes
  EXPECT_EQ(failures.size(), 3u);
  EXPECT_FALSE(failures.fetch_failure("a.test", "1", t0 + 3s));
  EXPECT_TRUE(failures.fetch_failure("d.test", "1", t0 + 3s));
  failures.fetch_failed("d.test", "2", "y", t0 + 4s);  // a known domain takes no room
  EXPECT_TRUE(failures.fetch_failure("b.test", "1", t0 + 4s));
  failures.fetch_failed("e.test", "1", "x", t0 + 10min);  // full of expired ones: they all go
  EXPECT_EQ(failures.size(), 1u);
  for (int i = 0; i < 10; ++i) failures.record_failed("r" + std::to_string(i) + ".test", "x", t0);
  EXPECT_EQ(failures.size(), 4u);
}
