#include <gtest/gtest.h>

#include "server/connection_limits.hpp"

namespace postern::server {
namespace {

// Per-client limits (connections per IP, AUTH lockout) count one IPv6 /64
// as one client, as greylisting does: a host that holds a /64 cannot walk
// around them by changing its low bits.
TEST(ClientKey, OneIpv6NetworkIsOneClient) {
  EXPECT_EQ(client_key("2001:db8:1:2::1", 64), client_key("2001:db8:1:2:ffff::9", 64));
  EXPECT_NE(client_key("2001:db8:1:2::1", 64), client_key("2001:db8:1:3::1", 64));
  EXPECT_NE(client_key("192.0.2.1", 64), client_key("192.0.2.2", 64)) << "IPv4: the address itself";
  EXPECT_EQ(client_key("not an address", 64), "not an address");
}

TEST(ConnectionLimits, CountByKey) {
  ConnectionLimits limits(100, 2);
  auto a = limits.acquire(client_key("2001:db8::1", 64));
  auto b = limits.acquire(client_key("2001:db8::2", 64));
  EXPECT_TRUE(a && b);
  EXPECT_FALSE(limits.acquire(client_key("2001:db8::3", 64)));
  EXPECT_TRUE(limits.acquire(client_key("2001:db9::3", 64)));
}

}  // namespace
}  // namespace postern::server
