#include "smtp/address.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace postern::smtp {
namespace {

struct Good {
  std::string input;
  std::string canonical;  // Path::str()
  std::string local_part;  // decoded
  std::string domain;
};

TEST(Address, ValidPaths) {
  std::vector<Good> cases = {
      {"<alice@example.org>", "alice@example.org", "alice", "example.org"},
      {"<Alice.B+tag@Sub.Example.ORG>", "Alice.B+tag@Sub.Example.ORG", "Alice.B+tag", "Sub.Example.ORG"},
      {"<\"john smith\"@example.org>", "\"john smith\"@example.org", "john smith", "example.org"},
      {"<\"a\\\"b\"@example.org>", "\"a\\\"b\"@example.org", "a\"b", "example.org"},
      {"<\"plain\"@example.org>", "plain@example.org", "plain", "example.org"},
      {"<\"a@b\"@example.org>", "\"a@b\"@example.org", "a@b", "example.org"},
      {"<user%other@example.org>", "user%other@example.org", "user%other", "example.org"},
      {"<u@[127.0.0.1]>", "u@[127.0.0.1]", "u", "[127.0.0.1]"},
      {"<u@[IPv6:::1]>", "u@[IPv6:::1]", "u", "[IPv6:::1]"},
      {"<u@[IPv6:2001:db8::1]>", "u@[IPv6:2001:db8::1]", "u", "[IPv6:2001:db8::1]"},
      {"<δοκιμή@παράδειγμα.δοκιμή>", "δοκιμή@παράδειγμα.δοκιμή", "δοκιμή", "παράδειγμα.δοκιμή"},
      {"<@a.example,@b.example:user@c.example>", "user@c.example", "user", "c.example"},
  };
  for (const auto& c : cases) {
    auto p = parse_path(c.input);
    ASSERT_TRUE(p.path) << c.input << ": " << p.error;
    EXPECT_EQ(p.path->str(), c.canonical) << c.input;
    EXPECT_EQ(p.path->mailbox.local_part, c.local_part) << c.input;
    EXPECT_EQ(p.path->mailbox.domain, c.domain) << c.input;
    EXPECT_EQ(p.consumed, c.input.size()) << c.input;
  }
}

TEST(Address, NullPostmasterAndRoutes) {
  auto null = parse_path("<>");
  ASSERT_TRUE(null.path);
  EXPECT_TRUE(null.path->null);
  EXPECT_EQ(null.path->str(), "");
  auto pm = parse_path("<PostMaster>");
  ASSERT_TRUE(pm.path);
  EXPECT_TRUE(pm.path->postmaster);
  auto routed = parse_path("<@a.example,@b.example:user@c.example> SIZE=10");
  ASSERT_TRUE(routed.path);
  EXPECT_EQ(routed.path->source_route, (std::vector<std::string>{"a.example", "b.example"}));
  EXPECT_EQ(routed.consumed, std::string("<@a.example,@b.example:user@c.example>").size());
  EXPECT_TRUE(parse_path("<δ@example.org>").path->mailbox.utf8());
  EXPECT_FALSE(parse_path("<d@example.org>").path->mailbox.utf8());
}

TEST(Address, InvalidPaths) {
  std::vector<std::string> bad = {
      "",
      "alice@example.org",          // no brackets
      "<alice@example.org",         // unterminated
      "<alice>",                    // no domain
      "<@example.org>",             // empty local part
      "<alice@>",
      "<a..b@example.org>",
      "<.a@example.org>",
      "<a.@example.org>",
      "<a b@example.org>",
      "<a@b@example.org>",
      "<\"unterminated@example.org>",
      "<\"bad\x01\"@example.org>",
      "<a@-example.org>",
      "<a@example-.org>",
      "<a@exa_mple.org>",
      "<a@example..org>",
      "<a@[1.2.3.256]>",
      "<a@[IPv6:1:2:3]>",
      "<a@[IPv6:1::2::3]>",
      "<a@[300.1.1.1]>",
      "<a@[]>",
      "<@a.example:>",
      "<@a.example user@c.example>",
      "<@bad_host:user@c.example>",
      "<" + std::string(65, 'a') + "@example.org>",         // local part > 64
      "<a@" + std::string(250, 'b') + ".org>",              // path > 256
      "<\xff\xfe@example.org>",                             // not UTF-8
      "<\xc0\xaf@example.org>",                             // overlong
  };
  for (const auto& b : bad) {
    auto p = parse_path(b);
    EXPECT_FALSE(p.path) << "accepted: " << b;
    if (!p.path) {
      EXPECT_FALSE(p.error.empty()) << b;
    }
  }
}

TEST(Address, Xtext) {
  EXPECT_EQ(decode_xtext("alice@example.org"), "alice@example.org");
  EXPECT_EQ(decode_xtext("a+2Bb+3Dc"), "a+b=c");
  EXPECT_EQ(decode_xtext("<>"), "<>");
  EXPECT_FALSE(decode_xtext("a+2"));
  EXPECT_FALSE(decode_xtext("a+zz"));
  EXPECT_FALSE(decode_xtext("a+2b"));  // lower-case hex is not xtext
  EXPECT_FALSE(decode_xtext("a=b"));
  EXPECT_FALSE(decode_xtext("a b"));
}

}  // namespace
}  // namespace postern::smtp
