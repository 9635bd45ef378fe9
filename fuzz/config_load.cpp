// Fuzzes the configuration loader with arbitrary TOML text: it must either
// return a Config whose effective TOML loads back to the same text, or
// throw config::Error; never crash, hang or throw anything else.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace postern::config;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto c = load_text(text, "fuzz.toml", "/fuzz");
    auto once = to_toml(c);
    auto again = to_toml(load_text(once, "fuzz.toml", "/fuzz"));
    if (once != again) std::abort();  // the effective config must mean itself
  } catch (const Error&) {
  }
  return 0;
}
