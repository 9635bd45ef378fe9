// Fuzz target: the delivery journal's segment reader. A segment read back
// after a crash may end anywhere and hold anything; decoding must never
// crash, every record it accepts must lie inside the input, and encoding
// the accepted records again must decode to the same records.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "store/journal.hpp"

using postern::store::Journal;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto records = Journal::decode_records(in);
  std::string again;
  for (const auto& r : records) {
    if (r.payload.data() < in.data() || r.payload.data() + r.payload.size() > in.data() + in.size()) __builtin_trap();
    again += Journal::encode_record(r.type, r.payload);
  }
  auto back = Journal::decode_records(again);
  if (back.size() != records.size()) __builtin_trap();
  for (std::size_t i = 0; i < back.size(); ++i)
    if (back[i].type != records[i].type || back[i].payload != records[i].payload) __builtin_trap();
  return 0;
}
