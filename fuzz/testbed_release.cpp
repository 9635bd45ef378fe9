// Fuzz target: a release body (POST /api/messages/{id}/release, and
// Mailpit's form when the first byte is odd). It is taken or refused with
// std::invalid_argument, nothing else; what is taken names at least one
// recipient, each a mail address, and a server that parses.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

#include "queue/route.hpp"
#include "testbed/release_api.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    const auto r = postern::testbed::release_request_from_json(in, data[0] & 1);
    postern::testbed::check_release_request(r);
    if (r.to.empty() || r.to.size() > postern::testbed::Releases::max_recipients) __builtin_trap();
    for (const auto& a : r.to)
      if (a.find('@') == std::string::npos) __builtin_trap();
    if (!r.server.empty() && !postern::queue::parse_host_port(r.server)) __builtin_trap();
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
