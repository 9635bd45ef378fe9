// Fuzz the LMTP reply reader: the client's dialogue in LMTP mode
// (RFC 2033) fed whatever an LMTP server might send, cut into arbitrary
// pieces, while it opens (LHLO), verifies two recipients (MAIL, RCPT,
// RSET, as at our RCPT), delivers to four (one reply per accepted
// recipient after the dot), resets and quits. The first octets choose the
// limits, pipelining of the LHLO reply aside (the input decides that),
// and the piece size.
// Invariants: never a crash; every command is one line of at most 512
// octets, and only the message goes out as a body; each operation ends
// (done, failed with a reason, or waiting for input) within a bounded
// number of steps; after a delivery that is done, every recipient whose
// RCPT was accepted has its own reply after the dot, and none other has;
// a recipient is delivered only on a 2xx of its own.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "smtp/client_dialogue.hpp"

using namespace postern::smtp;

namespace {

const std::string body = "Subject: x\r\n\r\nhello\r\n.\r\n";

void check_write(std::string_view wire) {
  if (wire == body) return;
  if (wire.size() < 3 || wire.size() > 4096) std::abort();
  std::size_t start = 0;
  while (start < wire.size()) {
    auto end = wire.find("\r\n", start);
    if (end == std::string_view::npos) std::abort();
    auto line = wire.substr(start, end - start);
    if (line.size() + 2 > 512) std::abort();
    for (char c : line)
      if (c == '\r' || c == '\n') std::abort();
    start = end + 2;
  }
}

void check_delivery(const Delivery& d) {
  const bool data_taken = d.data && d.data->code == 354;
  for (std::size_t i = 0; i < d.rcpt.size(); ++i) {
    const bool accepted = d.rcpt[i] && d.rcpt[i]->positive();
    const bool has_own = i < d.per_recipient.size() && d.per_recipient[i].has_value();
    if (data_taken && accepted != has_own) std::abort();
    if (!accepted && has_own) std::abort();
    if (d.delivered(i)) {
      auto o = d.outcome(i);
      if (!o || o->code < 200 || o->code > 299 || !accepted) std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  ClientDialogue::Limits limits;
  limits.max_reply_line_octets = 16 + data[0] * 4;
  limits.max_reply_lines = 1 + data[1] % 32;
  const std::size_t piece = 1 + data[2];
  std::string_view input(reinterpret_cast<const char*>(data) + 3, size - 3);

  ClientDialogue c(limits);
  for (int op = 0; op < 5; ++op) {
    bool delivering = false;
    switch (op) {
      case 0:
        c.open_lmtp("mx.example", ClientDialogue::TlsWant::never);
        break;
      case 1: {
        Outbound m;
        m.recipients = {"nobody@example.org", "alice@example.org"};
        c.verify(m);
        break;
      }
      case 2: {
        Outbound m;
        m.reverse_path = "a@example.net";
        m.recipients = {"a@example.org", "b@example.org", "c@example.org", "d@example.org"};
        m.data = body;
        m.message_octets = body.size();
        c.send(m);
        delivering = true;
        break;
      }
      case 3:
        c.reset();
        break;
      case 4:
        c.quit();
        break;
    }
    for (int steps = 0;; ++steps) {
      if (steps > 100000) std::abort();
      auto e = c.next();
      using Kind = ClientEvent::Kind;
      if (e.kind == Kind::write) {
        check_write(e.wire);
      } else if (e.kind == Kind::need_input) {
        if (input.empty()) break;  // the host would time out here
        auto n = std::min(piece, input.size());
        c.receive(input.substr(0, n));
        input.remove_prefix(n);
      } else if (e.kind == Kind::start_tls || e.kind == Kind::challenge) {
        std::abort();  // never asked for
      } else if (e.kind == Kind::failed) {
        if (c.failure().message.empty()) std::abort();
        break;
      } else if (e.kind == Kind::done) {
        if (delivering) check_delivery(c.delivery());
        break;
      } else if (e.kind == Kind::idle) {
        break;
      }
    }
  }
  return 0;
}
