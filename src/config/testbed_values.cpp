// Values of the testbed's rule keys `rate` and `throttle` (SPEC §10), shared
// by the TOML loader and POST /api/rules.
#include <cctype>
#include <charconv>
#include <stdexcept>
#include <string>

#include "config/config.hpp"

namespace postern::config {

namespace {

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text.substr(0, 60)) out += c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c);
  return out + (text.size() > 60 ? "...\"" : "\"");
}

}  // namespace

std::pair<unsigned, Duration> parse_rate(std::string_view text) {
  static constexpr const char* expected =
      "expected \"N/DURATION\": more than N commands within DURATION, such as \"5/1m\" or \"100/10s\"";
  const auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0) throw std::invalid_argument("rate " + quoted(text) + ": " + expected);
  const auto digits = text.substr(0, slash);
  unsigned long long n = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc{} || p != digits.data() + digits.size())
    throw std::invalid_argument("rate " + quoted(text) + ": " + expected);
  if (n > 1000000) throw std::invalid_argument("rate " + quoted(text) + ": N is at most 1000000");
  std::string window(text.substr(slash + 1));
  // "5/m" reads as "5/1m".
  if (!window.empty() && std::isalpha(static_cast<unsigned char>(window.front()))) window.insert(0, "1");
  Duration d{0};
  try {
    d = parse_duration(window);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("rate " + quoted(text) + ": " + expected + " (" + e.what() + ")");
  }
  if (d < std::chrono::seconds(1) || d > std::chrono::hours(24))
    throw std::invalid_argument("rate " + quoted(text) + ": DURATION from 1s to 1d");
  return {static_cast<unsigned>(n), d};
}

std::string format_rate(unsigned count, Duration window) {
  return window.count() == 0 ? "" : std::to_string(count) + "/" + format_duration(window);
}

std::uint64_t parse_throttle(std::string_view text) {
  static constexpr const char* expected = "expected \"BYTES/s\" (octets a second, K = 1024), such as \"1000/s\" or \"10K/s\"";
  if (text.size() < 3 || text.substr(text.size() - 2) != "/s")
    throw std::invalid_argument("throttle " + quoted(text) + ": " + expected);
  std::uint64_t n = 0;
  try {
    n = parse_size(text.substr(0, text.size() - 2));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("throttle " + quoted(text) + ": " + expected);
  }
  if (n < 1 || n > (1ull << 30)) throw std::invalid_argument("throttle " + quoted(text) + ": from 1/s to 1G/s");
  return n;
}

std::string format_throttle(std::uint64_t octets_per_second) {
  return octets_per_second == 0 ? "" : std::to_string(octets_per_second) + "/s";
}

}  // namespace postern::config
