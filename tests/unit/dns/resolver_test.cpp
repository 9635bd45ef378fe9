#include "dns/resolver.hpp"

#include <gtest/gtest.h>

#include <set>

#include "dnsmasq.hpp"

namespace postern::dns {
namespace {

using testing_dns = postern::testing::Dnsmasq;

std::vector<std::string> records() {
  return {
      "--mx-host=pref.test,mx2.pref.test,20",
      "--mx-host=pref.test,mx1.pref.test,10",
      "--mx-host=pref.test,mx3.pref.test,30",
      "--host-record=mx1.pref.test,127.0.0.2",
      "--host-record=mx2.pref.test,127.0.0.3,::1",
      // mx3 has no address at all
      "--host-record=nomx.test,127.0.0.4",
      "--dns-rr=null.test,15,000000",  // MX 0 "."
      "--mx-host=dangling.test,nowhere.dangling.test,10",
      "--mx-host=equal.test,a.equal.test,10",
      "--mx-host=equal.test,b.equal.test,10",
      "--host-record=a.equal.test,127.0.0.5",
      "--host-record=b.equal.test,127.0.0.6",
      "--mx-host=mixed.test,mx.mixed.test,10",
      "--dns-rr=mixed.test,15,000000",
      "--host-record=mx.mixed.test,127.0.0.7",
  };
}

template <class T>
T run(asio::io_context& io, asio::awaitable<T> op) {
  std::optional<T> result;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(op), [&](std::exception_ptr e, T value) {
    error = e;
    if (!e) result = std::move(value);
  });
  io.restart();
  io.run_for(std::chrono::seconds(20));
  if (error) std::rethrow_exception(error);
  if (!result) throw std::runtime_error("lookup did not finish");
  return std::move(*result);
}

class ResolverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dns_ = new testing_dns(records()); }
  static void TearDownTestSuite() {
    delete dns_;
    dns_ = nullptr;
  }
  static testing_dns* dns_;
  asio::io_context io_;
};
testing_dns* ResolverTest::dns_ = nullptr;

TEST_F(ResolverTest, MxByPreferenceWithAddresses) {
  Resolver r(io_.get_executor(), {dns_->server()});
  auto d = run(io_, r.resolve_mail_domain("PREF.test"));
  ASSERT_EQ(d.outcome, Outcome::ok) << d.error;
  EXPECT_FALSE(d.implicit_mx);
  ASSERT_EQ(d.targets.size(), 2u);  // mx3 has no address and is skipped
  EXPECT_EQ(d.targets[0].host, "mx1.pref.test");
  EXPECT_EQ(d.targets[0].preference, 10);
  ASSERT_EQ(d.targets[0].addresses.size(), 1u);
  EXPECT_EQ(d.targets[0].addresses[0].to_string(), "127.0.0.2");
  EXPECT_EQ(d.targets[1].host, "mx2.pref.test");
  ASSERT_EQ(d.targets[1].addresses.size(), 2u);
  EXPECT_EQ(d.targets[1].addresses[0].to_string(), "127.0.0.3");  // IPv4 first
  EXPECT_EQ(d.targets[1].addresses[1].to_string(), "::1");
}

TEST_F(ResolverTest, NoMxFallsBackToAddress) {
  Resolver r(io_.get_executor(), {dns_->server()});
  auto d = run(io_, r.resolve_mail_domain("nomx.test"));
  ASSERT_EQ(d.outcome, Outcome::ok) << d.error;
  EXPECT_TRUE(d.implicit_mx);
  ASSERT_EQ(d.targets.size(), 1u);
  EXPECT_EQ(d.targets[0].host, "nomx.test");
  EXPECT_EQ(d.targets[0].addresses.at(0).to_string(), "127.0.0.4");
}

TEST_F(ResolverTest, NullMxIsPermanent) {
  Resolver r(io_.get_executor(), {dns_->server()});
  auto d = run(io_, r.resolve_mail_domain("null.test"));
  EXPECT_EQ(d.outcome, Outcome::permanent);
  EXPECT_EQ(d.enhanced, "5.1.10");
  EXPECT_NE(d.error.find("null MX"), std::string::npos) << d.error;
}

TEST_F(ResolverTest, NullMxBesideRealMxIsIgnored) {
  Resolver r(io_.get_executor(), {dns_->server()});
  auto d = run(io_, r.resolve_mail_domain("mixed.test"));
  ASSERT_EQ(d.outcome, Outcome::ok) << d.error;
  ASSERT_EQ(d.targets.size(), 1u);
  EXPECT_EQ(d.targets[0].host, "mx.mixed.test");
}

TEST_F(ResolverTest, NxdomainIsPermanent) {
  Resolver r(io_.get_executor(), {dns_->server()});
  auto d = run(io_, r.resolve_mail_domain("nosuch.test"));
  EXPECT_EQ(d.outcome, Outcome::permanent);
  EXPECT_EQ(d.enhanced, "5.1.2");
  EXPECT_NE(d.error.find("NXDOMAIN"), std::string::npos) << d.error;
}

TEST_F(ResolverTest, LocalhostIsTheLoopbackWithoutAQuery) {
  // A server that answers nothing: a query would time out.
  Resolver r(io_.get_executor(), {"127.0.0.1:9"}, std::chrono::milliseconds(200), 1);
  for (const char* name : {"localhost", "LocalHost.", "mail.localhost"}) {
    auto a = run(io_, r.resolve_host(name));
    EXPECT_EQ(a.outcome, Outcome::ok) << name;
    ASSERT_EQ(a.addresses.size(), 2u) << name;
    EXPECT_TRUE(a.addresses[0].is_loopback());
    EXPECT_TRUE(a.addresses[1].is_loopback());
  }
  EXPECT_NE(run(io_, r.resolve_host("notlocalhost")).outcome, Outcome::ok);
}

TEST_F(ResolverTest, MxWithoutAddressIsPermanent) {
  Resolver r(io_.get_executor(), {dns_->server()});
  auto d = run(io_, r.resolve_mail_domain("dangling.test"));
  EXPECT_EQ(d.outcome, Outcome::permanent);
  EXPECT_EQ(d.enhanced, "5.4.4");
}

TEST_F(ResolverTest, RefusedIsTemporary) {
  // dnsmasq refuses names outside its local zone when it has no upstream.
  Resolver r(io_.get_executor(), {dns_->server()});
  auto d = run(io_, r.resolve_mail_domain("example.invalid"));
  EXPECT_EQ(d.outcome, Outcome::temporary) << d.error;
  EXPECT_EQ(d.enhanced, "4.4.3");
}

TEST_F(ResolverTest, UnreachableServerIsTemporary) {
  int port = testing_dns::free_udp_port();
  Resolver r(io_.get_executor(), {"127.0.0.1:" + std::to_string(port)}, std::chrono::milliseconds(300), 1);
  auto start = std::chrono::steady_clock::now();
  auto d = run(io_, r.resolve_mail_domain("pref.test"));
  EXPECT_EQ(d.outcome, Outcome::temporary) << d.error;
  EXPECT_EQ(d.enhanced, "4.4.3");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(ResolverTest, SilentServerTimesOutAsTemporary) {
  // A bound UDP socket that never answers: c-ares gives up after its tries.
  int s = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  Resolver r(io_.get_executor(), {"127.0.0.1:" + std::to_string(ntohs(a.sin_port))}, std::chrono::milliseconds(200), 2);
  auto d = run(io_, r.resolve_mail_domain("pref.test"));
  ::close(s);
  EXPECT_EQ(d.outcome, Outcome::temporary) << d.error;
  EXPECT_NE(d.error.find("timed out"), std::string::npos) << d.error;
}

TEST_F(ResolverTest, EqualPreferencesAreShuffled) {
  Resolver r(io_.get_executor(), {dns_->server()});
  std::set<std::string> firsts;
  for (int i = 0; i < 40 && firsts.size() < 2; ++i) {
    auto d = run(io_, r.resolve_mail_domain("equal.test"));
    ASSERT_EQ(d.outcome, Outcome::ok) << d.error;
    ASSERT_EQ(d.targets.size(), 2u);
    firsts.insert(d.targets[0].host);
  }
  EXPECT_EQ(firsts.size(), 2u);
}

TEST_F(ResolverTest, DomainLiteral) {
  Resolver r(io_.get_executor(), {dns_->server()});
  auto d = run(io_, r.resolve_mail_domain("[127.0.0.9]"));
  ASSERT_EQ(d.outcome, Outcome::ok);
  EXPECT_EQ(d.targets.at(0).addresses.at(0).to_string(), "127.0.0.9");
  d = run(io_, r.resolve_mail_domain("[IPv6:::1]"));
  ASSERT_EQ(d.outcome, Outcome::ok);
  EXPECT_EQ(d.targets.at(0).addresses.at(0).to_string(), "::1");
  d = run(io_, r.resolve_mail_domain("[not-an-ip]"));
  EXPECT_EQ(d.outcome, Outcome::permanent);
}

TEST_F(ResolverTest, ConcurrentLookups) {
  Resolver r(io_.get_executor(), {dns_->server()});
  int done = 0;
  for (int i = 0; i < 20; ++i) {
    asio::co_spawn(io_, r.resolve_mail_domain(i % 2 ? "pref.test" : "nomx.test"),
                   [&](std::exception_ptr e, Destination d) {
                     ASSERT_FALSE(e);
                     EXPECT_EQ(d.outcome, Outcome::ok) << d.error;
                     ++done;
                   });
  }
  io_.run_for(std::chrono::seconds(20));
  EXPECT_EQ(done, 20);
}

TEST_F(ResolverTest, DestroyWhileLookupPending) {
  int port = testing_dns::free_udp_port();
  bool finished = false;
  {
    auto r = std::make_unique<Resolver>(io_.get_executor(), std::vector<std::string>{"127.0.0.1:" + std::to_string(port)},
                                        std::chrono::milliseconds(5000), 3);
    asio::co_spawn(io_, r->resolve_mail_domain("pref.test"), [&](std::exception_ptr e, Destination d) {
      EXPECT_FALSE(e);
      EXPECT_EQ(d.outcome, Outcome::temporary);
      finished = true;
    });
    io_.poll();
  }
  io_.run_for(std::chrono::seconds(5));
  EXPECT_TRUE(finished);
}

TEST(ResolverConfig, BadServerIsRejected) {
  asio::io_context io;
  EXPECT_THROW(Resolver(io.get_executor(), {"not an address"}), std::invalid_argument);
  EXPECT_THROW(Resolver(io.get_executor(), {"127.0.0.1,127.0.0.2"}), std::invalid_argument);
  EXPECT_NO_THROW(Resolver(io.get_executor(), {"127.0.0.1:5353", "[::1]:53"}));
}

TEST(OrderMx, SortsByPreferenceKeepingAll) {
  std::vector<Resolver::MxRecord> in{{30, "c"}, {10, "a1"}, {20, "b"}, {10, "a2"}};
  auto out = order_mx(in, 7);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].preference, 10);
  EXPECT_EQ(out[1].preference, 10);
  EXPECT_EQ(out[2].host, "b");
  EXPECT_EQ(out[3].host, "c");
}

}  // namespace
}  // namespace postern::dns
