#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <vector>

#include "mta_sts/fetch.hpp"

using namespace postern::mta_sts;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A policy host that hangs: takes every connection and says nothing.
struct HungHost {
  explicit HungHost(asio::io_context& io) : acceptor(io, {asio::ip::make_address("127.0.0.1"), 0}) { accept(); }
  void accept() {
    acceptor.async_accept([this](asio::error_code ec, asio::ip::tcp::socket s) {
      if (ec) return;
      held.push_back(std::move(s));
      accept();
    });
  }
  std::uint16_t port() const { return acceptor.local_endpoint().port(); }
  asio::ip::tcp::acceptor acceptor;
  std::vector<asio::ip::tcp::socket> held;
};

}  // namespace

TEST(MtaStsFetcher, HungHostsTimeOutTogetherNotOneAfterAnother) {
  asio::io_context io;
  HungHost host(io);
  Fetcher fetcher(io.get_executor());
  std::vector<FetchResult> results;
  std::size_t held_at_first_result = 0;
  const auto start = Clock::now();
  for (std::string domain : {"a.test", "b.test", "c.test", "d.test"})
    asio::co_spawn(io, [&, domain]() -> asio::awaitable<void> {
      std::vector<std::string> loopback{"127.0.0.1"};  // named: GCC 12 mishandles a braced list in co_await
      auto result = co_await fetcher.fetch(domain, loopback, host.port(), 2s);
      if (results.empty()) held_at_first_result = host.held.size();
      results.push_back(std::move(result));
    }, asio::detached);
  while (results.size() < 4 && Clock::now() - start < 30s) io.run_one_for(100ms);
  ASSERT_EQ(results.size(), 4u);
  // One after another, the second host connection would come only after the first fetch ended.
  EXPECT_EQ(held_at_first_result, 4u);
  for (const auto& r : results) {
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("/.well-known/mta-sts.txt: timed out after 2 s"), std::string::npos) << r.error;
  }
}

TEST(MtaStsFetcher, StopEndsAFetchInProgressAndRefusesNewOnes) {
  asio::io_context io;
  HungHost host(io);
  Fetcher fetcher(io.get_executor());
  std::vector<FetchResult> results;
  auto fetch = [&]() -> asio::awaitable<void> {
    std::vector<std::string> loopback{"127.0.0.1"};
    results.push_back(co_await fetcher.fetch("a.test", loopback, host.port(), 60s));
  };
  asio::co_spawn(io, fetch, asio::detached);
  const auto start = Clock::now();
  while (host.held.empty() && Clock::now() - start < 10s) io.run_one_for(100ms);
  ASSERT_EQ(host.held.size(), 1u);
  fetcher.stop();
  while (results.empty() && Clock::now() - start < 10s) io.run_one_for(100ms);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_LT(Clock::now() - start, 5s);
  EXPECT_NE(results[0].error.find("shutting down"), std::string::npos) << results[0].error;
  asio::co_spawn(io, fetch, asio::detached);
  while (results.size() < 2 && Clock::now() - start < 10s) io.run_one_for(100ms);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_FALSE(results[1].ok);
}
