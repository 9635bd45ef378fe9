// Mail loop protection for outbound delivery (RFC 5321 §6.3): a message
// that has crossed too many hops is bounced instead of relayed, and no
// message is ever relayed to one of our own listeners (a route, a
// smarthost or an MX that points back at this server).
#pragma once

#include <asio/ip/address.hpp>
#include <cstdint>
#include <vector>

#include "config/config.hpp"

namespace postern::queue {

// More Received: fields than this (ours included) and the message loops.
constexpr unsigned max_hops = 50;

// True when address:port is where one of `listeners` accepts mail; a
// wildcard listener (0.0.0.0, ::) covers every address of this host.
bool is_own_listener(const std::vector<config::Listener>& listeners, const asio::ip::address& address,
                     std::uint16_t port);

}  // namespace postern::queue
