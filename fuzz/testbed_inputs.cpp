// Fuzz target: what the testbed parses from outside. The first byte picks
// the parser: a message (MIME, through GMime, as /api/messages reads every
// kept message, with the index entry and Mailpit's headers and parts) or rules as JSON (POST /api/rules). Neither may crash; a
// rule that is accepted must pass the same check as a configured one.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

#include "mime/header_section.hpp"
#include "testbed/messages.hpp"
#include "testbed/scenarios.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    auto m = postern::testbed::parse_message(in);
    for (const auto& a : m.attachments)
      if (a.size > in.size() * 4 + 16) __builtin_trap();  // decoding never invents data
    // The index entry (snippet, search text, tags, inboxes) and Mailpit's headers and parts.
    postern::store::Envelope envelope;
    envelope.recipients = {"user+tag@example.org", "greylist+5@example.org"};
    const auto summary = postern::testbed::summarize_message(in, envelope);
    if (summary.snippet.size() > 1024 || summary.tags.size() > in.size() + 2) __builtin_trap();
    for (const auto& t : summary.tags)
      if (t.empty() || t.size() > 100) __builtin_trap();
    for (const auto& [name, value] : postern::mime::header_fields(in))
      if (name.empty()) __builtin_trap();
    for (const auto& [id, part] : postern::mime::leaf_parts(in))
      if (id.empty() || part.bytes.size() > in.size() * 4 + 16) __builtin_trap();
  } else {
    try {
      for (auto& r : postern::testbed::rules_from_json(in))
        if (!postern::config::check_testbed_rule(r).empty()) __builtin_trap();
    } catch (const std::invalid_argument&) {
    }
  }
  return 0;
}
