#include <gtest/gtest.h>

#include <filesystem>

#include "mta_sts/cache.hpp"
#include "mta_sts/policy.hpp"

using namespace postern::mta_sts;

TEST(MtaStsRecord, TheOneStsRecordGivesItsId) {
  EXPECT_EQ(record_id({"v=spf1 -all", "v=STSv1; id=20261204T000000;"}), "20261204T000000");
  EXPECT_EQ(record_id({"v=STSv1;id=abc"}), "abc");
  EXPECT_EQ(record_id({"v=STSv1; id=abc; ext=1"}), "abc");
  std::string error;
  EXPECT_EQ(record_id({}, &error), std::nullopt);
  EXPECT_EQ(error, "");
  EXPECT_EQ(record_id({"v=STSv1; id=a", "v=STSv1; id=b"}, &error), std::nullopt);  // §3.1: exactly one
  EXPECT_EQ(error, "more than one v=STSv1 record");
  EXPECT_EQ(record_id({"v=STSv1; id=not-alnum"}, &error), std::nullopt);
  EXPECT_EQ(record_id({"v=STSv1; id=" + std::string(33, 'a')}, &error), std::nullopt);
  EXPECT_EQ(record_id({"v=STSv1;"}, &error), std::nullopt);
  EXPECT_EQ(error, "the v=STSv1 record has no id");
  EXPECT_EQ(record_id({"v=STSv10; id=a"}), std::nullopt);
}

TEST(MtaStsPolicy, ParsesTheRfcExample) {
  const auto p = parse_policy("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
                              "mx: backupmx.example.com\r\nmax_age: 604800\r\n");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->mode, Mode::enforce);
  EXPECT_EQ(p->mx, (std::vector<std::string>{"mail.example.com", "*.example.net", "backupmx.example.com"}));
  EXPECT_EQ(p->max_age.count(), 604800);
}

TEST(MtaStsPolicy, AcceptsLfLinesUnknownKeysAndCapsMaxAge) {
  const auto p = parse_policy("version: STSv1\nmode: testing\nfuture: x\nmx: MX.Example.ORG \nmax_age: 9999999999\n");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->mode, Mode::testing);
  EXPECT_EQ(p->mx, std::vector<std::string>{"mx.example.org"});
  EXPECT_EQ(p->max_age.count(), 31557600);  // a year at most
  const auto none = parse_policy("version: STSv1\nmode: none\nmax_age: 0\n");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->mode, Mode::none);
}

TEST(MtaStsPolicy, RefusesWhatIsNotAPolicy) {
  const std::pair<const char*, const char*> bad[] = {
      {"mode: enforce\nmx: a.example\nmax_age: 1\n", "no version"},
      {"version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", "version is not STSv1"},
      {"version: STSv1\nmx: a.example\nmax_age: 1\n", "no mode"},
      {"version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", "mode is not enforce, testing or none"},
      {"version: STSv1\nmode: enforce\nmx: a.example\n", "no max_age"},
      {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", "max_age is not a number of seconds"},
      {"version: STSv1\nmode: enforce\nmax_age: 1\n", "no mx"},
      {"version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n", "mx \"a..example\" is not a host name"},
      {"version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 1\n", "mx \"*.*.example\" is not a host name"},
      {"<html>not found</html>\n", "line 1: no \"key: value\""},
      {"", "no version"},
  };
  for (const auto& [text, why] : bad) {
    std::string error;
    EXPECT_FALSE(parse_policy(text, &error)) << text;
    EXPECT_EQ(error, why) << text;
  }
}

TEST(MtaStsPolicy, MxPatternsMatchAsSection41Says) {
  Policy p;
  p.mx = {"mail.example.com", "*.example.net"};
  EXPECT_TRUE(mx_allowed(p, "mail.example.com"));
  EXPECT_TRUE(mx_allowed(p, "MAIL.example.COM."));
  EXPECT_TRUE(mx_allowed(p, "mx1.example.net"));
  EXPECT_FALSE(mx_allowed(p, "example.net"));          // the wildcard needs a label
  EXPECT_FALSE(mx_allowed(p, "a.b.example.net"));      // and only one
  EXPECT_FALSE(mx_allowed(p, "mail.example.com.evil"));
  EXPECT_FALSE(mx_allowed(p, "xexample.net"));
  EXPECT_FALSE(mx_allowed(p, ""));
}

TEST(MtaStsCache, KeepsOnePolicyPerDomain) {
  const auto db = std::filesystem::temp_directory_path() / ("postern-sts-" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(db);
  {
    Cache cache(db);
    EXPECT_FALSE(cache.get("example.org"));
    const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
    CachedPolicy c{Policy{Mode::enforce, {"mx.example.org", "*.example.org"}, std::chrono::seconds(3600), "id1"}, now};
    cache.put("example.org", c);
    c.policy.id = "id2";
    c.policy.mode = Mode::testing;
    cache.put("example.org", c);
    const auto got = cache.get("example.org");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->policy.id, "id2");
    EXPECT_EQ(got->policy.mode, Mode::testing);
    EXPECT_EQ(got->policy.mx, c.policy.mx);
    EXPECT_EQ(got->fetched_at, now);
    EXPECT_TRUE(got->fresh(now + std::chrono::seconds(3599)));
    EXPECT_FALSE(got->fresh(now + std::chrono::seconds(3600)));
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db.string() + suffix);
}
