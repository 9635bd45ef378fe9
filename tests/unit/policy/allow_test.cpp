#include "policy/allow.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace postern::policy {
namespace {

TEST(AllowEntry, ParsesEachKind) {
  EXPECT_EQ(AllowEntry::parse("192.0.2.9/24").text, "192.0.2.0/24");
  EXPECT_EQ(AllowEntry::parse("2001:db8::/32").kind, AllowEntry::Kind::network);
  EXPECT_EQ(AllowEntry::parse("Mail.Example.NET").text, "mail.example.net");
  EXPECT_EQ(AllowEntry::parse(".example.net").text, "example.net");
  EXPECT_EQ(AllowEntry::parse("rcpt:Bob@Example.org").text, "rcpt:Bob@example.org");
  EXPECT_EQ(AllowEntry::parse("rcpt:Example.org").kind, AllowEntry::Kind::rcpt_domain);
  EXPECT_EQ(AllowEntry::parse("  10.0.0.1 ").text, "10.0.0.1/32");
}

TEST(AllowEntry, RejectsGarbage) {
  for (const char* bad : {"", "   ", "192.0.2.0/33", "10.0.0.0/x", "bad/x", "exa mple.org", "-x.example", "a..b",
                          "rcpt:", "rcpt:@example.org", "rcpt:bob@", "rcpt:bad domain", "x:y", "ex\x01mple.org"}) {
    EXPECT_THROW(AllowEntry::parse(bad), std::invalid_argument) << bad;
  }
}

// Found by fuzz_policy_parsers: ".92.0.2.24" was stored as the domain
// "92.0.2.24", which then re-read as the network 92.0.2.24/32.
TEST(AllowEntry, EveryEntrySurvivesItsOwnRoundTrip) {
  EXPECT_THROW(AllowEntry::parse(".92.0.2.24"), std::invalid_argument);
  EXPECT_THROW(AllowEntry::parse("mail.123"), std::invalid_argument);
  for (const char* ok : {"192.0.2.9/24", "10.0.0.1", "example.net", "1.example.net", "rcpt:1.2.3.4", "rcpt:a@b.org"}) {
    auto e = AllowEntry::parse(ok);
    EXPECT_EQ(AllowEntry::parse(e.text).text, e.text) << ok;
  }
}

TEST(DomainWithin, LabelBoundaries) {
  EXPECT_TRUE(domain_within("example.net", "example.net"));
  EXPECT_TRUE(domain_within("mx1.EXAMPLE.net.", "example.net"));
  EXPECT_FALSE(domain_within("badexample.net", "example.net"));
  EXPECT_FALSE(domain_within("net", "example.net"));
}

TEST(AllowList, MatchesAndAsksRdnsOnlyWhenNeeded) {
  AllowList list;
  list.add("192.0.2.0/24");
  list.add("rcpt:postmaster@example.org");
  list.add("rcpt:abuse.example");
  int asked = 0;
  auto rdns = [&]() -> std::optional<std::string> {
    ++asked;
    return "mx.partner.example";
  };
  auto a = *Address::parse("192.0.2.50");
  auto b = *Address::parse("198.51.100.1");
  EXPECT_EQ(list.match(a, "x@y.example", rdns), "192.0.2.0/24");
  EXPECT_EQ(list.match(b, "postmaster@EXAMPLE.org", rdns), "rcpt:postmaster@example.org");
  EXPECT_FALSE(list.match(b, "Postmaster@example.org", rdns));  // local parts are exact
  EXPECT_EQ(list.match(b, "anyone@mail.abuse.example", rdns), "rcpt:abuse.example");
  EXPECT_FALSE(list.match(b, "x@y.example", rdns));
  EXPECT_EQ(asked, 0);
  list.add("partner.example");
  EXPECT_EQ(list.match(b, "x@y.example", rdns), "partner.example");
  EXPECT_EQ(asked, 1);
  list.add("partner.example");  // duplicates are dropped
  EXPECT_EQ(list.size(), 4u);
  auto none = []() -> std::optional<std::string> { return std::nullopt; };
  EXPECT_FALSE(list.match(b, "x@y.example", none));
}

}  // namespace
}  // namespace postern::policy
