// SPF's check_host() (RFC 7208 §4) over a DnsSource: the record lookup,
// the mechanisms in order, include and redirect, the limit of 10 terms
// that query DNS (§4.6.4) and of 2 void lookups, the macros (spf_record),
// and the explanation of a fail (exp=, §6.2).
//
// Written here rather than taken from libspf2: libspf2 resolves with its
// own blocking resolver (which would stall an I/O thread, or need a thread
// per check), and it is barely maintained. This one runs every lookup
// through the server's c-ares resolver, so a check waits without blocking
// and a DNS server that does not answer ends in temperror.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>
#include <string>
#include <string_view>

#include "inbound/dns_source.hpp"

namespace postern::inbound::spf {

enum class Result { none, neutral, pass, fail, softfail, temperror, permerror };

std::string_view to_string(Result result);

struct Query {
  asio::ip::address ip;  // the client
  std::string sender;    // the MAIL FROM address, or "postmaster@" + HELO for the HELO identity
  std::string domain;    // the sender's domain (or the HELO name)
  std::string helo;
  std::string receiver;  // our host name (%{r})
  long long timestamp = 0;
};

struct Outcome {
  Result result = Result::none;
  std::string explanation;  // a fail's exp= text (§6.2), or "" when there is none
  std::string problem;      // why permerror or temperror, for the log
  unsigned lookups = 0;     // DNS-querying terms evaluated
};

asio::awaitable<Outcome> check_host(DnsSource& dns, Query query);

}  // namespace postern::inbound::spf
