// DMARC records from DNS (RFC 7489) and the organizational domain of any
// name: never a crash; pct stays within 0..100.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>

#include "inbound/dmarc.hpp"
#include "inbound/auth_results.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postern::inbound;
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto r = dmarc::parse_record(text);
  if (auto* rec = std::get_if<dmarc::Record>(&r); rec && rec->pct > 100) std::abort();
  (void)dmarc::organizational_domain(text);
  (void)dmarc::aligned(text, "example.com", false);
  (void)authserv_id(text);
  return 0;
}
