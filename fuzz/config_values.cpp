// Fuzzes the value parsers of the configuration file (durations, sizes, rates, throttles,
// addresses, endpoints, Redis URLs, allow entries): each either returns or
// throws std::invalid_argument. Parsed durations and sizes must format back
// to a form that parses to the same value.
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace postern::config;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto d = parse_duration(text);
    if (parse_duration(format_duration(d)) != d) std::abort();
  } catch (const std::invalid_argument&) {
  }
  try {
    auto s = parse_size(text);
    if (parse_size(format_size(s)) != s) std::abort();
  } catch (const std::invalid_argument&) {
  }
  try {
    auto [n, window] = parse_rate(text);
    if (parse_rate(format_rate(n, window)) != std::make_pair(n, window)) std::abort();
  } catch (const std::invalid_argument&) {
  }
  try {
    auto t = parse_throttle(text);
    if (parse_throttle(format_throttle(t)) != t) std::abort();
  } catch (const std::invalid_argument&) {
  }
  try { parse_listen_address(text); } catch (const std::invalid_argument&) {}
  try { parse_endpoint(text, 25); } catch (const std::invalid_argument&) {}
  try { parse_endpoint(text, 53, true); } catch (const std::invalid_argument&) {}
  try { parse_redis_url(text); } catch (const std::invalid_argument&) {}
  try {
    auto entry = parse_allow_entry(text);
    if (parse_allow_entry(entry) != entry) std::abort();  // canonical form is stable
  } catch (const std::invalid_argument&) {
  }
  (void)is_domain(text);
  return 0;
}
