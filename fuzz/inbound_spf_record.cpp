// SPF records and macros from DNS (RFC 7208): parse and expand any text,
// never a crash; an expanded domain-spec never exceeds 253 octets.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>

#include "inbound/spf_record.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postern::inbound::spf;
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)parse_record(text);
  (void)parse_record("v=spf1 " + text);
  MacroContext ctx;
  ctx.sender = "strong-bad@email.example.com";
  ctx.domain = "email.example.com";
  ctx.ip = asio::ip::make_address("2001:db8::cb01");
  ctx.helo = "mx.example.org";
  if (auto out = expand(text, ctx); out && out->size() > 253 && out->find('.') != std::string::npos) std::abort();
  (void)expand(text, ctx, true);
  (void)valid_domain(text);
  return 0;
}
