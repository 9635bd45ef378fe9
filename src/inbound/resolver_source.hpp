// DnsSource over the server's c-ares resolver (dns/resolver.hpp).
#pragma once

#include "dns/resolver.hpp"
#include "inbound/dns_source.hpp"

namespace postern::inbound {

class ResolverSource final : public DnsSource {
 public:
  explicit ResolverSource(dns::Resolver& resolver) : resolver_(resolver) {}
  asio::awaitable<DnsAnswer> txt(std::string name) override;
  asio::awaitable<DnsAnswer> addresses(std::string name, bool ipv6) override;
  asio::awaitable<DnsAnswer> mx(std::string name) override;
  asio::awaitable<DnsAnswer> ptr(asio::ip::address address) override;

 private:
  dns::Resolver& resolver_;
};

}  // namespace postern::inbound
