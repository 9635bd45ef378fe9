// A message from a client streamed through the inbound check in pieces of
// any size: never a crash, and what is stored does not depend on how the
// message was cut into pieces; nothing but forged fields is removed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "inbound/message_check.hpp"

namespace {

std::string stream(const std::string& message, std::size_t chunk, unsigned* removed) {
  using namespace postern::inbound;
  MessageCheck check({true, true, true, true, "mx.example.org"},
                     {asio::ip::make_address("192.0.2.1"), "client.example", "a@example.com"});
  std::string out;
  for (std::size_t i = 0; i < message.size(); i += chunk) out += check.feed(std::string_view(message).substr(i, chunk));
  out += check.flush();
  *removed = check.removed();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::size_t chunk = 1 + data[0] % 17;
  const std::string message(reinterpret_cast<const char*>(data) + 1, size - 1);
  unsigned removed_whole = 0, removed_pieces = 0;
  const std::string whole = stream(message, message.size() + 1, &removed_whole);
  const std::string pieces = stream(message, chunk, &removed_pieces);
  if (whole != pieces || removed_whole != removed_pieces) std::abort();
  if (whole.size() > message.size() || (removed_whole == 0 && whole != message)) std::abort();
  return 0;
}
