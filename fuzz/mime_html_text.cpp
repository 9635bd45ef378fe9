// Fuzz the HTML-to-text conversion (libxml2's HTML parser and our walk):
// any input gives trimmed text and never crashes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mime/html_text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view html(reinterpret_cast<const char*>(data), size);
  const auto text = postern::mime::html_to_text(html);
  // The text never ends in a line end or a space (finish() trims them).
  if (!text.empty() && (text.back() == '\n' || text.back() == ' ')) std::abort();
  return 0;
}
