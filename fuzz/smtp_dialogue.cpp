// Fuzz whole server dialogues: arbitrary client bytes, cut into arbitrary
// pieces, against smtp::ServerDialogue answered by the scripted host of
// the dialogue scripts (tests/unit/smtp/scripted_host.hpp). Invariants:
// never a crash; every reply well-formed on the wire (3 digits, '-' on
// all lines but the last, printable text, CRLF); the state consistent
// (a transaction only after a greeting, recipients within the limit, no
// body outside a transaction); nothing read after the dialogue closed;
// the max_errors-th 5xx is the last reply.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "../tests/unit/smtp/scripted_host.hpp"
#include "smtp/dialogue.hpp"

using namespace postern::smtp;

namespace {

void check_wire(const Reply& reply) {
  if (reply.code < 200 || reply.code > 599) std::abort();
  const std::string wire = reply.wire();
  if (wire.size() < 6 || wire.substr(wire.size() - 2) != "\r\n") std::abort();
  std::string_view rest(wire);
  while (!rest.empty()) {
    auto end = rest.find("\r\n");
    if (end == std::string_view::npos || end < 3) std::abort();
    auto line = rest.substr(0, end);
    for (int i = 0; i < 3; ++i)
      if (line[i] < '0' || line[i] > '9') std::abort();
    rest.remove_prefix(end + 2);
    if (line.size() > 3) {
      if (line[3] != (rest.empty() ? ' ' : '-')) std::abort();
    } else if (!rest.empty()) {
      std::abort();  // "334" alone is fine only as the last line
    }
    for (char c : line.substr(3))
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) std::abort();
  }
}

void check_state(const ServerDialogue& d, const DialogueSettings& s) {
  const auto st = d.state();
  if (st.in_transaction && !st.greeted) std::abort();
  if (const auto* tx = d.transaction(); tx && tx->recipients.size() > s.max_recipients) std::abort();
  if (st.in_bdat && !st.in_transaction) std::abort();
  if (st.authenticated && d.session().auth_identity != "user") std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  DialogueSettings settings;
  settings.hostname = "mx.test";
  settings.max_message_size = 64 + data[0] * 16;
  settings.max_recipients = 1 + data[1] % 4;
  settings.max_errors = data[1] / 4 % 8;  // 0: no limit
  settings.starttls_offered = data[2] & 1;
  settings.report_lines = data[2] & 2;
  settings.forbid_unauth_pipelining = data[1] & 0x80;
  const std::size_t piece = 1 + data[2] / 4;
  std::string_view input(reinterpret_cast<const char*>(data) + 3, size - 3);

  SessionState session;
  ServerDialogue dialogue(settings, session);
  scripted::ScriptedHost host(dialogue);
  dialogue.greet();
  unsigned errors = 0;
  bool over = false;
  while (!input.empty() && !host.closed()) {
    auto n = std::min(piece, input.size());
    dialogue.receive(input.substr(0, n));
    input.remove_prefix(n);
    host.run();
    for (const auto& o : dialogue.replies()) {
      if (over) std::abort();  // nothing after the 421 of the max_errors-th error
      check_wire(o.reply);
      if (o.reply.code >= 500 || !o.replaced.empty()) ++errors;
      if (!o.replaced.empty()) {
        if (o.reply.code != 421 || errors != settings.max_errors) std::abort();
        over = true;
      }
    }
    dialogue.replies().clear();
    check_state(dialogue, settings);
  }
  if (host.closed() && dialogue.phase() != ServerDialogue::Phase::closed) std::abort();
  return 0;
}
