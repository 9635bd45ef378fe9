// Fuzz the DATA decoder, fed in pieces: it must end only after a CRLF "."
// CRLF, never store past its cap, and decode the same whatever the cuts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "smtp/data_decoder.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t piece = 1 + data[0] % 13;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  postern::smtp::DataDecoder whole(256), cut(256);
  std::size_t used_whole = whole.feed(input);
  std::size_t used_cut = 0;
  for (std::size_t i = 0; i < input.size() && !cut.done(); i += piece) used_cut += cut.feed(input.substr(i, piece));
  if (whole.done() != cut.done() || used_whole != used_cut || whole.message() != cut.message() ||
      whole.bare_cr_or_lf() != cut.bare_cr_or_lf() || whole.nul() != cut.nul())
    std::abort();
  if (whole.message().size() > 256) std::abort();
  if (whole.done()) {
    // The terminator is exactly what precedes the end: "\r\n.\r\n", or ".\r\n" at the very start.
    std::string_view used = input.substr(0, used_whole);
    bool at_start = used == ".\r\n";
    if (!at_start && (used.size() < 5 || used.substr(used.size() - 5) != "\r\n.\r\n")) std::abort();
  }
  return 0;
}
