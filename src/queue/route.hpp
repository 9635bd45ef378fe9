// Where a recipient domain's mail goes (SPEC §4 [relay]): a static route
// wins, then the smarthost, else the domain's MX hosts (dns/). A route's
// key names the destination: recipients with the same key share
// connections, the concurrency limit and the backoff.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace postern::queue {

struct Route {
  enum class Kind { route, smarthost, mx };
  Kind kind = Kind::mx;
  std::string key;   // "route:host:port", "smarthost", "mx:domain"
  std::string host;  // route/smarthost: host name or address; mx: the domain
  std::uint16_t port = 25;
};

// "host:port", "[2001:db8::1]:587", "host" (port 25). nullopt if malformed.
std::optional<std::pair<std::string, std::uint16_t>> parse_host_port(std::string_view text,
                                                                     std::uint16_t default_port = 25);

// The route for `domain` (lower-cased). `mx_port` is the port for MX
// deliveries: 25, or POSTERN_OUTGOING_SMTP_PORT (tests).
Route route_for(const config::Relay& relay, std::string_view domain, std::uint16_t mx_port);

// 25, unless the environment variable POSTERN_OUTGOING_SMTP_PORT names
// another port (for tests, whose next hops cannot listen on 25).
std::uint16_t mx_port_from_environment();

// The domain part of an address, lower case ("" when there is none).
std::string domain_of(std::string_view address);

}  // namespace postern::queue
