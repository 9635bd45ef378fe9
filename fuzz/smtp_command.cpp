// Fuzz the command parser: any line gives a Command or a Reply, never a
// crash; replies are well-formed SMTP with an enhanced code of their class.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "smtp/command.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  auto parsed = postern::smtp::parse_command(line);
  if (auto* r = std::get_if<postern::smtp::Reply>(&parsed)) {
    if (r->code < 400 || r->code > 599) std::abort();
    if (r->enhanced.empty() || r->enhanced[0] - '0' != r->code / 100) std::abort();
    auto wire = r->wire();
    if (wire.size() < 6 || wire.substr(wire.size() - 2) != "\r\n") std::abort();
  } else {
    auto& c = std::get<postern::smtp::Command>(parsed);
    (void)c.path.str();
  }
  return 0;
}
