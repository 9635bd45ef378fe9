#include "policy/network.hpp"

#include <gtest/gtest.h>

namespace postern::policy {
namespace {

TEST(Address, ParsesAndRejects) {
  struct Case {
    const char* in;
    bool ok;
    const char* str;
  } cases[] = {
      {"192.0.2.1", true, "192.0.2.1"},
      {"::1", true, "::1"},
      {"[2001:db8::1]", true, "2001:db8::1"},
      {"::ffff:192.0.2.9", true, "192.0.2.9"},  // IPv4-mapped counts as IPv4
      {"fe80::1%eth0", true, "fe80::1"},
      {"", false, ""},
      {"192.0.2", false, ""},
      {"192.0.2.256", false, ""},
      {"example.org", false, ""},
      {"1.2.3.4/24", false, ""},
  };
  for (auto& c : cases) {
    auto a = Address::parse(c.in);
    EXPECT_EQ(a.has_value(), c.ok) << c.in;
    if (a && c.ok) {
      EXPECT_EQ(a->str(), c.str) << c.in;
    }
  }
}

TEST(Cidr, ParsesContainsAndRejects) {
  auto c = Cidr::parse("192.0.2.77/24");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->str(), "192.0.2.0/24");
  EXPECT_TRUE(c->contains(*Address::parse("192.0.2.200")));
  EXPECT_FALSE(c->contains(*Address::parse("192.0.3.1")));
  EXPECT_FALSE(c->contains(*Address::parse("::1")));
  auto host = Cidr::parse("::1");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->str(), "::1/128");
  EXPECT_TRUE(host->contains(*Address::parse("::1")));
  auto v6 = Cidr::parse("2001:db8::/32");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(*Address::parse("2001:db8:ffff::1")));
  EXPECT_FALSE(v6->contains(*Address::parse("2001:db9::1")));
  EXPECT_TRUE(Cidr::parse("0.0.0.0/0")->contains(*Address::parse("203.0.113.5")));
  for (const char* bad : {"192.0.2.0/33", "::/129", "192.0.2.0/", "192.0.2.0/x", "192.0.2.0/-1", "/24", "x/8"})
    EXPECT_FALSE(Cidr::parse(bad)) << bad;
}

TEST(ClientNetwork, UsesPrefixPerFamily) {
  EXPECT_EQ(client_network(*Address::parse("198.51.100.23"), 24, 64), "198.51.100.0/24");
  EXPECT_EQ(client_network(*Address::parse("198.51.100.23"), 32, 64), "198.51.100.23/32");
  EXPECT_EQ(client_network(*Address::parse("198.51.100.23"), 20, 64), "198.51.96.0/20");
  EXPECT_EQ(client_network(*Address::parse("2001:db8:1:2:3:4:5:6"), 24, 64), "2001:db8:1:2::/64");
  EXPECT_EQ(client_network(*Address::parse("2001:db8:1:2:3:4:5:6"), 24, 200), "2001:db8:1:2:3:4:5:6/128");
}

}  // namespace
}  // namespace postern::policy
