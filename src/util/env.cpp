#include "util/env.hpp"

#include <charconv>
#include <cstdlib>
#include <string_view>

namespace postern::util {

std::uint16_t port_from_environment(const char* name, std::uint16_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  unsigned value = 0;
  const std::string_view s(v);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || p != s.data() + s.size() || value == 0 || value > 65535) return fallback;
  return static_cast<std::uint16_t>(value);
}

}  // namespace postern::util
