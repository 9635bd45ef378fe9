// DNS block lists (RFC 5782): a client is listed when the list has an A
// record (127.0.0.2 and up) at its reversed address under the list's
// zone; the TXT record there says why. A lookup that fails is "not
// listed" (fail open, as Postfix does), and is logged by the caller.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>
#include <optional>
#include <string>
#include <vector>

#include "inbound/dns_source.hpp"

namespace postern::inbound {

// "4.3.2.1.list.example" for 1.2.3.4; IPv6 by nibbles (RFC 5782 §2.4).
std::string dnsbl_query_name(asio::ip::address client, std::string_view list);

struct Listing {
  std::string list;  // the zone that lists the client
  std::string text;  // its TXT record, "" when it has none
};

struct DnsblOutcome {
  std::optional<Listing> listing;
  std::vector<std::string> failed;  // lists whose lookup failed
};

// The first of `lists` that lists `client`.
asio::awaitable<DnsblOutcome> check_dnsbl(DnsSource& dns, asio::ip::address client, std::vector<std::string> lists);

}  // namespace postern::inbound
