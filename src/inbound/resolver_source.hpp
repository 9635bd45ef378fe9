// DnsSource over the server's c-ares resolver (dns/resolver.hpp), with a
// time limit for all the lookups of one check together: past `deadline`
// every lookup fails at once (a temporary error), so a check ends at most
// one lookup timeout after it, however many lookups its records ask for
// (RFC 7208 §4.6.4 suggests 20 seconds for SPF).
#pragma once

#include <chrono>

#include "dns/resolver.hpp"
#include "inbound/dns_source.hpp"

namespace postern::inbound {

class ResolverSource final : public DnsSource {
 public:
  ResolverSource(dns::Resolver& resolver, std::chrono::steady_clock::time_point deadline)
      : resolver_(resolver), deadline_(deadline) {}
  asio::awaitable<DnsAnswer> txt(std::string name) override;
  asio::awaitable<DnsAnswer> addresses(std::string name, bool ipv6) override;
  asio::awaitable<DnsAnswer> mx(std::string name) override;
  asio::awaitable<DnsAnswer> ptr(asio::ip::address address) override;

 private:
  bool expired() const { return std::chrono::steady_clock::now() >= deadline_; }
  dns::Resolver& resolver_;
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace postern::inbound
