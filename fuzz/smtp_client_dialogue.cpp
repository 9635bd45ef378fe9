// Fuzz the client's dialogue with whatever a server might send: arbitrary
// octets, cut into arbitrary pieces, while the client opens (with or
// without STARTTLS), authenticates, sends a message, resets and quits.
// The first octets choose the limits, the TLS wish and the piece size.
// Invariants: never a crash; every command the client writes is one line
// (CRLF at the end, no other CR or LF, at most 512 octets); only the
// message goes out as a body; each operation ends (done, failed with a
// reason, or waiting for input that never comes) within a bounded number
// of steps; a failure carries a message.
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
  // A pipelined group: several lines, each a command.
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  ClientDialogue::Limits limits;
  limits.max_reply_line_octets = 16 + data[0] * 4;
  limits.max_reply_lines = 1 + data[1] % 32;
  limits.max_auth_rounds = 1 + data[1] / 32;
  const auto tls = static_cast<ClientDialogue::TlsWant>(data[2] % 3);
  const std::size_t piece = 1 + data[2] / 3;
  std::string_view input(reinterpret_cast<const char*>(data) + 3, size - 3);

  ClientDialogue c(limits);
  for (int op = 0; op < 5; ++op) {
    switch (op) {
      case 0:
        c.open("client.example", tls);
        break;
      case 1:
        c.authenticate("PLAIN", SaslAnswer{std::string("\0u\0p", 4), true, ""});
        break;
      case 2: {
        Outbound m;
        m.reverse_path = "a@example.org";
        m.recipients = {"b@example.org", "c@example.org"};
        m.data = body;
        m.message_octets = body.size();
        m.smtputf8 = input.size() % 2 == 1;
        c.send(m);
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
      } else if (e.kind == Kind::start_tls) {
        c.tls_started();
      } else if (e.kind == Kind::challenge) {
        if (e.text.size() % 2)
          c.cancel("odd challenge");
        else
          c.answer(SaslAnswer{"answer"});
      } else if (e.kind == Kind::failed) {
        if (c.failure().message.empty()) std::abort();
        break;
      } else if (e.kind == Kind::done || e.kind == Kind::idle) {
        break;
      }
    }
  }
  return 0;
}
