// The DNS the inbound checks read, behind an interface: the server's
// c-ares resolver in production (resolver_source.hpp), a table in the
// tests (the RFC 7208 suite's zone data). Every lookup is a coroutine, so
// none blocks the I/O thread, and each ends: the resolver's timeout turns
// a server that does not answer into `error`.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>
#include <string>
#include <vector>

namespace postern::inbound {

struct DnsAnswer {
  enum class Status {
    found,  // records below
    none,   // NXDOMAIN or no records of the type (a "void lookup", RFC 7208 §4.6.4)
    error,  // SERVFAIL, timeout, refused: a temporary error
  };
  Status status = Status::none;
  std::vector<std::string> records;
};

class DnsSource {
 public:
  virtual ~DnsSource() = default;
  // TXT records, each record's strings joined.
  virtual asio::awaitable<DnsAnswer> txt(std::string name) = 0;
  // A (ipv6 = false) or AAAA records as address text.
  virtual asio::awaitable<DnsAnswer> addresses(std::string name, bool ipv6) = 0;
  // MX host names (lower case, no final dot), by preference.
  virtual asio::awaitable<DnsAnswer> mx(std::string name) = 0;
  // PTR names of `address` (lower case, no final dot).
  virtual asio::awaitable<DnsAnswer> ptr(asio::ip::address address) = 0;
};

}  // namespace postern::inbound
