// Fuzz target for printable(), the one function every untrusted text goes
// through before a terminal, a log line or a DSN sees it. Whatever the
// input, the output holds no control octet (C0, DEL, C1), no malformed
// UTF-8 and, from printable_ascii(), nothing but printable ASCII; it is
// bounded by the limit; and printable text passes through unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "util/strings.hpp"

namespace {

void check_clean(const std::string& out, bool ascii) {
  for (std::size_t i = 0; i < out.size();) {
    unsigned char c = static_cast<unsigned char>(out[i]);
    if (c < 0x20 || c == 0x7f) std::abort();
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (ascii) std::abort();
    std::size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (n == 0 || i + n > out.size()) std::abort();
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(out[i + k]) & 0xC0) != 0x80) std::abort();
    // C1 controls (U+0080..U+009F) are C2 80..C2 9F.
    if (c == 0xC2 && static_cast<unsigned char>(out[i + 1]) < 0xA0) std::abort();
    i += n;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t limit = 1 + size % 97;
  auto out = postern::util::printable(in, limit);
  auto ascii = postern::util::printable_ascii(in, limit);
  check_clean(out, false);
  check_clean(ascii, true);
  // At most the limit plus one escaped octet (4) or sequence, plus "...".
  if (out.size() > limit + 4 + 3 || ascii.size() > limit + 4 + 3) std::abort();
  auto full = postern::util::printable(in, SIZE_MAX);
  if (postern::util::printable(full, SIZE_MAX) != full && full.find('\\') == std::string::npos) std::abort();
  bool plain = true;
  for (unsigned char c : in) plain = plain && c >= 0x20 && c < 0x7f && c != '\\';
  if (plain && full != in) std::abort();
  return 0;
}
