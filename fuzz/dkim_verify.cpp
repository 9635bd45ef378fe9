// DKIM-Signature fields and key records from the outside (RFC 6376):
// parse any text, hash any body, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "dkim/verifier.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postern::dkim;
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto sig = parse_signature(text);
  (void)parse_key_record(text);
  (void)signature_field_for_hashing("DKIM-Signature: " + text, true);
  (void)signature_field_for_hashing("DKIM-Signature: " + text, false);
  for (bool relaxed : {false, true}) {
    BodyHasher h(relaxed, std::nullopt);
    h.feed(text);
    (void)h.finish();
  }
  if (auto* s = std::get_if<Signature>(&sig)) {
    const std::vector<Field> fields{{"DKIM-Signature", "DKIM-Signature: " + text + "\r\n"},
                                    {"From", "From: a@example.com\r\n"}};
    (void)verify(*s, fields, 0, "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", std::string(32, 'x'),
                 0, 0);
  }
  return 0;
}
