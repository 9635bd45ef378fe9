// Forward-confirmed reverse DNS (FCrDNS): the PTR name of an address,
// only if that name resolves back to the same address. Uses the system
// resolver (getnameinfo/getaddrinfo), which blocks: callers ask only when
// an allow entry needs a name, and cache the answer.
#pragma once

#include <optional>
#include <string>

#include "policy/network.hpp"

namespace postern::policy {

// The confirmed name in lower case without a trailing dot, or nullopt.
std::optional<std::string> forward_confirmed_name(const Address& a);

}  // namespace postern::policy
