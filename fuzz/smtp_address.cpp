// Fuzz the RFC 5321 path parser: a parsed mailbox must print to a
// canonical form that parses back to the same local part and domain.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "smtp/address.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto p = postern::smtp::parse_path(text);
  if (!p.path) return 0;
  if (p.consumed > text.size()) std::abort();
  const auto& path = *p.path;
  if (path.null || path.postmaster) return 0;
  std::string again = "<" + path.mailbox.str() + ">";
  auto q = postern::smtp::parse_path(again);
  // Round trip: canonical text parses to the same mailbox (it may be too
  // long once quoted, which parse_path reports as an error).
  if (q.path && (q.path->mailbox.local_part != path.mailbox.local_part || q.path->mailbox.domain != path.mailbox.domain))
    std::abort();
  (void)postern::smtp::decode_xtext(text);
  return 0;
}
