// Fuzz the reader of Dovecot's auth-master replies (USER lookups at RCPT,
// dovecot/userdb_protocol.hpp) with whatever the auth-userdb socket might
// send, cut into pieces whose size the first octet chooses.
// Invariants: never a crash or a hang; nothing after a ProtocolError; a
// found user is shorter than one line's limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "dovecot/userdb_protocol.hpp"

using namespace postern::dovecot;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t piece = 1 + data[0];
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  UserdbReader reader;
  bool broken = false;
  while (!input.empty()) {
    auto n = std::min(piece, input.size());
    reader.feed(input.substr(0, n));
    input.remove_prefix(n);
    for (int guard = 0;; ++guard) {
      if (guard > 100000) std::abort();
      auto e = reader.next();
      if (!e) break;
      if (broken) std::abort();
      if (std::holds_alternative<ProtocolError>(*e)) {
        broken = true;
        if (!reader.failed()) std::abort();
      }
      if (auto* f = std::get_if<UserFound>(&*e); f && f->user.size() >= kMaxLineOctets)
        std::abort();  // it came from one bounded line
    }
  }
  (void)userdb_request(7, std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
