// Fuzz whole POP3 dialogues: arbitrary client bytes, cut into arbitrary
// pieces, against pop3::Dialogue answered by the scripted host of the
// dialogue scripts (tests/unit/pop3/scripted_host.hpp). Invariants: never
// a crash; every reply well-formed on the wire ("+OK", "-ERR" or "+ " and
// one CRLF-ended line; a multi-line body of CRLF lines, byte-stuffed, that
// ends in a lone "."); TRANSACTION only as the scripted user; nothing read
// after the dialogue closed; the max_errors-th error is the last reply.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "../tests/unit/pop3/scripted_host.hpp"
#include "pop3/dialogue.hpp"

using namespace postern::pop3;

namespace {

void check_line(std::string_view line) {
  for (char c : line)
    if (c == '\r' || c == '\n') std::abort();
}

void check_wire(const Reply& reply) {
  const std::string first = reply.summary();
  check_line(first);
  if (!(first.rfind("+OK", 0) == 0 || first.rfind("-ERR", 0) == 0 || first.rfind("+ ", 0) == 0)) std::abort();
  if (!reply.body) return;
  std::string_view body(*reply.body);
  if (body.size() < 3 || body.substr(body.size() - 3) != ".\r\n") std::abort();
  body.remove_suffix(3);
  while (!body.empty()) {
    auto end = body.find("\r\n");
    if (end == std::string_view::npos) std::abort();
    auto line = body.substr(0, end);
    if (line.find('\n') != std::string_view::npos || line.find('\r') != std::string_view::npos) std::abort();
    if (line == ".") std::abort();  // only the terminator may be a lone dot
    if (!line.empty() && line[0] == '.' && (line.size() < 2 || line[1] != '.')) std::abort();  // stuffed
    body.remove_prefix(end + 2);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  DialogueSettings settings;
  settings.hostname = "pop.test";
  settings.max_errors = data[0] % 8;  // 0: no limit
  settings.stls_offered = data[0] & 8;
  const std::size_t piece = 1 + data[1];
  std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);

  Dialogue dialogue(settings);
  scripted::ScriptedHost host(dialogue);
  dialogue.greet();
  unsigned errors = 0;
  bool over = false;
  while (!input.empty() && !host.closed()) {
    auto n = std::min(piece, input.size());
    dialogue.receive(input.substr(0, n));
    input.remove_prefix(n);
    host.run();
    for (const auto& r : dialogue.replies()) {
      if (over) std::abort();
      check_wire(r);
      if (r.text == "Too many errors, closing connection") over = true;
      if (!r.positive()) ++errors;
    }
    dialogue.replies().clear();
    if (dialogue.phase() == Dialogue::Phase::transaction && dialogue.identity() != "alice") std::abort();
  }
  if (over && !host.closed()) std::abort();
  if (host.closed() && dialogue.phase() != Dialogue::Phase::closed) std::abort();
  return 0;
}
