// Fuzz what a filter sends: arbitrary bytes, cut into arbitrary pieces,
// through the packet reader under a small limit, every packet through the
// reply decoder and the negotiation decoder, and each header change applied
// to a header section. No input may crash, make a packet over the limit, or
// let the reader hold more than a packet and a piece.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "inbound/milter/header_edits.hpp"
#include "inbound/milter/protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace postern::milter;
  if (size < 2) return 0;
  const std::size_t limit = 8 + data[0] * 16;
  const std::size_t piece = 1 + data[1] % 31;
  std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
  PacketReader reader(limit);
  auto section = split_header_section("Received: from a\r\n\tby b\r\nSubject: x\r\nX-A: 1\r\n\r\nbody\r\n");
  while (!input.empty()) {
    auto n = std::min(piece, input.size());
    reader.feed(input.substr(0, n));
    input.remove_prefix(n);
    while (auto p = reader.next()) {
      if (p->data.size() + 1 > limit) std::abort();
      if (p->command == 'O') {
        (void)decode_optneg(p->data, action::all, step::offered);
        continue;
      }
      auto r = decode_response(*p);
      if (auto* ok = std::get_if<Response>(&r)) {
        if (ok->kind == Response::Kind::reply_code && (ok->reply.code < 400 || ok->reply.code > 599)) std::abort();
        if (ok->kind == Response::Kind::header && section.fields.size() < 64)
          apply_edit(section.fields, HeaderEdit{ok->header, (data[1] & 1) != 0});
      }
    }
    if (reader.buffered() > limit + 4 + piece) std::abort();
  }
  auto joined = join(section.fields, true);
  auto again = split_header_section(joined);
  if (again.consumed != joined.size()) std::abort();  // what we write reads back as a header section
  return 0;
}
