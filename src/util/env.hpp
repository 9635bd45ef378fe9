// Settings read from the environment (test hooks such as
// POSTERN_OUTGOING_SMTP_PORT).
#pragma once

#include <cstdint>

namespace postern::util {

// The TCP port the environment variable `name` holds, or `fallback` when
// it is unset, empty or not a port (1..65535).
std::uint16_t port_from_environment(const char* name, std::uint16_t fallback);

}  // namespace postern::util
