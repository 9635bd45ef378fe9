// Fuzz the bounded line reader: arbitrary bytes cut into arbitrary pieces
// must never yield a line over the limit nor let the buffer grow unbounded.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "smtp/line_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t limit = 3 + data[0] % 64;  // small limits reach the skip state
  const std::size_t piece = 1 + data[1] % 17;
  std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
  postern::smtp::LineReader reader(limit);
  while (!input.empty()) {
    auto n = std::min(piece, input.size());
    reader.append(input.substr(0, n));
    input.remove_prefix(n);
    for (;;) {
      auto r = reader.next();
      if (r.status == postern::smtp::LineReader::Status::need_more) break;
      if (r.status == postern::smtp::LineReader::Status::line && r.line.size() + 2 > limit) std::abort();
    }
    if (reader.buffered().size() > limit + piece) std::abort();
  }
  return 0;
}
