// Fuzz target: the spool's on-disk parsers (.msg records with the END
// trailer, .state files). A file read back after a crash or a disk error
// may hold anything; the parsers must reject it cleanly, never crash, and
// whatever they accept must survive an encode/decode round trip.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "store/spool.hpp"

using namespace postern::store;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto states = decode_state_file(in)) {
    // Numbers may be written non-canonically (leading zeros); what they
    // mean must survive a round trip.
    auto once = encode_state_file(*states);
    auto again = decode_state_file(once);
    if (!again || encode_state_file(*again) != once) __builtin_trap();
  }
  // The message file, read as load() reads it: head, size, tail.
  auto tail = in.substr(in.size() > 64 ? in.size() - 64 : 0);
  if (auto d = decode_message_file(in, in.size(), tail)) {
    if (d->message_offset + d->message_size > in.size()) __builtin_trap();
    // Re-encoding what was decoded must give a well-formed file again.
    auto again = encode_message_file(d->id, d->envelope, in.substr(d->message_offset, d->message_size));
    auto t2 = std::string_view(again).substr(again.size() > 64 ? again.size() - 64 : 0);
    if (!decode_message_file(again, again.size(), t2)) __builtin_trap();
  }
  return 0;
}
